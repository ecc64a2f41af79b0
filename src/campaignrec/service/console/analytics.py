"""The behaviour analytics the console charts, from the library's own definitions.

Funnels, the weekday x hour heatmap and cohort retention are
:mod:`campaignrec.profiles.analytics` (the CLI's ``profiles analytics`` commands use the same
functions); this module only reads the events once per computation and keeps the result for a
few minutes, keyed by the number of events and the profiles' date, so a page view does not
rescan the store.
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
EVENT_COLUMNS = ["user_id", "item_id", "event_type", "timestamp", "session_id", "campaign_id"]


@dataclass(frozen=True)
class ShopAnalytics:
    """Per day: the funnel counts and rates; overall: the weekday x hour heatmap (UTC) and the
    cohort retention table; with profiles: the funnel per segment; per campaign: sessions shown
    it, clicking it, and clicked sessions reaching the cart and a purchase."""

    by_day: pd.DataFrame
    heatmap: pd.DataFrame
    cohorts: pd.DataFrame
    by_segment: pd.DataFrame | None
    by_campaign: pd.DataFrame


_lock = threading.Lock()
_cache: dict[tuple[Any, ...], tuple[float, ShopAnalytics]] = {}


def compute(store: Any, users: pd.DataFrame | None, profiles: pd.DataFrame | None) -> ShopAnalytics:
    events = store.read_table("events", columns=EVENT_COLUMNS)
    by_segment = None
    if profiles is not None and "segment_name" in profiles.columns:
        by_segment = funnel(events, by="segment", profiles=profiles)
    return ShopAnalytics(
        by_day=funnel(events, by="day"),
        heatmap=activity_heatmap(events, segment_column=None),
        cohorts=cohort_retention(events, users),
        by_segment=by_segment,
        by_campaign=funnel(events, by="campaign"),
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
