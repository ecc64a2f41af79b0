"""Table definitions and versioned migrations of the SQL store.

The schema is created and evolved by an ordered list of :class:`Migration` steps. Each step has a
version number; :func:`apply_migrations` applies, in one transaction, every step whose version is
above the one recorded in the ``schema_version`` table and records each step it applied. Applying
twice does nothing the second time.

Conventions shared by every table (and relied on by :mod:`campaignrec.store.sql`):

* timestamps are ``BIGINT`` microseconds since the Unix epoch, UTC, on every backend;
* list and dict fields are JSON text (``column.info["kind"] == "json"``);
* a NOT NULL column with a model default carries it in ``column.info["default"]`` so that a
  missing value in an upsert falls back to the same default as :mod:`campaignrec.data.schema`.

The users, items, campaigns and events tables are not written out here: :func:`build_tables`
derives them from the pydantic models (:data:`campaignrec.data.schema.COLUMN_SPECS`): one column per
field, in field order, plus ``updated_at`` on users, items and campaigns. A field's kind gives the
SQL type (id and str: TEXT; datetime: BIGINT microseconds; list and dict: JSON text; float, int,
bool); its ``Col(key=True)`` metadata the primary key; a scalar model default a NOT NULL column with
that server default; ``Col(not_null=True)`` a NOT NULL column without one. The quarantine's columns
and key come from :mod:`campaignrec.data.columns`.

Adding a column: add the field to its model, then append ``Migration(version=N + 1, ...)`` to
:data:`MIGRATIONS` with explicit DDL (``ALTER TABLE ... ADD COLUMN``) whose column definition is
frozen in the step itself, never read from :func:`build_tables` (a shipped step must keep producing
what it produced when it shipped). For the same reason step 1 creates the version-1 entity tables
from a frozen copy (:func:`_v1_entity_tables`), so that old stores and new ones converge on the same
schema through the same steps. ``tests/store/test_migrations.py`` checks that a fresh database
migrated step by step matches :func:`build_tables`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    Float,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    false,
    func,
    select,
    text,
    true,
)
from sqlalchemy.schema import CreateColumn

from campaignrec.data.columns import QUARANTINE_COLUMNS, QUARANTINE_KEY, FieldSpec
from campaignrec.data.schema import COLUMN_SPECS
from campaignrec.errors import StoreError

# Text compared bytewise on both backends: SQLite's default BINARY collation, and "C" on
# PostgreSQL (faster index comparisons than a locale, and the same sort order as SQLite).
TEXT = Text().with_variant(Text(collation="C"), "postgresql")

TABLE_NAMES = (
    "users",
    "items",
    "campaigns",
    "events",
    "quarantine",
    "imports",
    "models",
    "schema_version",
)


def _ts(name: str, *, nullable: bool = True) -> Column[int]:
    return Column(name, BigInteger, nullable=nullable, info={"kind": "ts"})


def _json(name: str) -> Column[str]:
    return Column(name, TEXT, nullable=True, info={"kind": "json"})


def _str(name: str, *, nullable: bool = True, default: str | None = None) -> Column[str]:
    if default is None:
        return Column(name, TEXT, nullable=nullable, info={"kind": "str"})
    return Column(
        name,
        TEXT,
        nullable=nullable,
        server_default=default,
        info={"kind": "str", "default": default},
    )


def _float(name: str, *, default: float | None = None) -> Column[float]:
    if default is None:
        return Column(name, Float, nullable=True, info={"kind": "float"})
    return Column(
        name,
        Float,
        nullable=False,
        server_default=text(repr(float(default))),
        info={"kind": "float", "default": default},
    )


def _int(name: str, *, default: int | None = None) -> Column[int]:
    if default is None:
        return Column(name, Integer, nullable=True, info={"kind": "int"})
    return Column(
        name,
        Integer,
        nullable=False,
        server_default=text(str(int(default))),
        info={"kind": "int", "default": default},
    )


def _bool(name: str, default: bool) -> Column[bool]:
    return Column(
        name,
        Boolean,
        nullable=False,
        server_default=true() if default else false(),
        info={"kind": "bool", "default": default},
    )


def _entity_column(spec: FieldSpec) -> Column[Any]:
    """The SQL column of one model field (types and defaults: see the module docstring)."""
    name = spec.name
    if spec.key:
        return Column(name, TEXT, primary_key=True, info={"kind": "str"})
    column: Column[Any]
    if spec.kind in ("id", "str"):
        column = _str(name, nullable=spec.nullable, default=spec.default)
    elif spec.kind == "datetime":
        column = _ts(name, nullable=spec.nullable)
    elif spec.kind in ("list", "dict") and spec.nullable:
        column = _json(name)
    elif spec.kind == "float" and spec.nullable == (spec.default is None):
        column = _float(name, default=spec.default)
    elif spec.kind == "int" and spec.nullable == (spec.default is None):
        column = _int(name, default=spec.default)
    elif spec.kind == "bool" and spec.default is not None:
        column = _bool(name, bool(spec.default))
    else:
        raise StoreError(
            f"field {name!r} ({spec.kind}, nullable={spec.nullable}) has no SQL column type",
            hint="give it a default, or extend _entity_column in campaignrec.store.migrations",
        )
    return column


def _entity_columns(entity: str) -> list[Column[Any]]:
    """The columns of an entity's table, one per field of its model, in field order."""
    return [_entity_column(spec) for spec in COLUMN_SPECS[entity]]


