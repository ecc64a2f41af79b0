"""Integration: caps and inventory hold under concurrent workers sharing Redis."""

from __future__ import annotations

import multiprocessing as mp
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import pytest

from campaignrec.campaigns.eligibility import DEFAULT_KEYS, CampaignServer
from campaignrec.data.schema import Campaign
from campaignrec.store.online import open_online_state

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
INVENTORY = 300
CAP = 2
N_USERS = 250
REQUESTS = 1000


def _catalog() -> list[Campaign]:
    return [
        Campaign(
            campaign_id="coupon",
            name="c",
            type="coupon",
            inventory=INVENTORY,
            frequency_cap=CAP,
            budget=10_000.0,
            cost_per_redemption=1.0,
            priority=1,
            exclusivity_group="spring",
        ),
        Campaign(campaign_id="rival", name="r", type="coupon", exclusivity_group="spring"),
    ]


def _worker(args: tuple[str, str, int]) -> list[tuple[str, list[str]]]:
    url, prefix, wid = args
    state = open_online_state(url, prefix=prefix)
    server = CampaignServer(_catalog(), state)

    def one(r: int) -> tuple[str, list[str]]:
        uid = f"u{(r * 7919 + wid * 104_729) % N_USERS}"
        return uid, server.serve(uid, {"user_id": uid}, 2, NOW).campaign_ids

    with ThreadPoolExecutor(max_workers=16) as pool:
        out = list(pool.map(one, range(REQUESTS)))
    state.close()
    return out


@pytest.mark.redis
def test_two_workers_never_exceed_inventory_or_cap(redis_state: Any) -> None:
    from tests.campaigns.conftest import REDIS_URL

    assert REDIS_URL is not None
    CampaignServer(_catalog(), redis_state)  # initialises the shared counters once
    ctx = mp.get_context("spawn")
    with ctx.Pool(2) as pool:
        results = pool.map(_worker, [(REDIS_URL, redis_state.prefix, w) for w in range(2)])
    served: Counter[str] = Counter()
    per_user: Counter[tuple[str, str]] = Counter()
    groups: dict[str, set[str]] = {}
    for rows in results:
        assert len(rows) == REQUESTS
        for uid, ids in rows:
            for cid in ids:
                served[cid] += 1
                per_user[(uid, cid)] += 1
                groups.setdefault(uid, set()).add(cid)
    assert served["coupon"] <= INVENTORY
    assert max(n for (_, cid), n in per_user.items() if cid == "coupon") <= CAP
    # exclusivity: no user ever saw both campaigns of the group
    assert all(len(s) == 1 for s in groups.values())
    left = redis_state.get_budget(DEFAULT_KEYS.inventory("coupon"))
    assert left == pytest.approx(INVENTORY - served["coupon"])
    # demand (2,000 requests over 250 users, cap 2) exceeds the inventory, so it is used up
    assert served["coupon"] == INVENTORY
