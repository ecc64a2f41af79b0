"""The SQL store: users, items, campaigns, events, quarantine, import log and model registry.

One class, :class:`SQLStore`, on SQLAlchemy Core, chosen by URL: a SQLite file (the embedded
default, WAL mode) or PostgreSQL (``postgresql+psycopg://...``). DataFrames in and out are pandas
with the canonical columns of :mod:`campaignrec.data.schema`; timestamps are tz-aware UTC
(stored as BIGINT microseconds since the epoch), list and dict fields are Python objects (stored
as JSON text).

Every write method runs in one transaction, so an interrupted call leaves nothing half-written.
Bulk writes take a fast path: on SQLite a raw ``executemany`` of ``INSERT ... ON CONFLICT``; on
PostgreSQL a ``COPY`` into a temporary table followed by one ``INSERT ... SELECT ... ON CONFLICT``.

Examples
--------
>>> store = SQLStore("sqlite:///shop.db")            # doctest: +SKIP
>>> store.insert_events(events_df)                  # doctest: +SKIP
1000
>>> store.insert_events(events_df)  # same events again: deduplicated by event_id  # doctest: +SKIP
0
"""

from __future__ import annotations

import json
import logging
import math
import re
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import numpy as np
import pandas as pd
from sqlalchemy import (
    Connection,
    Engine,
    Select,
    Table,
    create_engine,
    delete,
    event,
    func,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from campaignrec.data.columns import QUARANTINE_KEY
from campaignrec.data.schema import KEY_COLUMN
from campaignrec.errors import ConfigError, StoreError, UnknownIdError, ValidationError
from campaignrec.store.migrations import (
    MIGRATIONS,
    Migration,
    Tables,
    apply_migrations,
    build_tables,
    current_version,
    event_secondary_indexes,
)

log = logging.getLogger(__name__)

READABLE_TABLES = ("users", "items", "campaigns", "events", "quarantine", "imports", "models")
_ORDER = {
    "users": ("user_id",),
    "items": ("item_id",),
    "campaigns": ("campaign_id",),
    "events": ("timestamp", "event_id"),
    "quarantine": QUARANTINE_KEY,
    "imports": ("import_id",),
    "models": ("name", "version"),
}
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9_]{0,30}$")
_NAT = np.iinfo(np.int64).min
# binary COPY types of the SQLAlchemy column types used in migrations.py
_PG_TYPES = {
    "Text": "text",
    "BigInteger": "int8",
    "Integer": "int4",
    "Float": "float8",
    "Boolean": "bool",
}


def _now_us() -> int:
    return time.time_ns() // 1000