def _quarantine_column(name: str) -> Column[Any]:
    if name == "line":
        return Column("line", BigInteger, primary_key=True, info={"kind": "int"})
    if name in QUARANTINE_KEY:
        return Column(name, TEXT, primary_key=True, info={"kind": "str"})
    return _str(name)


@dataclass(frozen=True)
class Tables:
    """The store's tables, all sharing one ``MetaData`` and one name prefix."""

    metadata: MetaData
    prefix: str
    users: Table
    items: Table
    campaigns: Table
    events: Table
    quarantine: Table
    imports: Table
    models: Table
    schema_version: Table

    def by_name(self, name: str) -> Table:
        """The table called ``name`` (without the prefix)."""
        table: Table = getattr(self, name)
        return table


def _pg_only(dialect: str | None, **options: Any) -> dict[str, Any]:
    """PostgreSQL-only keyword options of a construct, left out on SQLite."""
    return {} if dialect == "sqlite" else options


def build_tables(prefix: str = "", dialect: str | None = None) -> Tables:
    """Define every table of the current schema version, names prefixed with ``prefix``.

    Parameters
    ----------
    prefix : str
        Prepended to every table and index name (lets several stores share one database,
        e.g. concurrent test runs on one PostgreSQL server).
    dialect : str, optional
        ``"sqlite"`` leaves out the PostgreSQL-only index options (naming one makes SQLAlchemy
        import its whole PostgreSQL dialect: 0.2 s of every command's start-up).

    Returns
    -------
    Tables
    """
    md = MetaData()
    p = prefix
    users = Table(f"{p}users", md, *_entity_columns("users"), _ts("updated_at"))
    items = Table(f"{p}items", md, *_entity_columns("items"), _ts("updated_at"))
    campaigns = Table(f"{p}campaigns", md, *_entity_columns("campaigns"), _ts("updated_at"))
    event_columns = _entity_columns("events")
    if dialect != "postgresql":
        # SQLite (step 11): event_id is a unique index of a rowid table, not the primary key,
        # so that a bulk load into an empty table can drop it and build it once, sorted, at
        # the end (campaignrec.store.stage). PostgreSQL keeps the primary key.
        event_columns[0] = Column("event_id", TEXT, nullable=False, info={"kind": "str"})
    events = Table(f"{p}events", md, *event_columns)
    if dialect != "postgresql":
        Index(f"ux_{p}events_event_id", events.c.event_id, unique=True)
    # A rowid table (not WITHOUT ROWID): events arrive roughly in time order, so rows append
    # at the end and only the narrow event_id index takes random inserts (measured faster,
    # docs/benchmarks/stores.md).
    # One secondary index: per-user reads and erasure. Version 1 also had (item_id) and
    # (event_type, timestamp); no query used them and they halved the insert rate, so step 2
    # drops them (docs/benchmarks/stores.md).
    Index(f"ix_{p}events_user_ts", events.c.user_id, events.c.timestamp)
    quarantine = Table(
        f"{p}quarantine",
        md,
        *(_quarantine_column(name) for name in QUARANTINE_COLUMNS),
        _str("user_id"),
        _ts("created_at"),
    )
    Index(f"ix_{p}quarantine_user", quarantine.c.user_id)
    imports = Table(
        f"{p}imports",
        md,
        Column("import_id", Integer, primary_key=True, autoincrement=True, info={"kind": "int"}),
        _str("source", nullable=False),
        _str("entity", nullable=False),
        _str("fingerprint", nullable=False),
        _json("summary"),
        _ts("created_at", nullable=False),
    )
    Index(f"ix_{p}imports_fingerprint", imports.c.fingerprint)
    models = Table(
        f"{p}models",
        md,
        Column("name", TEXT, primary_key=True, info={"kind": "str"}),
        Column("version", TEXT, primary_key=True, info={"kind": "str"}),
        _str("path", nullable=False),
        _json("meta"),
        _ts("created_at", nullable=False),
        _bool("active", False),
        _ts("activated_at"),
    )
    # The database itself guarantees at most one active version per model name.
    Index(
        f"ux_{p}models_active",
        models.c.name,
        unique=True,
        sqlite_where=models.c.active == true(),
        **_pg_only(dialect, postgresql_where=models.c.active == true()),
    )
    schema_version = Table(
        f"{p}schema_version",
        md,
        Column("version", Integer, primary_key=True, autoincrement=False),
        Column("description", TEXT, nullable=False),
        Column("applied_at", BigInteger, nullable=False),
    )
    return Tables(
        metadata=md,
        prefix=prefix,
        users=users,
        items=items,
        campaigns=campaigns,
        events=events,
        quarantine=quarantine,
        imports=imports,
        models=models,
        schema_version=schema_version,
    )


