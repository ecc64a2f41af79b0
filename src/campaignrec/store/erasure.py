"""Erasure in the SQL store: a user's rows in every table, then the database file scrubbed.

:meth:`Erasure.delete_user` removes, in one transaction, a user's events, users row, quarantined
rows (those filed under the user, and unparsed lines that hold the id), computed profile and
sealed personal fields. On SQLite the deleting connection runs with ``PRAGMA secure_delete=ON``,
so the freed cells are overwritten with zeros rather than left in the page.

Deleted rows can still survive in the file: earlier copies of a page in the write-ahead log,
freed pages of older deletes (a profile recomputed last week), slack space in pages.
:meth:`Erasure.scrub` removes them: on SQLite a WAL checkpoint, ``VACUUM`` (the file rebuilt from
the live rows only) and ``wal_checkpoint(TRUNCATE)`` (the log emptied); on PostgreSQL ``VACUUM``
of the tables a user's rows live in (dead tuples reclaimed; ``VACUUM FULL`` is left to the
operator, as it locks the tables).
:meth:`Erasure.find_user` counts what any table still holds of an id (the check after erasure).
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from sqlalchemy import String, and_, cast, delete, func, or_, select
from sqlalchemy.exc import OperationalError

from campaignrec.store.engine import StoreCore
from campaignrec.store.privacy import SEALED, privacy_tables
from campaignrec.store.profiles import profiles_table

#: What surrounds a field in the JSON text of a quarantined line: quotes, CSV / TSV separators
#: (a tab is ``\\t`` in JSON), semicolons and pipes.
_SEPARATORS = ('"', ",", "\\t", ";", "|")
SCRUB_BUSY_MS = 5_000
POOL_BUSY_MS = 60_000  # what campaignrec.store.engine sets on every connection


class Erasure:
    """``delete_user``, ``scrub`` and ``find_user`` of one store."""

    def __init__(self, core: StoreCore) -> None:
        self.core = core

    def _all_tables(self) -> list[Any]:
        t = self.core.tables
        own = [t.by_name(n) for n in ("users", "items", "campaigns", "events", "quarantine")]
        return [
            *own,
            t.imports,
            t.models,
            profiles_table(t.prefix),
            *privacy_tables(t.prefix).values(),
        ]

    def delete_user(self, user_id: str) -> dict[str, int]:
        """Erase a user's rows, in one transaction.

        Returns
        -------
        dict of str to int
            Rows removed per table: ``events``, ``users``, ``quarantine`` (rows filed under the
            user, and rows without a parsed user whose raw text holds the id), ``profiles`` (the
            computed profile of :mod:`campaignrec.store.profiles`), ``sealed_fields``.
        """
        t = self.core.tables
        profiles = profiles_table(t.prefix)
        sealed = privacy_tables(t.prefix)[SEALED]
        q = t.quarantine
        uid = str(user_id)
        instr = func.instr if self.core.dialect == "sqlite" else func.strpos
        # an unparsed line holds the id between separators (``u1`` must not match ``u12``)
        delimited = [f"{a}{uid}{b}" for a in _SEPARATORS for b in _SEPARATORS]
        unparsed = and_(
            or_(q.c.user_id.is_(None), q.c.user_id == ""),
            or_(*(instr(q.c.raw, d) > 0 for d in delimited), q.c.value == uid),
        )
        with self.core.connect(write=True) as conn, conn.begin():
            if self.core.dialect == "sqlite":
                conn.exec_driver_sql("PRAGMA secure_delete=ON")
            removed = {
                "events": conn.execute(delete(t.events).where(t.events.c.user_id == uid)),
                "users": conn.execute(delete(t.users).where(t.users.c.user_id == uid)),
                "quarantine": conn.execute(delete(q).where(or_(q.c.user_id == uid, unparsed))),
                "profiles": conn.execute(delete(profiles).where(profiles.c.user_id == uid)),
                "sealed_fields": conn.execute(delete(sealed).where(sealed.c.user_id == uid)),
            }
            return {k: int(r.rowcount) for k, r in removed.items()}

    def delete_before(self, cutoff_us: int) -> dict[str, int]:
        """Delete events older than ``cutoff_us`` (UTC microseconds) and quarantined rows
        recorded before it, in one transaction (SQLite: ``secure_delete`` on)."""
        t = self.core.tables
        with self.core.connect(write=True) as conn, conn.begin():
            if self.core.dialect == "sqlite":
                conn.exec_driver_sql("PRAGMA secure_delete=ON")
            events = conn.execute(delete(t.events).where(t.events.c.timestamp < int(cutoff_us)))
            quarantine = conn.execute(
                delete(t.quarantine).where(t.quarantine.c.created_at < int(cutoff_us))
            )
            return {"events": int(events.rowcount), "quarantine": int(quarantine.rowcount)}

    def scrub(self, *, vacuum: bool = True) -> dict[str, Any]:
        """Make deleted rows unrecoverable from the database file (see the module docstring).

        Parameters
        ----------
        vacuum : bool
            Rebuild the file (SQLite ``VACUUM``; PostgreSQL ``VACUUM`` of the user tables). Off,
            only the WAL is checkpointed and truncated (fast, but freed pages of earlier
            deletes stay until the next vacuum).

        Returns
        -------
        dict
            ``vacuumed``, ``wal_truncated`` (SQLite: False when a reader kept the log busy),
            ``seconds``.
        """
        started = time.perf_counter()
        if self.core.dialect == "postgresql":
            if vacuum:
                names = [tb.name for tb in self._all_tables()]
                with self.core.engine.connect() as conn:
                    conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                    for name in names:
                        conn.exec_driver_sql(f'VACUUM "{name}"')
            return {
                "vacuumed": vacuum,
                "wal_truncated": None,
                "seconds": round(time.perf_counter() - started, 3),
            }
        truncated = False
        vacuumed = False
        error = None
        raw = self.core.engine.raw_connection()
        try:
            dbapi: Any = raw.driver_connection
            dbapi.execute("PRAGMA secure_delete=ON")
            # a reader elsewhere makes TRUNCATE wait for it: wait seconds, not the pool's minute
            dbapi.execute(f"PRAGMA busy_timeout={SCRUB_BUSY_MS}")
            dbapi.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            if vacuum:
                dbapi.execute("VACUUM")
                vacuumed = True
            busy, _log, _done = dbapi.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            truncated = int(busy) == 0
        except (OperationalError, sqlite3.OperationalError) as exc:
            # another process holds a transaction open: the rows are deleted (and zeroed), but
            # earlier copies may stay in free pages until a vacuum that gets the file to itself
            error = f"{exc}"
        finally:
            try:
                restore: Any = raw.driver_connection
                restore.execute(f"PRAGMA busy_timeout={POOL_BUSY_MS}")
            finally:
                raw.close()
        out: dict[str, Any] = {
            "vacuumed": vacuumed,
            "wal_truncated": truncated,
            "seconds": round(time.perf_counter() - started, 3),
        }
        if error is not None:
            out["error"] = error
        return out

    def find_user(self, user_id: str) -> dict[str, int]:
        """Rows of every table that still hold ``user_id``: equal to it in any text column, or
        holding it as a JSON string (``"<id>"``) inside one. Only tables with hits are listed."""
        uid = str(user_id)
        quoted = f'"{uid}"'
        instr = func.instr if self.core.dialect == "sqlite" else func.strpos
        found: dict[str, int] = {}
        with self.core.connect(write=False) as conn:
            for table in self._all_tables():
                if not conn.dialect.has_table(conn, table.name):
                    continue
                conds = []
                for col in table.columns:
                    text_col = cast(col, String)
                    conds.append(text_col == uid)
                    conds.append(instr(text_col, quoted) > 0)
                stmt = select(func.count()).select_from(table).where(or_(*conds))
                n = int(conn.execute(stmt).scalar_one())
                if n:
                    found[table.name] = n
        return found
