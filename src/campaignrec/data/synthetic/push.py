"""The planted response of a synthetic shop's shoppers to pushes: hour, channel and fatigue.

A separate truth table, drawn from a shop and its own seed, so that the shop's default outputs
(users, events, the other truth tables) stay byte-identical. :func:`push_truth` draws per shopper:

* **hour**: the probability that the shopper is active in each UTC hour, from the shop's
  planted peak hour (90 % of their sessions start at ``Normal(peak_hour, hour_sd of their
  type)``, 10 % at a uniform hour): :func:`active_mass`;
* **channel responsiveness**: ``click_<channel>``, the probability that a push through that
  channel is clicked at an average hour by a rested shopper: the channel's base rate
  (:data:`CHANNEL_BASE`) times a per-shopper log-normal factor (``sd`` 0.7); 30 % of the
  shoppers have no app (``click_app_push = click_in_app = 0``);
* **fatigue**: ``decay`` (each push already received in the trailing 7 days multiplies the click
  probability of the next one by it; mean 0.75), ``optout`` (the probability that a push to a
  rested shopper makes them withdraw marketing consent; mean 0.003) and ``optout_growth``
  (each push already received in the trailing 7 days adds this multiple of ``optout``; mean
  0.5); a push within 48 hours of an **ignored** one is clicked 0.7 times as often and causes
  twice the opt-outs.

:func:`simulate_pushes` plays a list of pushes against the truth in time order, shopper by
shopper, and returns the clicks and opt-outs (a shopper who opted out gets nothing after).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy.stats import norm

from campaignrec.data.synthetic.config import SyntheticShop

#: the click probability of one push by channel, for a typical rested shopper at an average hour
CHANNEL_BASE = {"app_push": 0.06, "in_app": 0.04, "email": 0.015, "sms": 0.12}
NO_APP_SHARE = 0.3
IGNORED_WINDOW_HOURS = 48.0
IGNORED_CLICK_FACTOR = 0.7
IGNORED_OPTOUT_FACTOR = 2.0
WEEK_HOURS = 168.0


def active_mass(peak: NDArray[np.float64], sd: NDArray[np.float64]) -> NDArray[np.float64]:
    """``(n, 24)``: the planted probability that each shopper starts a session in each UTC hour."""
    h = np.arange(24)[None, :]
    p, s = peak[:, None], sd[:, None]
    mass = np.zeros((len(peak), 24))
    for shift in (-24.0, 0.0, 24.0):  # the wrapped normal: three copies cover 24 h
        mass += norm.cdf((h + 1 - p + shift) / s) - norm.cdf((h - p + shift) / s)
    return np.asarray(0.9 * mass + 0.1 / 24, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class PushTruth:
    """One row per shopper (``users``: ``user_id``, ``click_<channel>``, ``decay``, ``optout``,
    ``optout_growth``) and their active mass by UTC hour (``hours``, aligned with ``users``)."""

    users: pd.DataFrame
    hours: NDArray[np.float64]


def push_truth(shop: SyntheticShop, seed: int = 0) -> PushTruth:
    """Draw the planted push response of ``shop``'s shoppers (see the module docstring)."""
    rng = np.random.default_rng([seed, 7351])
    params = shop.truth.user_params.set_index("user_id")
    types = shop.truth.type_params.set_index("user_type")
    users = [str(u) for u in params.index]
    n = len(users)
    peak = params["peak_hour"].to_numpy(float)
    sd = types.loc[params["user_type"], "hour_sd"].to_numpy(float)
    out = pd.DataFrame({"user_id": users})
    no_app = rng.random(n) < NO_APP_SHARE
    for ch, base in CHANNEL_BASE.items():
        factor = rng.lognormal(mean=-0.5 * 0.7**2, sigma=0.7, size=n)
        p = np.clip(base * factor, 0.0, 0.9)
        if ch in ("app_push", "in_app"):
            p = np.where(no_app, 0.0, p)
        out[f"click_{ch}"] = p
    out["decay"] = rng.beta(15.0, 5.0, size=n)  # mean 0.75
    out["optout"] = rng.gamma(4.0, 0.003 / 4.0, size=n)  # mean 0.003
    out["optout_growth"] = rng.gamma(4.0, 0.5 / 4.0, size=n)  # mean 0.5
    return PushTruth(users=out, hours=active_mass(peak, sd))