@dataclass(frozen=True)
class Migration:
    """One schema step: ``apply(conn, tables)`` runs inside the migration transaction."""

    version: int
    description: str
    apply: Callable[[Connection, Tables], None]


def _v1_entity_tables(prefix: str) -> MetaData:
    """The version-1 users, items, campaigns and events tables, frozen as they shipped.

    The current definitions are derived from the models (:func:`build_tables`) and move on with
    them; step 1 must keep creating the version-1 shape so that a new store and an old one reach
    the same schema through the same later steps. Change nothing here: add a step instead.
    """
    md = MetaData()
    p = prefix
    Table(
        f"{p}users",
        md,
        Column("user_id", TEXT, primary_key=True, info={"kind": "str"}),
        _ts("signup_time"),
        _int("birth_year"),
        _str("age_band"),
        _str("gender"),
        _str("region"),
        _str("city"),
        _str("membership_tier"),
        _bool("consent_personalisation", True),
        _bool("consent_marketing", True),
        _json("attributes"),
        _ts("updated_at"),
    )
    Table(
        f"{p}items",
        md,
        Column("item_id", TEXT, primary_key=True, info={"kind": "str"}),
        _str("title"),
        _str("description"),
        _str("category"),
        _str("brand"),
        _float("price"),
        _str("currency"),
        _json("tags"),
        _bool("in_stock", True),
        _ts("created_time"),
        _json("attributes"),
        _ts("updated_at"),
    )
    Table(
        f"{p}campaigns",
        md,
        Column("campaign_id", TEXT, primary_key=True, info={"kind": "str"}),
        _str("name"),
        _str("type"),
        _str("status", nullable=False, default="active"),
        _ts("start_time"),
        _ts("end_time"),
        _str("discount_type", nullable=False, default="none"),
        _float("discount_value", default=0.0),
        _float("min_spend", default=0.0),
        _json("item_ids"),
        _json("categories"),
        _json("audience"),
        _float("budget"),
        _int("inventory"),
        _float("cost_per_redemption", default=0.0),
        _int("frequency_cap"),
        _float("cap_window_hours", default=168.0),
        _int("priority", default=0),
        _str("exclusivity_group"),
        _str("title_en"),
        _str("title_zh"),
        _str("description_en"),
        _str("description_zh"),
        _ts("updated_at"),
    )
    events = Table(
        f"{p}events",
        md,
        Column("event_id", TEXT, primary_key=True, info={"kind": "str"}),
        Column("user_id", TEXT, nullable=False, info={"kind": "str"}),
        Column("event_type", TEXT, nullable=False, info={"kind": "str"}),
        _ts("timestamp", nullable=False),
        _str("item_id"),
        _str("campaign_id"),
        _str("query"),
        _float("quantity"),
        _float("price"),
        _float("revenue"),
        _str("session_id"),
        _str("order_id"),
        _str("device"),
        _str("page"),
        _int("position"),
        _str("policy"),
        _str("variant"),
        _float("propensity"),
    )
    Index(f"ix_{p}events_user_ts", events.c.user_id, events.c.timestamp)
    return md


