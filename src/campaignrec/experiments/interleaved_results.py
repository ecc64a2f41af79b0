"""Results of a stored interleaving experiment from the decision log and the clicks.

The service logs every position of an interleaved list as a ``recommendation_impression`` event
with ``policy`` = the experiment id and ``variant`` = the variant whose ranker placed the item.
A click (``click`` with the item) credits the team of the latest logged position of that item
shown to that shopper before the click, within ``conversion_window_hours``; clicks on items the
shopper was not shown under the experiment credit nobody. Per shopper, the credits of the two
variants are compared with :func:`campaignrec.experiments.interleaving.analyse_interleaving`
(the treatment minus the control: mean per-shopper difference, t interval, p-value; a
fixed-horizon test, read it once at the planned size).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from campaignrec.experiments.interleaving import analyse_interleaving
from campaignrec.experiments.registry import Experiment

__all__ = ["analyse_interleaved", "interleaving_results"]

_COLUMNS = ("user_id", "event_type", "timestamp", "item_id", "policy", "variant")


def _us(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def _to_us(values: pd.Series) -> np.ndarray:
    """UTC microseconds of the store's integer timestamps or of datetimes."""
    if pd.api.types.is_integer_dtype(values):
        return values.to_numpy(dtype=np.int64)
    ts = pd.to_datetime(values, utc=True)
    return np.asarray(ts.dt.as_unit("us").astype("int64").to_numpy(), dtype=np.int64)


def _load(store: Any, exp: Experiment, until: datetime) -> pd.DataFrame:
    from sqlalchemy import select

    ev = store.tables.events
    exposed = select(ev.c.user_id).where(ev.c.policy == exp.experiment_id).distinct()
    stmt = select(*(ev.c[c] for c in _COLUMNS)).where(
        (ev.c.timestamp < _us(until))
        & (
            (ev.c.policy == exp.experiment_id)
            | ((ev.c.event_type == "click") & ev.c.user_id.in_(exposed))
        )
    )
    with store.engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=list(_COLUMNS))


def analyse_interleaved(
    exp: Experiment, events: pd.DataFrame, *, at: datetime | None = None
) -> dict[str, Any]:
    """The interleaving result of ``exp`` from ``events`` (columns ``user_id, event_type,
    timestamp, item_id, policy, variant``).

    Returns
    -------
    dict
        ``kind`` (``interleaving``), ``variants`` (per variant: ``positions`` shown, ``clicks``
        credited, ``ctr``, ``wins`` = shoppers who clicked its items more), ``shoppers``, ``ties``,
        ``preference`` (treatment minus control clicks per shopper, 95 % interval, p-value) and
        ``decision`` (``verdict``, ``winner``, ``en``, ``zh``).
    """
    moment = at or datetime.now(UTC)
    at_us = _us(moment)
    ctrl = exp.control_name
    treat = next(v.name for v in exp.variants if v.name != ctrl)
    ts = _to_us(events["timestamp"]) if len(events) else np.zeros(0, np.int64)
    frame = events.assign(ts=ts)
    frame = frame[frame["ts"] < at_us]
    shown = frame[(frame["policy"] == exp.experiment_id) & frame["variant"].isin([ctrl, treat])]
    if exp.end_time is not None:
        shown = shown[shown["ts"] < _us(exp.end_time)]
    clicks = frame[(frame["event_type"] == "click") & frame["item_id"].notna()]
    clicks = clicks[clicks["user_id"].isin(shown["user_id"].unique())]
    window = int(exp.conversion_window_hours * 3_600_000_000)
    if len(clicks) and len(shown):
        left = clicks[["user_id", "item_id", "ts"]].astype({"ts": np.int64}).sort_values("ts")
        right = shown[["user_id", "item_id", "ts", "variant"]].astype({"ts": np.int64})
        right = right.sort_values("ts")
        credited = pd.merge_asof(
            left, right, on="ts", by=["user_id", "item_id"], direction="backward",
            tolerance=window,
        ).dropna(subset=["variant"])  # fmt: skip
    else:
        credited = pd.DataFrame({"user_id": [], "variant": []})
    users = pd.Index(sorted(shown["user_id"].astype(str).unique()), dtype=object)
    per = (
        credited.assign(one=1.0)
        .pivot_table(index="user_id", columns="variant", values="one", aggfunc="sum")
        .reindex(index=users, columns=[ctrl, treat])
        .fillna(0.0)
        if len(credited)
        else pd.DataFrame(0.0, index=users, columns=[ctrl, treat])
    )
    variants: dict[str, Any] = {}
    for name in (ctrl, treat):
        positions = int((shown["variant"] == name).sum())
        got = float(per[name].sum()) if len(per) else 0.0
        variants[name] = {
            "positions": positions,
            "clicks": got,
            "ctr": got / positions if positions else None,
        }
    out: dict[str, Any] = {
        "experiment_id": exp.experiment_id,
        "kind": "interleaving",
        "at": moment.isoformat(),
        "shoppers": len(users),
        "variants": variants,
        "ties": None,
        "preference": None,
    }
    if len(users) < 2:
        out["decision"] = {"verdict": "no_data",
                           "en": "not enough interleaved lists yet to compare the rankers",
                           "zh": "交错展示的列表还不足以比较两个排序器"}  # fmt: skip
        return out
    r = analyse_interleaving(per[ctrl].to_numpy(), per[treat].to_numpy(), alpha=exp.alpha)
    variants[ctrl]["wins"], variants[treat]["wins"] = r.wins_a, r.wins_b
    out["ties"] = r.ties
    out["preference"] = {"treatment": treat, "control": ctrl, "value": r.preference,
                         "ci_low": r.ci_low, "ci_high": r.ci_high,
                         "p_value": r.p_value}  # fmt: skip
    span = f"{r.preference:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}]"
    if r.better is None:
        out["decision"] = {
            "verdict": "keep_running",
            "en": f"no clear preference between {treat} and {ctrl} yet "
                  f"({span} clicks per shopper, p = {r.p_value:.2f}): keep running",
            "zh": f"{treat} 与 {ctrl} 之间尚无明显偏好（每位顾客点击差 {span}，"
                  f"p = {r.p_value:.2f}）：继续运行",
        }  # fmt: skip
        return out
    winner, loser = (treat, ctrl) if r.better == "B" else (ctrl, treat)
    out["decision"] = {
        "verdict": "winner",
        "winner": winner,
        "en": f"{winner} wins the interleaving against {loser}: {treat} minus {ctrl} is {span} "
              f"clicks per shopper (p = {r.p_value:.2g})",
        "zh": f"{winner} 在交错实验中胜过 {loser}：{treat} 减 {ctrl} 为每位顾客 {span} 次点击"
              f"（p = {r.p_value:.2g}）",
    }  # fmt: skip
    return out


def interleaving_results(
    store: Any, exp: Experiment, *, at: datetime | None = None
) -> dict[str, Any]:
    """:func:`analyse_interleaved` of a stored interleaving experiment on the store's events."""
    moment = at or datetime.now(UTC)
    return analyse_interleaved(exp, _load(store, exp, moment), at=moment)
