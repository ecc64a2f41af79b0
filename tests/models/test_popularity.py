from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from campaignrec.data.interactions import Interactions
from campaignrec.errors import ConfigError
from campaignrec.models.popularity import CategoryPopular, MostPopular, Random
from tests.models.contract import RecommenderContract


class TestMostPopularGlobal(RecommenderContract):
    known_answer = False
    known_answer_reason = "global popularity gives every shopper the same list"
    history_moves_scores = False

    def make_model(self) -> MostPopular:
        return MostPopular()


class TestMostPopularSegment(RecommenderContract):
    history_check = "shape"  # a history names no segment: it gets the global ranking
    history_moves_scores = False

    def make_model(self) -> MostPopular:
        return MostPopular(segment_column="region", segment_shrinkage=1.0)


class TestMostPopularTrending(RecommenderContract):
    known_answer = False
    known_answer_reason = "trending popularity is global"
    history_moves_scores = False

    def make_model(self) -> MostPopular:
        return MostPopular(half_life_days=2.0, count="weight")


class TestCategoryPopular(RecommenderContract):
    def make_model(self) -> CategoryPopular:
        return CategoryPopular(half_life_days=5.0, interest_half_life=3.0, global_weight=0.2)


class TestRandom(RecommenderContract):
    known_answer = False
    known_answer_reason = "random is the floor, it knows nothing"
    history_check = "shape"  # scores hash the user id, which a history does not carry
    history_moves_scores = False

    def make_model(self) -> Random:
        return Random(seed=3)


def _shop(
    events: list[tuple[str, str, str, int]], users: pd.DataFrame | None = None
) -> Interactions:
    frame = pd.DataFrame(events, columns=["user_id", "item_id", "event_type", "timestamp"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], unit="D", utc=True)
    return Interactions.from_frame(frame, users=users)


def test_global_counts_distinct_users() -> None:
    shop = _shop(
        [
            ("u1", "x", "view", 0),
            ("u1", "x", "view", 1),
            ("u1", "x", "view", 2),
            ("u2", "y", "view", 0),
            ("u3", "y", "view", 0),
        ]
    )
    model = MostPopular().fit(shop)
    ids, _ = model.recommend(["new"], k=2)
    assert list(ids[0]) == ["y", "x"]  # y: 2 users, x: 1 user with 3 views


def test_weight_count_prefers_purchases() -> None:
    shop = _shop([("u1", "x", "purchase", 0), ("u2", "y", "view", 0), ("u3", "y", "view", 0)])
    model = MostPopular(count="weight").fit(shop)
    ids, _ = model.recommend(["new"], k=2)
    assert list(ids[0]) == ["x", "y"]  # 5 > 1 + 1


def test_trending_prefers_recent() -> None:
    old = [(f"o{i}", "old_hit", "view", 0) for i in range(5)]
    new = [(f"n{i}", "new_hit", "view", 30) for i in range(3)]
    shop = _shop(old + new)
    assert MostPopular().fit(shop).recommend(["x"], k=1)[0][0, 0] == "old_hit"
    assert MostPopular(half_life_days=3).fit(shop).recommend(["x"], k=1)[0][0, 0] == "new_hit"


def test_per_segment_popularity_and_cold_user_with_segment() -> None:
    events = [(f"n{i}", "umbrella", "view", 0) for i in range(4)]
    events += [(f"s{i}", "sunscreen", "view", 0) for i in range(3)]
    users = pd.DataFrame(
        {
            "user_id": [*(f"n{i}" for i in range(4)), *(f"s{i}" for i in range(3)), "s_new"],
            "region": ["north"] * 4 + ["south"] * 4,
        }
    )
    shop = _shop(events, users)
    model = MostPopular(segment_column="region", segment_shrinkage=0.5).fit(shop)
    ids, _ = model.recommend(["s_new", "stranger"], k=1)
    assert ids[0, 0] == "sunscreen"  # the south segment's favourite, without any history
    assert ids[1, 0] == "umbrella"  # unknown user: global favourite
    assert model.explain("s_new", "sunscreen").evidence["segment"] == "south"


def test_segments_from_mapping() -> None:
    events = [("a", "x", "view", 0), ("b", "y", "view", 0), ("c", "y", "view", 0)]
    shop = _shop(events)
    model = MostPopular(segments={"a": "g1", "b": "g2", "c": "g2"}, segment_shrinkage=0.0).fit(shop)
    scores = model.score(["a", "a"], ["x", "y"])
    assert scores[0] > scores[1]


def test_bad_params_are_named() -> None:
    with pytest.raises(ConfigError, match="count"):
        MostPopular(count="clicks")
    with pytest.raises(ConfigError, match="segment_column"):
        MostPopular(segment_column="nope").fit(_shop([("a", "x", "view", 0)]))
    with pytest.raises(ConfigError, match="unknown parameter"):
        MostPopular(colour="red")


def test_random_is_seeded_and_differs_between_users() -> None:
    shop = _shop(
        [(f"u{i}", f"i{j}", "view", 0) for i in range(5) for j in range(30) if (i + j) % 3 == 0]
    )
    a = Random(seed=1).fit(shop).score_matrix(np.arange(5))
    b = Random(seed=1).fit(shop).score_matrix(np.arange(5))
    c = Random(seed=2).fit(shop).score_matrix(np.arange(5))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(np.argsort(a[0]), np.argsort(a[1]))
    assert ((a >= 0) & (a < 1)).all()


