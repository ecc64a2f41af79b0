"""Fixtures of the ingestion tests: a fresh SQL store on SQLite (and PostgreSQL when
``CAMPAIGNREC_TEST_POSTGRES_URL`` is set), and a writer of small CSV files."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from campaignrec.store.sql import SQLStore

POSTGRES_ENV = "CAMPAIGNREC_TEST_POSTGRES_URL"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def ingest_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SQLStore]:
    """A migrated store; the PostgreSQL variant uses its own table prefix and drops it after."""
    if request.param == "sqlite":
        store = SQLStore(f"sqlite:///{tmp_path / 'ingest.db'}")
    else:
        url = os.environ.get(POSTGRES_ENV, "").strip()
        if not url:
            pytest.skip(f"{POSTGRES_ENV} is not set")
        store = SQLStore(url, table_prefix=f"ing{uuid.uuid4().hex[:10]}_")
    yield store
    if request.param != "sqlite":
        store.drop_tables()
    store.close()


@pytest.fixture
def write_file(tmp_path: Path) -> Callable[[str, str], Path]:
    """write_file(name, text) -> path of a UTF-8 file under tmp_path."""

    def write(name: str, text: str) -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write
