"""record_event and the request-time history, on memory and on Redis (when its URL is set)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from campaignrec.ranking import fresh_history, history_for, record_event
from campaignrec.store.online import MemoryOnlineState, open_online_state, random_prefix
from tests.ranking.conftest import Shop, warm_user

REDIS_URL = os.environ.get("CAMPAIGNREC_TEST_REDIS_URL")


@pytest.fixture(params=["memory", "redis"])
def online(request: pytest.FixtureRequest) -> Iterator[Any]:
    if request.param == "memory":
        yield MemoryOnlineState()
        return
    if not REDIS_URL:
        pytest.skip("set CAMPAIGNREC_TEST_REDIS_URL to run the Redis variant")
    st = open_online_state(REDIS_URL, prefix=random_prefix())
    try:
        yield st
    finally:
        st.clear_prefix()
        st.close()


def _ev(item: str, kind: str = "view", t: float = 1.7e9, session: str | None = "s1") -> dict:
    return {
        "user_id": "u",
        "item_id": item,
        "event_type": kind,
        "timestamp": t,
        "session_id": session,
    }


def test_record_event_builds_recent_session_and_weights(online: Any) -> None:
    for n, (item, kind) in enumerate([("a", "view"), ("b", "view"), ("a", "purchase")]):
        record_event(online, _ev(item, kind, 1.7e9 + n))
    record_event(online, {"user_id": "u", "event_type": "search", "query": "x", "timestamp": 1.7e9})
    fresh = fresh_history("u", online)
    assert fresh.recent == ("a", "b", "a")
    assert fresh.session == ("a", "b", "a")
    assert fresh.weights == {"a": 6.0, "b": 1.0} and fresh.purchased == {"a"}
    assert fresh_history("u", online, event_weights={"view": 2.0}).weights == {"a": 2.0, "b": 2.0}
    assert online.clear_user("u") >= 3
    assert fresh_history("u", online).empty


def test_history_for_adds_fresh_events_to_the_snapshot_row(shop: Shop) -> None:
    online = MemoryOnlineState()
    user = warm_user(shop)
    before, seq0 = history_for(user, shop.model, online, None)
    new_item = next(
        i for i in shop.model.items_.ids if i not in set(shop.model.items_.ids[before.indices])
    )
    record_event(online, {**_ev(new_item), "user_id": user})
    after, seq = history_for(user, shop.model, online, None)
    assert after.nnz == before.nnz + 1 and len(seq0) == 0
    assert list(seq) == list(shop.model.items_.index([new_item]))
    cold, _ = history_for("stranger", shop.model, online, None)
    assert cold.nnz == 0 and cold.shape == (1, shop.model.n_items)
