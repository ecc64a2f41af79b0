"""The ``experiments`` table: one row per experiment definition.

``experiments(experiment_id TEXT PRIMARY KEY, layer TEXT NOT NULL, definition TEXT (a JSON object:
the validated definition plus the layer range it was given), created_at BIGINT (UTC
microseconds))`` is created by migration 6 (:mod:`campaignrec.store.migrations`). The store keeps
the JSON as it is given; :mod:`campaignrec.experiments.registry` validates it and decides the
layer ranges.
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
    MetaData,
    Table,
    Text,
    func,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

from campaignrec.errors import ValidationError

TABLE = "experiments"
_KEY = Text().with_variant(Text(collation="C"), "postgresql")


def experiments_table(prefix: str = "") -> Table:
    """The ``experiments`` table of a store whose tables are prefixed with ``prefix``."""
    return Table(
        f"{prefix}{TABLE}",
        MetaData(),
        Column("experiment_id", _KEY, primary_key=True),
        Column("layer", _KEY, nullable=False),
        Column("definition", Text, nullable=False),
        Column("created_at", BigInteger, nullable=False),
    )


def create_experiments_table(conn: Connection, prefix: str) -> None:
    """Migration 6: the table, frozen here as it shipped."""
    key = 'TEXT COLLATE "C"' if conn.dialect.name == "postgresql" else "TEXT"
    conn.exec_driver_sql(
        f'CREATE TABLE IF NOT EXISTS "{prefix}{TABLE}" (experiment_id {key} NOT NULL PRIMARY KEY, '
        f"layer {key} NOT NULL, definition TEXT NOT NULL, created_at BIGINT NOT NULL)"
    )


class ExperimentRepository:
    """Reads and writes of the ``experiments`` table of one :class:`~campaignrec.store.SQLStore`."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.table = experiments_table(store.tables.prefix)

    def insert(self, experiment_id: str, layer: str, definition: Mapping[str, Any]) -> None:
        """Store a new definition; an existing id is a :class:`ValidationError`."""
        row = {
            "experiment_id": experiment_id,
            "layer": layer,
            "definition": json.dumps(dict(definition), ensure_ascii=False, default=str),
            "created_at": time.time_ns() // 1000,
        }
        try:
            with self.store.engine.begin() as conn:
                conn.execute(insert(self.table), [row])
        except IntegrityError:
            raise ValidationError(
                "experiment_id", "an experiment with this id exists", value=experiment_id,
                hint="choose a new id (definitions are never overwritten)",
            ) from None  # fmt: skip

    def stamp(self) -> tuple[int, int]:
        """``(count, newest created_at)``: changes exactly when a definition is added."""
        stmt = select(func.count(), func.max(self.table.c.created_at))
        with self.store.engine.connect() as conn:
            count, newest = conn.execute(stmt).one()
        return int(count or 0), int(newest or 0)

    def get(self, experiment_id: str) -> dict[str, Any] | None:
        """The stored definition of ``experiment_id`` (one primary-key SELECT), or None."""
        stmt = select(self.table.c.definition).where(
            self.table.c.experiment_id == str(experiment_id)
        )
        with self.store.engine.connect() as conn:
            raw = conn.execute(stmt).scalar_one_or_none()
        return None if raw is None else dict(json.loads(raw))

    def all(self, layer: str | None = None) -> list[dict[str, Any]]:
        """Every stored definition (of one layer), in creation order."""
        stmt = select(self.table.c.definition).order_by(
            self.table.c.created_at, self.table.c.experiment_id
        )
        if layer is not None:
            stmt = stmt.where(self.table.c.layer == layer)
        with self.store.engine.connect() as conn:
            return [dict(json.loads(raw)) for (raw,) in conn.execute(stmt).all()]
