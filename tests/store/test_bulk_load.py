"""Bulk loading drops the events' secondary index and always rebuilds it."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import inspect

from campaignrec.store.sql import SQLStore
from tests.store.test_sql import make_events


def _event_indexes(store: SQLStore) -> set[str]:
    names = inspect(store.engine).get_indexes(store.tables.events.name)
    return {ix["name"] for ix in names}


def test_bulk_load_keeps_dedupe_and_rebuilds_the_index(store: SQLStore) -> None:
    before = _event_indexes(store)
    assert any("user_ts" in n for n in before)
    assert not any("events_item" in n or "type_ts" in n for n in before)  # dropped by step 2
    events = make_events(500, seed=3)
    with store.bulk_load():
        assert not any("user_ts" in n for n in _event_indexes(store))
        assert store.insert_events(events) == 500
        assert store.insert_events(events) == 0  # the primary key still dedupes
    assert _event_indexes(store) == before
    assert store.count("events") == 500


def test_an_interrupted_bulk_load_is_repaired(store_factory) -> None:  # type: ignore[no-untyped-def]
    store = store_factory()
    before = _event_indexes(store)
    with pytest.raises(RuntimeError), store.bulk_load():
        store.insert_events(make_events(50, seed=4))
        raise RuntimeError("killed mid-import")
    assert _event_indexes(store) == before
    # a process killed without running the finally: the next open (migrate) rebuilds it
    ix = next(i for i in store.tables.events.indexes if not i.unique)
    with store.engine.begin() as conn:
        ix.drop(conn)
    assert _event_indexes(store) != before
    store.migrate()
    assert _event_indexes(store) == before


def test_bulk_load_into_an_empty_table_still_dedupes_across_calls(store: SQLStore) -> None:
    first = make_events(300, seed=5)
    more = make_events(100, seed=6, start=300)
    with store.bulk_load():
        assert store.insert_events(first) == 300  # PostgreSQL: straight COPY into the table
        overlap = pd.concat([first.iloc[:50], more], ignore_index=True)
        assert store.insert_events(overlap) == 100  # a known id: falls back to deduplicating
        assert store.insert_events(first) == 0
    assert store.count("events") == 400
    assert store.read_table("events", columns=["event_id"])["event_id"].is_unique
