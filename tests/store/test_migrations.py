"""Migrations: shipped steps keep their schema, and a migrated database matches build_tables."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Engine, create_engine, inspect

from campaignrec.data.schema import ITEM_COLUMNS
from campaignrec.store.experiments import experiments_table
from campaignrec.store.migrations import MIGRATIONS, apply_migrations, build_tables
from campaignrec.store.privacy import privacy_tables
from campaignrec.store.profiles import profiles_table
from campaignrec.store.retrain import retrain_decisions_table
from campaignrec.store.sql import SQLStore

# sqlite_master of a fresh database after steps 1 and 2, as version 2 shipped (before the
# column definitions were derived from the models). Shipped steps must keep producing it.
VERSION_2_SQLITE: list[tuple[Any, ...]] = [
    ("index", "ix_events_user_ts", "CREATE INDEX ix_events_user_ts ON events (user_id, timestamp)"),
    (
        "index",
        "ix_imports_fingerprint",
        "CREATE INDEX ix_imports_fingerprint ON imports (fingerprint)",
    ),
    ("index", "ix_quarantine_user", "CREATE INDEX ix_quarantine_user ON quarantine (user_id)"),
    (
        "index",
        "ux_models_active",
        "CREATE UNIQUE INDEX ux_models_active ON models (name) WHERE active = 1",
    ),
    (
        "table",
        "campaigns",
        "CREATE TABLE campaigns (\n\tcampaign_id TEXT NOT NULL, \n\tname TEXT, \n\ttype TEXT, \n\tstatus TEXT DEFAULT 'active' NOT NULL, \n\tstart_time BIGINT, \n\tend_time BIGINT, \n\tdiscount_type TEXT DEFAULT 'none' NOT NULL, \n\tdiscount_value FLOAT DEFAULT (0.0) NOT NULL, \n\tmin_spend FLOAT DEFAULT (0.0) NOT NULL, \n\titem_ids TEXT, \n\tcategories TEXT, \n\taudience TEXT, \n\tbudget FLOAT, \n\tinventory INTEGER, \n\tcost_per_redemption FLOAT DEFAULT (0.0) NOT NULL, \n\tfrequency_cap INTEGER, \n\tcap_window_hours FLOAT DEFAULT (168.0) NOT NULL, \n\tpriority INTEGER DEFAULT 0 NOT NULL, \n\texclusivity_group TEXT, \n\ttitle_en TEXT, \n\ttitle_zh TEXT, \n\tdescription_en TEXT, \n\tdescription_zh TEXT, \n\tupdated_at BIGINT, \n\tPRIMARY KEY (campaign_id)\n)",
    ),
    (
        "table",
        "events",
        'CREATE TABLE events (\n\tevent_id TEXT NOT NULL, \n\tuser_id TEXT NOT NULL, \n\tevent_type TEXT NOT NULL, \n\ttimestamp BIGINT NOT NULL, \n\titem_id TEXT, \n\tcampaign_id TEXT, \n\t"query" TEXT, \n\tquantity FLOAT, \n\tprice FLOAT, \n\trevenue FLOAT, \n\tsession_id TEXT, \n\torder_id TEXT, \n\tdevice TEXT, \n\tpage TEXT, \n\tposition INTEGER, \n\tpolicy TEXT, \n\tvariant TEXT, \n\tpropensity FLOAT, \n\tPRIMARY KEY (event_id)\n)',
    ),
    (
        "table",
        "imports",
        "CREATE TABLE imports (\n\timport_id INTEGER NOT NULL, \n\tsource TEXT NOT NULL, \n\tentity TEXT NOT NULL, \n\tfingerprint TEXT NOT NULL, \n\tsummary TEXT, \n\tcreated_at BIGINT NOT NULL, \n\tPRIMARY KEY (import_id)\n)",
    ),
    (
        "table",
        "items",
        "CREATE TABLE items (\n\titem_id TEXT NOT NULL, \n\ttitle TEXT, \n\tdescription TEXT, \n\tcategory TEXT, \n\tbrand TEXT, \n\tprice FLOAT, \n\tcurrency TEXT, \n\ttags TEXT, \n\tin_stock BOOLEAN DEFAULT 1 NOT NULL, \n\tcreated_time BIGINT, \n\tattributes TEXT, \n\tupdated_at BIGINT, \n\tPRIMARY KEY (item_id)\n)",
    ),
    (
        "table",
        "models",
        "CREATE TABLE models (\n\tname TEXT NOT NULL, \n\tversion TEXT NOT NULL, \n\tpath TEXT NOT NULL, \n\tmeta TEXT, \n\tcreated_at BIGINT NOT NULL, \n\tactive BOOLEAN DEFAULT 0 NOT NULL, \n\tactivated_at BIGINT, \n\tPRIMARY KEY (name, version)\n)",
    ),
    (
        "table",
        "quarantine",
        "CREATE TABLE quarantine (\n\tsource TEXT NOT NULL, \n\tline BIGINT NOT NULL, \n\tentity TEXT NOT NULL, \n\tfield TEXT NOT NULL, \n\tvalue TEXT, \n\treason TEXT, \n\traw TEXT, \n\tuser_id TEXT, \n\tcreated_at BIGINT, \n\tPRIMARY KEY (source, line, entity, field)\n)",
    ),
    (
        "table",
        "schema_version",
        "CREATE TABLE schema_version (\n\tversion INTEGER NOT NULL, \n\tdescription TEXT NOT NULL, \n\tapplied_at BIGINT NOT NULL, \n\tPRIMARY KEY (version)\n)",
    ),
    (
        "table",
        "users",
        "CREATE TABLE users (\n\tuser_id TEXT NOT NULL, \n\tsignup_time BIGINT, \n\tbirth_year INTEGER, \n\tage_band TEXT, \n\tgender TEXT, \n\tregion TEXT, \n\tcity TEXT, \n\tmembership_tier TEXT, \n\tconsent_personalisation BOOLEAN DEFAULT 1 NOT NULL, \n\tconsent_marketing BOOLEAN DEFAULT 1 NOT NULL, \n\tattributes TEXT, \n\tupdated_at BIGINT, \n\tPRIMARY KEY (user_id)\n)",
    ),
]


def _sqlite_master(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type, name"
        )
        return [tuple(r) for r in rows]


def _shape(engine: Engine) -> dict[str, Any]:
    """Columns (by name: type, nullability, default, key) and indexes of every table.

    Column order is left out on purpose: ``ALTER TABLE ... ADD COLUMN`` appends, while
    build_tables keeps model field order; every statement of the store names its columns.
    """
    insp = inspect(engine)
    out: dict[str, Any] = {}
    for table in sorted(insp.get_table_names()):
        cols = {
            c["name"]: (str(c["type"]), c["nullable"], c["default"], c["primary_key"])
            for c in insp.get_columns(table)
        }
        indexes = sorted(
            (ix["name"], tuple(ix["column_names"]), bool(ix["unique"]))
            for ix in insp.get_indexes(table)
        )
        out[table] = (cols, indexes)
    return out


def test_shipped_steps_still_create_the_version_2_schema() -> None:
    engine = create_engine("sqlite://")
    assert apply_migrations(engine, build_tables(), MIGRATIONS[:2]) == 2
    assert _sqlite_master(engine) == VERSION_2_SQLITE


def test_a_migrated_database_matches_the_derived_tables() -> None:
    migrated = create_engine("sqlite://")
    apply_migrations(migrated, build_tables())
    derived = create_engine("sqlite://")
    build_tables().metadata.create_all(derived)
    profiles_table().create(derived)  # migration 4's table, defined beside its repository
    for table in privacy_tables().values():  # migration 5's, likewise
        table.create(derived)
    experiments_table().create(derived)  # migration 6's, likewise
    retrain_decisions_table().create(derived)  # migration 9's, likewise
    assert _shape(migrated) == _shape(derived)


def test_derived_tables_other_than_items_are_unchanged_ddl() -> None:
    derived = create_engine("sqlite://")
    build_tables().metadata.create_all(derived)
    # steps 3, 7, 10 and 11 (SQLite's event_id: a unique index instead of the primary key)
    changed = ("items", "campaigns", "events", "ux_events_event_id", "schema_version")
    now = [r for r in _sqlite_master(derived) if r[1] not in changed]
    assert now == [r for r in VERSION_2_SQLITE if r[1] not in changed]
    events = next(r[2] for r in _sqlite_master(derived) if r[1] == "events")
    v2 = next(r[2] for r in VERSION_2_SQLITE if r[1] == "events")
    assert events == v2.replace(
        "propensity FLOAT, ", "propensity FLOAT, \n\trating FLOAT, "
    ).replace(", \n\tPRIMARY KEY (event_id)", "")
    ux = [r for r in _sqlite_master(derived) if r[1] == "ux_events_event_id"]
    assert ux == [
        (
            "index",
            "ux_events_event_id",
            "CREATE UNIQUE INDEX ux_events_event_id ON events (event_id)",
        )
    ]


def test_campaigns_gained_the_protected_declaration_in_step_7(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from sqlalchemy import inspect, text

    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    apply_migrations(engine, build_tables(), MIGRATIONS[:6])
    with engine.begin() as conn:
        conn.execute(
            text("INSERT INTO campaigns (campaign_id, name, type) VALUES ('c1', 'A', 'coupon')")
        )
    assert apply_migrations(engine, build_tables()) == MIGRATIONS[-1].version
    cols = {c["name"] for c in inspect(engine).get_columns("campaigns")}
    assert {"protected_attributes", "protected_reason"} <= cols
    with engine.begin() as conn:  # an old row reads as "declares nothing"
        row = conn.execute(
            text("SELECT protected_attributes, protected_reason FROM campaigns")
        ).one()
        assert tuple(row) == (None, None)
        conn.execute(
            text("UPDATE campaigns SET protected_attributes = :a"), {"a": json.dumps(["gender"])}
        )


def test_items_table_has_one_column_per_model_field_plus_updated_at() -> None:
    items = build_tables().items
    assert [c.name for c in items.columns] == [*ITEM_COLUMNS, "updated_at"]
    hidden = items.c.hidden
    assert not hidden.nullable and hidden.info == {"kind": "bool", "default": False}


def test_an_old_version_2_store_upgrades_and_keeps_its_items(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    apply_migrations(engine, build_tables(), MIGRATIONS[:2])
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO items (item_id, in_stock) VALUES ('i1', 1)")
    engine.dispose()
    store = SQLStore(url)
    assert store.schema_version == MIGRATIONS[-1].version
    items = store.read_table("items")
    assert items["item_id"].tolist() == ["i1"]
    assert items["hidden"].tolist() == [False]
    store.upsert_items(pd.DataFrame({"item_id": ["i2"], "hidden": [True]}))
    assert store.read_table("items").set_index("item_id")["hidden"].to_dict() == {
        "i1": False,
        "i2": True,
    }
    store.close()


def test_an_old_version_10_store_keeps_its_events_and_dedupes_after_step_11(tmp_path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    apply_migrations(engine, build_tables(), MIGRATIONS[:10])
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO events (event_id, user_id, event_type, timestamp, rating) "
            "VALUES ('e1', 'u1', 'view', 5, NULL), ('e2', 'u2', 'rating', 6, 4.5)"
        )
    engine.dispose()
    store = SQLStore(url)
    assert store.schema_version == 11
    events = store.read_table("events")
    assert events["event_id"].tolist() == ["e1", "e2"]
    assert events["rating"].tolist()[1] == 4.5
    again = pd.DataFrame(
        {
            "event_id": ["e2", "e3"],
            "user_id": ["u2", "u3"],
            "event_type": ["view", "view"],
            "timestamp": pd.to_datetime([7, 8], unit="s", utc=True),
        }
    )
    assert store.insert_events(again) == 1
    assert store.count("events") == 3
    store.close()
