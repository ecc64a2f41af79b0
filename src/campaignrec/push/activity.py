"""A shopper's activity by local weekday and hour, shrunk towards their segment's pattern.

The counts come from the events table (every event type counts as activity), in each shopper's
own time zone. A shopper with ``n`` events gets::

    hour(h)    = (own_hours(h) + k * segment_hours(h)) / (n + k)
    weekday(d) = (own_days(d)  + k * segment_days(d))  / (n + k)

with ``k = prior_events``: with a thin history the segment's pattern decides, with a long one
their own. A group's pattern is the mean of its members' own distributions (each member
weighs the same, however many events they have). A shopper who withheld personalisation consent is timed by the shop-wide pattern only
(their own activity is not used, nor is their segment, which is profiling).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

SHOP = "(shop)"


@dataclass(frozen=True, eq=False)
class ActivityCounts:
    """Events per shopper by local weekday (Monday = 0) and hour: ``counts[i, d, h]``."""

    user_ids: tuple[str, ...]
    counts: NDArray[np.float64]

    def index(self) -> dict[str, int]:
        return {u: i for i, u in enumerate(self.user_ids)}


def activity_counts(
    events: pd.DataFrame, timezones: Mapping[str, str], default_timezone: str
) -> ActivityCounts:
    """Count ``events`` (``user_id``, ``timestamp``) per shopper, local weekday and local hour.

    Shoppers of ``timezones`` without events get zero rows; events of other shoppers are left out.
    """
    users = tuple(timezones)
    pos = {u: i for i, u in enumerate(users)}
    counts = np.zeros((len(users), 7, 24))
    if events.empty or not users:
        return ActivityCounts(users, counts)
    uid = events["user_id"].astype(str)
    keep = uid.isin(pos).to_numpy()
    ev = pd.DataFrame(
        {"user_id": uid[keep].to_numpy(), "ts": pd.to_datetime(events["timestamp"][keep], utc=True)}
    ).dropna()
    if ev.empty:
        return ActivityCounts(users, counts)
    ev["tz"] = ev["user_id"].map(lambda u: timezones.get(u, default_timezone))
    for tz, part in ev.groupby("tz", sort=False):
        local = part["ts"].dt.tz_convert(str(tz))
        rows = part["user_id"].map(pos).to_numpy(np.int64)
        np.add.at(
            counts,
            (rows, local.dt.day_of_week.to_numpy(), local.dt.hour.to_numpy()),
            1.0,
        )
    return ActivityCounts(users, counts)


def _normalise(x: NDArray[np.float64]) -> NDArray[np.float64]:
    total = float(x.sum())
    return x / total if total > 0 else np.full(x.shape, 1.0 / x.size)


def _typical(counts: NDArray[np.float64], rows: Sequence[int]) -> NDArray[np.float64]:
    """The mean of the members' own distributions (members with events), so a group's pattern
    is its typical member's, not its busiest members' (who hold most of the events), with one
    uniform pseudo-member beside them: a weekday or hour nobody in the group happened to be
    active at (a shop with a few days of history) keeps a small chance instead of exactly zero,
    which would make every send slot in it worthless."""
    sub = counts[list(rows)]
    n = sub.sum(axis=1)
    uniform = np.full(counts.shape[1], 1.0 / counts.shape[1])
    m = int((n > 0).sum())
    if not m:
        return uniform
    mean = (sub[n > 0] / n[n > 0, None]).mean(axis=0)
    return _normalise((m * mean + uniform) / (m + 1))


@dataclass(frozen=True, eq=False)
class TimingModel:
    """Per-shopper hour (24) and weekday (7) distributions, shrunk towards a group pattern."""

    hours: dict[str, NDArray[np.float64]]
    weekdays: dict[str, NDArray[np.float64]]
    n_events: dict[str, int]


def timing_model(
    activity: ActivityCounts,
    groups: Mapping[str, str],
    prior_events: float,
    personal: Mapping[str, bool] | None = None,
) -> TimingModel:
    """Shrunk hour and weekday distributions of every shopper of ``activity``.

    Parameters
    ----------
    activity : the counts of :func:`activity_counts`.
    groups : shopper -> segment (missing: the shop-wide pattern).
    prior_events : the shrinkage strength ``k`` (see the module docstring).
    personal : shopper -> whether their own history may be used (default: yes).
    """
    hours_by = activity.counts.sum(axis=1)  # (n, 24)
    days_by = activity.counts.sum(axis=2)  # (n, 7)
    all_rows = list(range(len(activity.user_ids)))
    shop_h, shop_d = _typical(hours_by, all_rows), _typical(days_by, all_rows)
    seg_idx: dict[str, list[int]] = {}
    for i, u in enumerate(activity.user_ids):
        seg_idx.setdefault(groups.get(u, SHOP), []).append(i)
    seg_h = {g: _typical(hours_by, ix) for g, ix in seg_idx.items()}
    seg_d = {g: _typical(days_by, ix) for g, ix in seg_idx.items()}
    hours: dict[str, NDArray[np.float64]] = {}
    days: dict[str, NDArray[np.float64]] = {}
    n_ev: dict[str, int] = {}
    for i, u in enumerate(activity.user_ids):
        own = personal is None or personal.get(u, True)
        if not own:
            hours[u], days[u], n_ev[u] = shop_h, shop_d, 0
            continue
        g = groups.get(u, SHOP)
        n = float(hours_by[i].sum())
        k = float(prior_events)
        if n + k <= 0:
            hours[u], days[u] = seg_h[g], seg_d[g]
        else:
            hours[u] = (hours_by[i] + k * seg_h[g]) / (n + k)
            days[u] = (days_by[i] + k * seg_d[g]) / (n + k)
        n_ev[u] = int(n)
    return TimingModel(hours=hours, weekdays=days, n_events=n_ev)


def slot_scores(
    hours: NDArray[np.float64], weekdays: NDArray[np.float64], slots: Sequence[tuple[int, int]]
) -> NDArray[np.float64]:
    """Relative expected response of each ``(weekday, hour)`` slot (1 = a uniform shopper)."""
    d = np.array([s[0] for s in slots], dtype=np.int64)
    h = np.array([s[1] for s in slots], dtype=np.int64)
    return np.asarray(168.0 * hours[h] * weekdays[d], dtype=np.float64)


__all__ = [
    "SHOP",
    "ActivityCounts",
    "TimingModel",
    "activity_counts",
    "slot_scores",
    "timing_model",
]
