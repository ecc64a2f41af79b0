"""Flash-sale timing and product selection.

**Heatmaps.** A segment's activity heatmap is a 7 x 24 array (weekday Monday=0 .. Sunday=6 by hour
of day 0..23, in a chosen time zone) of the share of its events in each hour of the week; it sums
to 1. :func:`activity_heatmaps` computes them from events (the same definition the profiles module
uses); heatmaps from elsewhere can be passed as arrays or DataFrames.

**Windows.** The week is a ring of 168 hours. A window (start hour of the week, duration in hours)
reaches the share of the segment's weekly activity that falls inside it; its *concentration* is
that share divided by the share of the week it lasts (1 = an average hour, 2 = twice as busy). A
flash sale wants a window that is both busy and short: an hour is worth including when it is at
least ``min_concentration`` times busier than an average hour. :func:`recommend_flash_sale_windows`
ranks windows by their *excess* expected buyers, ``size x sum over the window's hours of
rate_h x (share_h - min_concentration / 168)``, which picks exactly the run of hours busier
than the threshold (adding a quiet hour lowers the score, dropping a busy one too). Response
rates may be one number per segment or a 7 x 24 array (response by hour).

**Products.** :func:`select_flash_sale_products` ranks items by predicted demand x unit margin at
the sale price and drops items whose margin would fall below a floor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from campaignrec.errors import ValidationError

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
HOURS_PER_WEEK = 168
ALL_USERS = "all"
UNKNOWN_SEGMENT = "(unknown)"  # how profiles.analytics labels users without a segment


def _timestamps(events: pd.DataFrame, tz: str) -> pd.Series:
    ts = events["timestamp"]
    if pd.api.types.is_numeric_dtype(ts):
        ts = pd.to_datetime(ts, unit="s", utc=True)
    else:
        ts = pd.to_datetime(ts, utc=True)
    return ts.dt.tz_convert(tz)


def activity_heatmaps(
    events: pd.DataFrame,
    segments: Mapping[str, str] | pd.Series | None = None,
    *,
    tz: str = "UTC",
    event_types: Sequence[str] | None = None,
) -> dict[str, NDArray[np.float64]]:
    """Weekday x hour activity share per segment (plus ``"all"`` for everyone).

    Parameters
    ----------
    events : DataFrame
        Canonical events (``user_id``, ``timestamp``, ``event_type``).
    segments : Mapping or Series, optional
        ``user_id -> segment``; users without one count only in ``"all"``.
    tz : str
        Time zone of the shop's clock (the heatmap's hours).
    event_types : sequence of str, optional
        Event types that count (default: all).

    Returns
    -------
    dict
        ``segment -> ndarray (7, 24)``, each summing to 1 (all zeros without events).
    """
    # One definition of the heatmap: campaignrec.profiles.analytics.activity_heatmap.
    from campaignrec.profiles.analytics import activity_heatmap

    types = list(event_types) if event_types is not None else None
    everyone = heatmaps_from_long(
        activity_heatmap(events, segment_column=None, event_types=types, timezone=tz)
    )
    out: dict[str, NDArray[np.float64]] = {ALL_USERS: everyone.get(ALL_USERS, np.zeros((7, 24)))}
    if segments is not None:
        seg = pd.Series(segments) if not isinstance(segments, pd.Series) else segments
        seg = seg.dropna()
        profiles = pd.DataFrame(
            {"user_id": seg.index.astype(str), "segment": seg.astype(str).to_numpy()}
        )
        per = heatmaps_from_long(
            activity_heatmap(
                events, profiles=profiles, segment_column="segment", event_types=types, timezone=tz
            )
        )
        out.update({k: v for k, v in per.items() if k != UNKNOWN_SEGMENT})
    return out


def heatmaps_from_long(long: pd.DataFrame) -> dict[str, NDArray[np.float64]]:
    """7 x 24 arrays from a long heatmap table (``segment, weekday, hour, events``).

    This is the layout of ``campaignrec.profiles.analytics.activity_heatmap``; the arrays it
    returns can go straight into :func:`recommend_flash_sale_windows`.
    """
    for col in ("weekday", "hour"):
        if col not in long.columns:
            raise ValidationError(
                col,
                "the heatmap table needs this column",
                hint="columns: segment, weekday, hour, events (or share)",
            )
    value = "events" if "events" in long.columns else "share"
    seg = (
        long["segment"].astype(str)
        if "segment" in long.columns
        else pd.Series(ALL_USERS, index=long.index)
    )
    out: dict[str, NDArray[np.float64]] = {}
    for name, grp in long.groupby(seg, sort=True):
        grid = np.zeros((7, 24))
        np.add.at(
            grid,
            (grp["weekday"].to_numpy(int), grp["hour"].to_numpy(int)),
            grp[value].to_numpy(float),
        )
        total = grid.sum()
        out[str(name)] = grid / total if total > 0 else grid
    return out


def _normalised(slot: NDArray[np.int64]) -> NDArray[np.float64]:
    counts = np.bincount(slot, minlength=HOURS_PER_WEEK).astype(float)
    total = counts.sum()
    return (counts / total if total > 0 else counts).reshape(7, 24)


def _as_grid(value: Any, name: str) -> NDArray[np.float64]:
    arr = np.asarray(value.to_numpy() if isinstance(value, pd.DataFrame) else value, dtype=float)
    if arr.shape != (7, 24):
        raise ValidationError(name, "must be a 7 x 24 array (weekday x hour)", value=arr.shape)
    if (arr < 0).any() or not np.isfinite(arr).all():
        raise ValidationError(name, "must be finite and >= 0")
    return arr


def _window_sums(flat: NDArray[np.float64], d: int) -> NDArray[np.float64]:
    ring = np.concatenate([flat, flat[: d - 1]]) if d > 1 else flat
    c = np.concatenate([[0.0], np.cumsum(ring)])
    return c[d : d + HOURS_PER_WEEK] - c[:HOURS_PER_WEEK]


def recommend_flash_sale_windows(
    heatmaps: Mapping[str, Any] | pd.DataFrame,
    *,
    response_rates: Mapping[str, float | Any] | None = None,
    segment_sizes: Mapping[str, int] | None = None,
    durations: Sequence[int] = (1, 2, 3, 4, 6, 8, 12),
    min_concentration: float = 1.5,
    top: int = 3,
    start: datetime | None = None,
) -> pd.DataFrame:
    """Recommend flash-sale start times and durations per segment.

    Parameters
    ----------
    heatmaps : Mapping or DataFrame
        ``segment -> 7 x 24`` activity (any non-negative scale; normalised here), or a long
        table ``segment, weekday, hour, events`` (the profiles module's heatmap).
    response_rates : Mapping, optional
        ``segment -> rate`` (a number, or a 7 x 24 array of response rate by hour). Default 1.
    segment_sizes : Mapping, optional
        ``segment -> users`` (default 1, so expected buyers is a per-user rate).
    durations : sequence of int
        Candidate durations in hours (1..168).
    min_concentration : float
        Keep windows at least this many times busier than an average hour.
    top : int
        Windows per segment, best first; windows of one segment do not overlap.
    start : datetime, optional
        When given, each window also gets its next occurrence at or after ``start``
        (``next_start``, in ``start``'s time zone, which should be the heatmaps' time zone).

    Returns
    -------
    DataFrame
        ``segment, rank, weekday, weekday_name, start_hour, duration_hours, activity_share,
        concentration, response_rate, expected_buyers, excess_buyers`` (+ ``next_start``). A
        segment with no hour above ``min_concentration`` gets its single best-concentration
        window, flagged ``below_threshold=True``.
    """
    if top < 1:
        raise ValidationError("top", "must be >= 1", value=top)
    if isinstance(heatmaps, pd.DataFrame):
        heatmaps = heatmaps_from_long(heatmaps)
    ds = sorted({int(d) for d in durations})
    if not ds or ds[0] < 1 or ds[-1] > HOURS_PER_WEEK:
        raise ValidationError("durations", "must be hours in 1..168", value=list(durations))
    rows: list[dict[str, Any]] = []
    for seg, raw in heatmaps.items():
        grid = _as_grid(raw, f"heatmaps[{seg!r}]")
        total = grid.sum()
        if total <= 0:
            continue
        flat = (grid / total).ravel()
        rate_raw = (response_rates or {}).get(seg, 1.0)
        rate_grid = (
            np.full(HOURS_PER_WEEK, float(rate_raw))
            if np.ndim(rate_raw) == 0
            else _as_grid(rate_raw, f"response_rates[{seg!r}]").ravel()
        )
        size = float((segment_sizes or {}).get(seg, 1))
        excess = rate_grid * (flat - min_concentration / HOURS_PER_WEEK)
        cands: list[tuple[float, int, int, float, float, float, float]] = []
        for d in ds:
            share = _window_sums(flat, d)
            resp = _window_sums(flat * rate_grid, d)
            net = _window_sums(excess, d)
            conc = share / (d / HOURS_PER_WEEK)
            rate = np.divide(resp, share, out=np.zeros_like(resp), where=share > 0)
            for s in range(HOURS_PER_WEEK):
                cands.append(
                    (
                        float(net[s]),
                        s,
                        d,
                        float(share[s]),
                        float(conc[s]),
                        float(rate[s]),
                        size * float(resp[s]),
                    )
                )
        good = [c for c in cands if c[0] > 0]
        flagged = not good
        if flagged:
            good = [max(cands, key=lambda c: (c[4], c[6]))]
        good.sort(key=lambda c: (-c[0], c[2], c[1]))
        taken: list[tuple[int, int]] = []
        for cand in good:
            s, d = int(cand[1]), int(cand[2])
            if any(_overlaps(s, d, s2, d2) for s2, d2 in taken):
                continue
            taken.append((s, d))
            net_s, share_s, conc_s, rate_s, value = cand[0], cand[3], cand[4], cand[5], cand[6]
            row = {
                "segment": seg,
                "rank": len(taken),
                "weekday": s // 24,
                "weekday_name": WEEKDAYS[s // 24],
                "start_hour": s % 24,
                "duration_hours": d,
                "activity_share": share_s,
                "concentration": conc_s,
                "response_rate": rate_s,
                "expected_buyers": value,
                "excess_buyers": size * net_s,
                "below_threshold": flagged,
            }
            if start is not None:
                row["next_start"] = _next_occurrence(start, s)
            rows.append(row)
            if len(taken) >= top:
                break
    return pd.DataFrame(rows)


def _overlaps(s1: int, d1: int, s2: int, d2: int) -> bool:
    a = {(s1 + i) % HOURS_PER_WEEK for i in range(d1)}
    return any((s2 + i) % HOURS_PER_WEEK in a for i in range(d2))


def _next_occurrence(start: datetime, slot: int) -> pd.Timestamp:
    ts = pd.Timestamp(start).floor("h")
    now_slot = ts.day_of_week * 24 + ts.hour
    ahead = (slot - now_slot) % HOURS_PER_WEEK
    return ts + pd.Timedelta(hours=ahead)


# ---- product selection ---------------------------------------------------------------------------


def predicted_demand(
    events: pd.DataFrame,
    *,
    now: datetime | None = None,
    half_life_days: float = 14.0,
    event_weights: Mapping[str, float] | None = None,
) -> pd.Series:
    """Time-decayed demand per item from recent events (purchases by default).

    Parameters
    ----------
    events : DataFrame
        Canonical events.
    now : datetime, optional
        Reference time (default: the last event).
    half_life_days : float
        An event this old counts half.
    event_weights : Mapping, optional
        Weight of each event type (default ``{"purchase": 1.0}``); quantities multiply purchases.

    Returns
    -------
    Series
        ``item_id -> demand``, largest first.
    """
    if half_life_days <= 0:
        raise ValidationError("half_life_days", "must be > 0", value=half_life_days)
    weights = dict(event_weights or {"purchase": 1.0})
    ev = events[events["event_type"].isin(list(weights)) & events["item_id"].notna()]
    if ev.empty:
        return pd.Series(dtype=float, name="demand")
    ts = _timestamps(ev, "UTC")
    ref = pd.Timestamp(now) if now is not None else ts.max()
    age_days = (ref - ts).dt.total_seconds().to_numpy() / 86_400.0
    w = ev["event_type"].map(weights).to_numpy(float) * np.power(0.5, age_days / half_life_days)
    if "quantity" in ev.columns:
        q = pd.to_numeric(ev["quantity"], errors="coerce").fillna(1.0).to_numpy(float)
        w = w * np.where(ev["event_type"].to_numpy() == "purchase", q, 1.0)
    demand = pd.Series(w, index=ev["item_id"].astype(str).to_numpy()).groupby(level=0).sum()
    return demand.sort_values(ascending=False).rename("demand")


def select_flash_sale_products(
    items: pd.DataFrame,
    demand: pd.Series,
    *,
    discount: float = 0.3,
    k: int = 20,
    margin_rate: float = 0.4,
    min_margin: float = 0.05,
    price_elasticity: float = 1.0,
) -> pd.DataFrame:
    """Pick flash-sale items by predicted demand x unit margin at the sale price.

    Parameters
    ----------
    items : DataFrame
        ``item_id``, ``price``, optionally ``unit_cost`` (else ``price * (1 - margin_rate)``) and
        ``in_stock`` (False rows are skipped).
    demand : Series
        ``item_id -> predicted units`` at the regular price.
    discount : float
        Share taken off the price during the sale.
    k : int
        Items to return.
    margin_rate : float
        Regular gross margin share when ``unit_cost`` is missing.
    min_margin : float
        Smallest margin share of the sale price an item may keep.
    price_elasticity : float
        Demand at the sale price = demand x (1 - discount) ** -elasticity.

    Returns
    -------
    DataFrame
        ``item_id, price, sale_price, unit_margin, demand, sale_demand, expected_profit``,
        best first.
    """
    if not 0.0 <= discount < 1.0:
        raise ValidationError("discount", "must be in [0, 1)", value=discount)
    if "price" not in items.columns:
        raise ValidationError("price", "the items table needs prices")
    it = items.copy()
    it["item_id"] = it["item_id"].astype(str)
    if "in_stock" in it.columns:
        it = it[it["in_stock"].fillna(True).astype(bool)]
    it = it[pd.to_numeric(it["price"], errors="coerce").notna()]
    price = it["price"].astype(float).to_numpy()
    cost = (
        it["unit_cost"]
        .astype(float)
        .fillna(pd.Series(price * (1 - margin_rate), index=it.index))
        .to_numpy()
        if "unit_cost" in it.columns
        else price * (1 - margin_rate)
    )
    sale = price * (1 - discount)
    unit_margin = sale - cost
    d = demand.reindex(it["item_id"]).fillna(0.0).to_numpy(float)
    sale_d = d * (1 - discount) ** (-price_elasticity)
    out = pd.DataFrame(
        {
            "item_id": it["item_id"].to_numpy(),
            "price": price,
            "sale_price": sale,
            "unit_margin": unit_margin,
            "demand": d,
            "sale_demand": sale_d,
            "expected_profit": sale_d * unit_margin,
        }
    )
    keep = (unit_margin >= min_margin * sale) & (d > 0)
    out = out[keep].sort_values(["expected_profit", "item_id"], ascending=[False, True])
    return out.head(k).reset_index(drop=True)
