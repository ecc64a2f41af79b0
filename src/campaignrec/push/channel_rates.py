"""Each shopper's response rate per channel, estimated from the shop's own logged pushes.

The outcomes come from the push ledger (pushes ``sent``) and the events: a push counts as
answered when its shopper logged a ``campaign_impression`` or ``campaign_click`` of its campaign
within ``window_hours`` after it was sent (:func:`push_outcomes`; pushes younger than that are
left out, their answer is not known yet).

The estimate is empirical Bayes with a beta prior per channel (:func:`estimate_channel_rates`):

* the channel's **global rate** ``g_c = (answers_c + M * open_rate_c) / (pushes_c + M)``: the
  shop's pooled rate, shrunk towards the configured ``open_rate`` by ``M = channel_global_prior``
  pseudo-pushes (a channel the shop never used keeps its configured rate);
* the prior's strength ``m_c`` (pseudo-pushes) by the method of moments over the shoppers with
  at least two pushes on the channel: the spread of their observed rates beyond what binomial
  noise explains (``m = g (1 - g) / var - 1``, clipped to ``[1, 1000]``; with fewer than
  :data:`MIN_SHOPPERS` such shoppers, ``channel_prior_pushes``);
* the shopper's rate ``(answers_uc + m_c * g_c) / (pushes_uc + m_c)``: with a thin history the
  global rate decides, with a long one their own answers.

The planner's channel choice (:func:`campaignrec.push.plan.plan_pushes`, ``channel_rates``) then
ranks a shopper's channels by their own rate per cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pandas as pd

from campaignrec.push.config import PushSettings

#: below this many shoppers with two or more pushes on a channel, the prior strength is the
#: setting ``channel_prior_pushes`` rather than estimated
MIN_SHOPPERS = 20
OUTCOME_COLUMNS = ("user_id", "channel", "answered")


def push_outcomes(
    ledger: pd.DataFrame, events: pd.DataFrame, now: datetime, window_hours: float
) -> pd.DataFrame:
    """``user_id, channel, answered``: one row per sent push at least ``window_hours`` old,
    answered when the shopper logged an impression or click of its campaign in that window."""
    if ledger.empty:
        return pd.DataFrame(columns=list(OUTCOME_COLUMNS))
    sent = ledger[(ledger["group"] == "push") & (ledger["status"] == "sent")].copy()
    sent["at"] = pd.to_datetime(sent["send_at_utc"], utc=True)
    window = pd.Timedelta(hours=window_hours)
    sent = sent[sent["at"].notna() & (sent["at"] + window <= pd.Timestamp(now))]
    if sent.empty:
        return pd.DataFrame(columns=list(OUTCOME_COLUMNS))
    sent = sent.assign(
        user_id=sent["user_id"].astype(str),
        campaign_id=sent["campaign_id"].astype(str),
        _row=np.arange(len(sent)),
    )
    answered = np.zeros(len(sent), dtype=bool)
    if len(events):
        kinds = events["event_type"].isin(("campaign_impression", "campaign_click")).to_numpy()
        ev = events.loc[kinds, ["user_id", "campaign_id", "timestamp"]].dropna()
        ev = ev.assign(
            user_id=ev["user_id"].astype(str),
            campaign_id=ev["campaign_id"].astype(str),
            ts=pd.to_datetime(ev["timestamp"], utc=True),
        )
        j = sent[["user_id", "campaign_id", "at", "_row"]].merge(
            ev[["user_id", "campaign_id", "ts"]], on=["user_id", "campaign_id"]
        )
        hit = j.loc[(j["ts"] >= j["at"]) & (j["ts"] <= j["at"] + window), "_row"].unique()
        answered[hit] = True
    return pd.DataFrame(
        {
            "user_id": sent["user_id"].to_numpy(),
            "channel": sent["channel"].astype(str).to_numpy(),
            "answered": answered,
        }
    )


@dataclass(frozen=True, eq=False)
class ChannelRates:
    """The estimates: ``global_rates`` (channel -> shrunk pooled rate), ``prior_pushes``
    (channel -> the beta prior's strength), ``per_user`` (shopper -> channel -> rate, for the
    shoppers and channels with logged pushes) and how many outcomes they rest on."""

    global_rates: dict[str, float]
    prior_pushes: dict[str, float]
    per_user: dict[str, dict[str, float]] = field(default_factory=dict)
    outcomes: int = 0

    def rates_for(self, settings: PushSettings) -> dict[str, dict[str, float]]:
        """``per_user`` with every shopper's unlogged channels at the global rate, for
        ``plan_pushes(channel_rates=...)``; use :meth:`settings_with_global` for the rest."""
        return {u: {**self.global_rates, **r} for u, r in self.per_user.items()}

    def settings_with_global(self, settings: PushSettings) -> PushSettings:
        """``settings`` with each channel's ``open_rate`` replaced by its global estimate
        (what a shopper without logged pushes is expected to answer)."""
        chans = {
            c: s.model_copy(
                update={"open_rate": min(max(self.global_rates.get(c, s.open_rate), 1e-6), 1.0)}
            )
            for c, s in settings.channels.items()
        }
        return settings.model_copy(update={"channels": chans})


def _strength(n: np.ndarray, x: np.ndarray, g: float, fallback: float) -> float:
    """The beta prior's strength by the method of moments (see the module docstring)."""
    keep = n >= 2
    if int(keep.sum()) < MIN_SHOPPERS or not 0 < g < 1:
        return fallback
    n, x = n[keep], x[keep]
    r = x / n
    noise = float(np.mean(g * (1 - g) / n))
    var = float(np.mean((r - g) ** 2)) - noise
    if var <= 0:
        return 1000.0  # no spread beyond noise: everyone answers at the global rate
    return float(np.clip(g * (1 - g) / var - 1.0, 1.0, 1000.0))


def estimate_channel_rates(outcomes: pd.DataFrame, settings: PushSettings) -> ChannelRates:
    """Empirical-Bayes per-shopper channel rates from ``outcomes`` (``user_id, channel,
    answered``; :func:`push_outcomes`). Channels outside ``settings.channels`` are ignored."""
    specs = settings.channels
    glob = {c: s.open_rate for c, s in specs.items()}
    strength = dict.fromkeys(specs, float(settings.channel_prior_pushes))
    if outcomes.empty:
        return ChannelRates(glob, strength)
    o = outcomes[outcomes["channel"].astype(str).isin(specs)]
    o = o.assign(
        user_id=o["user_id"].astype(str),
        channel=o["channel"].astype(str),
        answered=o["answered"].astype(bool).astype(float),
    )
    grp = o.groupby(["channel", "user_id"])["answered"].agg(["sum", "count"])
    per_user: dict[str, dict[str, float]] = {}
    big_m = settings.channel_global_prior
    for ch, part in grp.groupby(level=0):
        c = str(ch)
        x = part["sum"].to_numpy(float)
        n = part["count"].to_numpy(float)
        g = (float(x.sum()) + big_m * specs[c].open_rate) / (float(n.sum()) + big_m)
        glob[c] = g
        m = _strength(n, x, g, float(settings.channel_prior_pushes))
        strength[c] = m
        rates = (x + m * g) / (n + m)
        for u, r in zip(part.index.get_level_values(1), rates, strict=True):
            per_user.setdefault(str(u), {})[c] = float(r)
    return ChannelRates(glob, strength, per_user, len(o))


__all__ = [
    "MIN_SHOPPERS",
    "OUTCOME_COLUMNS",
    "ChannelRates",
    "estimate_channel_rates",
    "push_outcomes",
]
