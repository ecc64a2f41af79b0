"""What callers need of a store, as Protocols: type against the smallest one that fits.

:class:`campaignrec.store.sql.SQLStore` provides all of them; tests and benchmarks pass smaller
stand-ins (a null store that keeps nothing, an in-memory reader).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import pandas as pd


class TableReader(Protocol):
    """Reads of whole tables, chunks and row counts."""

    def read_table(self, name: str, columns: Sequence[str] | None = None) -> pd.DataFrame: ...
    def iter_table(
        self, name: str, chunk_rows: int = 500_000, columns: Sequence[str] | None = None
    ) -> Iterator[pd.DataFrame]: ...
    def count(self, name: str) -> int: ...


class ImportStore(Protocol):
    """What the importer needs of a store (``campaignrec.store.sql.SQLStore`` provides it)."""

    def upsert_users(self, df: pd.DataFrame) -> int: ...
    def upsert_items(self, df: pd.DataFrame) -> int: ...
    def upsert_campaigns(self, df: pd.DataFrame) -> int: ...
    def insert_events(self, df: pd.DataFrame) -> int: ...
    def insert_quarantine(self, df: pd.DataFrame) -> int: ...
    def read_table(self, name: str, columns: list[str] | None = None) -> pd.DataFrame: ...
    def record_import(
        self, source: str, entity: str, fingerprint: str, summary: dict[str, Any]
    ) -> Any: ...


class ModelRegistry(Protocol):
    """Versions of named models, one active per name."""

    def register_model(
        self, name: str, version: str, path: str | Path, meta: Mapping[str, Any]
    ) -> None: ...
    def activate_model(self, name: str, version: str) -> None: ...
    def active_model(self, name: str) -> dict[str, Any] | None: ...
    def list_models(self) -> pd.DataFrame: ...


class TrainingStore(TableReader, ModelRegistry, Protocol):
    """What training needs: the snapshot's tables and the registry to record the model in."""


class ErasureStore(Protocol):
    """Erasure of one user's rows, and the file scrubbed afterwards."""

    def delete_user(self, user_id: str) -> dict[str, int]: ...
    def scrub(self, *, vacuum: bool = True) -> dict[str, Any]: ...
    def find_user(self, user_id: str) -> dict[str, int]: ...
