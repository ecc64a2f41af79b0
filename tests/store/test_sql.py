"""Contract suite of the SQL store, run on SQLite and on PostgreSQL (see conftest.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text, update
from sqlalchemy.exc import IntegrityError

from campaignrec.data.schema import EVENT_COLUMNS, derive_event_id
from campaignrec.errors import ConfigError, StoreError, UnknownIdError, ValidationError
from campaignrec.store.migrations import MIGRATIONS, Migration
from campaignrec.store.profiles import ProfileRepository
from campaignrec.store.rows import RowWriter
from campaignrec.store.sql import SQLStore

StoreFactory = Callable[[], SQLStore]

T0 = pd.Timestamp("2024-03-01T08:00:00.000001Z")


def make_events(n: int, seed: int = 0, start: int = 0) -> pd.DataFrame:
    """``n`` events with every canonical column, ids derived as the importer does."""
    rng = np.random.default_rng(seed)
    users = np.array([f"u{i}" for i in rng.integers(0, 20, n)], dtype=object)
    types = rng.choice(np.array(["view", "click", "purchase"], dtype=object), n)
    ts = T0 + pd.to_timedelta(np.arange(start, start + n) * 61_000_003, unit="us")
    items = np.array([f"i{i}" for i in rng.integers(0, 50, n)], dtype=object)
    df = pd.DataFrame(
        {
            "user_id": users,
            "event_type": types,
            "timestamp": ts,
            "item_id": items,
            "campaign_id": None,
            "query": None,
            "quantity": np.where(types == "purchase", 1.0, np.nan),
            "price": np.round(rng.uniform(1, 100, n), 2),
            "revenue": np.where(types == "purchase", 9.5, np.nan),
            "session_id": [f"s{i % 7}" for i in range(n)],
            "order_id": None,
            "device": "mobile",
            "page": "home",
            "position": pd.array(rng.integers(0, 10, n), dtype="Int64"),
            "policy": "pop",
            "variant": "A",
            "propensity": 0.5,
            "rating": np.nan,
        }
    )
    df.insert(
        0,
        "event_id",
        [
            derive_event_id(u, t, ts_, i)
            for u, t, ts_, i in zip(users, types, ts.to_pydatetime(), items, strict=True)
        ],
    )
    return df[list(EVENT_COLUMNS)]


# ---- opening and migrations -------------------------------------------------------------------


def test_open_migrates_and_migrate_is_idempotent(store_factory: StoreFactory) -> None:
    store = store_factory()
    assert store.schema_version == MIGRATIONS[-1].version
    assert store.migrate() == MIGRATIONS[-1].version
    store.insert_events(make_events(5))
    again = store_factory()  # opening an existing store migrates nothing and keeps the data
    assert again.migrate() == MIGRATIONS[-1].version
    assert again.count("events") == 5
    with again.engine.connect() as conn:
        versions = conn.execute(
            text(f'SELECT version FROM "{again.tables.schema_version.name}" ORDER BY version')
        ).scalars()
        assert list(versions) == [m.version for m in MIGRATIONS]


def test_a_new_migration_step_runs_once_and_is_recorded(store: SQLStore) -> None:
    items = store.tables.items.name

    def add_column(conn, tables) -> None:  # type: ignore[no-untyped-def]
        conn.execute(text(f'ALTER TABLE "{items}" ADD COLUMN extra_note TEXT'))

    steps = (*MIGRATIONS, Migration(MIGRATIONS[-1].version + 1, "add extra_note", add_column))
    assert store.migrate(steps) == steps[-1].version
    # a second run must not apply the ALTER again (it would fail on a duplicate column)
    assert store.migrate(steps) == steps[-1].version
    assert store.schema_version == steps[-1].version


def test_a_failing_migration_rolls_back_entirely(store: SQLStore) -> None:
    items = store.tables.items.name

    def half_done(conn, tables) -> None:  # type: ignore[no-untyped-def]
        conn.execute(text(f'ALTER TABLE "{items}" ADD COLUMN half_done TEXT'))
        raise RuntimeError("boom")

    steps = (*MIGRATIONS, Migration(MIGRATIONS[-1].version + 1, "broken", half_done))
    with pytest.raises(RuntimeError, match="boom"):
        store.migrate(steps)
    assert store.schema_version == MIGRATIONS[-1].version
    with store.engine.connect() as conn, pytest.raises(Exception, match="half_done"):
        conn.execute(text(f'SELECT half_done FROM "{items}"'))


def test_migration_versions_must_ascend(store: SQLStore) -> None:
    steps = (*MIGRATIONS, Migration(MIGRATIONS[-1].version, "duplicate", lambda c, t: None))
    with pytest.raises(StoreError, match="unique, ascending"):
        store.migrate(steps)


def test_bad_urls_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="database_url"):
        SQLStore("mysql://root@localhost/shop")
    with pytest.raises(ConfigError, match="database_url"):
        SQLStore("not a url")
    with pytest.raises(ConfigError, match="table_prefix"):
        SQLStore("sqlite://", table_prefix="Bad-Prefix")


def test_unreachable_postgres_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="cannot"):
        SQLStore("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")


def test_sqlite_file_is_in_wal_mode(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with SQLStore(f"sqlite:///{tmp_path / 'sub' / 'shop.db'}") as store:
        assert store.dialect == "sqlite"
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    assert (tmp_path / "sub" / "shop.db").is_file()


# ---- events -----------------------------------------------------------------------------------


def test_insert_events_dedupes_by_event_id(store: SQLStore) -> None:
    events = make_events(300, seed=1)
    assert store.insert_events(events) == 300
    assert store.insert_events(events) == 0
    more = make_events(100, seed=2, start=300)
    overlap = pd.concat([events.iloc[:150], more, more.iloc[:10]], ignore_index=True)
    assert store.insert_events(overlap) == 100  # only the new ones, duplicates inside once
    assert store.count("events") == 400
    assert store.read_table("events", columns=["event_id"])["event_id"].is_unique


def test_events_round_trip_every_column(store: SQLStore) -> None:
    events = make_events(200, seed=3)
    shuffled = events.sample(frac=1.0, random_state=0)
    store.insert_events(shuffled)
    back = store.read_table("events")
    assert list(back.columns) == list(EVENT_COLUMNS)
    assert str(back["timestamp"].dtype) == "datetime64[us, UTC]"
    assert back["timestamp"].is_monotonic_increasing  # events come back in time order
    expected = events.sort_values("timestamp").reset_index(drop=True)
    pd.testing.assert_series_equal(
        back["timestamp"], expected["timestamp"].astype(back["timestamp"].dtype)
    )
    assert back["event_id"].tolist() == expected["event_id"].tolist()
    for col in ("price", "quantity", "revenue", "propensity"):
        np.testing.assert_array_equal(back[col].to_numpy(), expected[col].to_numpy())
    assert back["position"].tolist() == expected["position"].tolist()
    assert back["campaign_id"].isna().all()
    assert back["session_id"].tolist() == expected["session_id"].tolist()


def test_timestamps_in_any_zone_are_stored_as_the_same_instant(store: SQLStore) -> None:
    paris = pd.Timestamp("2024-07-01 12:00:00.123456", tz="Europe/Paris")
    df = pd.DataFrame(
        {
            "event_id": ["e1"],
            "user_id": ["u1"],
            "event_type": ["view"],
            "timestamp": [paris],
            "item_id": ["i1"],
        }
    )
    store.insert_events(df)
    back = store.read_table("events")["timestamp"].iloc[0]
    assert back == pd.Timestamp("2024-07-01T10:00:00.123456Z")
    assert str(back.tz) == "UTC"


def test_naive_timestamps_are_rejected_and_nothing_is_written(store: SQLStore) -> None:
    df = make_events(3)
    df["timestamp"] = df["timestamp"].dt.tz_localize(None)
    with pytest.raises(ValidationError, match="timestamp"):
        store.insert_events(df)
    as_objects = make_events(3)
    as_objects["timestamp"] = pd.Series(
        [t.replace(tzinfo=None) for t in as_objects["timestamp"].dt.to_pydatetime()], dtype=object
    )
    with pytest.raises(ValidationError, match="timezone-aware"):
        store.insert_events(as_objects)
    assert store.count("events") == 0


def test_unknown_columns_and_tables_are_validation_errors(store: SQLStore) -> None:
    df = make_events(2).assign(colour="red")
    with pytest.raises(ValidationError, match="colour"):
        store.insert_events(df)
    with pytest.raises(ValidationError, match="name"):
        store.read_table("orders")
    with pytest.raises(ValidationError, match="columns"):
        store.read_table("events", columns=["event_id", "colour"])


def test_an_interrupted_insert_writes_nothing(
    store: SQLStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = RowWriter.write_rows

    def write_then_crash(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        written = original(self, *args, **kwargs)
        assert written == 50  # the rows reached the database inside the transaction ...
        raise KeyboardInterrupt  # ... and then the process was interrupted

    monkeypatch.setattr(RowWriter, "write_rows", write_then_crash)
    with pytest.raises(KeyboardInterrupt):
        store.insert_events(make_events(50))
    monkeypatch.undo()
    assert store.count("events") == 0
    assert store.insert_events(make_events(50)) == 50


def test_iter_table_chunks_add_up_to_read_table(store: SQLStore) -> None:
    store.insert_events(make_events(250, seed=4))
    chunks = list(store.iter_table("events", chunk_rows=100, columns=["event_id", "timestamp"]))
    assert [len(c) for c in chunks] == [100, 100, 50]
    joined = pd.concat(chunks, ignore_index=True)
    full = store.read_table("events", columns=["event_id", "timestamp"])
    pd.testing.assert_frame_equal(joined, full)
    with pytest.raises(ValidationError, match="chunk_rows"):
        list(store.iter_table("events", chunk_rows=0))


def test_concurrent_writers_lose_nothing(store: SQLStore) -> None:
    batches = [make_events(200, seed=10 + i, start=200 * i) for i in range(4)]
    errors: list[BaseException] = []

    def write(df: pd.DataFrame) -> None:
        try:
            store.insert_events(df)
            store.insert_events(batches[0])  # overlapping writes from every thread
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.count("events") == 800


# ---- users, items, campaigns --------------------------------------------------------------------


def test_upsert_updates_given_columns_and_keeps_the_rest(store: SQLStore) -> None:
    users = pd.DataFrame(
        {
            "user_id": ["u1", "u2"],
            "birth_year": [1980, 1995],
            "region": ["north", "south"],
            "consent_marketing": [False, True],
            "signup_time": pd.to_datetime(["2023-01-01T00:00:00Z", "2023-06-01T12:30:00Z"]),
        }
    )
    assert store.upsert_users(users) == 2
    change = pd.DataFrame({"user_id": ["u1", "u3", "u3"], "region": ["east", "west", "far-west"]})
    assert store.upsert_users(change) == 2  # u3 twice: the last row wins, written once
    back = store.read_table("users").set_index("user_id")
    assert back.loc["u1", "region"] == "east"
    assert back.loc["u1", "birth_year"] == 1980  # untouched column kept
    assert not back.loc["u1", "consent_marketing"]
    assert back.loc["u3", "region"] == "far-west"
    assert pd.isna(back.loc["u3", "birth_year"])
    assert back.loc["u3", "consent_marketing"]  # schema default for a new user
    assert back.loc["u2", "signup_time"] == pd.Timestamp("2023-06-01T12:30:00Z")
    assert store.count("users") == 3


def test_upsert_requires_the_id(store: SQLStore) -> None:
    with pytest.raises(ValidationError, match="user_id"):
        store.upsert_users(pd.DataFrame({"region": ["x"]}))
    with pytest.raises(ValidationError, match="item_id"):
        store.upsert_items(pd.DataFrame({"item_id": ["a", None]}))


def test_json_fields_round_trip(store: SQLStore) -> None:
    items = pd.DataFrame(
        {
            "item_id": ["i1", "i2", "i3"],
            "title": ["连衣裙 summer dress", "mug", None],
            "price": [199.0, 12.5, None],
            "tags": [["夏季", "cotton"], [], None],
            "attributes": [{"size": ["S", "M"], "nested": {"a": 1.5}}, {}, None],
            "in_stock": [True, False, True],
            "created_time": pd.to_datetime(["2024-01-01T00:00:00Z", None, None], utc=True),
        }
    )
    store.upsert_items(items)
    back = store.read_table("items").set_index("item_id")
    assert back.loc["i1", "tags"] == ["夏季", "cotton"]
    assert back.loc["i2", "tags"] == []
    assert back.loc["i3", "tags"] is None
    assert back.loc["i1", "attributes"] == {"size": ["S", "M"], "nested": {"a": 1.5}}
    assert back.loc["i1", "title"] == "连衣裙 summer dress"
    assert back["in_stock"].tolist() == [True, False, True]
    assert pd.isna(back.loc["i2", "created_time"])

    audience = {"all": [{"field": "segment", "op": "eq", "value": "vip"}]}
    campaigns = pd.DataFrame(
        {
            "campaign_id": ["c1", "c2"],
            "name": ["Spring coupon", "Flash"],
            "type": ["coupon", "flash_sale"],
            "item_ids": [["i1", "i2"], None],
            "categories": [["women/dresses"], []],
            "audience": [audience, None],
            "budget": [1000.0, None],
            "inventory": [None, 50],
        }
    )
    store.upsert_campaigns(campaigns)
    camp = store.read_table("campaigns").set_index("campaign_id")
    assert camp.loc["c1", "audience"] == audience
    assert camp.loc["c2", "audience"] is None
    assert camp.loc["c1", "item_ids"] == ["i1", "i2"]
    assert camp.loc["c2", "inventory"] == 50
    # columns left out take the schema defaults
    assert camp.loc["c1", "status"] == "active"
    assert camp.loc["c1", "cap_window_hours"] == 168.0
    assert camp.loc["c2", "priority"] == 0


# ---- quarantine, import log, registry, erasure ------------------------------------------------


def quarantine_rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source": ["events.csv", "events.csv", "users.csv"],
            "line": [3, 3, 7],
            "entity": ["events", "events", "users"],
            "field": ["timestamp", None, "birth_year"],
            "value": ["yesterday", None, "1800"],
            "reason": ["not a timestamp", "row has 3 fields, expected 5", "below 1900"],
            "raw": [
                '{"user_id": "u1", "timestamp": "yesterday"}',
                '{"user_id": "u1", "event_type": "view"}',
                '{"user_id": "u2"}',
            ],
        }
    )


def test_quarantine_is_idempotent_on_source_line_entity_field(store: SQLStore) -> None:
    assert store.insert_quarantine(quarantine_rows()) == 3
    assert store.insert_quarantine(quarantine_rows()) == 0
    back = store.read_table("quarantine")
    assert len(back) == 3
    assert back["line"].tolist() == [3, 3, 7]
    assert sorted(back["user_id"].tolist()) == ["u1", "u1", "u2"]  # read from raw JSON


def test_import_log(store: SQLStore) -> None:
    first = store.record_import("events.csv", "events", "abc", {"rows": 10, "rejected": 1})
    second = store.record_import("users.csv", "users", "def", {"rows": 3})
    assert second > first
    log = store.import_log()
    assert log["fingerprint"].tolist() == ["abc", "def"]
    assert log["summary"].iloc[0] == {"rows": 10, "rejected": 1}
    assert str(log["created_at"].dtype) == "datetime64[us, UTC]"
    found = store.find_import("def")
    assert found is not None and found["entity"] == "users"
    assert store.find_import("zzz") is None


def test_registry_keeps_one_active_version(store: SQLStore) -> None:
    assert store.active_model("als") is None
    store.register_model("als", "v1", "artifacts/v1", {"ndcg@10": 0.31})
    store.register_model("als", "v2", "artifacts/v2", {"ndcg@10": 0.33})
    store.register_model("pop", "v1", "artifacts/pop", {})
    assert store.active_model("als") is None  # registering does not activate
    store.activate_model("als", "v1")
    store.activate_model("pop", "v1")
    store.activate_model("als", "v2")
    active = store.active_model("als")
    assert active is not None
    assert (active["version"], active["path"], active["meta"]) == (
        "v2",
        "artifacts/v2",
        {"ndcg@10": 0.33},
    )
    assert active["active"] is True
    with pytest.raises(UnknownIdError, match="als:v9"):
        store.activate_model("als", "v9")
    models = store.list_models()
    assert models.groupby("name")["active"].sum().to_dict() == {"als": 1, "pop": 1}
    # the database itself refuses a second active version
    table = store.tables.models
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(update(table).where(table.c.name == "als").values(active=True))
    assert store.active_model("als")["version"] == "v2"  # type: ignore[index]


def test_delete_user_erases_every_trace(store: SQLStore) -> None:
    events = make_events(200, seed=5)
    store.insert_events(events)
    store.upsert_users(pd.DataFrame({"user_id": ["u1", "u2"], "region": ["a", "b"]}))
    store.insert_quarantine(quarantine_rows())
    n_u1 = int((events["user_id"] == "u1").sum())
    assert n_u1 > 0
    ProfileRepository(store).replace_all([{"user_id": "u1", "segment": 3}, {"user_id": "u2"}])
    removed = store.delete_user("u1")
    assert removed == {
        "events": n_u1,
        "users": 1,
        "quarantine": 2,
        "profiles": 1,
        "sealed_fields": 0,
    }
    assert ProfileRepository(store).get("u1") is None
    assert ProfileRepository(store).get("u2") == {"user_id": "u2"}
    assert "u1" not in set(store.read_table("events")["user_id"])
    assert store.read_table("users")["user_id"].tolist() == ["u2"]
    assert store.count("events") == 200 - n_u1
    assert set(store.delete_user("u1").values()) == {0}
