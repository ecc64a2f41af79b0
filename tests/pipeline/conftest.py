"""A seeded synthetic shop loaded into a store in two parts: the past (what the active model and
the saved profiles know) and the new events that arrive after it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from campaignrec.config import Settings, load_settings
from campaignrec.data.importer import import_frame
from campaignrec.data.synthetic import ShopConfig, SyntheticShop, generate_shop
from campaignrec.store.sql import SQLStore


@dataclass
class LoadedShop:
    shop: SyntheticShop
    store: SQLStore
    settings: Settings
    home: Path


@pytest.fixture(scope="session")
def small_shop() -> SyntheticShop:
    return generate_shop(ShopConfig(n_users=400, n_items=150, n_events=24_000, days=60, seed=5))


def load(shop: SyntheticShop, home: Path, events: pd.DataFrame) -> LoadedShop:
    """A store under ``home`` holding the shop's users, items, campaigns and ``events``."""
    home.mkdir(parents=True, exist_ok=True)
    settings = load_settings(home)
    store = SQLStore(settings.resolved_database_url)
    for entity, frame in (
        ("users", shop.users),
        ("items", shop.items),
        ("campaigns", shop.campaigns),
    ):
        import_frame(store, entity, frame)
    if len(events):
        import_frame(store, "events", events)
    return LoadedShop(shop, store, settings, home)


def events_before(shop: SyntheticShop, at: pd.Timestamp) -> pd.DataFrame:
    ts = pd.to_datetime(shop.events["timestamp"], utc=True)
    return shop.events[ts < at]


def events_from(shop: SyntheticShop, at: pd.Timestamp) -> pd.DataFrame:
    ts = pd.to_datetime(shop.events["timestamp"], utc=True)
    return shop.events[ts >= at]


def end_of(shop: SyntheticShop) -> pd.Timestamp:
    return pd.to_datetime(shop.events["timestamp"], utc=True).max()
