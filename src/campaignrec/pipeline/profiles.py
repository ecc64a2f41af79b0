"""Profiles of a shop: compute them from its store, keep them under a directory (Parquet + JSON)
and in the store's ``profiles`` table, and read one shopper's audience attributes cheaply.

The audience attributes of a shopper are the base attributes every shop has (the users-table row
and the shopper's purchases, :func:`campaignrec.campaigns.audience.base_attributes`) with the
computed profile attributes over them; :func:`profile_attributes_for` builds them for one shopper
from primary-key and index reads only, so a request handler can afford it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from campaignrec.campaigns.audience import (
    base_attributes,
    bought_categories,
    merge_attributes,
    user_base_attributes,
)
from campaignrec.errors import CampaignrecError
from campaignrec.profiles.config import ProfileConfig
from campaignrec.profiles.pipeline import (
    PROFILES_FILE,
    SEGMENTS_FILE,
    STATE_DIR,
    ProfileResult,
    build_profiles,
    iter_profile_attributes,
    load_profiles,
    save_profiles,
)
from campaignrec.profiles.predict import add_lifetime_value
from campaignrec.profiles.segments import SegmentModel, assign_segments
from campaignrec.profiles.state import ProfileState
from campaignrec.store.profiles import ProfileRepository, purchase_categories, user_record
from campaignrec.store.protocols import TableReader
from campaignrec.store.sql import SQLStore

CHUNK_ROWS = 500_000
PROFILES_DIR = "profiles"


def profiles_dir(home: Path) -> Path:
    """Where a data directory keeps its computed profiles: ``<home>/profiles``."""
    return Path(home) / PROFILES_DIR


def has_saved_profiles(directory: Path) -> bool:
    """Whether :func:`compute_profiles` has written profiles under ``directory``."""
    return (Path(directory) / PROFILES_FILE).is_file()


def iter_events(store: TableReader) -> Iterator[pd.DataFrame]:
    """The store's events in memory-bounded chunks."""
    return store.iter_table("events", chunk_rows=CHUNK_ROWS)  # type: ignore[no-any-return]


def compute_profiles(
    store: Any,
    directory: Path,
    *,
    progress: Callable[[], AbstractContextManager[Any]] | None = None,
) -> ProfileResult:
    """Compute every shopper's profile from ``store``; save them under ``directory`` and into
    the store's ``profiles`` table (segment ids stay stable across runs).

    ``progress`` is a context manager factory wrapped around the computation (a spinner)."""
    if store.count("events") == 0:
        raise CampaignrecError(
            "the store has no events to profile",
            hint="import events first (campaignrec import)",
        )
    d = Path(directory)
    previous = SegmentModel.load(d / SEGMENTS_FILE) if (d / SEGMENTS_FILE).is_file() else None
    with progress() if progress is not None else nullcontext():
        # the end of the data from the timestamp column alone (cheaper than a full pass)
        end = max(
            pd.to_datetime(c["timestamp"], utc=True).max()
            for c in store.iter_table("events", chunk_rows=CHUNK_ROWS, columns=["timestamp"])
        )
        result = build_profiles(
            lambda: iter_events(store),
            users=store.read_table("users"),
            items=store.read_table("items"),
            previous_segments=previous,
            as_of=end,
        )
    save_profiles(result, d)
    if isinstance(store, SQLStore):  # a read-only stand-in (tests, notebooks) has no table to index
        ProfileRepository(store).replace_all(iter_profile_attributes(result.profiles))
    return result


#: Profile columns the batch run predicts with a model it does not save (the purchase model):
#: an incremental refresh carries each shopper's last prediction over.
CARRIED_COLUMNS = ("p_purchase_30d", "expected_spend_30d")


