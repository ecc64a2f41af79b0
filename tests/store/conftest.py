"""Fixtures shared by the store contract suites.

Every SQL test runs on SQLite and on PostgreSQL, every online-state test on memory and on Redis.
The server variants run when ``CAMPAIGNREC_TEST_POSTGRES_URL`` / ``CAMPAIGNREC_TEST_REDIS_URL`` are
set and are skipped (with the reason) otherwise; a set variable with an unreachable server fails
the test. Each test gets its own table prefix / key prefix and cleans up after itself.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from campaignrec.store.online import MemoryOnlineState, OnlineState, RedisOnlineState, random_prefix
from campaignrec.store.sql import SQLStore

POSTGRES_ENV = "CAMPAIGNREC_TEST_POSTGRES_URL"
REDIS_ENV = "CAMPAIGNREC_TEST_REDIS_URL"


def server_url(env: str) -> str:
    """The URL in ``env``, or skip the test naming the variable to set."""
    url = os.environ.get(env, "").strip()
    if not url:
        pytest.skip(f"{env} is not set; set it to run this test against a real server")
    return url


StoreFactory = Callable[[], SQLStore]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Opens stores on one database (one SQLite file, or one table prefix on PostgreSQL)."""
    if request.param == "sqlite":
        url, prefix = f"sqlite:///{tmp_path / 'store.db'}", ""
    else:
        url, prefix = server_url(POSTGRES_ENV), f"t{uuid.uuid4().hex[:12]}_"
    opened: list[SQLStore] = []

    def factory() -> SQLStore:
        store = SQLStore(url, table_prefix=prefix)
        opened.append(store)
        return store

    yield factory
    if opened:
        opened[0].drop_tables()
    for store in opened:
        store.close()


@pytest.fixture
def store(store_factory: StoreFactory) -> SQLStore:
    """A fresh, migrated store on each backend."""
    return store_factory()


OnlineFactory = Callable[[], OnlineState]


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def online_factory(request: pytest.FixtureRequest) -> Iterator[OnlineFactory]:
    """Opens online states sharing one namespace (the same object for memory)."""
    opened: list[OnlineState] = []
    if request.param == "memory":
        shared = MemoryOnlineState()

        def factory() -> OnlineState:
            return shared

        yield factory
        return
    url, prefix = server_url(REDIS_ENV), random_prefix()

    def redis_factory() -> OnlineState:
        state = RedisOnlineState(url, prefix=prefix)
        opened.append(state)
        return state

    yield redis_factory
    if opened:
        assert isinstance(opened[0], RedisOnlineState)
        opened[0].clear_prefix()
    for state in opened:
        state.close()


@pytest.fixture
def online(online_factory: OnlineFactory) -> OnlineState:
    """A fresh online state on each backend."""
    return online_factory()
