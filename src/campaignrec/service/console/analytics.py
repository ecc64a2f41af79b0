"""The behaviour analytics the console charts, from the library's own definitions.

Funnels, the weekday x hour heatmap and cohort retention are
:mod:`campaignrec.profiles.analytics` (the CLI's ``profiles analytics`` commands use the same
functions), campaign ROI per day :mod:`campaignrec.campaigns.roi` and the lifecycle flow
:mod:`campaignrec.profiles.flow`; this module only reads the events (once for the tables, once in
chunks for the flow) per computation and keeps the result for a few minutes, keyed by the number
of events and the profiles' date, so a page view does not rescan the store.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from campaignrec.profiles.analytics import activity_heatmap, cohort_retention, funnel

CACHE_SECONDS = 300.0
EVENT_COLUMNS = [
    "user_id",
    "item_id",
    "event_type",
    "timestamp",
    "session_id",
    "campaign_id",
    "variant",
    "price",
    "quantity",
    "revenue",
]
#: The lifecycle flow compares the stages this many days before the latest event with the latest.
FLOW_DAYS = 30


@dataclass(frozen=True)
class ShopAnalytics:
    """Per day: the funnel counts and rates; overall: the weekday x hour heatmap (UTC) and the
    cohort retention table; with profiles: the funnel per segment; per campaign: sessions shown
    it, clicking it, and clicked sessions reaching the cart and a purchase; campaign ROI per day
    (all campaigns, :func:`~campaignrec.campaigns.roi.roi_over_time`) and per campaign and day;
    the lifecycle flow from :data:`FLOW_DAYS` days before the latest event to it."""

    by_day: pd.DataFrame
    heatmap: pd.DataFrame
    cohorts: pd.DataFrame
    by_segment: pd.DataFrame | None
    by_campaign: pd.DataFrame
    roi: pd.DataFrame
    roi_by_campaign: pd.DataFrame
    flow: pd.DataFrame


_lock = threading.Lock()
_cache: dict[tuple[Any, ...], tuple[float, ShopAnalytics]] = {}


def compute(store: Any, users: pd.DataFrame | None, profiles: pd.DataFrame | None) -> ShopAnalytics:
    from campaignrec.campaigns.roi import campaign_roi_by_day, roi_over_time
    from campaignrec.pipeline.profiles import iter_events
    from campaignrec.profiles.flow import lifecycle_flow

    events = store.read_table("events", columns=EVENT_COLUMNS)
    by_segment = None
    if profiles is not None and "segment_name" in profiles.columns:
        by_segment = funnel(events, by="segment", profiles=profiles)
    items = store.read_table("items")
    campaigns = store.read_table("campaigns")
    roi_by_campaign = campaign_roi_by_day(events, campaigns, items)
    flow = pd.DataFrame(columns=["before", "after", "shoppers"])
    if len(events):
        end = pd.to_datetime(events["timestamp"], utc=True).max()
        start = end - pd.Timedelta(days=FLOW_DAYS)
        flow = lifecycle_flow(iter_events(store), start=start, end=end, users=users, items=items)
    return ShopAnalytics(
        by_day=funnel(events, by="day"),
        heatmap=activity_heatmap(events, segment_column=None),
        cohorts=cohort_retention(events, users),
        by_segment=by_segment,
        by_campaign=funnel(events, by="campaign"),
        roi=roi_over_time(roi_by_campaign),
        roi_by_campaign=roi_by_campaign,
        flow=flow,
    )


def shop_analytics(store: Any, profiles_dir: Path) -> ShopAnalytics:
    """:func:`compute` over the store and the profiles saved under ``profiles_dir``, cached for
    :data:`CACHE_SECONDS` per (store, number of events, profiles file's modification time); the
    profiles are read only when the cache misses."""
    from campaignrec.pipeline.profiles import has_saved_profiles
    from campaignrec.profiles.pipeline import PROFILES_FILE, load_profiles

    saved = has_saved_profiles(profiles_dir)
    stamp = (profiles_dir / PROFILES_FILE).stat().st_mtime_ns if saved else None
    key = (id(store), store.count("events"), stamp)
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            return hit[1]
    profiles = load_profiles(profiles_dir).profiles if saved else None
    found = compute(store, store.read_table("users"), profiles)
    with _lock:
        _cache.clear()  # one shop per process: keep the latest only
        _cache[key] = (now, found)
    return found
