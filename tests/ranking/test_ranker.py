"""The ranking path end to end: consent, the feedback loop, agreement with the model, MMR,
explanations, cold start and similar items."""

from __future__ import annotations

from typing import Any

import numpy as np

from campaignrec.privacy.consent import consent_key
from campaignrec.ranking import RankingConfig, RankingRequest, recommend_frame, record_event
from campaignrec.store.online import MemoryOnlineState
from tests.ranking.conftest import Shop, make_ranker, top, warm_user


class SpyState(MemoryOnlineState):
    """Records every key read or written."""

    def __init__(self) -> None:
        super().__init__()
        self.touched: list[str] = []

    def recent(self, user_id: str, n: int | None = None) -> list[str]:
        self.touched.append(f"recent:{user_id}")
        return super().recent(user_id, n)

    def hgetall(self, key: str) -> dict[str, float]:
        self.touched.append(key)
        return super().hgetall(key)

    def get(self, key: str) -> Any:
        self.touched.append(key)
        return super().get(key)


class NoHistoryModel:
    """Wraps a model; reading any user's history or personal scores fails the test."""

    def __init__(self, model: Any) -> None:
        self._model = model

    def __getattr__(self, name: str) -> Any:
        if name in ("score_matrix", "score_history", "recommend"):
            raise AssertionError(f"history read through {name}")
        return getattr(self._model, name)


def test_known_user_without_fresh_events_gets_the_models_list(shop: Shop) -> None:
    ranker = make_ranker(shop, items=shop.items.assign(in_stock=True))  # no rule active
    for n in range(5):
        user = warm_user(shop, n)
        ids, _ = shop.model.recommend([user], k=10, exclude_seen=True)
        got = [i.item_id for i in ranker.recommend(RankingRequest(user, k=10)).items]
        assert got == list(ids[0])


def test_recommend_frame_is_the_rankers_list(shop: Shop) -> None:
    ranker = make_ranker(shop)
    users = [warm_user(shop, n) for n in range(3)] + ["nobody"]
    frame = recommend_frame(ranker, users, 5)
    assert list(frame.columns) == ["user_id", "rank", "item_id", "score", "reason"]
    for user in users:
        rows = frame[frame["user_id"] == user]
        want = [i.item_id for i in ranker.recommend(RankingRequest(user, k=5)).items]
        assert rows["item_id"].tolist() == want and rows["rank"].tolist() == [1, 2, 3, 4, 5]


def test_feedback_loop_new_category_appears(shop: Shop) -> None:
    online = MemoryOnlineState()
    ranker = make_ranker(shop, online=online)
    user = warm_user(shop, 2)
    cats = shop.items.set_index("item_id")["category"].map(top)
    seen = shop.inter.binary[shop.inter.users.index([user])[0]].indices
    touched = set(cats[shop.inter.items.ids[seen]])
    new_cat = next(c for c in cats.value_counts().index if c not in touched)
    before = [cats[i.item_id] for i in ranker.recommend(RankingRequest(user, k=10)).items]
    assert new_cat not in before
    views = cats[cats == new_cat].index[:4]
    for t, item in enumerate(views):
        record_event(
            online,
            {
                "user_id": user,
                "item_id": item,
                "event_type": "view",
                "timestamp": 1.7e9 + t,
                "session_id": "s1",
            },
        )
    after = ranker.recommend(RankingRequest(user, k=10))
    got = [cats[i.item_id] for i in after.items]
    assert new_cat in got
    assert not set(views) & {i.item_id for i in after.items}  # viewed items are not re-served


def test_consent_withheld_reads_no_history(shop: Shop) -> None:
    user = warm_user(shop)
    online = SpyState()
    record_event(
        online, {"user_id": user, "item_id": "i0001", "event_type": "view", "timestamp": 1.7e9}
    )
    online.touched.clear()
    ranker = make_ranker(
        shop,
        online=online,
        user_attributes=lambda uid: {"consent_personalisation": False},
    )
    ranker.model = NoHistoryModel(shop.model)
    got = ranker.recommend(RankingRequest(user, k=10, context={"session_id": "s"}))
    assert not got.personalised and len(got.items) == 10
    assert {i.reason for i in got.items} == {"non_personalised"}
    # the only key of theirs read is their live consent (a consent event), never their history
    assert {key for key in online.touched if user in key} <= {consent_key(user)}


def test_mmr_more_weight_more_categories(shop: Shop) -> None:
    ranker = make_ranker(shop)
    cats = shop.items.set_index("item_id")["category"].map(top)
    distinct = []
    for w in (0.0, 0.5, 0.9):
        lists = [
            ranker.recommend(RankingRequest(warm_user(shop, n), k=10, diversity=w))
            for n in range(10)
        ]
        distinct.append(np.mean([len({cats[i.item_id] for i in r.items}) for r in lists]))
    assert distinct[0] < distinct[1] <= distinct[2]


def test_explanations_name_titles_in_both_languages(shop: Shop) -> None:
    ranker = make_ranker(shop)
    titles = shop.items.set_index("item_id")["title"]
    user = warm_user(shop)
    en = ranker.recommend(RankingRequest(user, k=5, lang="en")).items
    zh = ranker.recommend(RankingRequest(user, k=5, lang="zh-CN")).items
    viewed = [i for i in en if i.reason == "because_viewed" and i.evidence]
    assert viewed
    for item in viewed:
        assert item.text == f"Because you viewed \u201c{titles[item.evidence[0]]}\u201d"
    for item in zh:
        if item.reason == "because_viewed" and item.evidence:
            assert item.text == f"因为您浏览了「{titles[item.evidence[0]]}」"
    sim = ranker.similar("i0000", k=3, lang="zh").items
    assert sim and all(f"「{titles['i0000']}」" in s.text for s in sim)


def test_cold_shopper_gets_segment_popularity_and_context(shop: Shop) -> None:
    ranker = make_ranker(shop, users=shop.users)
    region = str(shop.users["region"].dropna().iloc[0])
    got = ranker.recommend(RankingRequest("new-shopper", k=5, context={"region": region}))
    assert len(got.items) == 5 and {i.reason for i in got.items} == {"segment_popular"}
    assert got.items[0].text == "Popular with shoppers in your segment"
    viewing = ranker.recommend(RankingRequest("new-shopper", k=5, context={"item_id": "i0000"}))
    assert viewing.items[0].reason == "similar" and "i0000" not in [
        i.item_id for i in viewing.items
    ]


def test_similar_unknown_item_is_popular_and_new_item_gets_content_neighbours(shop: Shop) -> None:
    ranker = make_ranker(shop)
    unknown = ranker.similar("no-such-item", k=4)
    assert len(unknown.items) == 4 and {i.reason for i in unknown.items} == {"popular"}
    new = shop.items.iloc[[0]].assign(item_id="brand-new")
    items = __import__("pandas").concat([shop.items, new], ignore_index=True)
    got = make_ranker(shop, items=items).similar("brand-new", k=3)
    assert got.items and got.items[0].reason == "similar"
    assert got.items[0].item_id == "i0000"


def test_config_rejects_bad_diversity() -> None:
    import pytest

    from campaignrec.errors import ConfigError

    with pytest.raises(ConfigError, match="diversity"):
        RankingConfig(diversity=2.0)
