"""Row writes of the SQL store: upserts by id, deduplicating inserts of events and quarantine.

Every call is one transaction. On SQLite a raw ``executemany`` of ``INSERT ... ON CONFLICT``;
on PostgreSQL the ``COPY`` paths of :mod:`campaignrec.store.bulk`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd
import polars as pl
from sqlalchemy import Connection, Table
from sqlalchemy.exc import SQLAlchemyError

from campaignrec.data.schema import KEY_COLUMN
from campaignrec.errors import StoreError, ValidationError
from campaignrec.store.bulk import pg_write_rows
from campaignrec.store.codecs import frame_rows, now_us, polars_rows, unique_rows, user_of_raw
from campaignrec.store.engine import StoreCore, driver
from campaignrec.store.migrations import key_columns


class RowWriter:
    """The write half of the store: ``upsert_*``, ``insert_events``, ``insert_quarantine``."""

    def __init__(self, core: StoreCore) -> None:
        self.core = core

    def write_rows(
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
        key = key_columns(table)
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
        raw = driver(conn)
        if self.core.dialect == "sqlite":
            marks = ", ".join("?" for _ in names)
            sql = f'INSERT INTO "{table.name}" ({quoted}) VALUES ({marks}) {on_conflict}'
            cur = raw.cursor()
            try:
                before = raw.total_changes
                cur.executemany(sql, rows)
                return int(raw.total_changes - before)
            finally:
                cur.close()
        return pg_write_rows(self.core, raw, table, names, rows, conflict, quoted, on_conflict)

    def write_frame(
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
        names, rows = frame_rows(table, df, extra, skip_empty=conflict == "ignore")
        if conflict == "ignore":
            rows = unique_rows(table, names, rows)
        return self._commit_rows(table, names, rows, conflict)

    def _commit_rows(
        self,
        table: Table,
        names: list[str],
        rows: list[tuple[Any, ...]],
        conflict: Literal["ignore", "update"],
        *,
        stageable: bool = False,
    ) -> int:
        """:meth:`write_rows` in a transaction of its own, or, for ``stageable`` event rows
        (distinct from each other and from every earlier call of the bulk load), into the bulk
        load's stage (:mod:`campaignrec.store.stage`)."""
        stage = self.core.stage if stageable and table is self.core.tables.events else None
        try:
            if stage is not None:
                return stage.write(names, rows)
            with self.core.connect(write=True) as conn, conn.begin():
                return self.write_rows(conn, table, names, rows, conflict)
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
        table = self.core.tables.by_name(name)
        id_col = KEY_COLUMN[name]
        if id_col not in df.columns:
            raise ValidationError(id_col, "required to upsert", hint=f"add a '{id_col}' column")
        if df[id_col].isna().any():
            row = int(np.flatnonzero(df[id_col].isna().to_numpy())[0]) + 1
            raise ValidationError(id_col, "must not be missing", row=row, hint="fill it in")
        # one row per id (the last wins): PostgreSQL cannot update one row twice in a statement
        df = df.drop_duplicates(subset=[id_col], keep="last")
        extra = {"updated_at": now_us()} if "updated_at" in table.c else None
        return self.write_frame(table, df, "update", extra)

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
        return self.write_frame(self.core.tables.events, df, "ignore")

    def insert_events_frame(self, frame: pl.DataFrame, *, unique: bool = False) -> int:
        """:meth:`insert_events` of a typed polars frame (the importer's validated rows).

        With ``unique``, the caller guarantees event ids distinct from each other and from
        every earlier call in the same bulk load (the importer's
        :class:`~campaignrec.data.validation.SeenIds` does), so they are not checked again, and
        inside a bulk load into an empty table they are staged: the count returned is then the
        rows staged, and :meth:`~campaignrec.store.sql.SQLStore.take_bulk_conflicts` tells
        afterwards how many of them turned out stored already.
        """
        for col in ("event_id", "user_id", "event_type", "timestamp"):
            if col not in frame.columns:
                raise ValidationError(col, "required to insert events", hint="add the column")
        if not frame.height:
            return 0
        table = self.core.tables.events
        names, rows = polars_rows(table, frame, skip_empty=True)
        if not unique:
            rows = unique_rows(table, names, rows)
        return self._commit_rows(table, names, rows, "ignore", stageable=unique)

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
            df["user_id"] = [user_of_raw(v) for v in df["raw"].to_numpy(dtype=object)]
        return self.write_frame(self.core.tables.quarantine, df, "ignore", {"created_at": now_us()})
