from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from campaignrec.data.interactions import Interactions
from campaignrec.errors import ConfigError
from campaignrec.models.popularity import MostPopular, Random
from tests.models.contract import RecommenderContract


class TestMostPopularGlobal(RecommenderContract):
    known_answer = False
    known_answer_reason = "global popularity gives every shopper the same list"

    def make_model(self) -> MostPopular:
        return MostPopular()


class TestMostPopularSegment(RecommenderContract):
    def make_model(self) -> MostPopular:
        return MostPopular(segment_column="region", segment_shrinkage=1.0)


class TestMostPopularTrending(RecommenderContract):
    known_answer = False
    known_answer_reason = "trending popularity is global"

    def make_model(self) -> MostPopular:
        return MostPopular(half_life_days=2.0, count="weight")


class TestRandom(RecommenderContract):
    known_answer = False
    known_answer_reason = "random is the floor, it knows nothing"

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