def _v1_initial(conn: Connection, tables: Tables) -> None:
    _v1_entity_tables(tables.prefix).create_all(conn, checkfirst=True)
    # The store's own tables have not changed since version 1; once a later step changes one,
    # freeze its version-1 definition above too.
    own = [tables.quarantine, tables.imports, tables.models]
    tables.metadata.create_all(conn, tables=own, checkfirst=True)
    ev, p = tables.events.name, tables.prefix
    # The version-1 shape also had these two indexes (step 2 drops them). Plain DDL, so they
    # are not attached to the current table definition.
    conn.exec_driver_sql(f'CREATE INDEX IF NOT EXISTS "ix_{p}events_item" ON "{ev}" (item_id)')
    conn.exec_driver_sql(
        f'CREATE INDEX IF NOT EXISTS "ix_{p}events_type_ts" ON "{ev}" (event_type, "timestamp")'
    )


def _v2_drop_unused_event_indexes(conn: Connection, tables: Tables) -> None:
    p = tables.prefix
    for name in (f"ix_{p}events_item", f"ix_{p}events_type_ts"):
        conn.exec_driver_sql(f'DROP INDEX IF EXISTS "{name}"')


def _v3_item_hidden(conn: Connection, tables: Tables) -> None:
    # Frozen here as it shipped (not read from build_tables), rendered for the backend in use.
    hidden = Column("hidden", Boolean, nullable=False, server_default=false())
    Table(tables.items.name, MetaData(), hidden)
    ddl = CreateColumn(hidden).compile(dialect=conn.dialect)
    conn.exec_driver_sql(f'ALTER TABLE "{tables.items.name}" ADD COLUMN {ddl}')


def _v10_event_rating(conn: Connection, tables: Tables) -> None:
    # Frozen here as it shipped: the value of explicit-feedback ("rating") events.
    rating = Column("rating", Float, nullable=True)
    Table(tables.events.name, MetaData(), rating)
    ddl = CreateColumn(rating).compile(dialect=conn.dialect)
    conn.exec_driver_sql(f'ALTER TABLE "{tables.events.name}" ADD COLUMN {ddl}')


#: Secondary indexes of the events table that a bulk load may drop and rebuild.
def event_secondary_indexes(tables: Tables) -> list[Index]:
    return [ix for ix in tables.events.indexes if not ix.unique]


def event_id_index(tables: Tables) -> Index | None:
    """The unique ``event_id`` index of a SQLite events table (None where it is the key)."""
    return next((ix for ix in tables.events.indexes if ix.unique), None)


