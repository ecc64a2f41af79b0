"""One test per business rule of the ranking path."""

from __future__ import annotations

from collections import Counter

import pytest

from campaignrec.errors import ValidationError
from campaignrec.ranking import RankingConfig, RankingRequest, record_event
from campaignrec.store.online import MemoryOnlineState
from tests.ranking.conftest import Shop, make_ranker, top, warm_user


def _ids(ranked) -> list[str]:  # type: ignore[no-untyped-def]
    return [it.item_id for it in ranked.items]


def test_out_of_stock_items_never_appear(shop: Shop) -> None:
    user = warm_user(shop)
    first = _ids(make_ranker(shop).recommend(RankingRequest(user, k=10)))
    items = shop.items.copy()
    items.loc[items["item_id"].isin(first[:5]), "in_stock"] = False
    got = _ids(make_ranker(shop, items=items).recommend(RankingRequest(user, k=10)))
    assert len(got) == 10 and not set(got) & set(first[:5])


def test_hidden_items_never_appear_and_the_column_is_optional(shop: Shop) -> None:
    user = warm_user(shop)
    first = _ids(make_ranker(shop).recommend(RankingRequest(user, k=10)))
    items = shop.items.assign(hidden=shop.items["item_id"].isin(first[:3]))
    got = _ids(make_ranker(shop, items=items).recommend(RankingRequest(user, k=10)))
    assert not set(got) & set(first[:3])
    sim = _ids(make_ranker(shop, items=items).similar(first[5], k=20))
    assert not set(sim) & set(first[:3])


def test_exclude(shop: Shop) -> None:
    user = warm_user(shop)
    ranker = make_ranker(shop)
    first = _ids(ranker.recommend(RankingRequest(user, k=10)))
    got = _ids(ranker.recommend(RankingRequest(user, k=10, exclude=tuple(first[:4]))))
    assert not set(got) & set(first[:4]) and got[:6] == first[4:]


def test_category_filter(shop: Shop) -> None:
    got = make_ranker(shop).recommend(RankingRequest(warm_user(shop), k=8, categories=("books",)))
    cats = shop.items.set_index("item_id")["category"]
    assert got.items and all(top(cats[i.item_id]) == "books" for i in got.items)


def test_brand_filter(shop: Shop) -> None:
    brand = str(shop.items["brand"].value_counts().index[0])
    got = make_ranker(shop).recommend(RankingRequest(warm_user(shop), k=5, brands=(brand,)))
    brands = shop.items.set_index("item_id")["brand"]
    assert got.items and all(brands[i.item_id] == brand for i in got.items)


def test_price_band_filter(shop: Shop) -> None:
    got = make_ranker(shop).recommend(
        RankingRequest(warm_user(shop), k=10, price_min=50.0, price_max=200.0)
    )
    prices = shop.items.set_index("item_id")["price"]
    assert got.items and all(50.0 <= prices[i.item_id] <= 200.0 for i in got.items)
    with pytest.raises(ValidationError, match="price_min"):
        make_ranker(shop).recommend(RankingRequest("x", price_min=10.0, price_max=1.0))


def test_brand_cap(shop: Shop) -> None:
    ranker = make_ranker(shop, config=RankingConfig(max_per_brand=1))
    got = ranker.recommend(RankingRequest(warm_user(shop), k=10))
    brands = shop.items.set_index("item_id")["brand"]
    assert len(got.items) == 10
    assert max(Counter(brands[i.item_id] for i in got.items).values()) == 1


def test_category_cap(shop: Shop) -> None:
    ranker = make_ranker(shop, config=RankingConfig(max_per_category=2))
    got = ranker.recommend(RankingRequest(warm_user(shop), k=10))
    cats = shop.items.set_index("item_id")["category"]
    assert len(got.items) == 10
    assert max(Counter(top(cats[i.item_id]) for i in got.items).values()) <= 2


def test_purchased_excluded_except_repeat_categories(shop: Shop) -> None:
    # a new shopper (no snapshot history) buys one food item and one electronics item
    cats = shop.items.set_index("item_id")["category"]
    food = str(cats[cats.map(top) == "food"].index[0])
    phone = str(cats[cats.map(top) == "electronics"].index[0])
    online = MemoryOnlineState()
    for item in (food, phone):
        record_event(
            online,
            {"user_id": "buyer", "item_id": item, "event_type": "purchase", "timestamp": 1.7e9},
        )
    config = RankingConfig(repeat_categories=("food",), n_candidates=150)
    got = [
        i.item_id
        for i in make_ranker(shop, config=config, online=online)
        .recommend(RankingRequest("buyer", k=150))
        .items
    ]
    assert food in got and phone not in got
    plain = [
        i.item_id
        for i in make_ranker(shop, online=online).recommend(RankingRequest("buyer", k=150)).items
    ]
    assert food not in plain and phone not in plain
