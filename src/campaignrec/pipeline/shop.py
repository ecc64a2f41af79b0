"""A shop's data directory: create it (settings file + migrated store) and count what it holds."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from campaignrec.config import Settings
from campaignrec.store.protocols import TableReader
from campaignrec.store.sql import SQLStore

SETTINGS_FILE = "campaignrec.toml"
STATS_TABLES = ("users", "items", "campaigns", "events", "quarantine")

DEFAULT_TOML = """# campaignrec settings for this shop (environment variables CAMPAIGNREC_* win).
# database_url = "postgresql+psycopg://user@host:5432/shop"   # default: SQLite file here
# online_url = "redis://127.0.0.1:6379/0"                      # default: memory://
# half_life_days = 30                                           # time decay of interactions
reject_threshold = 0.05

[event_weights]
view = 1.0
click = 2.0
favorite = 3.0
add_to_cart = 3.0
purchase = 5.0
remove_from_cart = 0.0
"""


@dataclass(frozen=True)
class ShopInit:
    """What :func:`init_shop` left: the data directory, its settings file, the schema version."""

    home: Path
    settings_file: Path
    schema_version: int


def open_store(settings: Settings) -> SQLStore:
    """The SQL store of ``settings`` (its data directory created; the store migrated on open)."""
    settings.home.mkdir(parents=True, exist_ok=True)
    return SQLStore(settings.resolved_database_url)


def init_shop(settings: Settings) -> ShopInit:
    """Create the data directory, its settings file (when missing) and the store; idempotent."""
    settings.home.mkdir(parents=True, exist_ok=True)
    toml = settings.home / SETTINGS_FILE
    if not toml.exists():
        toml.write_text(DEFAULT_TOML, encoding="utf-8")
    store = open_store(settings)
    try:
        version = store.migrate()
    finally:
        store.close()
    return ShopInit(home=settings.home, settings_file=toml, schema_version=version)


@dataclass(frozen=True)
class StoreStats:
    """Row counts per table, events per type, and the first and last event time (ISO)."""

    counts: dict[str, int]
    events_by_type: dict[str, int] = field(default_factory=dict)
    time_span: tuple[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``campaignrec stats --json``."""
        return {
            "counts": dict(self.counts),
            "events_by_type": dict(self.events_by_type),
            "time_span": list(self.time_span) if self.time_span else None,
        }


def store_stats(store: TableReader) -> StoreStats:
    """Counts of what ``store`` holds."""
    counts = {name: store.count(name) for name in STATS_TABLES}
    if not counts["events"]:
        return StoreStats(counts=counts)
    events = store.read_table("events", columns=["event_type", "timestamp"])
    by_type = {str(k): int(v) for k, v in events["event_type"].value_counts().items()}
    span = None
    if len(events):
        span = (events["timestamp"].min().isoformat(), events["timestamp"].max().isoformat())
    return StoreStats(counts=counts, events_by_type=by_type, time_span=span)