def refresh_profiles(
    store: Any,
    directory: Path,
    *,
    progress: Callable[[], AbstractContextManager[Any]] | None = None,
) -> ProfileResult:
    """Bring the saved profiles up to date incrementally, without recomputing them.

    Loads the saved :class:`~campaignrec.profiles.state.ProfileState` (``<directory>/state``),
    folds in only the events after the end of its data (the merges are exact, so the aggregates
    equal a batch recompute over the same events), finalises the profile table as of the new
    end, assigns segments with the saved segment model (ids and names kept, no re-fit), refits
    the lifetime-value columns on the refreshed table and carries the purchase model's last
    predictions over (:data:`CARRIED_COLUMNS`; a new shopper has none until the next full run).
    Without a saved state (or segment model) it computes everything (:func:`compute_profiles`).
    ``meta["refresh"]`` says which it did and how many events it folded in.

    Events that arrive late with a timestamp at or before the state's end are not folded in;
    the next full run (``campaignrec profiles export --refresh``) counts them.
    """
    d = Path(directory)
    state_dir = d / STATE_DIR
    if not (state_dir / "state.json").is_file() or not has_saved_profiles(d):
        result = compute_profiles(store, d, progress=progress)
        result.meta["refresh"] = {"mode": "full", "reason": "no saved profile state"}
        return result
    cfg = ProfileConfig()
    items = store.read_table("items")
    with progress() if progress is not None else nullcontext():
        state = ProfileState.load(state_dir, items, cfg)
        start = state.end_time()
        n_new = 0
        for chunk in iter_events(store):
            ts = pd.to_datetime(chunk["timestamp"], utc=True)
            new = chunk.loc[(ts > start).to_numpy()] if start is not None else chunk
            if len(new):
                state.apply(new)
                n_new += len(new)
        state.flush()
        end = state.end_time()
        previous = load_profiles(d)
        profiles = state.profiles(store.read_table("users"), as_of=end)
        carried = [c for c in CARRIED_COLUMNS if c in previous.profiles.columns]
        if carried:
            last = previous.profiles[["user_id", *carried]].astype({"user_id": str})
            profiles = profiles.drop(columns=carried, errors="ignore").merge(
                last, on="user_id", how="left"
            )
        lifetime = add_lifetime_value(profiles, cfg.clv_days)
        segments = previous.segments
        if segments is not None:
            profiles = assign_segments(profiles, segments)
        else:
            profiles["segment"] = -1
            profiles["segment_name"] = None
            profiles["segment_name_zh"] = None
    profiles.attrs["as_of"] = end.isoformat() if end is not None else None
    meta = dict(previous.meta) | {
        "as_of": profiles.attrs["as_of"],
        "created": datetime.now(UTC).isoformat(),
        "n_users": len(profiles),
        "n_events": state.n_events_applied,
        "lifetime_value": lifetime,
        "refresh": {
            "mode": "incremental",
            "new_events": n_new,
            "from": start.isoformat() if start is not None else None,
        },
    }
    result = ProfileResult(profiles=profiles, segments=segments, meta=meta, state=state)
    save_profiles(result, d)
    if isinstance(store, SQLStore):
        ProfileRepository(store).replace_all(iter_profile_attributes(result.profiles))
    return result


def ensure_profiles(
    open_store: Callable[[], Any],
    directory: Path,
    *,
    refresh: bool = False,
    progress: Callable[[], AbstractContextManager[Any]] | None = None,
) -> ProfileResult:
    """The saved profiles under ``directory``, or computed and saved ones (when missing or
    ``refresh``); the store is opened (and closed) only to compute."""
    if not refresh and has_saved_profiles(directory):
        return load_profiles(directory)
    store = open_store()
    try:
        return compute_profiles(store, directory, progress=progress)
    finally:
        store.close()


def profile_attributes_for(
    store: Any, user_id: str, *, now: datetime | None = None
) -> dict[str, Any] | None:
    """The audience attributes of one shopper, or None for a user the store does not know.

    The stored profile (one primary-key read of the ``profiles`` table) over the base
    attributes (the users-table row by primary key, the purchases up to ``now`` through the
    events' ``(user_id, timestamp)`` index); without a profile, the base attributes alone. The
    same mapping as :func:`all_attributes` gives for this shopper.
    """
    at = now or datetime.now(UTC)
    uid = str(user_id)
    profile = ProfileRepository(store).get(uid)
    record = user_record(store, uid)
    if record is None and profile is None:
        return None
    base: dict[str, dict[str, Any]] = {}
    if record is not None:  # one primary-key row and one index range: no table scan, no pandas
        bought = purchase_categories(store, uid, at)
        base = {
            uid: user_base_attributes(
                record, bought_categories(c for _, c in bought), len(bought), now=at
            )
        }
    merged = merge_attributes(base, {uid: profile} if profile is not None else None)
    return merged[uid]


def all_attributes(
    store: Any, now: datetime, user_ids: list[str] | None = None
) -> dict[str, dict[str, Any]]:
    """The audience attributes of every shopper (or of ``user_ids``): base attributes from the
    users table and the events up to ``now``, with the stored profiles over them (batch use:
    audience sizes and campaign plans)."""
    users = store.read_table("users")
    if user_ids is not None:
        users = users[users["user_id"].astype(str).isin(user_ids)]
    events = store.read_table("events", columns=["user_id", "event_type", "item_id", "timestamp"])
    if user_ids is not None:
        events = events[events["user_id"].astype(str).isin(user_ids)]
    events = events[events["timestamp"] <= pd.Timestamp(now)]
    items = store.read_table("items", columns=["item_id", "category"])
    base = base_attributes(users, events, items, now=now)
    profiles = ProfileRepository(store).all()
    if user_ids is not None:
        wanted = set(user_ids)
        profiles = {u: a for u, a in profiles.items() if u in wanted}
    return merge_attributes(base, profiles or None)
