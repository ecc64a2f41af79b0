"""The ranking path's reads of one shopper: one online round trip for the history, and the
optional per-worker cache of the stored attributes."""

from __future__ import annotations

from typing import Any

import pandas as pd

from campaignrec.ranking import RankingRequest, record_event
from campaignrec.ranking.attributes import AttributeLookup
from campaignrec.ranking.history import PrefetchedUser, fresh_history
from campaignrec.store.online import MemoryOnlineState
from campaignrec.store.sql import SQLStore
from tests.ranking.conftest import Shop, make_ranker, warm_user


class CountingState(MemoryOnlineState):
    """Counts the calls that would each be a round trip on Redis."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def read_user(self, user_id: str, hash_key: str, keys: list[str]) -> Any:
        self.calls.append("read_user")
        base = super()
        return base.hgetall(hash_key), base.recent(user_id), [base.get(k) for k in keys]

    def hgetall(self, key: str) -> dict[str, float]:
        self.calls.append("hgetall")
        return super().hgetall(key)

    def recent(self, user_id: str, n: int | None = None) -> list[str]:
        self.calls.append("recent")
        return super().recent(user_id, n)

    def get(self, key: str) -> Any:
        self.calls.append(f"get:{key}")
        return super().get(key)


def test_prefetched_history_equals_the_direct_reads() -> None:
    online = MemoryOnlineState()
    for item, kind in (("i1", "view"), ("i2", "purchase"), ("i1", "add_to_cart")):
        record_event(
            online,
            {
                "user_id": "u1",
                "item_id": item,
                "event_type": kind,
                "timestamp": 1.7e9,
                "session_id": "s1",
            },
        )
    direct = fresh_history("u1", online)
    for sid in (None, "s1"):
        assert fresh_history("u1", PrefetchedUser(online, "u1", sid), session_id=sid) == direct
    assert direct.session and direct.weights and direct.purchased == frozenset({"i2"})


def test_one_request_reads_the_history_in_one_round_trip(shop: Shop) -> None:
    user = warm_user(shop)
    online = CountingState()
    record_event(
        online,
        {
            "user_id": user,
            "item_id": "i0001",
            "event_type": "view",
            "timestamp": 1.7e9,
            "session_id": "s",
        },
    )
    ranker = make_ranker(shop, online=online)
    online.calls.clear()
    got = ranker.recommend(RankingRequest(user, k=5, context={"session_id": "s"}))
    assert got.personalised and len(got.items) == 5
    user_reads = [c for c in online.calls if c in ("read_user", "hgetall", "recent")]
    assert user_reads == ["read_user"]  # fresh events, recent items and the session together
    assert [c for c in online.calls if c.startswith("get:") and user in c] == [
        f"get:user:{user}:consent"
    ]


def test_the_attribute_cache_keeps_rows_for_its_time_only(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = SQLStore(f"sqlite:///{tmp_path / 's.db'}")
    store.migrate()
    store.upsert_users(pd.DataFrame({"user_id": ["u1"], "region": ["north"]}))
    now = [0.0]
    cached = AttributeLookup(store, cache_seconds=10, clock=lambda: now[0])
    plain = AttributeLookup(store)
    assert cached("u1")["region"] == plain("u1")["region"] == "north"  # type: ignore[index]
    store.upsert_users(pd.DataFrame({"user_id": ["u1"], "region": ["south"]}))
    assert plain("u1")["region"] == "south"  # type: ignore[index]
    assert cached("u1")["region"] == "north"  # type: ignore[index]
    now[0] = 10.5
    assert cached("u1")["region"] == "south"  # type: ignore[index]
    store.upsert_users(pd.DataFrame({"user_id": ["u1"], "region": ["west"]}))
    cached.evict("u1")
    assert cached("u1")["region"] == "west"  # type: ignore[index]
    assert cached("ghost") is None
    store.close()
