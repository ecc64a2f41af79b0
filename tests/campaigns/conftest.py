"""Fixtures of the campaign tests: online states (memory, and Redis when its URL is set)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from campaignrec.store.online import open_online_state, random_prefix

REDIS_URL = os.environ.get("CAMPAIGNREC_TEST_REDIS_URL")


def new_state() -> Any:
    """A fresh in-process online state."""
    return open_online_state("memory://")


@pytest.fixture
def state() -> Any:
    return new_state()


@pytest.fixture
def redis_state() -> Iterator[Any]:
    """A Redis online state under a fresh key prefix (skipped without CAMPAIGNREC_TEST_REDIS_URL)."""
    if not REDIS_URL:
        pytest.skip("set CAMPAIGNREC_TEST_REDIS_URL to run the Redis variant")
    st = open_online_state(REDIS_URL, prefix=random_prefix())
    try:
        yield st
    finally:
        st.clear_prefix()
        st.close()
