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


def _stored(store: SQLStore) -> pd.DataFrame:
    return store.read_table("events").sort_values("event_id").reset_index(drop=True)


def test_polars_rows_are_the_pandas_rows(store: SQLStore) -> None:
    """The importer's polars write path stores exactly what the pandas path stores."""
    import polars as pl

    events = make_events(300, seed=5)
    events.loc[::7, "price"] = float("nan")  # missing floats become NULL on both paths
    twin = SQLStore(store.url.replace("store.db", "twin.db")) if "sqlite" in store.url else None
    assert store.insert_events_frame(pl.from_pandas(events)) == 300
    assert store.insert_events_frame(pl.from_pandas(events)) == 0  # still deduplicated
    if twin is not None:
        twin.migrate()
        assert twin.insert_events(events) == 300
        pd.testing.assert_frame_equal(_stored(store), _stored(twin))


def test_a_staged_bulk_load_stores_every_row_once_in_arrival_order(store: SQLStore) -> None:
    import polars as pl

    events = make_events(400, seed=6)
    frame = pl.from_pandas(events)
    with store.bulk_load():
        assert store.insert_events_frame(frame.slice(0, 250), unique=True) == 250
        assert store.insert_events_frame(frame.slice(250), unique=True) == 150
        # a writer outside the bulk load stores one of the events meanwhile: on SQLite the
        # staged copy is still invisible, so it is new; PostgreSQL wrote the rows already
        staged = store.core.dialect == "sqlite"
        assert store.insert_events(events.iloc[[10]]) == (1 if staged else 0)
    assert store.take_bulk_conflicts() == (1 if staged else 0)
    assert store.take_bulk_conflicts() == 0  # reading resets it
    assert store.count("events") == 400
    assert sorted(_stored(store)["event_id"]) == sorted(events["event_id"])
    if store.core.dialect == "sqlite":  # the flush appended the rows in arrival order
        with store.engine.connect() as conn:
            order = [
                r[0] for r in conn.exec_driver_sql("SELECT event_id FROM events ORDER BY rowid")
            ]
        rest = [e for e in events["event_id"] if e != events["event_id"].iloc[10]]
        assert order[0] == events["event_id"].iloc[10] and order[1:] == rest
