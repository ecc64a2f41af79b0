"""The Interactions snapshot of everything in the store (the one read of events, items and users
that every batch step starts from); models never touch SQL."""

from __future__ import annotations

import pandas as pd

from campaignrec.config import Settings
from campaignrec.data.interactions import Interactions
from campaignrec.errors import CampaignrecError
from campaignrec.store.protocols import TableReader

SNAPSHOT_EVENT_COLUMNS = ["user_id", "item_id", "event_type", "timestamp", "rating"]
ITEM_FEATURE_COLUMNS = [
    "item_id",
    "title",
    "description",
    "category",
    "brand",
    "price",
    "tags",
    "created_time",
]
USER_FEATURE_COLUMNS = [
    "user_id",
    "birth_year",
    "age_band",
    "gender",
    "region",
    "city",
    "membership_tier",
]


def build_snapshot(store: TableReader, settings: Settings) -> Interactions:
    """The Interactions snapshot of everything in the store (item events, items, users)."""
    chunks = [
        c[c["item_id"].notna()]
        for c in store.iter_table("events", chunk_rows=1_000_000, columns=SNAPSHOT_EVENT_COLUMNS)
    ]
    events = (
        pd.concat(chunks, ignore_index=True)
        if chunks
        else pd.DataFrame(columns=SNAPSHOT_EVENT_COLUMNS)
    )
    if events.empty:
        raise CampaignrecError(
            "the store has no item events to learn from",
            hint="import events first: campaignrec import events FILE (or campaignrec generate --load)",
        )
    all_items = store.read_table("items")
    all_users = store.read_table("users")
    items = (
        all_items[[c for c in ITEM_FEATURE_COLUMNS if c in all_items.columns]]
        if not all_items.empty
        else None
    )
    users = (
        all_users[[c for c in USER_FEATURE_COLUMNS if c in all_users.columns]]
        if not all_users.empty
        else None
    )
    return Interactions.from_frame(
        events,
        items=items,
        users=users,
        event_weights=settings.event_weights,
        half_life_days=settings.half_life_days,
    )
