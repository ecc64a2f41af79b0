"""The model registry of the SQL store: versions of named models, one active per name."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select, update

from campaignrec.errors import UnknownIdError
from campaignrec.store.codecs import first_record, frame, json_default, now_us
from campaignrec.store.engine import StoreCore
from campaignrec.store.reads import TableReads


class ModelVersions:
    """``register_model``, ``activate_model``, ``active_model`` and ``list_models``."""

    def __init__(self, core: StoreCore, reads: TableReads) -> None:
        self.core = core
        self.reads = reads

    def register_model(
        self, name: str, version: str, path: str | Path, meta: Mapping[str, Any]
    ) -> None:
        """Register (or re-register, updating path and meta) a model version; not activated."""
        table = self.core.tables.models
        payload = json.dumps(dict(meta), ensure_ascii=False, default=json_default)
        with self.core.connect(write=True) as conn, conn.begin():
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
                        created_at=now_us(),
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
        table = self.core.tables.models
        with self.core.connect(write=True) as conn, conn.begin():
            lock = select(table.c.version).where(table.c.name == name)
            if self.core.dialect == "postgresql":
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
                .values(active=True, activated_at=now_us())
            )

    def active_model(self, name: str) -> dict[str, Any] | None:
        """The active version of model ``name`` as a dict (name, version, path, meta, ...)."""
        table = self.core.tables.models
        stmt = select(table).where(table.c.name == name, table.c.active.is_(True))
        with self.core.connect(write=False) as conn:
            rows = conn.execute(stmt).all()
        if not rows:
            return None
        return first_record(frame(table, [c.name for c in table.columns], rows))

    def list_models(self) -> pd.DataFrame:
        """Every registered model version (name, version, path, meta, active, times)."""
        return self.reads.read_table("models")
