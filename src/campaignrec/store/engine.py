"""The SQL store's engine: URL normalisation, engine creation (SQLite pragmas), connections,
migration and the events' bulk-load mode.

:class:`StoreCore` is the state every part of :class:`campaignrec.store.sql.SQLStore` shares
(engine, tables, dialect, bulk-load depth); the parts (rows, reads, import log, registry,
erasure) each hold a reference to one core.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Connection, Engine, Table, create_engine, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.pool import StaticPool

from campaignrec.errors import ConfigError, StoreError, ValidationError
from campaignrec.store.migrations import (
    MIGRATIONS,
    Migration,
    Tables,
    apply_migrations,
    build_tables,
    current_version,
    event_secondary_indexes,
)
from campaignrec.store.profiles import profiles_table

if TYPE_CHECKING:
    from campaignrec.store.stage import EventStage

READABLE_TABLES = ("users", "items", "campaigns", "events", "quarantine", "imports", "models")
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
_URL_HINT = "use sqlite:///path/to/file.db or postgresql+psycopg://user@host/db"


def masked(url: str) -> str:
    """``url`` with its password hidden (for messages and ``repr``)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable url>"


def normalise_url(url: str) -> str:
    """Check a database URL and pick our drivers (psycopg 3 for PostgreSQL)."""
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"setting 'database_url': not a database URL ({masked(url)})", hint=_URL_HINT
        ) from exc
    backend = parsed.get_backend_name()
    if backend in ("postgres", "postgresql"):
        # psycopg 3 is our PostgreSQL driver; SQLAlchemy's default would be psycopg2
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend != "sqlite":
        raise ConfigError(
            f"setting 'database_url': unsupported backend '{backend}'", hint=_URL_HINT
        )
    return parsed.render_as_string(hide_password=False)


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    database = parsed.database or ""
    in_memory = database in ("", ":memory:")
    if in_memory:
        engine = create_engine(url, poolclass=StaticPool, connect_args={"check_same_thread": False})
    else:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin, so
        # that DDL is transactional and writers can take the lock up front.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        if not in_memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache per connection
        cur.execute("PRAGMA mmap_size=268435456")  # random page reads without syscalls
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the write lock at BEGIN: a deferred transaction that reads and then
        # writes can fail with SQLITE_BUSY when another writer committed in between.
        write = conn.get_execution_options().get("campaignrec_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def driver(conn: Connection) -> Any:
    """The DBAPI connection (sqlite3 / psycopg) under a SQLAlchemy connection."""
    raw = conn.connection.driver_connection
    if raw is None:  # pragma: no cover - only after the connection was invalidated
        raise StoreError("the database connection was closed", hint="retry the call")
    return raw


class StoreCore:
    """Engine, tables and dialect of one store, shared by its parts.

    Parameters
    ----------
    url : str
        A SQLite or PostgreSQL URL (see :class:`campaignrec.store.sql.SQLStore`).
    table_prefix : str
        Prefix of every table name.
    """

    def __init__(self, url: str, table_prefix: str = "") -> None:
        if table_prefix and not _PREFIX_RE.match(table_prefix):
            raise ConfigError(
                f"table_prefix {table_prefix!r} is not a valid prefix",
                hint="use lowercase letters, digits and '_', starting with a letter, <= 31 chars",
            )
        self.url = normalise_url(url)
        backend = make_url(self.url).get_backend_name()
        self.tables: Tables = build_tables(table_prefix, dialect=backend)
        self.bulk_depth = 0  # > 0 inside bulk_load()
        self.bulk_into_empty = False  # PostgreSQL bulk load that started on an empty table
        # SQLite bulk load into an empty events table: rows staged (campaignrec.store.stage)
        self.stage: EventStage | None = None
        self.bulk_conflicts = 0  # staged rows the last flush found stored already
        self.engine: Engine = make_engine(self.url)
        self.dialect: Literal["sqlite", "postgresql"] = (
            "sqlite" if self.engine.dialect.name == "sqlite" else "postgresql"
        )
        self.on_disk = self.dialect == "postgresql" or (
            self.engine.url.database or ":memory:"
        ) not in ("", ":memory:")

    def connect(self, *, write: bool) -> Connection:
        """A connection; ``write=True`` makes SQLite take the write lock at BEGIN."""
        try:
            conn = self.engine.connect()
        except OperationalError as exc:
            raise StoreError(
                f"cannot connect to the store at {masked(self.url)}: {exc.orig}",
                hint="check CAMPAIGNREC_DATABASE_URL and that the database server is running",
            ) from exc
        if write:
            conn.execution_options(campaignrec_write=True)
        return conn

    def table(self, name: str) -> Table:
        """The readable table ``name``; ``ValidationError`` for any other name."""
        if name not in READABLE_TABLES:
            raise ValidationError(
                "name",
                "not a table of the store",
                value=name,
                hint=f"use one of {', '.join(READABLE_TABLES)}",
            )
        return self.tables.by_name(name)

    def count(self, name: str) -> int:
        """Number of rows of table ``name``."""
        table = self.table(name)
        with self.connect(write=False) as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    def migrate(self, steps: Sequence[Migration] = MIGRATIONS) -> int:
        """Apply pending migrations (idempotent) and return the schema version."""
        try:
            version = apply_migrations(self.engine, self.tables, steps)
            self.ensure_event_indexes()  # repairs a bulk load that was interrupted
            return version
        except OperationalError as exc:
            raise StoreError(
                f"cannot migrate the store at {masked(self.url)}: {exc.orig}",
                hint="check CAMPAIGNREC_DATABASE_URL and that the database server is running",
            ) from exc

    def ensure_event_indexes(self) -> None:
        """Create the events' secondary indexes where missing."""
        with self.engine.begin() as conn:
            for ix in event_secondary_indexes(self.tables):
                ix.create(conn, checkfirst=True)

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """Drop the events' secondary indexes for the block and rebuild them at the end."""
        with self.engine.begin() as conn:
            for ix in event_secondary_indexes(self.tables):
                conn.exec_driver_sql(f'DROP INDEX IF EXISTS "{ix.name}"')
        self.bulk_depth += 1
        empty = self.count("events") == 0
        self.bulk_into_empty = self.dialect == "postgresql" and empty
        if empty and self.bulk_depth == 1 and self.dialect == "sqlite" and self.on_disk:
            from campaignrec.store.stage import EventStage

            self.stage = EventStage(self)
        try:
            yield
        finally:
            self.bulk_depth -= 1
            self.bulk_into_empty = False
            stage, self.stage = self.stage, None
            try:
                if stage is not None:
                    self.bulk_conflicts = stage.flush()
            finally:
                if stage is not None:
                    stage.close()
                self.ensure_event_indexes()

    def schema_version(self) -> int:
        """The highest applied migration version."""
        with self.connect(write=False) as conn:
            return current_version(conn, self.tables)

    def drop_tables(self) -> None:
        """Drop every table of this store (all its data)."""
        from campaignrec.store.experiments import experiments_table
        from campaignrec.store.privacy import privacy_tables
        from campaignrec.store.retrain import retrain_decisions_table

        from_profiles = profiles_table(self.tables.prefix)  # migration 4's table, not in Tables
        with self.connect(write=True) as conn, conn.begin():
            from_profiles.drop(conn, checkfirst=True)
            experiments_table(self.tables.prefix).drop(conn, checkfirst=True)  # migration 6's
            retrain_decisions_table(self.tables.prefix).drop(conn, checkfirst=True)  # 9's
            for extra in privacy_tables(self.tables.prefix).values():  # migration 5's
                extra.drop(conn, checkfirst=True)
            self.tables.metadata.drop_all(conn, checkfirst=True)
