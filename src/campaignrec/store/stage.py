"""The staging table of a bulk load into an empty SQLite events table.

Each event row inserted into the events table also goes into the unique ``event_id`` index, and
event ids are hashes: in arrival order they land at random places of that B-tree, which is what a
1M-event import spent most of its write time on. Inside
:meth:`campaignrec.store.engine.StoreCore.bulk_load` on an events table that started empty, the
chunks go into a ``TEMP`` table without constraints instead (no index), and the end of the bulk
load moves them in one transaction: staged ids stored meanwhile by another writer are removed
(and counted), the ``event_id`` index is dropped, the rows are appended in arrival order (the
rowid table grows at its end) and the index is built once, sorted (migration 11 made it a unique
index instead of the primary key for this). Measured on 1M rows (docs/benchmarks/ingest.md).
Other writers wait for the move (``BEGIN IMMEDIATE``); an interrupted move rolls back whole,
index included.

The temporary table lives on one DBAPI connection, held for the block. Rows staged there are not
visible to readers until the flush; an interrupted import loses only its staged rows, and the
import is not recorded, so running it again stores them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from campaignrec.store.migrations import event_id_index

if TYPE_CHECKING:
    from campaignrec.store.engine import StoreCore

STAGE_TABLE = "_cr_stage_events"


class EventStage:
    """Event rows held in a ``TEMP`` table until :meth:`flush` (see the module docstring)."""

    def __init__(self, core: StoreCore) -> None:
        self.core = core
        self.target = core.tables.events.name
        self.raw: Any = core.engine.raw_connection()
        self.staged = 0
        cur = self.raw.cursor()
        try:
            cur.execute(f'DROP TABLE IF EXISTS temp."{STAGE_TABLE}"')
            cur.execute(
                f'CREATE TEMP TABLE "{STAGE_TABLE}" AS SELECT * FROM main."{self.target}" WHERE 0'
            )
        finally:
            cur.close()

    def write(self, names: list[str], rows: list[tuple[Any, ...]]) -> int:
        """Stage ``rows`` (distinct event ids, none of them stored yet); returns their count."""
        if not rows:
            return 0
        quoted = ", ".join(f'"{n}"' for n in names)
        marks = ", ".join("?" for _ in names)
        cur = self.raw.cursor()
        try:
            cur.execute("BEGIN")
            cur.executemany(f'INSERT INTO temp."{STAGE_TABLE}" ({quoted}) VALUES ({marks})', rows)
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        finally:
            cur.close()
        self.staged += len(rows)
        return len(rows)

    def flush(self) -> int:
        """Move the staged rows into the events table; the unique ``event_id`` index is
        dropped for the move and built once, sorted, at its end, in the same transaction.

        Returns how many staged rows were already stored (written meanwhile by another writer):
        they are removed from the stage first (through the index, while it still exists), and
        the importer counts them as duplicates, not as accepted.
        """
        if not self.staged:
            return 0
        cols = ", ".join(f'"{c.name}"' for c in self.core.tables.events.columns)
        ux = event_id_index(self.core.tables)
        cur = self.raw.cursor()
        try:
            cur.execute("BEGIN IMMEDIATE")
            stored = cur.execute(f'SELECT EXISTS (SELECT 1 FROM main."{self.target}")')
            conflicts = 0
            if stored.fetchone()[0]:
                before = self.raw.total_changes
                cur.execute(
                    f'DELETE FROM temp."{STAGE_TABLE}" WHERE "event_id" IN '
                    f'(SELECT "event_id" FROM main."{self.target}")'
                )
                conflicts = int(self.raw.total_changes - before)
            if ux is not None:
                cur.execute(f'DROP INDEX IF EXISTS main."{ux.name}"')
            cur.execute(
                f'INSERT INTO main."{self.target}" ({cols}) SELECT {cols} FROM temp."{STAGE_TABLE}"'
            )
            if ux is not None:
                cur.execute(f'CREATE UNIQUE INDEX main."{ux.name}" ON "{self.target}" ("event_id")')
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        finally:
            cur.close()
        self.staged = 0
        return conflicts

    def close(self) -> None:
        """Drop the staging table and hand the connection back to the pool."""
        try:
            cur = self.raw.cursor()
            try:
                cur.execute(f'DROP TABLE IF EXISTS temp."{STAGE_TABLE}"')
            finally:
                cur.close()
        finally:
            self.raw.close()
