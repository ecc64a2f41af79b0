"""Campaign items as candidates (with the coupon sentence) and a Ranker built from a store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from campaignrec.campaigns.catalog import Catalog
from campaignrec.config import load_settings
from campaignrec.data.schema import Campaign
from campaignrec.pipeline import train
from campaignrec.ranking import Ranker, RankingConfig, RankingRequest, recommend_frame
from campaignrec.store.online import MemoryOnlineState
from campaignrec.store.sql import SQLStore
from tests.ranking.conftest import Shop, make_ranker, warm_user

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def test_eligible_coupon_items_come_with_the_expiry_sentence(shop: Shop) -> None:
    user = warm_user(shop)
    plain = [i.item_id for i in make_ranker(shop).recommend(RankingRequest(user, k=10)).items]
    target = next(
        i for i in shop.items["item_id"] if i not in plain and shop.inter.items.index([i])[0] >= 0
    )
    coupon = Campaign(
        campaign_id="c1",
        name="Winter coupon",
        type="coupon",
        item_ids=[target],
        end_time=NOW + timedelta(days=1),
        discount_type="amount",
        discount_value=5.0,
    )
    ranker = make_ranker(
        shop,
        items=shop.items.assign(in_stock=True),
        campaigns=Catalog((coupon,)),
        config=RankingConfig(campaign_weight=5.0),
        clock=NOW.timestamp,
    )
    en = ranker.recommend(RankingRequest(user, k=10)).items
    assert en[0].item_id == target and en[0].reason == "campaign"
    assert en[0].evidence == ("c1",)
    title = shop.items.set_index("item_id").loc[target, "title"]
    assert en[0].text == f"Your coupon for \u201c{title}\u201d expires tomorrow"
    zh = ranker.recommend(RankingRequest(user, k=10, lang="zh")).items
    assert zh[0].text == f"您的「{title}」优惠券明天到期"


def test_from_store_serves_the_active_version(shop: Shop, tmp_path: Path) -> None:
    store = SQLStore(f"sqlite:///{tmp_path / 'shop.db'}")
    settings = load_settings(tmp_path)
    try:
        store.upsert_items(shop.items)
        result = train(store, settings, "item_knn", interactions=shop.inter)
        ranker = Ranker.from_store(store, settings, MemoryOnlineState())
        assert ranker.model_version == result.version and ranker.model.name == "item_knn"
        user = warm_user(shop)
        ranked = ranker.recommend(RankingRequest(user, k=5))
        assert ranked.model_version == result.version and len(ranked.items) == 5
        frame = recommend_frame(ranker, [user], 5)
        assert frame["item_id"].tolist() == [i.item_id for i in ranked.items]
    finally:
        store.close()