def test_fast_recommend_matches_dense_path(block_shop: Interactions) -> None:
    from campaignrec.models.base import Recommender

    users = np.concatenate([np.arange(block_shop.n_users), [-1, -1]]).astype(np.int64)
    for model in (MostPopular(), MostPopular(segment_column="region", segment_shrinkage=2.0)):
        model.fit(block_shop)
        for kwargs in (
            {},
            {"exclude_seen": False},
            {"items": np.array([0, 2, 5, 7, 11])},
            {"exclude_items": np.array([1, 3])},
        ):
            fast = model.recommend_idx(users, k=7, **kwargs)
            slow = Recommender.recommend_idx(model, users, k=7, **kwargs)
            np.testing.assert_allclose(fast[1], slow[1], rtol=1e-6)
            # same values as the dense path, and each id really has that score (ties may swap)
            full = model.score_matrix(users)
            ok = fast[0] >= 0
            rows = np.nonzero(ok)[0]
            np.testing.assert_allclose(full[rows, fast[0][ok]], fast[1][ok], rtol=1e-6)
            assert ((fast[0] >= 0) == (slow[0] >= 0)).all()


# ---- CategoryPopular --------------------------------------------------------------------------
def _category_shop() -> Interactions:
    """Shoes and mugs: mug m_hot is the most popular item overall, s_hot the top shoe."""
    events = [(f"m{n}", "m_hot", "view", 1) for n in range(6)]
    events += [(f"s{n}", "s_hot", "view", 1) for n in range(3)]
    events += [("s0", "s_cold", "view", 1)]
    events += [("shoe_fan", "s_old", "view", 0), ("shoe_fan", "s_seen", "purchase", 2)]
    items = pd.DataFrame(
        {
            "item_id": ["m_hot", "s_hot", "s_cold", "s_old", "s_seen", "s_unused", "x_nocat"],
            "category": ["mugs", "shoes", "shoes", "shoes", "shoes", "shoes", ""],
        }
    )
    frame = pd.DataFrame(events, columns=["user_id", "item_id", "event_type", "timestamp"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], unit="D", utc=True)
    return Interactions.from_frame(frame, items=items)


def test_category_popular_puts_the_shoppers_category_first(monkeypatch: pytest.MonkeyPatch) -> None:
    # without the cold-item fallback: s_unused (a shoe nobody touched) would borrow the shoes'
    # mean score (tests/models/contract.py checks the fallback for every family)
    monkeypatch.setenv("CAMPAIGNREC_COLD_TEXT", "off")
    shop = _category_shop()
    model = CategoryPopular(global_weight=0.2).fit(shop)
    ids, _ = model.recommend(["shoe_fan"], k=3)
    # in-category popularity first (s_hot: 3 shoppers, s_cold: 1), then the global hit
    assert list(ids[0]) == ["s_hot", "s_cold", "m_hot"]
    # a shopper nobody knows gets global trending popularity
    cold, _ = model.recommend(["stranger"], k=2)
    assert list(cold[0]) == ["m_hot", "s_hot"]
    # with a large global weight, the overall hit outranks the shoe
    heavy, _ = CategoryPopular(global_weight=5.0).fit(shop).recommend(["shoe_fan"], k=1)
    assert heavy[0, 0] == "m_hot"


def test_category_popular_recent_interest_wins() -> None:
    events = [(f"m{n}", "m_hot", "view", 1) for n in range(3)]
    events += [(f"s{n}", "s_hot", "view", 1) for n in range(3)]
    # u browsed shoes long ago, mugs most recently
    events += [("u", f"s_old{n}", "view", n) for n in range(3)]
    events += [("u", "m_new", "view", 5)]
    items = pd.DataFrame(
        {
            "item_id": ["m_hot", "s_hot", "s_old0", "s_old1", "s_old2", "m_new"],
            "category": ["mugs", "shoes", "shoes", "shoes", "shoes", "mugs"],
        }
    )
    frame = pd.DataFrame(events, columns=["user_id", "item_id", "event_type", "timestamp"])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], unit="D", utc=True)
    shop = Interactions.from_frame(frame, items=items)
    short = CategoryPopular(interest_half_life=0.3, global_weight=0.0).fit(shop)
    assert short.recommend(["u"], k=1)[0][0, 0] == "m_hot"
    long_memory = CategoryPopular(interest_half_life=1000.0, global_weight=0.0).fit(shop)
    assert long_memory.recommend(["u"], k=1)[0][0, 0] == "s_hot"  # 3 shoes vs 1 mug


def test_category_popular_explains_and_round_trips(tmp_path) -> None:
    shop = _category_shop()
    model = CategoryPopular().fit(shop)
    why = model.explain("shoe_fan", "s_hot")
    assert why.reason == "category_trending" and why.evidence["category"] == "shoes"
    assert why.evidence["category_share"] == pytest.approx(1.0)
    assert "shoes" in why.text
    assert model.explain("stranger", "m_hot").reason == "trending"
    loaded = CategoryPopular.load(model.save(tmp_path / "m"))
    users = ["shoe_fan", "s0", "stranger"]
    np.testing.assert_array_equal(
        loaded.score_matrix(loaded.users_.index(users, missing="ignore")),
        model.score_matrix(model.users_.index(users, missing="ignore")),
    )


def test_category_popular_needs_the_column_and_sane_params() -> None:
    shop = _shop([("u1", "x", "view", 0)])
    with pytest.raises(ConfigError, match="category_column 'category'"):
        CategoryPopular().fit(shop)
    with pytest.raises(ConfigError, match="global_weight"):
        CategoryPopular(global_weight=-1.0)
    with pytest.raises(ConfigError, match="interest_half_life"):
        CategoryPopular(interest_half_life=0.0)
