"""The import log of the SQL store: which file was imported when, with its summary counts."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pandas as pd
from sqlalchemy import select

from campaignrec.store.codecs import first_record, frame, json_default, now_us
from campaignrec.store.engine import StoreCore
from campaignrec.store.reads import TableReads


class ImportLog:
    """``record_import``, ``import_log`` and ``find_import`` of one store."""

    def __init__(self, core: StoreCore, reads: TableReads) -> None:
        self.core = core
        self.reads = reads

    def record_import(
        self, source: str, entity: str, fingerprint: str, summary: Mapping[str, Any]
    ) -> int:
        """Log one import (what, which file fingerprint, summary counts); returns its id."""
        table = self.core.tables.imports
        values = {
            "source": str(source),
            "entity": str(entity),
            "fingerprint": str(fingerprint),
            "summary": json.dumps(dict(summary), ensure_ascii=False, default=json_default),
            "created_at": now_us(),
        }
        with self.core.connect(write=True) as conn, conn.begin():
            result = conn.execute(table.insert().values(**values))
            key = result.inserted_primary_key
            return int(key[0]) if key else 0

    def import_log(self) -> pd.DataFrame:
        """Every recorded import, oldest first (``summary`` decoded to a dict)."""
        return self.reads.read_table("imports")

    def find_import(self, fingerprint: str) -> dict[str, Any] | None:
        """The latest import of a file with this fingerprint, or None."""
        table = self.core.tables.imports
        stmt = (
            select(table)
            .where(table.c.fingerprint == fingerprint)
            .order_by(table.c.import_id.desc())
            .limit(1)
        )
        with self.core.connect(write=False) as conn:
            rows = conn.execute(stmt).all()
        if not rows:
            return None
        return first_record(frame(table, [c.name for c in table.columns], rows))
