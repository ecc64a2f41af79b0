"""Contract suite of the online state, run on memory and on Redis (see conftest.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaignrec.errors import ConfigError, StoreError, ValidationError
from campaignrec.store.online import (
    MemoryOnlineState,
    OnlineState,
    RedisOnlineState,
    open_online_state,
    user_key,
)

OnlineFactory = Callable[[], OnlineState]
WORKER = Path(__file__).with_name("online_worker.py")
REDIS_ENV = "CAMPAIGNREC_TEST_REDIS_URL"


def test_implements_the_protocol(online: OnlineState) -> None:
    assert isinstance(online, OnlineState)


def test_recent_items_newest_first_and_trimmed(online: OnlineState) -> None:
    for item in ["a", "b", "c", "d", "e"]:
        online.push_recent("u1", item, max_len=3)
    assert online.recent("u1") == ["e", "d", "c"]
    assert online.recent("u1", n=2) == ["e", "d"]
    assert online.recent("u1", n=0) == []
    assert online.recent("nobody") == []
    with pytest.raises(ValidationError, match="max_len"):
        online.push_recent("u1", "x", max_len=0)


def test_incr_capped_stops_at_the_cap(online: OnlineState) -> None:
    key = user_key("u1", "cap", "c1")
    assert [online.incr_capped(key, cap=3, ttl_seconds=3600) for _ in range(5)] == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert online.get_count(key) == 3
    ttl = online.ttl(key)
    assert ttl is not None and 3500 < ttl <= 3600
    assert online.get_count("never-touched") == 0
    assert online.ttl("never-touched") is None
    assert not online.incr_capped("zero-cap", cap=0, ttl_seconds=10)


def test_capped_counter_resets_after_its_window(online: OnlineState) -> None:
    key = user_key("u1", "cap", "short")
    assert online.incr_capped(key, cap=1, ttl_seconds=0.2)
    assert not online.incr_capped(key, cap=1, ttl_seconds=0.2)
    deadline = time.monotonic() + 10
    while not online.incr_capped(key, cap=1, ttl_seconds=0.2):
        assert time.monotonic() < deadline, "the counter never expired"
        time.sleep(0.05)
    assert online.get_count(key) == 1


def test_memory_counter_expiry_follows_its_clock() -> None:
    now = [1000.0]
    state = MemoryOnlineState(clock=lambda: now[0])
    assert state.incr_capped("k", cap=2, ttl_seconds=60)
    assert state.incr_capped("k", cap=2, ttl_seconds=60)
    now[0] += 59.9
    assert not state.incr_capped("k", cap=2, ttl_seconds=60)  # still inside the first window
    now[0] += 0.2
    assert state.get_count("k") == 0
    assert state.incr_capped("k", cap=2, ttl_seconds=60)


def test_budget_never_goes_below_zero(online: OnlineState) -> None:
    assert online.get_budget("b") is None
    assert not online.try_consume("b", 1)  # an unset budget has nothing to take
    online.set_budget("b", 10)
    assert online.try_consume("b", 3)
    assert not online.try_consume("b", 8)
    assert online.get_budget("b") == 7
    assert online.try_consume("b", 7)
    assert not online.try_consume("b", 1)
    assert online.get_budget("b") == 0
    online.set_budget("b", 2.5)
    assert online.try_consume("b", 0.5)
    assert online.get_budget("b") == 2.0
    with pytest.raises(ValidationError, match="amount"):
        online.try_consume("b", 0)
    with pytest.raises(ValidationError, match="amount"):
        online.set_budget("b", -1)


def test_hash_statistics_accumulate(online: OnlineState) -> None:
    assert online.hgetall("arm-stats") == {}
    assert online.hincrbyfloat("arm-stats", "c1:pulls", 1) == 1.0
    assert online.hincrbyfloat("arm-stats", "c1:pulls", 1) == 2.0
    assert online.hincrbyfloat("arm-stats", "c1:reward", 0.25) == 0.25
    assert online.hgetall("arm-stats") == {"c1:pulls": 2.0, "c1:reward": 0.25}


def test_json_values_round_trip_and_expire(online: OnlineState) -> None:
    value = {"weights": [0.5, 1.5], "name": "策略 A", "on": True, "none": None}
    online.set("policy", value)
    assert online.get("policy") == value
    assert online.ttl("policy") is None
    online.set("short", [1], ttl_seconds=100)
    ttl = online.ttl("short")
    assert ttl is not None and 0 < ttl <= 100
    assert online.delete("policy")
    assert not online.delete("policy")
    assert online.get("policy") is None
    with pytest.raises(ValidationError, match="value"):
        online.set("bad", {1, 2})


def test_state_is_shared_between_clients(online_factory: OnlineFactory) -> None:
    first, second = online_factory(), online_factory()
    first.set_budget("shared", 1)
    first.push_recent("u9", "i1")
    assert second.try_consume("shared", 1)
    assert not first.try_consume("shared", 1)
    assert second.recent("u9") == ["i1"]


def test_clear_user_erases_only_that_user(online: OnlineState) -> None:
    for user in ["a", "a:b", "a*", "b"]:
        online.push_recent(user, "i1")
        online.incr_capped(user_key(user, "cap", "c1"), cap=5, ttl_seconds=60)
        online.set(user_key(user, "profile"), {"segment": "vip"})
    assert online.clear_user("a") == 3
    assert online.recent("a") == []
    assert online.get_count(user_key("a", "cap", "c1")) == 0
    assert online.get(user_key("a", "profile")) is None
    for other in ["a:b", "a*", "b"]:  # a look-alike or glob-like id keeps its data
        assert online.recent(other) == ["i1"]
        assert online.get_count(user_key(other, "cap", "c1")) == 1
    assert online.clear_user("a") == 0


def hammer(
    state: OnlineState, n_threads: int, attempts: int, fn: Callable[[OnlineState], bool]
) -> int:
    """Run ``fn`` ``attempts`` times on each of ``n_threads`` threads; count the True results."""
    successes = [0] * n_threads
    start = threading.Barrier(n_threads)

    def work(i: int) -> None:
        start.wait()
        successes[i] = sum(fn(state) for _ in range(attempts))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(successes)


def test_threads_never_overspend_a_budget(online: OnlineState) -> None:
    online.set_budget("coupon:c1", 300)
    taken = hammer(online, 6, 80, lambda s: s.try_consume("coupon:c1", 1))
    assert taken == 300
    assert online.get_budget("coupon:c1") == 0


def test_threads_never_exceed_a_frequency_cap(online: OnlineState) -> None:
    key = user_key("u1", "cap", "c1")
    allowed = hammer(online, 6, 50, lambda s: s.incr_capped(key, cap=123, ttl_seconds=600))
    assert allowed == 123
    assert online.get_count(key) == 123


@settings(max_examples=50, deadline=None)
@given(
    budget=st.integers(0, 50),
    amounts=st.lists(st.integers(1, 10), max_size=30),
)
def test_consumed_amounts_add_up(budget: int, amounts: list[int]) -> None:
    state = MemoryOnlineState()
    state.set_budget("b", budget)
    taken = [a for a in amounts if state.try_consume("b", a)]
    assert sum(taken) <= budget
    assert state.get_budget("b") == budget - sum(taken)
    # every refused amount really did not fit at the time
    remaining = budget
    for a in amounts:
        if a <= remaining:
            remaining -= a
    assert remaining == budget - sum(taken)


def test_open_online_state_by_url() -> None:
    assert isinstance(open_online_state("memory://"), MemoryOnlineState)
    with pytest.raises(ConfigError, match="online_url"):
        open_online_state("memcached://localhost")


def test_unreachable_redis_is_a_store_error() -> None:
    with pytest.raises(StoreError, match="CAMPAIGNREC_ONLINE_URL"):
        open_online_state("redis://127.0.0.1:1/0?socket_connect_timeout=2")


@pytest.mark.redis
def test_two_processes_share_budget_and_cap_exactly() -> None:
    url = os.environ.get(REDIS_ENV, "").strip()
    if not url:
        pytest.skip(f"{REDIS_ENV} is not set; set it to run this test against a real server")
    state = open_online_state(url, prefix=f"test-{time.time_ns()}:")
    assert isinstance(state, RedisOnlineState)
    try:
        state.set_budget("budget", 500)
        args = [sys.executable, str(WORKER), url, state.prefix, "4", "100"]
        procs = [subprocess.Popen(args, stdout=subprocess.PIPE, text=True) for _ in range(2)]
        local = hammer(state, 2, 100, lambda s: s.try_consume("budget", 1))
        local_caps = hammer(state, 2, 100, lambda s: s.incr_capped("cap", 333, 600))
        results = []
        for proc in procs:
            out, _ = proc.communicate(timeout=120)
            assert proc.returncode == 0
            results.append(json.loads(out))
        # 2 processes x 4 threads x 100 + 2 local threads x 100 = 1000 attempts each
        assert local + sum(r["consumed"] for r in results) == 500
        assert state.get_budget("budget") == 0
        assert local_caps + sum(r["capped"] for r in results) == 333
        assert state.get_count("cap") == 333
    finally:
        state.clear_prefix()
        state.close()


def test_read_user_returns_hash_recent_and_values_in_one_call(online: OnlineState) -> None:
    online.hincrbyfloat("user:u1:fresh", "view:i1", 2.0)
    online.push_recent("u1", "i1")
    online.push_recent("u1", "i2")
    online.set("user:u1:last_session", "s9")
    fresh, recent, values = online.read_user(
        "u1", "user:u1:fresh", ["user:u1:last_session", "user:u1:missing"]
    )
    assert fresh == {"view:i1": 2.0}
    assert recent == ["i2", "i1"] == online.recent("u1")
    assert values == ["s9", None]
    assert online.read_user("nobody", "user:nobody:fresh", []) == ({}, [], [])
