"""record_event and the request-time history, on memory and on Redis (when its URL is set)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from campaignrec.errors import ValidationError
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


def test_a_batch_gives_what_one_event_at_a_time_gives(online: Any) -> None:
    """record_events (one read and one pipeline per batch) equals record_event per event."""
    from campaignrec.ranking import record_events

    batch = [
        {**_ev("a", "view", 1.7e9), "user_id": "u"},
        {**_ev("b", "add_to_cart", 1.7e9 + 1), "user_id": "u"},
        {**_ev("a", "view", 1.7e9 + 2, session="s2"), "user_id": "u"},
        {**_ev("c", "remove_from_cart", 1.7e9 + 3), "user_id": "u"},
        {**_ev("c", "purchase", 1.7e9 + 4, session=None), "user_id": "v"},
        {"user_id": "v", "event_type": "search", "query": "tea", "timestamp": 1.7e9},
        {**_ev("a", "view", 1.7e9 + 5), "user_id": "v"},
    ]
    one_by_one = MemoryOnlineState()
    for event in batch:
        record_event(one_by_one, event)
    assert record_events(online, batch) == 5
    for user in ("u", "v"):
        assert fresh_history(user, online) == fresh_history(user, one_by_one), user
        for sid in ("s1", "s2"):
            got = fresh_history(user, online, session_id=sid).session
            assert got == fresh_history(user, one_by_one, session_id=sid).session
    assert fresh_history("u", online).session == ("a",)  # s2 was the last session
    with pytest.raises(ValidationError):
        record_events(online, [_ev("z"), {"item_id": "z", "event_type": "view"}])
    assert "z" not in fresh_history("u", online).recent  # nothing of a bad batch is written
