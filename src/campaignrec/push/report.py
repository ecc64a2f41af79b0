"""``push report``: what a campaign's pushes did, against the holdout recorded at plan time.

Groups come from the push ledger (:mod:`campaignrec.push.ledger`). The **treatment** arm is
every shopper the plan assigned to it: those with a push of the campaign (``sent``, or still
``planned``) and the eligible ones the rules left without one (``group = left_out``: caps,
value, quota, cool-down), so that it is drawn like the **holdout** (``group = holdout``) and the
comparison is intent to treat. A pushed shopper is measured from their own ``send_at`` for
``window_days``; a shopper without a push (left out, or in the holdout) from the pushed
shoppers' median send time, for as long (every window ends at ``now`` at the latest).
``basis`` says whether the pushes were sent (``sent``, ``partly_sent``, ``planned``). Per
shopper, from the store's events in the window:

* ``opened``: a ``campaign_impression`` of this campaign; ``clicked``: a ``campaign_click`` of it;
* ``converted``: any ``purchase``; ``revenue``: their value (``revenue``, else ``price x
  quantity``, as the experiment results count it);
* ``opted_out``: a ``consent_marketing_withdrawn`` event.

The incremental effect of each metric is the difference of the group means with a 95 % interval
from the normal approximation (Welch's standard error, ``1.96 * sqrt(s1^2/n1 + s0^2/n0)``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from campaignrec.errors import ValidationError

# the one definition of a purchase's value (also used by the experiment results)
from campaignrec.experiments.results import _purchase_value
from campaignrec.push.ledger import read_ledger

Z95 = 1.959963984540054
#: metric -> (English, 简体中文)
METRICS: dict[str, tuple[str, str]] = {
    "opened": ("opened", "打开率"),
    "clicked": ("clicked", "点击率"),
    "converted": ("converted", "转化率"),
    "revenue": ("revenue per shopper", "人均收入"),
    "opted_out": ("opted out", "退订率"),
}
_EVENTS = ("campaign_impression", "campaign_click", "purchase", "consent_marketing_withdrawn")


def _effect(x1: np.ndarray, x0: np.ndarray) -> dict[str, float | None]:
    n1, n0 = len(x1), len(x0)
    m1 = float(x1.mean()) if n1 else None
    m0 = float(x0.mean()) if n0 else None
    if m1 is None or m0 is None:
        return {
            "treatment": m1,
            "holdout": m0,
            "difference": None,
            "ci_low": None,
            "ci_high": None,
            "relative": None,
        }
    diff = m1 - m0
    var1 = float(x1.var(ddof=1)) if n1 > 1 else 0.0
    var0 = float(x0.var(ddof=1)) if n0 > 1 else 0.0
    se = float(np.sqrt(var1 / n1 + var0 / n0))
    return {
        "treatment": m1,
        "holdout": m0,
        "difference": diff,
        "ci_low": diff - Z95 * se,
        "ci_high": diff + Z95 * se,
        "relative": diff / m0 if m0 > 0 else None,
    }


def _outcomes(
    events: pd.DataFrame, starts: pd.Series, ends: pd.Series, campaign_id: str
) -> pd.DataFrame:
    """Per shopper of ``starts`` (user_id -> window start): the five outcomes in the window."""
    users = starts.index
    out = pd.DataFrame(0.0, index=users, columns=list(METRICS))
    if events.empty or not len(users):
        return out
    ev = events[events["user_id"].isin(users) & events["event_type"].isin(_EVENTS)].copy()
    if ev.empty:
        return out
    ts = pd.to_datetime(ev["timestamp"], utc=True)
    uid = ev["user_id"]
    inside = (ts >= uid.map(starts)) & (ts < uid.map(ends))
    ev = ev[inside.to_numpy()]
    cid = ev["campaign_id"].astype("string").fillna("") == campaign_id
    kind = ev["event_type"]
    for metric, mask in (
        ("opened", (kind == "campaign_impression") & cid),
        ("clicked", (kind == "campaign_click") & cid),
        ("converted", kind == "purchase"),
        ("opted_out", kind == "consent_marketing_withdrawn"),
    ):
        hit = ev.loc[mask.to_numpy(), "user_id"].unique()
        out.loc[out.index.isin(hit), metric] = 1.0
    buys = ev[(kind == "purchase").to_numpy()]
    if len(buys):
        value = _purchase_value(buys).groupby(buys["user_id"].to_numpy()).sum()
        out.loc[value.index, "revenue"] = value.to_numpy(float)
    return out


def push_report(
    store: Any,
    ledger: Path,
    campaign_id: str,
    *,
    window_days: float = 7.0,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The report of ``campaign_id`` (see the module docstring) as a JSON-ready dict."""
    if not window_days > 0:
        raise ValidationError("--window-days", "must be more than 0", value=window_days)
    at = pd.Timestamp(now or datetime.now(UTC))
    at = at.tz_localize("UTC") if at.tzinfo is None else at.tz_convert("UTC")
    rows = read_ledger(ledger)
    rows = rows[rows["campaign_id"].astype(str) == campaign_id] if len(rows) else rows
    pushes = rows[rows["group"] == "push"] if len(rows) else rows
    n_sent = int((pushes["status"] == "sent").sum()) if len(pushes) else 0
    basis = "planned" if n_sent == 0 else "sent" if n_sent == len(pushes) else "partly_sent"
    held = rows[rows["group"] == "holdout"] if len(rows) else rows
    left = rows[rows["group"] == "left_out"] if len(rows) else rows
    if not len(pushes):
        raise ValidationError(
            "campaign_id",
            "the push ledger holds no pushes of this campaign",
            value=campaign_id,
            hint="run 'campaignrec push plan' (and 'push send') first",
        )
    window = pd.Timedelta(days=float(window_days))
    first = pushes.assign(at=pd.to_datetime(pushes["send_at_utc"], utc=True))
    pushed_at = first.groupby(first["user_id"].astype(str))["at"].min()
    ref = pushed_at.sort_values().iloc[(len(pushed_at) - 1) // 2]
    # the treatment arm: every shopper the plan assigned to it, pushed or left out by the rules
    # (intent to treat, drawn like the holdout); a shopper without a push counts from `ref`
    l_users = pd.Index(left["user_id"].astype(str).unique()).difference(pushed_at.index)
    starts1 = pd.concat([pushed_at, pd.Series(ref, index=l_users, dtype=pushed_at.dtype)])
    h_users = pd.Index(held["user_id"].astype(str).unique()).difference(starts1.index)
    starts0 = pd.Series(ref, index=h_users, dtype=pushed_at.dtype)
    ends1 = (starts1 + window).where(starts1 + window <= at, at)
    ends0 = (starts0 + window).where(starts0 + window <= at, at)
    events = store.read_table(
        "events",
        columns=[
            "user_id",
            "event_type",
            "timestamp",
            "campaign_id",
            "revenue",
            "price",
            "quantity",
        ],
    )
    events = events.assign(user_id=events["user_id"].astype(str))
    o1 = _outcomes(events, starts1, ends1, campaign_id)
    o0 = _outcomes(events, starts0, ends0, campaign_id)
    metrics = []
    for m, (en, zh) in METRICS.items():
        eff = _effect(o1[m].to_numpy(float), o0[m].to_numpy(float))
        metrics.append({"metric": m, "label_en": en, "label_zh": zh, **eff})
    complete = bool((starts1 + window <= at).all()) and bool(ref + window <= at)
    by_channel = {str(k): int(v) for k, v in pushes["channel"].value_counts().items()}
    return {
        "campaign_id": campaign_id,
        "basis": basis,
        "treatment": len(starts1),
        "pushed": len(pushed_at),
        "sent": n_sent,
        "left_out": len(l_users),
        "holdout": len(h_users),
        "by_channel": by_channel,
        "window_days": float(window_days),
        "holdout_reference": ref.isoformat(),
        "as_of": at.isoformat(),
        "window_complete": complete,
        "metrics": metrics,
        "sentences": _sentences(metrics, len(h_users)),
    }


def _sentences(metrics: list[dict[str, Any]], n_holdout: int) -> dict[str, str]:
    """One line in English and 简体中文 on conversion and opt-outs."""
    by = {m["metric"]: m for m in metrics}
    if n_holdout == 0 or by["converted"]["difference"] is None:
        return {
            "en": "No holdout to compare with: the incremental effect cannot be measured.",
            "zh": "没有对照组，无法衡量增量效果。",
        }
    c, o = by["converted"], by["opted_out"]
    pts = 100 * float(c["difference"])
    lo, hi = 100 * float(c["ci_low"]), 100 * float(c["ci_high"])
    sig = lo > 0 or hi < 0
    en = (
        f"Shoppers in the push arm converted {pts:+.1f} points against the holdout "
        f"(95 % interval {lo:+.1f} to {hi:+.1f}); "
        + ("the effect is clear." if sig else "the interval includes no effect.")
        + f" Opt-outs: {100 * float(o['difference']):+.1f} points."
    )
    zh = (
        f"与对照组相比，推送组转化率变化 {pts:+.1f} 个百分点（95% 区间 {lo:+.1f} 至 {hi:+.1f}）；"
        + ("效果显著。" if sig else "区间包含零，效果不确定。")
        + f"退订率变化 {100 * float(o['difference']):+.1f} 个百分点。"
    )
    return {"en": en, "zh": zh}


__all__ = ["METRICS", "push_report"]