def key_columns(table: Table) -> list[str]:
    """The columns that identify a row: the primary key, or else the first unique index's
    (SQLite's events table, step 11)."""
    key = [c.name for c in table.primary_key.columns]
    if key:
        return key
    unique = sorted((ix for ix in table.indexes if ix.unique), key=lambda ix: str(ix.name))
    return [c.name for c in unique[0].columns] if unique else []


def _v11_events_unique_event_id(conn: Connection, tables: Tables) -> None:
    """SQLite: rebuild the events table as a rowid table whose ``event_id`` is a unique index.

    Frozen as it shipped (the version-10 columns, in the order steps 1 and 10 left them); the
    rows are copied in rowid order, so the table keeps its time-ordered layout. PostgreSQL keeps
    its primary key (its bulk load COPYs into the table): nothing to do there.
    """
    if conn.dialect.name != "sqlite":
        return
    p, ev = tables.prefix, tables.events.name
    new = f"{p}_cr_events_v11"
    cols = (
        "event_id TEXT NOT NULL, user_id TEXT NOT NULL, event_type TEXT NOT NULL, "
        '"timestamp" BIGINT NOT NULL, item_id TEXT, campaign_id TEXT, "query" TEXT, '
        "quantity FLOAT, price FLOAT, revenue FLOAT, session_id TEXT, order_id TEXT, "
        'device TEXT, page TEXT, "position" INTEGER, policy TEXT, variant TEXT, '
        "propensity FLOAT, rating FLOAT"
    )
    names = ", ".join(
        f'"{c}"'
        for c in [
            "event_id",
            "user_id",
            "event_type",
            "timestamp",
            "item_id",
            "campaign_id",
            "query",
            "quantity",
            "price",
            "revenue",
            "session_id",
            "order_id",
            "device",
            "page",
            "position",
            "policy",
            "variant",
            "propensity",
            "rating",
        ]
    )
    conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{new}"')
    conn.exec_driver_sql(f'CREATE TABLE "{new}" ({cols})')
    conn.exec_driver_sql(
        f'INSERT INTO "{new}" ({names}) SELECT {names} FROM "{ev}" WHERE true ORDER BY rowid'
    )
    conn.exec_driver_sql(f'DROP TABLE "{ev}"')  # its indexes go with it
    conn.exec_driver_sql(f'ALTER TABLE "{new}" RENAME TO "{ev}"')
    conn.exec_driver_sql(f'CREATE UNIQUE INDEX "ux_{p}events_event_id" ON "{ev}" (event_id)')
    conn.exec_driver_sql(f'CREATE INDEX "ix_{p}events_user_ts" ON "{ev}" (user_id, "timestamp")')


def _v4_profiles_table(conn: Connection, tables: Tables) -> None:
    # Defined by campaignrec.store.profiles (not part of Tables): one row per shopper.
    p = tables.prefix
    key = 'TEXT COLLATE "C"' if conn.dialect.name == "postgresql" else "TEXT"
    conn.exec_driver_sql(
        f'CREATE TABLE IF NOT EXISTS "{p}profiles" (user_id {key} NOT NULL PRIMARY KEY, '
        "attributes TEXT NOT NULL, computed_at BIGINT NOT NULL)"
    )


def _v5_privacy_tables(conn: Connection, tables: Tables) -> None:
    # Defined by campaignrec.store.privacy (not part of Tables): sealed fields, audit, ledger.
    from campaignrec.store.privacy import create_privacy_tables

    create_privacy_tables(conn, tables.prefix)


def _v6_experiments_table(conn: Connection, tables: Tables) -> None:
    # Defined by campaignrec.store.experiments (not part of Tables): one row per experiment.
    from campaignrec.store.experiments import create_experiments_table

    create_experiments_table(conn, tables.prefix)


def _v7_campaign_protected_attributes(conn: Connection, tables: Tables) -> None:
    # Frozen here as it shipped: a JSON list of declared attributes and the reason, both nullable.
    table = tables.campaigns.name
    conn.exec_driver_sql(f'ALTER TABLE "{table}" ADD COLUMN protected_attributes TEXT')
    conn.exec_driver_sql(f'ALTER TABLE "{table}" ADD COLUMN protected_reason TEXT')