def _masked(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable url>"


# ---- DataFrame -> DB values ---------------------------------------------------------------------


def _ts_values(ser: pd.Series, name: str) -> list[Any]:
    """Microseconds since the epoch (int) or None."""
    if ser.isna().all():
        return [None] * len(ser)
    if isinstance(ser.dtype, pd.DatetimeTZDtype):
        dt = ser
    elif pd.api.types.is_datetime64_dtype(ser.dtype):
        raise ValidationError(
            name,
            "timestamps must be timezone-aware",
            value=str(ser.dtype),
            hint="localise them, e.g. series.dt.tz_localize('UTC')",
        )
    elif ser.dtype == object or pd.api.types.is_string_dtype(ser.dtype):
        if ser.dtype == object and any(
            isinstance(v, datetime) and v.tzinfo is None for v in ser.to_numpy()
        ):
            raise ValidationError(
                name,
                "timestamps must be timezone-aware",
                value="naive datetime objects",
                hint="attach a zone, e.g. value.replace(tzinfo=datetime.UTC)",
            )
        # text without an offset is read as UTC (the importer's convention)
        try:
            dt = pd.to_datetime(ser, utc=True, format="ISO8601")
        except (ValueError, TypeError) as exc:
            raise ValidationError(
                name, "not a timestamp", value=str(exc)[:80], hint="use ISO 8601 with a UTC offset"
            ) from exc
    else:
        raise ValidationError(
            name,
            "expected tz-aware datetimes",
            value=str(ser.dtype),
            hint="convert epoch numbers with pd.to_datetime(values, unit='s', utc=True)",
        )
    us = dt.dt.tz_convert("UTC").astype("datetime64[us, UTC]").array.asi8
    out: list[Any] = us.tolist()
    if (us == _NAT).any():
        for i in np.flatnonzero(us == _NAT):
            out[i] = None
    return out


def _objects(ser: pd.Series) -> np.ndarray:
    """Values as an object array with every missing value (NaN, NA, NaT) as None."""
    return ser.to_numpy(dtype=object, na_value=None)  # type: ignore[call-overload,no-any-return]


def _driver(conn: Connection) -> Any:
    """The DBAPI connection (sqlite3 / psycopg) under a SQLAlchemy connection."""
    raw = conn.connection.driver_connection
    if raw is None:  # pragma: no cover - only after the connection was invalidated
        raise StoreError("the database connection was closed", hint="retry the call")
    return raw


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _is_missing_scalar(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _json_values(ser: pd.Series, name: str) -> list[Any]:
    out: list[Any] = []
    for value in ser.to_numpy(dtype=object):
        if _is_missing_scalar(value):
            out.append(None)
            continue
        try:
            out.append(json.dumps(value, ensure_ascii=False, default=_json_default))
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                name, f"not JSON serialisable ({exc})", hint="use lists, dicts, str and numbers"
            ) from exc
    return out


def _column_values(ser: pd.Series, kind: str, name: str) -> list[Any]:
    """Python values ready for the DBAPI, missing values as None."""
    if kind == "ts":
        return _ts_values(ser, name)
    if kind == "json":
        return _json_values(ser, name)
    try:
        if kind == "str":
            if not (ser.dtype == object or pd.api.types.is_string_dtype(ser.dtype)):
                ser = ser.astype("string")
            values = _objects(ser)
            if ser.dtype == object and pd.api.types.infer_dtype(values, skipna=True) not in (
                "string",
                "empty",
            ):
                # object columns may hold non-str scalars (ints from a CSV): make them text
                values = np.array(
                    [v if v is None or isinstance(v, str) else str(v) for v in values],
                    dtype=object,
                )
        elif kind == "float":
            values = _objects(pd.to_numeric(ser).astype("float64"))
        elif kind == "int":
            values = _objects(ser.astype("Int64"))
        elif kind == "bool":
            values = _objects(ser.astype("boolean"))
        else:  # pragma: no cover - the table definitions only use the kinds above
            raise StoreError(f"column '{name}' has unknown kind {kind!r}")
    except (ValueError, TypeError) as exc:
        raise ValidationError(
            name, f"cannot store as {kind} ({exc})", hint=f"convert the column to {kind}"
        ) from exc
    out: list[Any] = values.tolist()
    if kind == "float":
        # a float NaN can survive in object columns: store NULL, never NaN
        out = [None if v is not None and v != v else v for v in out]
    return out


def _frame_rows(
    table: Table,
    df: pd.DataFrame,
    extra: Mapping[str, Any] | None = None,
    *,
    skip_empty: bool = False,
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and row tuples of ``df`` for ``table``; unknown columns are an error.

    With ``skip_empty``, nullable columns without a default that hold no value at all are left
    out (inserted rows get NULL there anyway, and each bound column costs time per row).
    """
    unknown = [c for c in df.columns if c not in table.c]
    if unknown:
        known = ", ".join(c.name for c in table.columns)
        raise ValidationError(
            str(unknown[0]),
            f"not a column of table '{table.name}'",
            hint=f"drop or rename it; known columns: {known}",
        )
    names: list[str] = []
    columns: list[list[Any]] = []
    for name in df.columns:
        col = table.c[name]
        kind = col.info.get("kind", "str")
        values = _column_values(df[name], kind, str(name))
        default = col.info.get("default")
        if skip_empty and col.nullable and default is None and values.count(None) == len(values):
            continue
        if not col.nullable and None in values:
            if default is None:
                first = values.index(None)
                raise ValidationError(
                    str(name), "must not be missing", row=first + 1, hint="fill it in"
                )
            values = [default if v is None else v for v in values]
        names.append(str(name))
        columns.append(values)
    for name, value in (extra or {}).items():
        if name not in names:
            names.append(name)
            columns.append([value] * len(df))
    return names, list(zip(*columns, strict=True))


def _unique(table: Table, names: list[str], rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows with distinct primary keys, the first of duplicates winning, in their given order.

    The given order is kept on purpose: events come roughly in time order, which keeps the
    table and the (event_type, timestamp) index appending at their ends; sorting by the
    hashed event_id measured slower.
    """
    key = [names.index(c.name) for c in table.primary_key.columns if c.name in names]
    if not key:
        return rows
    first: dict[Any, tuple[Any, ...]] = {}
    if len(key) == 1:
        k = key[0]
        for row in rows:
            first.setdefault(row[k], row)
    else:
        for row in rows:
            first.setdefault(tuple(row[i] for i in key), row)
    return list(first.values())


# ---- DB values -> DataFrame ---------------------------------------------------------------------


def _decode_column(values: Sequence[Any], kind: str, nullable: bool) -> pd.Series:
    if kind == "ts":
        us = pd.array(values, dtype="Int64").to_numpy(dtype="int64", na_value=_NAT)
        return pd.Series(us.view("M8[us]")).dt.tz_localize("UTC")
    if kind == "json":
        return pd.Series([None if v is None else json.loads(v) for v in values], dtype=object)
    if kind == "float":
        return pd.Series(values, dtype="float64")
    if kind == "int":
        return pd.Series(values, dtype="Int64" if nullable else "int64")
    if kind == "bool":
        return pd.Series(values, dtype="boolean" if nullable else "bool")
    return pd.Series(values, dtype="str")


def _frame(table: Table, names: Sequence[str], rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    data: dict[str, pd.Series] = {}
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    for name, values in zip(names, cols, strict=True):
        col = table.c[name]
        data[name] = _decode_column(values, col.info.get("kind", "str"), bool(col.nullable))
    return pd.DataFrame(data, columns=list(names))


def _first_record(df: pd.DataFrame) -> dict[str, Any]:
    """The first row as a dict of plain Python values (Timestamps stay Timestamps)."""
    record = df.iloc[0].to_dict()
    return {
        str(k): (v.item() if isinstance(v, np.generic) else None if v is pd.NA else v)
        for k, v in record.items()
    }


# ---- the store ----------------------------------------------------------------------------------


def _normalise_url(url: str) -> str:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise ConfigError(
            f"setting 'database_url': not a database URL ({_masked(url)})",
            hint="use sqlite:///path/to/file.db or postgresql+psycopg://user@host/db",
        ) from exc
    backend = parsed.get_backend_name()
    if backend in ("postgres", "postgresql"):
        # psycopg 3 is our PostgreSQL driver; SQLAlchemy's default would be psycopg2
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend != "sqlite":
        raise ConfigError(
            f"setting 'database_url': unsupported backend '{backend}'",
            hint="use sqlite:///path/to/file.db or postgresql+psycopg://user@host/db",
        )
    return parsed.render_as_string(hide_password=False)


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
        if table_prefix and not _PREFIX_RE.match(table_prefix):
            raise ConfigError(
                f"table_prefix {table_prefix!r} is not a valid prefix",
                hint="use lowercase letters, digits and '_', starting with a letter, <= 31 chars",
            )
        self.url = _normalise_url(url)
        self.tables: Tables = build_tables(table_prefix)
        self._bulk_depth = 0  # > 0 inside bulk_load()
        self._bulk_into_empty = False  # PostgreSQL bulk load that started on an empty table
        self.engine: Engine = self._create_engine(self.url)
        self.dialect: Literal["sqlite", "postgresql"] = (
            "sqlite" if self.engine.dialect.name == "sqlite" else "postgresql"
        )
        if migrate:
            try:
                self.migrate()
            except BaseException:
                self.engine.dispose()
                raise

    # -- engine --------------------------------------------------------------------------------

    @staticmethod
    def _create_engine(url: str) -> Engine:
        parsed = make_url(url)
        if parsed.get_backend_name() != "sqlite":
            return create_engine(url, pool_pre_ping=True)
        database = parsed.database or ""
        in_memory = database in ("", ":memory:")
        if in_memory:
            engine = create_engine(
                url, poolclass=StaticPool, connect_args={"check_same_thread": False}
            )
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

    def _connect(self, *, write: bool) -> Connection:
        try:
            conn = self.engine.connect()
        except OperationalError as exc:
            raise StoreError(
                f"cannot connect to the store at {_masked(self.url)}: {exc.orig}",
                hint="check CAMPAIGNREC_DATABASE_URL and that the database server is running",
            ) from exc
        if write:
            conn.execution_options(campaignrec_write=True)
        return conn

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
        return f"SQLStore({_masked(self.url)!r}, table_prefix={self.tables.prefix!r})"

    # -- schema --------------------------------------------------------------------------------

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
        try:
            version = apply_migrations(self.engine, self.tables, steps)
            self._ensure_event_indexes()  # repairs a bulk load that was interrupted
            return version
        except OperationalError as exc:
            raise StoreError(
                f"cannot migrate the store at {_masked(self.url)}: {exc.orig}",
                hint="check CAMPAIGNREC_DATABASE_URL and that the database server is running",
            ) from exc

    def _ensure_event_indexes(self) -> None:
        with self.engine.begin() as conn:
            for ix in event_secondary_indexes(self.tables):
                ix.create(conn, checkfirst=True)

    @contextmanager
    def bulk_load(self) -> Iterator[None]:
        """Load many events faster: drop the events' secondary index, rebuild it at the end.

        Inserting into a B-tree in random order costs more than building it once; for a large
        import this roughly halves the write time. The primary key (dedupe) stays in place, so
        imports remain idempotent. If the process dies mid-load, the next ``migrate()`` (every
        ``SQLStore`` open) rebuilds the index. On PostgreSQL, readers of ``events`` by user are
        slower (no index) until the load ends: use it for batch imports, not under live traffic.
        """
        with self.engine.begin() as conn:
            for ix in event_secondary_indexes(self.tables):
                conn.exec_driver_sql(f'DROP INDEX IF EXISTS "{ix.name}"')
        self._bulk_depth += 1
        self._bulk_into_empty = self.dialect == "postgresql" and self.count("events") == 0
        try:
            yield
        finally:
            self._bulk_depth -= 1
            self._bulk_into_empty = False
            self._ensure_event_indexes()

    @property
    def schema_version(self) -> int:
        """The highest applied migration version."""
        with self._connect(write=False) as conn:
            return current_version(conn, self.tables)

    def drop_tables(self) -> None:
        """Drop every table of this store (all its data). Meant for tests and resets."""
        with self._connect(write=True) as conn, conn.begin():
            self.tables.metadata.drop_all(conn, checkfirst=True)

    def _table(self, name: str) -> Table:
        if name not in READABLE_TABLES:
            raise ValidationError(
                "name",
                "not a table of the store",
                value=name,
                hint=f"use one of {', '.join(READABLE_TABLES)}",
            )
        return self.tables.by_name(name)

    # -- bulk writes ---------------------------------------------------------------------------

    def _write_rows(
        self,
        conn: Connection,
        table: Table,
        names: list[str],
        rows: list[tuple[Any, ...]],
        conflict: Literal["ignore", "update"],
    ) -> int:
        """Insert ``rows``; on a primary-key conflict skip the row or update its given columns.

        Returns the number of rows inserted (``ignore``) or inserted plus updated (``update``).
        """
        if not rows:
            return 0
        key = [c.name for c in table.primary_key.columns]
        missing = [k for k in key if k not in names]
        if missing:
            raise ValidationError(
                missing[0], f"required to write table '{table.name}'", hint="add the column"
            )
        quoted = ", ".join(f'"{n}"' for n in names)
        keys = ", ".join(f'"{k}"' for k in key)
        changed = [n for n in names if n not in key]
        if conflict == "update" and changed:
            sets = ", ".join(f'"{n}" = excluded."{n}"' for n in changed)
            on_conflict = f"ON CONFLICT ({keys}) DO UPDATE SET {sets}"
        else:
            on_conflict = f"ON CONFLICT ({keys}) DO NOTHING"
        raw = _driver(conn)
        if self.dialect == "sqlite":
            marks = ", ".join("?" for _ in names)
            sql = f'INSERT INTO "{table.name}" ({quoted}) VALUES ({marks}) {on_conflict}'
            cur = raw.cursor()
            try:
                before = raw.total_changes
                cur.executemany(sql, rows)
                return int(raw.total_changes - before)
            finally:
                cur.close()
        return self._pg_write_rows(raw, table, names, rows, conflict, quoted, on_conflict)

    @staticmethod
    def _pg_copy_direct(
        cur: Any,
        target: str,
        names: list[str],
        rows: list[tuple[Any, ...]],
        quoted: str,
        table: Table,
    ) -> int | None:
        """COPY straight into the table (a bulk load that started empty: rows are new).

        If a row turns out to exist after all, the savepoint is rolled back and ``None`` tells
        the caller to take the deduplicating path.
        """
        import psycopg

        cur.execute("SAVEPOINT cr_direct")
        try:
            with cur.copy(f"COPY {target} ({quoted}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types([_PG_TYPES[type(table.c[n].type).__name__] for n in names])
                for row in rows:
                    copy.write_row(row)
        except psycopg.errors.UniqueViolation:
            cur.execute("ROLLBACK TO SAVEPOINT cr_direct")
            return None
        cur.execute("RELEASE SAVEPOINT cr_direct")
        return len(rows)

    def _pg_write_rows(
        self,
        raw: Any,
        table: Table,
        names: list[str],
        rows: list[tuple[Any, ...]],
        conflict: Literal["ignore", "update"],
        quoted: str,
        on_conflict: str,
    ) -> int:
        """PostgreSQL: binary COPY into a temporary table, then one set-based statement."""
        tmp = f"_cr_tmp_{uuid.uuid4().hex[:12]}"
        target = f'"{table.name}"'
        with raw.cursor() as cur:
            if self._bulk_depth:
                # A bulk import is idempotent and re-runnable, so it need not wait for each
                # commit's WAL flush (a crash can lose the last commits, never corrupt).
                cur.execute("SET LOCAL synchronous_commit TO OFF")
            if self._bulk_into_empty and conflict == "ignore" and table is self.tables.events:
                direct = self._pg_copy_direct(cur, target, names, rows, quoted, table)
                if direct is not None:
                    return direct
            cur.execute(
                f'CREATE TEMP TABLE "{tmp}" ON COMMIT DROP AS '
                f"SELECT {quoted} FROM {target} WITH NO DATA"
            )
            with cur.copy(f'COPY "{tmp}" ({quoted}) FROM STDIN (FORMAT BINARY)') as copy:
                copy.set_types([_PG_TYPES[type(table.c[n].type).__name__] for n in names])
                for row in rows:
                    copy.write_row(row)
            cur.execute(f'ANALYZE "{tmp}"')  # lets the planner pick index probes or a hash join
            if conflict == "ignore":
                # Writers of this table queue up behind this lock (readers do not), so a
                # plain anti-join insert is race-free; it is ~1.7x faster than ON CONFLICT
                # DO NOTHING, whose speculative insertion costs every new row (see
                # docs/benchmarks/stores.md). Rows are unique within ``rows`` (deduped).
                match = " AND ".join(
                    f't."{c.name}" = s."{c.name}"' for c in table.primary_key.columns
                )
                cur.execute(f"LOCK TABLE {target} IN SHARE ROW EXCLUSIVE MODE")
                cur.execute(
                    f'INSERT INTO {target} ({quoted}) SELECT {quoted} FROM "{tmp}" s '
                    f"WHERE NOT EXISTS (SELECT 1 FROM {target} t WHERE {match})"
                )
            else:
                cur.execute(
                    f'INSERT INTO {target} ({quoted}) SELECT {quoted} FROM "{tmp}" {on_conflict}'
                )
            count = int(cur.rowcount)
            cur.execute(f'DROP TABLE "{tmp}"')
            return count

    def _bulk(
        self,
        table: Table,
        df: pd.DataFrame,
        conflict: Literal["ignore", "update"],
        extra: Mapping[str, Any] | None = None,
    ) -> int:
        if not isinstance(df, pd.DataFrame):
            raise ValidationError(
                "df",
                "expected a pandas DataFrame",
                value=type(df).__name__,
                hint="convert it first (polars: df.to_pandas())",
            )
        if df.empty:
            return 0
        names, rows = _frame_rows(table, df, extra, skip_empty=conflict == "ignore")
        if conflict == "ignore":
            rows = _unique(table, names, rows)
        try:
            with self._connect(write=True) as conn, conn.begin():
                return self._write_rows(conn, table, names, rows, conflict)
        except SQLAlchemyError as exc:
            raise StoreError(
                f"writing table '{table.name}' failed: {getattr(exc, 'orig', exc)}",
                hint="nothing of this call was written; fix the data and retry",
            ) from exc
        except Exception as exc:  # driver errors raised outside SQLAlchemy (raw cursors)
            if type(exc).__module__.split(".")[0] in ("sqlite3", "psycopg"):
                raise StoreError(
                    f"writing table '{table.name}' failed: {exc}",
                    hint="nothing of this call was written; fix the data and retry",
                ) from exc
            raise

    def _upsert(self, name: str, df: pd.DataFrame) -> int:
        table = self.tables.by_name(name)
        id_col = KEY_COLUMN[name]
        if id_col not in df.columns:
            raise ValidationError(id_col, "required to upsert", hint=f"add a '{id_col}' column")
        if df[id_col].isna().any():
            row = int(np.flatnonzero(df[id_col].isna().to_numpy())[0]) + 1
            raise ValidationError(id_col, "must not be missing", row=row, hint="fill it in")
        # one row per id (the last wins): PostgreSQL cannot update one row twice in a statement
        df = df.drop_duplicates(subset=[id_col], keep="last")
        extra = {"updated_at": _now_us()} if "updated_at" in table.c else None
        return self._bulk(table, df, "update", extra)

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
        return self._upsert("users", df)

    def upsert_items(self, df: pd.DataFrame) -> int:
        """Insert items or update the given columns of known ones (by ``item_id``).

        See :meth:`upsert_users` for the semantics.
        """
        return self._upsert("items", df)

    def upsert_campaigns(self, df: pd.DataFrame) -> int:
        """Insert campaigns or update the given columns of known ones (by ``campaign_id``).

        See :meth:`upsert_users` for the semantics.
        """
        return self._upsert("campaigns", df)

    def insert_events(self, df: pd.DataFrame) -> int:
        """Insert the events whose ``event_id`` is new; skip the others (dedupe).

        Parameters
        ----------
        df : pandas.DataFrame
            Columns from ``EVENT_COLUMNS``; ``event_id``, ``user_id``, ``event_type`` and a
            tz-aware ``timestamp`` are required.

        Returns
        -------
        int
            Number of events inserted (0 when all were already stored).
        """
        for col in ("event_id", "user_id", "event_type", "timestamp"):
            if col not in df.columns:
                raise ValidationError(col, "required to insert events", hint="add the column")
        return self._bulk(self.tables.events, df, "ignore")

    def insert_quarantine(self, df: pd.DataFrame) -> int:
        """Record rejected rows; idempotent on (source, line, entity, field).

        Parameters
        ----------
        df : pandas.DataFrame
            Columns ``source``, ``line`` (1-based data line), ``entity``, ``field`` (None or
            "" for a whole-row problem), ``value`` (str), ``reason``, ``raw`` (JSON text of the
            original row) and optionally ``user_id``; when ``user_id`` is absent it is read from
            ``raw`` so that :meth:`delete_user` can erase the row.

        Returns
        -------
        int
            Rows inserted.
        """
        if df.empty:
            return 0
        df = df.copy()
        if "field" in df.columns:
            df["field"] = df["field"].astype(object).where(df["field"].notna(), "")
        else:
            df["field"] = ""
        if "user_id" not in df.columns and "raw" in df.columns:
            df["user_id"] = [_user_of_raw(v) for v in df["raw"].to_numpy(dtype=object)]
        return self._bulk(self.tables.quarantine, df, "ignore", {"created_at": _now_us()})

    # -- reads ---------------------------------------------------------------------------------

    def _select(self, table: Table, columns: Sequence[str] | None) -> tuple[list[str], Select[Any]]:
        names = list(columns) if columns is not None else [c.name for c in table.columns]
        unknown = [c for c in names if c not in table.c]
        if unknown:
            raise ValidationError(
                "columns",
                f"not a column of table '{table.name}'",
                value=unknown[0],
                hint=f"known columns: {', '.join(c.name for c in table.columns)}",
            )
        short = table.name[len(self.tables.prefix) :]
        order = [table.c[c] for c in _ORDER[short]]
        return names, select(*[table.c[c] for c in names]).order_by(*order)

    def read_table(self, name: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """A whole table as a DataFrame (events ordered by timestamp).

        Parameters
        ----------
        name : str
            One of users, items, campaigns, events, quarantine, imports, models.
        columns : sequence of str, optional
            Columns to read (default: all).

        Returns
        -------
        pandas.DataFrame
            Timestamps as ``datetime64[us, UTC]``, JSON fields decoded to lists/dicts.
        """
        table = self._table(name)
        names, stmt = self._select(table, columns)
        chunks = [_frame(table, names, rows) for rows in self._raw_rows(stmt, 1_000_000)]
        if len(chunks) == 1:
            return chunks[0]
        if not chunks:
            return _frame(table, names, [])
        return pd.concat(chunks, ignore_index=True)

    def _raw_rows(self, stmt: Select[Any], chunk_rows: int) -> Iterator[list[tuple[Any, ...]]]:
        """Rows of ``stmt`` in lists of at most ``chunk_rows``, from the DBAPI cursor directly.

        Skipping SQLAlchemy's result objects makes bulk reads about a third faster; on
        PostgreSQL a named (server-side) cursor keeps memory bounded.
        """
        sql = str(stmt.compile(dialect=self.engine.dialect))
        with self._connect(write=False) as conn, conn.begin():
            raw = _driver(conn)
            if self.dialect == "postgresql":
                cur = raw.cursor(name=f"cr_read_{uuid.uuid4().hex[:12]}")
                cur.itersize = min(chunk_rows, 50_000)
            else:
                cur = raw.cursor()
                cur.arraysize = chunk_rows
            try:
                cur.execute(sql)
                while rows := cur.fetchmany(chunk_rows):
                    yield rows
            finally:
                cur.close()

    def iter_table(
        self, name: str, chunk_rows: int = 500_000, columns: Sequence[str] | None = None
    ) -> Iterator[pd.DataFrame]:
        """A table in chunks of at most ``chunk_rows`` rows (memory-bounded, server-side cursor).

        Parameters
        ----------
        name : str
            One of users, items, campaigns, events, quarantine, imports, models.
        chunk_rows : int
            Maximum rows per chunk.
        columns : sequence of str, optional
            Columns to read (default: all).

        Yields
        ------
        pandas.DataFrame
            Consecutive chunks in the order of :meth:`read_table`.
        """
        if chunk_rows < 1:
            raise ValidationError(
                "chunk_rows", "must be at least 1", value=chunk_rows, hint="e.g. 500000"
            )
        table = self._table(name)
        names, stmt = self._select(table, columns)
        for rows in self._raw_rows(stmt, chunk_rows):
            yield _frame(table, names, rows)

    def count(self, name: str) -> int:
        """Number of rows of table ``name``."""
        table = self._table(name)
        with self._connect(write=False) as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    # -- import log ----------------------------------------------------------------------------

    def record_import(
        self, source: str, entity: str, fingerprint: str, summary: Mapping[str, Any]
    ) -> int:
        """Log one import (what, which file fingerprint, summary counts); returns its id."""
        table = self.tables.imports
        values = {
            "source": str(source),
            "entity": str(entity),
            "fingerprint": str(fingerprint),
            "summary": json.dumps(dict(summary), ensure_ascii=False, default=_json_default),
            "created_at": _now_us(),
        }
        with self._connect(write=True) as conn, conn.begin():
            result = conn.execute(table.insert().values(**values))
            key = result.inserted_primary_key
            return int(key[0]) if key else 0

    def import_log(self) -> pd.DataFrame:
        """Every recorded import, oldest first (``summary`` decoded to a dict)."""
        return self.read_table("imports")

    def find_import(self, fingerprint: str) -> dict[str, Any] | None:
        """The latest import of a file with this fingerprint, or None."""
        table = self.tables.imports
        stmt = (
            select(table)
            .where(table.c.fingerprint == fingerprint)
            .order_by(table.c.import_id.desc())
            .limit(1)
        )
        with self._connect(write=False) as conn:
            rows = conn.execute(stmt).all()
        if not rows:
            return None
        return _first_record(_frame(table, [c.name for c in table.columns], rows))

    # -- model registry ------------------------------------------------------------------------

    def register_model(
        self, name: str, version: str, path: str | Path, meta: Mapping[str, Any]
    ) -> None:
        """Register (or re-register, updating path and meta) a model version; not activated."""
        table = self.tables.models
        payload = json.dumps(dict(meta), ensure_ascii=False, default=_json_default)
        with self._connect(write=True) as conn, conn.begin():
            found = conn.execute(
                select(table.c.version).where(table.c.name == name, table.c.version == version)
            ).first()
            if found is None:
                conn.execute(
                    table.insert().values(
                        name=name,
                        version=version,
                        path=str(path),
                        meta=payload,
                        created_at=_now_us(),
                        active=False,
                    )
                )
            else:
                conn.execute(
                    update(table)
                    .where(table.c.name == name, table.c.version == version)
                    .values(path=str(path), meta=payload)
                )

    def activate_model(self, name: str, version: str) -> None:
        """Make ``version`` the one active version of model ``name``.

        Raises
        ------
        UnknownIdError
            The version was never registered.
        """
        table = self.tables.models
        with self._connect(write=True) as conn, conn.begin():
            lock = select(table.c.version).where(table.c.name == name)
            if self.dialect == "postgresql":
                lock = lock.with_for_update()  # serialise concurrent activations of one name
            versions = set(conn.execute(lock).scalars())
            if version not in versions:
                raise UnknownIdError(
                    "model version",
                    f"{name}:{version}",
                    hint="register it first with register_model()",
                )
            conn.execute(
                update(table)
                .where(table.c.name == name, table.c.active.is_(True))
                .values(active=False)
            )
            conn.execute(
                update(table)
                .where(table.c.name == name, table.c.version == version)
                .values(active=True, activated_at=_now_us())
            )

    def active_model(self, name: str) -> dict[str, Any] | None:
        """The active version of model ``name`` as a dict (name, version, path, meta, ...)."""
        table = self.tables.models
        stmt = select(table).where(table.c.name == name, table.c.active.is_(True))
        with self._connect(write=False) as conn:
            rows = conn.execute(stmt).all()
        if not rows:
            return None
        return _first_record(_frame(table, [c.name for c in table.columns], rows))

    def list_models(self) -> pd.DataFrame:
        """Every registered model version (name, version, path, meta, active, times)."""
        return self.read_table("models")

    # -- erasure -------------------------------------------------------------------------------

    def delete_user(self, user_id: str) -> dict[str, int]:
        """Erase a user: their events, profile row and quarantined raw rows, in one transaction.

        Returns
        -------
        dict of str to int
            Rows removed per table: ``events``, ``users``, ``quarantine``.
        """
        t = self.tables
        with self._connect(write=True) as conn, conn.begin():
            removed = {
                "events": conn.execute(delete(t.events).where(t.events.c.user_id == user_id)),
                "users": conn.execute(delete(t.users).where(t.users.c.user_id == user_id)),
                "quarantine": conn.execute(
                    delete(t.quarantine).where(t.quarantine.c.user_id == user_id)
                ),
            }
            return {k: int(r.rowcount) for k, r in removed.items()}


def _user_of_raw(raw: Any) -> str | None:
    if not isinstance(raw, str):
        return None
    try:
        parsed = json.loads(raw)
    except ValueError:
        return None
    if isinstance(parsed, dict):
        value = parsed.get("user_id")
        if value is not None and not _is_missing_scalar(value):
            return str(value)
    return None
