"""The candidate-first path of large catalogues serves exactly what the dense path serves."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from campaignrec.campaigns.catalog import Catalog
from campaignrec.data.schema import Campaign
from campaignrec.ranking import RankingConfig, RankingRequest
from campaignrec.ranking import ranker as ranker_mod
from campaignrec.ranking.history import record_event
from campaignrec.store.online import MemoryOnlineState
from tests.ranking.conftest import Shop, make_ranker


def _lists(ranker: Any, requests: list[RankingRequest]) -> list[Any]:
    return [
        [(it.item_id, it.score, it.reason, it.evidence) for it in ranker.recommend(r).items]
        for r in requests
    ]


@pytest.mark.parametrize(
    "config",
    [
        RankingConfig(),
        RankingConfig(max_per_brand=1, max_per_category=2, n_candidates=20),
        RankingConfig(trending_weight=0.4, diversity=0.3, n_candidates=15),
    ],
)
def test_candidate_first_matches_dense_path(
    shop: Shop, config: RankingConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ranker_mod, "LARGE_CATALOGUE", 1)  # the large-catalogue path here
    online = MemoryOnlineState()
    rng = np.random.default_rng(7)
    items = shop.items.copy()
    items.loc[rng.random(len(items)) < 0.1, "in_stock"] = False
    users = [str(u) for u in shop.users["user_id"]]
    item_ids = [str(i) for i in items["item_id"]]
    for n in range(120):  # fresh views, purchases and sessions for some shoppers
        record_event(
            online,
            {
                "user_id": users[int(rng.integers(len(users)))],
                "item_id": item_ids[int(rng.integers(len(item_ids)))],
                "event_type": ["view", "purchase", "add_to_cart"][n % 3],
                "timestamp": "2026-12-04T10:00:00Z",
                "session_id": "s1",
            },
        )
    coupon = Campaign(
        campaign_id="c1",
        name="Winter coupon",
        type="coupon",
        item_ids=item_ids[10:40],
        discount_type="amount",
        discount_value=5.0,
    )
    campaigns = Catalog((coupon,))
    fast = make_ranker(shop, items=items, config=config, online=online, users=shop.users)
    fast.campaigns = campaigns
    slow = make_ranker(shop, items=items, config=config, online=online, users=shop.users)
    slow.campaigns = campaigns
    slow.candidate_first = False
    cats = sorted({str(c).split("/")[0] for c in items["category"].dropna()})
    brands = sorted({str(b) for b in items["brand"].dropna()})
    requests = []
    for n in range(60):
        ctx = {"session_id": "s1"} if n % 2 else {}
        if n % 5 == 0:
            ctx["item_id"] = item_ids[int(rng.integers(len(item_ids)))]
        requests.append(
            RankingRequest(
                user_id=users[int(rng.integers(len(users)))] if n % 7 else f"new-{n}",
                k=int(rng.integers(1, 15)),
                context=ctx,
                categories=(cats[n % len(cats)],) if n % 4 == 1 else (),
                brands=tuple(brands[:3]) if n % 6 == 2 else (),
                price_max=float(items["price"].median()) if n % 3 == 2 else None,
                exclude=tuple(item_ids[:5]) if n % 8 == 3 else (),
            )
        )
    got, want = _lists(fast, requests), _lists(slow, requests)
    assert got == want
    assert sum(len(x) for x in got) > 100  # the requests do serve lists