@dataclass(frozen=True, eq=False)
class PushOutcome:
    """Per push (aligned with the pushes given): ``delivered`` (the shopper had not opted out),
    ``clicked`` and ``opted_out``."""

    pushes: pd.DataFrame

    @property
    def clicks(self) -> int:
        return int(self.pushes["clicked"].sum())

    @property
    def optouts(self) -> int:
        return int(self.pushes["opted_out"].sum())


def click_probability(
    truth: PushTruth, row: int, channel: str, utc_hour: int, recent: int, ignored: bool
) -> float:
    """The planted click probability of one push (``recent``: pushes received in the trailing
    7 days; ``ignored``: an ignored push in the last 48 hours)."""
    u = truth.users.iloc[row]
    p = float(u[f"click_{channel}"]) * 24.0 * float(truth.hours[row, utc_hour])
    p *= float(u["decay"]) ** recent
    if ignored:
        p *= IGNORED_CLICK_FACTOR
    return min(p, 0.95)


def simulate_pushes(
    truth: PushTruth,
    pushes: pd.DataFrame,
    seed: int = 0,
    opted_out: set[str] | None = None,
    history: dict[str, list[tuple[pd.Timestamp, bool]]] | None = None,
) -> PushOutcome:
    """Play ``pushes`` (``user_id``, ``channel``, ``send_at_utc``) against the truth.

    Shopper by shopper in time order: a shopper who opted out (before, or in ``opted_out``)
    gets nothing; otherwise the push is clicked with :func:`click_probability` and makes them
    opt out with ``optout * (1 + optout_growth * recent)`` (twice that after an ignored push).
    ``opted_out`` is updated in place with the shoppers who opted out, ``history`` (shopper ->
    earlier delivered pushes as ``(time, clicked)``) with the pushes delivered, so that a
    schedule can be played campaign by campaign in time order.
    """
    rng = np.random.default_rng([seed, 4099])
    gone = opted_out if opted_out is not None else set()
    pos = {u: i for i, u in enumerate(truth.users["user_id"])}
    cols = {c: truth.users[c].to_numpy(float) for c in truth.users.columns if c != "user_id"}
    t = pushes.assign(
        _at=pd.to_datetime(pushes["send_at_utc"], utc=True), _i=np.arange(len(pushes))
    ).sort_values(["user_id", "_at"], kind="stable")
    delivered = np.zeros(len(pushes), dtype=bool)
    clicked = np.zeros(len(pushes), dtype=bool)
    optout = np.zeros(len(pushes), dtype=bool)
    draws = rng.random((len(pushes), 2))
    for uid, part in t.groupby("user_id", sort=True):
        uid = str(uid)
        if uid not in pos:
            continue
        row = pos[uid]
        p_opt, growth = cols["optout"][row], cols["optout_growth"][row]
        decay = cols["decay"][row]
        hist = history.setdefault(uid, []) if history is not None else []
        for at, ch, i in zip(part["_at"], part["channel"].astype(str), part["_i"], strict=True):
            if uid in gone:
                break
            recent = sum(1 for s, _ in hist if (at - s).total_seconds() / 3600 < WEEK_HOURS)
            ignored = any(
                not c and (at - s).total_seconds() / 3600 < IGNORED_WINDOW_HOURS for s, c in hist
            )
            p = cols[f"click_{ch}"][row] * 24.0 * truth.hours[row, at.hour] * decay**recent
            p = min(p * (IGNORED_CLICK_FACTOR if ignored else 1.0), 0.95)
            q = p_opt * (1.0 + growth * recent) * (IGNORED_OPTOUT_FACTOR if ignored else 1.0)
            delivered[i] = True
            clicked[i] = draws[i, 0] < p
            optout[i] = draws[i, 1] < q
            hist.append((at, bool(clicked[i])))
            if optout[i]:
                gone.add(uid)
    out = pushes.assign(delivered=delivered, clicked=clicked, opted_out=optout)
    return PushOutcome(pushes=out)


__all__ = [
    "CHANNEL_BASE",
    "PushOutcome",
    "PushTruth",
    "active_mass",
    "click_probability",
    "push_truth",
    "simulate_pushes",
]
