"""The ``profiles`` table: each shopper's computed profile attributes, one row per user, and the
point reads that build one shopper's audience attributes without reading whole tables.

``profiles(user_id TEXT PRIMARY KEY, attributes TEXT (a JSON object), computed_at BIGINT (UTC
microseconds))`` is created by migration 4 (:mod:`campaignrec.store.migrations`); the batch
profile step replaces its rows, request handlers read one row by primary key.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import (
    BigInteger,
    Column,
    MetaData,
    Table,
    Text,
    bindparam,
    delete,
    func,
    insert,
    select,
)

TABLE = "profiles"
# Text compared bytewise on both backends, as every other key column of the store.
_KEY = Text().with_variant(Text(collation="C"), "postgresql")


def profiles_table(prefix: str = "") -> Table:
    """The ``profiles`` table of a store whose tables are prefixed with ``prefix``."""
    return Table(
        f"{prefix}{TABLE}",
        MetaData(),
        Column("user_id", _KEY, primary_key=True),
        Column("attributes", Text, nullable=False),
        Column("computed_at", BigInteger, nullable=False),
    )


def _us(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


class ProfileRepository:
    """Reads and writes of the ``profiles`` table of one :class:`~campaignrec.store.SQLStore`."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.table = profiles_table(store.tables.prefix)

    def replace_all(
        self, attributes: Iterable[Mapping[str, Any]], *, chunk_rows: int = 5_000
    ) -> int:
        """Replace every row by ``attributes`` (one mapping per user, with ``user_id``), in one
        transaction; returns the number of rows written."""
        computed_at = time.time_ns() // 1000
        n = 0
        with self.store.engine.begin() as conn:
            conn.execute(delete(self.table))
            batch: list[dict[str, Any]] = []
            for attrs in attributes:
                batch.append(
                    {
                        "user_id": str(attrs["user_id"]),
                        "attributes": json.dumps(dict(attrs), ensure_ascii=False, default=str),
                        "computed_at": computed_at,
                    }
                )
                if len(batch) >= chunk_rows:
                    conn.execute(insert(self.table), batch)
                    n += len(batch)
                    batch = []
            if batch:
                conn.execute(insert(self.table), batch)
                n += len(batch)
        return n

    def get(self, user_id: str) -> dict[str, Any] | None:
        """The stored profile attributes of ``user_id`` (one primary-key SELECT), or None."""
        stmt = select(self.table.c.attributes).where(self.table.c.user_id == str(user_id))
        with self.store.engine.connect() as conn:
            raw = conn.execute(stmt).scalar_one_or_none()
        return None if raw is None else dict(json.loads(raw))

    def all(self) -> dict[str, dict[str, Any]]:
        """Every stored profile: ``user_id -> attributes`` (batch use: audience previews, plans)."""
        stmt = select(self.table.c.user_id, self.table.c.attributes)
        with self.store.engine.connect() as conn:
            return {str(u): dict(json.loads(a)) for u, a in conn.execute(stmt).all()}

    def count(self) -> int:
        """Number of stored profiles."""
        with self.store.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(self.table)).scalar_one())


def _decode(column: Any, value: Any) -> Any:
    kind = column.info.get("kind", "str")
    if value is None:
        return None
    if kind == "ts":
        return pd.Timestamp(int(value), unit="us", tz="UTC")
    if kind == "json":
        return json.loads(value)
    if kind == "bool":
        return bool(value)
    return value


_BY_ID: dict[int, Any] = {}


def _by_id_statement(users: Table) -> Any:
    """``SELECT * FROM users WHERE user_id = :uid``, built once per table object (request path)."""
    stmt = _BY_ID.get(id(users))
    if stmt is None or stmt[0] is not users:
        stmt = (users, select(users).where(users.c.user_id == bindparam("uid")))
        _BY_ID[id(users)] = stmt
    return stmt[1]


def user_record(store: Any, user_id: str) -> dict[str, Any] | None:
    """The users-table row of ``user_id`` as a dict (one primary-key SELECT), or None."""
    users = store.tables.users
    with store.engine.connect() as conn:
        row = conn.execute(_by_id_statement(users), {"uid": str(user_id)}).first()
    if row is None:
        return None
    return {c.name: _decode(c, v) for c, v in zip(users.columns, row, strict=True)}


def purchase_categories(store: Any, user_id: str, until: datetime) -> list[tuple[str, str | None]]:
    """``(item_id, category)`` of each purchase of ``user_id`` up to ``until`` (the events
    ``(user_id, timestamp)`` index, then items by primary key)."""
    ev, items = store.tables.events, store.tables.items
    stmt = (
        select(ev.c.item_id, items.c.category)
        .select_from(ev.outerjoin(items, items.c.item_id == ev.c.item_id))
        .where(
            ev.c.user_id == str(user_id),
            ev.c.timestamp <= _us(until),
            ev.c.event_type == "purchase",
            ev.c.item_id.is_not(None),
        )
    )
    with store.engine.connect() as conn:
        return [(str(i), c) for i, c in conn.execute(stmt).all()]
