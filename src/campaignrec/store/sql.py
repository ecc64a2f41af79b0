"""The SQL store: users, items, campaigns, events, quarantine, import log and model registry.

:class:`SQLStore` is the facade, on SQLAlchemy Core, chosen by URL: a SQLite file (the embedded
default, WAL mode) or PostgreSQL (``postgresql+psycopg://...``). DataFrames in and out are pandas
with the canonical columns of :mod:`campaignrec.data.schema`; timestamps are tz-aware UTC
(stored as BIGINT microseconds since the epoch), list and dict fields are Python objects (stored
as JSON text).

Every write method runs in one transaction, so an interrupted call leaves nothing half-written.
Bulk writes take a fast path: on SQLite a raw ``executemany`` of ``INSERT ... ON CONFLICT``; on
PostgreSQL a ``COPY`` into a temporary table followed by one ``INSERT ... SELECT ... ON CONFLICT``.

The facade composes one part per concern, all sharing one :class:`~campaignrec.store.engine.StoreCore`:
``engine`` (URL, engine, migration, bulk-load mode), ``codecs`` (column encoders and decoders),
``rows`` (writes), ``bulk`` (PostgreSQL COPY), ``reads``, ``importlog``, ``registry``, ``erasure``.
Callers that need only part of it type against :mod:`campaignrec.store.protocols`.

Examples
--------
>>> store = SQLStore("sqlite:///shop.db")            # doctest: +SKIP
>>> store.insert_events(events_df)                  # doctest: +SKIP
1000
>>> store.insert_events(events_df)  # same events again: deduplicated by event_id  # doctest: +SKIP
0
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import pandas as pd
import polars as pl
from sqlalchemy import Engine

from campaignrec.data.columns import QUARANTINE_COLUMNS
from campaignrec.store.engine import READABLE_TABLES, StoreCore, masked
from campaignrec.store.erasure import Erasure
from campaignrec.store.importlog import ImportLog
from campaignrec.store.migrations import MIGRATIONS, Migration, Tables
from campaignrec.store.reads import TableReads
from campaignrec.store.registry import ModelVersions
from campaignrec.store.rows import RowWriter

__all__ = ["QUARANTINE_COLUMNS", "READABLE_TABLES", "SQLStore"]


class SQLStore:
    """Repository of the shop's data on SQLite or PostgreSQL, created and migrated on open.

    Parameters
    ----------
    url : str
        ``sqlite:///path.db`` (one file in WAL mode; ``sqlite://`` for a private in-memory
        database) or ``postgresql+psycopg://user:password@host:port/db``.
    table_prefix : str
        Prefix of every table name (lowercase letters, digits, ``_``), to let several stores
        share one database (tests, several shops).
    migrate : bool
        Apply pending migrations on open (default).

    Raises
    ------
    ConfigError
        The URL is malformed or names an unsupported backend.
    StoreError
        The database cannot be reached.
    """

    def __init__(self, url: str, *, table_prefix: str = "", migrate: bool = True) -> None:
        self.core = StoreCore(url, table_prefix)
        self.rows = RowWriter(self.core)
        self.reads = TableReads(self.core)
        self.imports = ImportLog(self.core, self.reads)
        self.models = ModelVersions(self.core, self.reads)
        self.erasure = Erasure(self.core)
        if migrate:
            try:
                self.migrate()
            except BaseException:
                self.engine.dispose()
                raise

    # -- engine and schema ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The normalised database URL (with its password: never log it; ``repr`` masks it)."""
        return self.core.url

    @property
    def tables(self) -> Tables:
        """The store's table definitions (with its prefix)."""
        return self.core.tables

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine."""
        return self.core.engine

    @property
    def dialect(self) -> Literal["sqlite", "postgresql"]:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.core.dialect

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> SQLStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SQLStore({masked(self.url)!r}, table_prefix={self.tables.prefix!r})"

    def migrate(self, steps: Sequence[Migration] = MIGRATIONS) -> int:
        """Apply pending migrations (idempotent) and return the schema version.

        Parameters
        ----------
        steps : sequence of Migration
            The migration list; defaults to :data:`campaignrec.store.migrations.MIGRATIONS`.

        Returns
        -------
        int
            The schema version after migrating.
        """
        return self.core.migrate(steps)

    def bulk_load(self) -> AbstractContextManager[None]:
        """Load many events faster: drop the events' secondary index, rebuild it at the end.

        Inserting into a B-tree in random order costs more than building it once; for a large
        import this roughly halves the write time. The primary key (dedupe) stays in place, so
        imports remain idempotent. If the process dies mid-load, the next ``migrate()`` (every
        ``SQLStore`` open) rebuilds the index. On PostgreSQL, readers of ``events`` by user are
        slower (no index) until the load ends: use it for batch imports, not under live traffic.
        """
        return self.core.bulk_load()

    @property
    def schema_version(self) -> int:
        """The highest applied migration version."""
        return self.core.schema_version()

    def drop_tables(self) -> None:
        """Drop every table of this store (all its data). Meant for tests and resets."""
        self.core.drop_tables()

    # -- writes (see campaignrec.store.rows) ---------------------------------------------------

    def upsert_users(self, df: pd.DataFrame) -> int:
        """Insert users or update the given columns of known ones (by ``user_id``).

        Parameters
        ----------
        df : pandas.DataFrame
            Columns from ``USER_COLUMNS``; ``user_id`` is required. Columns left out keep
            their stored values for known users and get the schema defaults for new ones.

        Returns
        -------
        int
            Rows written (inserted or updated), duplicates of one id counted once.
        """
        return self.rows.upsert_users(df)

    def upsert_items(self, df: pd.DataFrame) -> int:
        """Insert items or update the given columns of known ones (by ``item_id``)."""
        return self.rows.upsert_items(df)

    def upsert_campaigns(self, df: pd.DataFrame) -> int:
        """Insert campaigns or update the given columns of known ones (by ``campaign_id``)."""
        return self.rows.upsert_campaigns(df)

    def insert_events(self, df: pd.DataFrame) -> int:
        """Insert the events whose ``event_id`` is new; skip the others (dedupe).

        Returns the number of events inserted (0 when all were already stored).
        """
        return self.rows.insert_events(df)

    def insert_events_frame(self, frame: pl.DataFrame, *, unique: bool = False) -> int:
        """:meth:`insert_events` of a typed polars frame; ``unique``: ids known distinct."""
        return self.rows.insert_events_frame(frame, unique=unique)

    def take_bulk_conflicts(self) -> int:
        """Rows the last bulk load's flush found stored already (the importer counts them as
        duplicates); reading resets the count."""
        late, self.core.bulk_conflicts = self.core.bulk_conflicts, 0
        return late

    def insert_quarantine(self, df: pd.DataFrame) -> int:
        """Record rejected rows; idempotent on (source, line, entity, field). Rows inserted."""
        return self.rows.insert_quarantine(df)

    # -- reads (see campaignrec.store.reads) ---------------------------------------------------

    def read_table(self, name: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """A whole table as a DataFrame (events ordered by timestamp)."""
        return self.reads.read_table(name, columns)

    def iter_table(
        self, name: str, chunk_rows: int = 500_000, columns: Sequence[str] | None = None
    ) -> Iterator[pd.DataFrame]:
        """A table in chunks of at most ``chunk_rows`` rows (memory-bounded)."""
        return self.reads.iter_table(name, chunk_rows, columns)

    def count(self, name: str) -> int:
        """Number of rows of table ``name``."""
        return self.reads.count(name)

    # -- import log (see campaignrec.store.importlog) ------------------------------------------

    def record_import(
        self, source: str, entity: str, fingerprint: str, summary: Mapping[str, Any]
    ) -> int:
        """Log one import (what, which file fingerprint, summary counts); returns its id."""
        return self.imports.record_import(source, entity, fingerprint, summary)

    def import_log(self) -> pd.DataFrame:
        """Every recorded import, oldest first (``summary`` decoded to a dict)."""
        return self.imports.import_log()

    def find_import(self, fingerprint: str) -> dict[str, Any] | None:
        """The latest import of a file with this fingerprint, or None."""
        return self.imports.find_import(fingerprint)

    # -- model registry (see campaignrec.store.registry) ---------------------------------------

    def register_model(
        self, name: str, version: str, path: str | Path, meta: Mapping[str, Any]
    ) -> None:
        """Register (or re-register, updating path and meta) a model version; not activated."""
        self.models.register_model(name, version, path, meta)

    def activate_model(self, name: str, version: str) -> None:
        """Make ``version`` the one active version of model ``name`` (``UnknownIdError`` if
        it was never registered)."""
        self.models.activate_model(name, version)

    def active_model(self, name: str) -> dict[str, Any] | None:
        """The active version of model ``name`` as a dict (name, version, path, meta, ...)."""
        return self.models.active_model(name)

    def list_models(self) -> pd.DataFrame:
        """Every registered model version (name, version, path, meta, active, times)."""
        return self.models.list_models()

    # -- erasure (see campaignrec.store.erasure) -----------------------------------------------

    def delete_user(self, user_id: str) -> dict[str, int]:
        """Erase a user: their events, users row, quarantined rows, profile row and sealed
        personal fields, in one transaction (SQLite: ``secure_delete`` on).

        Returns rows removed per table: ``events``, ``users``, ``quarantine``, ``profiles``,
        ``sealed_fields``. The whole erasure (online state, artifacts, files, audit) is
        :func:`campaignrec.privacy.erasure.erase_users`.
        """
        return self.erasure.delete_user(user_id)

    def scrub(self, *, vacuum: bool = True) -> dict[str, Any]:
        """Make deleted rows unrecoverable from the database file (SQLite: checkpoint,
        ``VACUUM``, ``wal_checkpoint(TRUNCATE)``; PostgreSQL: ``VACUUM``)."""
        return self.erasure.scrub(vacuum=vacuum)

    def delete_before(self, cutoff_us: int) -> dict[str, int]:
        """Delete events older than ``cutoff_us`` (UTC microseconds since the epoch) and the
        quarantined rows recorded before it; rows removed per table (retention)."""
        return self.erasure.delete_before(cutoff_us)

    def find_user(self, user_id: str) -> dict[str, int]:
        """Rows per table that still hold ``user_id`` (tables without any are left out)."""
        return self.erasure.find_user(user_id)