def _v8_audit_time_index(conn: Connection, tables: Tables) -> None:
    # Defined by campaignrec.store.privacy: the audit log is read by time (campaignrec audit).
    from campaignrec.store.privacy import create_audit_time_index

    create_audit_time_index(conn, tables.prefix)


def _v9_retrain_decisions_table(conn: Connection, tables: Tables) -> None:
    # Defined by campaignrec.store.retrain (not part of Tables): one row per gate decision.
    from campaignrec.store.retrain import create_retrain_decisions_table

    create_retrain_decisions_table(conn, tables.prefix)


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "initial schema: users, items, campaigns, events, quarantine, imports, models",
        _v1_initial,
    ),
    Migration(
        2,
        "drop the unused events (item_id) and (event_type, timestamp) indexes",
        _v2_drop_unused_event_indexes,
    ),
    Migration(3, "items.hidden: hidden items never appear in recommendations", _v3_item_hidden),
    Migration(4, "profiles: one row of profile attributes per shopper", _v4_profiles_table),
    Migration(
        5,
        "privacy: sealed personal fields, audit log, privacy-budget ledger",
        _v5_privacy_tables,
    ),
    Migration(
        6,
        "experiments: experiment definitions (variants, shares, layer range, metrics)",
        _v6_experiments_table,
    ),
    Migration(
        7,
        "campaigns.protected_attributes, protected_reason: what a campaign declares it selects on",
        _v7_campaign_protected_attributes,
    ),
    Migration(8, "audit_log (at) index: the access audit read by time", _v8_audit_time_index),
    Migration(
        9,
        "retrain_decisions: every decision of the retraining quality gate",
        _v9_retrain_decisions_table,
    ),
    Migration(10, "events.rating: the value of explicit-feedback events", _v10_event_rating),
    Migration(
        11,
        "events (SQLite): event_id a unique index of a rowid table instead of the primary key",
        _v11_events_unique_event_id,
    ),
)


def _check_steps(steps: Sequence[Migration]) -> None:
    versions = [m.version for m in steps]
    if versions != sorted(set(versions)) or (versions and versions[0] < 1):
        raise StoreError(
            f"migration versions must be unique, ascending and >= 1 (got {versions})",
            hint="fix the MIGRATIONS list in campaignrec.store.migrations",
        )


def current_version(conn: Connection, tables: Tables) -> int:
    """The highest applied migration version (0 for an empty database)."""
    if not conn.dialect.has_table(conn, tables.schema_version.name):
        return 0
    value = conn.execute(select(func.max(tables.schema_version.c.version))).scalar()
    return int(value or 0)


def apply_migrations(
    engine: Engine, tables: Tables, steps: Sequence[Migration] = MIGRATIONS
) -> int:
    """Apply every step newer than the recorded version, all in one transaction.

    Concurrent callers are serialised (``BEGIN IMMEDIATE`` on SQLite, a transaction-scoped
    advisory lock on PostgreSQL), so two processes opening a new store at once are safe.

    Parameters
    ----------
    engine : Engine
    tables : Tables
    steps : sequence of Migration
        Ordered by version; defaults to :data:`MIGRATIONS`.

    Returns
    -------
    int
        The schema version after migrating.
    """
    _check_steps(steps)
    with engine.connect() as conn:
        conn.execution_options(campaignrec_write=True)
        with conn.begin():
            if conn.dialect.name == "postgresql":
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                    {"key": f"campaignrec-migrate:{tables.prefix}"},
                )
            tables.schema_version.create(conn, checkfirst=True)
            version = current_version(conn, tables)
            for step in steps:
                if step.version <= version:
                    continue
                step.apply(conn, tables)
                conn.execute(
                    tables.schema_version.insert().values(
                        version=step.version,
                        description=step.description,
                        applied_at=time.time_ns() // 1000,
                    )
                )
                version = step.version
        return version
