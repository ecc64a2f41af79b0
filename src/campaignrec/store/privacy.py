"""The store's privacy tables: sealed personal fields, the audit log and the privacy-budget ledger.

Created by migration 5 (:mod:`campaignrec.store.migrations`), defined here beside their
repository (as the ``profiles`` table is) and not part of :class:`~campaignrec.store.migrations.Tables`:

* ``sealed_fields(user_id TEXT PRIMARY KEY, token TEXT, updated_at BIGINT)`` -- the personal
  fields a shop chose to keep, encrypted together as one token per shopper
  (:mod:`campaignrec.privacy.fields`); nothing else in the store holds them.
* ``audit_log(audit_id, at, actor, action, subject, detail)`` -- who did what and when; a
  shopper is named by a keyed hash (``subject``), never by the raw id.
* ``privacy_ledger(release_id, dataset, at, epsilon, delta, query, actor)`` -- every
  differentially private release, so the budget of a dataset is the sum of its rows.

Timestamps are UTC microseconds, as everywhere in the store.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Float,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    delete,
    func,
    insert,
    select,
)

from campaignrec.errors import ValidationError

SEALED = "sealed_fields"
AUDIT = "audit_log"
LEDGER = "privacy_ledger"
PRIVACY_TABLES = (SEALED, AUDIT, LEDGER)
_KEY = Text().with_variant(Text(collation="C"), "postgresql")


def privacy_tables(prefix: str = "") -> dict[str, Table]:
    """The three privacy tables of a store whose tables are prefixed with ``prefix``."""
    md = MetaData()
    tables = {
        SEALED: Table(
            f"{prefix}{SEALED}",
            md,
            Column("user_id", _KEY, primary_key=True),
            Column("token", Text, nullable=False),
            Column("updated_at", BigInteger, nullable=False),
        ),
        AUDIT: Table(
            f"{prefix}{AUDIT}",
            md,
            Column("audit_id", Integer, primary_key=True, autoincrement=True),
            Column("at", BigInteger, nullable=False),
            Column("actor", Text, nullable=False),
            Column("action", Text, nullable=False),
            Column("subject", Text, nullable=True),
            Column("detail", Text, nullable=True),
            sqlite_autoincrement=True,
        ),
        LEDGER: Table(
            f"{prefix}{LEDGER}",
            md,
            Column("release_id", Integer, primary_key=True, autoincrement=True),
            Column("dataset", _KEY, nullable=False),
            Column("at", BigInteger, nullable=False),
            Column("epsilon", Float, nullable=False),
            Column("delta", Float, nullable=False),
            Column("query", Text, nullable=False),
            Column("actor", Text, nullable=False),
            sqlite_autoincrement=True,
        ),
    }
    Index(f"ix_{prefix}{LEDGER}_dataset", tables[LEDGER].c.dataset)
    Index(f"ix_{prefix}{AUDIT}_at", tables[AUDIT].c.at)  # migration 8: reads by time
    return tables


def create_privacy_tables(conn: Connection, prefix: str) -> None:
    """DDL of migration 5, frozen as it shipped (rendered for the backend in use)."""
    p = prefix
    pg = conn.dialect.name == "postgresql"
    key = 'TEXT COLLATE "C"' if pg else "TEXT"
    serial = "BIGSERIAL PRIMARY KEY" if pg else "INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT"
    real = "DOUBLE PRECISION" if pg else "FLOAT"
    conn.exec_driver_sql(
        f'CREATE TABLE IF NOT EXISTS "{p}{SEALED}" (user_id {key} NOT NULL PRIMARY KEY, '
        "token TEXT NOT NULL, updated_at BIGINT NOT NULL)"
    )
    conn.exec_driver_sql(
        f'CREATE TABLE IF NOT EXISTS "{p}{AUDIT}" (audit_id {serial}, at BIGINT NOT NULL, '
        "actor TEXT NOT NULL, action TEXT NOT NULL, subject TEXT, detail TEXT)"
    )
    conn.exec_driver_sql(
        f'CREATE TABLE IF NOT EXISTS "{p}{LEDGER}" (release_id {serial}, dataset {key} NOT NULL, '
        f"at BIGINT NOT NULL, epsilon {real} NOT NULL, delta {real} NOT NULL, "
        "query TEXT NOT NULL, actor TEXT NOT NULL)"
    )
    conn.exec_driver_sql(
        f'CREATE INDEX IF NOT EXISTS "ix_{p}{LEDGER}_dataset" ON "{p}{LEDGER}" (dataset)'
    )


def create_audit_time_index(conn: Connection, prefix: str) -> None:
    """DDL of migration 8, frozen as it shipped: the audit log read by time (``--since``)."""
    conn.exec_driver_sql(
        f'CREATE INDEX IF NOT EXISTS "ix_{prefix}{AUDIT}_at" ON "{prefix}{AUDIT}" (at)'
    )


def _now_us() -> int:
    return time.time_ns() // 1000


class PrivacyRepository:
    """Reads and writes of the privacy tables of one :class:`~campaignrec.store.SQLStore`."""

    def __init__(self, store: Any) -> None:
        self.store = store
        t = privacy_tables(store.tables.prefix)
        self.sealed, self.audit, self.ledger = t[SEALED], t[AUDIT], t[LEDGER]

    # -- sealed personal fields ----------------------------------------------------------------
    def put_sealed(self, tokens: Mapping[str, str]) -> int:
        """Store (or replace) the sealed token of each ``user_id``; returns rows written."""
        if not tokens:
            return 0
        now = _now_us()
        with self.store.engine.begin() as conn:
            ids = list(tokens)
            conn.execute(delete(self.sealed).where(self.sealed.c.user_id.in_(ids)))
            conn.execute(
                insert(self.sealed),
                [{"user_id": u, "token": tok, "updated_at": now} for u, tok in tokens.items()],
            )
        return len(tokens)

    def get_sealed(self, user_id: str) -> str | None:
        """The sealed token of ``user_id``, or None."""
        stmt = select(self.sealed.c.token).where(self.sealed.c.user_id == str(user_id))
        with self.store.engine.connect() as conn:
            value = conn.execute(stmt).scalar_one_or_none()
        return None if value is None else str(value)

    # -- audit log -----------------------------------------------------------------------------
    def record(
        self,
        actor: str,
        action: str,
        *,
        subject: str | None = None,
        detail: Mapping[str, Any] | None = None,
    ) -> int:
        """Append one audit record; returns its id. ``subject`` must already be a keyed hash."""
        if not actor:
            raise ValidationError("actor", "an audit record needs who acted", hint="name the actor")
        row = {
            "at": _now_us(),
            "actor": actor,
            "action": action,
            "subject": subject,
            "detail": json.dumps(dict(detail or {}), sort_keys=True, default=str),
        }
        with self.store.engine.begin() as conn:
            result = conn.execute(insert(self.audit).values(**row))
            key = result.inserted_primary_key
        return int(key[0]) if key else 0

    def record_many(self, rows: list[Mapping[str, Any]]) -> int:
        """Append many audit records in one transaction (``at`` in UTC microseconds, ``detail``
        a mapping); returns how many. Subjects must already be keyed hashes."""
        if not rows:
            return 0
        clean = []
        for r in rows:
            if not r.get("actor"):
                raise ValidationError("actor", "an audit record needs who acted")
            clean.append(
                {
                    "at": int(r["at"]),
                    "actor": str(r["actor"]),
                    "action": str(r["action"]),
                    "subject": r.get("subject"),
                    "detail": json.dumps(dict(r.get("detail") or {}), sort_keys=True, default=str),
                }
            )
        with self.store.engine.begin() as conn:
            conn.execute(insert(self.audit), clean)
        return len(clean)

    def audit_records(
        self, since: datetime | None = None, limit: int | None = None
    ) -> pd.DataFrame:
        """Audit records, oldest first (``at`` as UTC timestamps, ``detail`` decoded);
        ``since``: only those at or after it; ``limit``: only the newest ``limit``."""
        stmt = select(self.audit)
        if since is not None:
            at = since if since.tzinfo else since.replace(tzinfo=UTC)
            stmt = stmt.where(self.audit.c.at >= int(at.timestamp() * 1_000_000))
        if limit is not None:
            stmt = stmt.order_by(self.audit.c.audit_id.desc()).limit(int(limit))
        else:
            stmt = stmt.order_by(self.audit.c.audit_id)
        with self.store.engine.connect() as conn:
            rows = conn.execute(stmt).all()
        if limit is not None:
            rows = rows[::-1]
        frame = pd.DataFrame(rows, columns=[c.name for c in self.audit.columns])
        if len(frame):
            frame["at"] = pd.to_datetime(frame["at"], unit="us", utc=True)
            frame["detail"] = [json.loads(d) if d else {} for d in frame["detail"]]
        return frame

    # -- privacy budget ledger -----------------------------------------------------------------
    def spent(self, dataset: str, conn: Connection | None = None) -> tuple[float, float]:
        """``(epsilon, delta)`` spent so far on ``dataset`` (basic composition: sums)."""
        stmt = select(
            func.coalesce(func.sum(self.ledger.c.epsilon), 0.0),
            func.coalesce(func.sum(self.ledger.c.delta), 0.0),
        ).where(self.ledger.c.dataset == dataset)
        if conn is not None:
            eps, delta = conn.execute(stmt).one()
            return float(eps), float(delta)
        with self.store.engine.connect() as c:
            eps, delta = c.execute(stmt).one()
        return float(eps), float(delta)

    def charge(
        self,
        dataset: str,
        epsilon: float,
        delta: float,
        *,
        query: str,
        actor: str,
        limit_epsilon: float,
        limit_delta: float,
    ) -> tuple[float, float] | None:
        """Record a release if it fits the dataset's budget, atomically.

        Returns the ``(epsilon, delta)`` spent after this release, or None (nothing recorded)
        when the release would exceed ``limit_epsilon`` or ``limit_delta``.
        """
        with self.store.core.connect(write=True) as conn, conn.begin():
            eps, dl = self.spent(dataset, conn)
            tol = 1e-12
            if eps + epsilon > limit_epsilon + tol or dl + delta > limit_delta + tol:
                return None
            conn.execute(
                insert(self.ledger).values(
                    dataset=dataset,
                    at=_now_us(),
                    epsilon=float(epsilon),
                    delta=float(delta),
                    query=query,
                    actor=actor,
                )
            )
        return eps + epsilon, dl + delta
