"""The ``retrain_decisions`` table: one row per decision of the retraining quality gate.

``retrain_decisions(decision_id INTEGER PRIMARY KEY (autoincrement), created_at BIGINT (UTC
microseconds), model TEXT (the model family), outcome TEXT (``activated`` | ``kept`` |
``skipped``), candidate_version TEXT, active_version TEXT (the version served before the
decision), decision TEXT (a JSON object: the figures of the paired test and the sentence in English
and Chinese))`` is created by migration 9 (:mod:`campaignrec.store.migrations`). The gate itself
lives in :mod:`campaignrec.pipeline.retrain`; the store keeps what it decided, so the console and
``campaignrec health`` can show the last decision.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Integer,
    MetaData,
    Table,
    Text,
    insert,
    select,
)

TABLE = "retrain_decisions"
OUTCOMES = ("activated", "kept", "skipped")


def retrain_decisions_table(prefix: str = "") -> Table:
    """The ``retrain_decisions`` table of a store whose tables are prefixed with ``prefix``."""
    return Table(
        f"{prefix}{TABLE}",
        MetaData(),
        Column("decision_id", Integer, primary_key=True, autoincrement=True),
        Column("created_at", BigInteger, nullable=False),
        Column("model", Text, nullable=True),
        Column("outcome", Text, nullable=False),
        Column("candidate_version", Text, nullable=True),
        Column("active_version", Text, nullable=True),
        Column("decision", Text, nullable=False),
    )


def create_retrain_decisions_table(conn: Connection, prefix: str) -> None:
    """Migration 9: the table, frozen here as it shipped."""
    key = (
        "SERIAL PRIMARY KEY"
        if conn.dialect.name == "postgresql"
        else "INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT"
    )
    conn.exec_driver_sql(
        f'CREATE TABLE IF NOT EXISTS "{prefix}{TABLE}" (decision_id {key}, '
        "created_at BIGINT NOT NULL, model TEXT, outcome TEXT NOT NULL, "
        "candidate_version TEXT, active_version TEXT, decision TEXT NOT NULL)"
    )


class RetrainDecisionRepository:
    """Reads and writes of the ``retrain_decisions`` table of one SQL store."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.table = retrain_decisions_table(store.tables.prefix)

    def insert(self, decision: Mapping[str, Any]) -> int:
        """Store one decision (``outcome``, ``model``, ``candidate_version``,
        ``active_version`` and everything else as the JSON ``decision``); returns its id."""
        row = {
            "created_at": time.time_ns() // 1000,
            "model": decision.get("model"),
            "outcome": str(decision["outcome"]),
            "candidate_version": decision.get("candidate_version"),
            "active_version": decision.get("active_version"),
            "decision": json.dumps(dict(decision), ensure_ascii=False, default=str),
        }
        with self.store.engine.begin() as conn:
            result = conn.execute(insert(self.table), [row])
            key = result.inserted_primary_key
        return int(key[0]) if key else 0

    def latest(self, n: int = 1) -> list[dict[str, Any]]:
        """The last ``n`` decisions, newest first (each the stored JSON plus ``decision_id``
        and ``created_at`` in UTC microseconds)."""
        t = self.table
        stmt = (
            select(t.c.decision_id, t.c.created_at, t.c.decision)
            .order_by(t.c.decision_id.desc())
            .limit(int(n))
        )
        with self.store.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        return [
            dict(json.loads(raw)) | {"decision_id": int(i), "created_at": int(at)}
            for i, at, raw in rows
        ]

    def last(self) -> dict[str, Any] | None:
        """The most recent decision, or None when the gate never ran."""
        found = self.latest(1)
        return found[0] if found else None
