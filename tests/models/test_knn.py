from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from campaignrec.data.interactions import Interactions
from campaignrec.errors import ConfigError
from campaignrec.models._common import sparse_topk_rows
from campaignrec.models.knn import ItemKNN, UserKNN
from tests.models.contract import RecommenderContract


class TestItemKNNCosine(RecommenderContract):
    def make_model(self) -> ItemKNN:
        return ItemKNN(similarity="cosine", neighbours=10)


class TestItemKNNBM25(RecommenderContract):
    def make_model(self) -> ItemKNN:
        return ItemKNN(similarity="bm25", neighbours=10, use_weights=True, recency_half_life=3.0)


class TestItemKNNJaccard(RecommenderContract):
    def make_model(self) -> ItemKNN:
        return ItemKNN(similarity="jaccard", shrinkage=1.0)


class TestUserKNN(RecommenderContract):
    # a fresh history has no self to leave out: the snapshot user with the same history takes
    # one of the neighbours' places
    history_check = "blocks"

    def make_model(self) -> UserKNN:
        return UserKNN(similarity="cosine", neighbours=10)


class TestUserKNNTfidf(RecommenderContract):
    history_check = "unsupported"  # tfidf weighs by statistics of the training users

    def make_model(self) -> UserKNN:
        return UserKNN(similarity="tfidf", neighbours=8, recency_half_life=2.0)


def _shop(rows: list[tuple[str, str]]) -> Interactions:
    frame = pd.DataFrame(rows, columns=["user_id", "item_id"])
    frame["event_type"] = "view"
    frame["timestamp"] = pd.date_range("2026-01-01", periods=len(rows), freq="h", tz="UTC")
    return Interactions.from_frame(frame)


def _dense_cosine(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=0)
    sim = (x.T @ x) / np.outer(norms, norms)
    np.fill_diagonal(sim, 0.0)
    return sim


def test_item_cosine_matches_dense_computation() -> None:
    rng = np.random.default_rng(0)
    rows = [(f"u{u}", f"i{i}") for u in range(30) for i in range(12) if rng.random() < 0.3]
    shop = _shop(rows)
    model = ItemKNN(similarity="cosine", neighbours=100).fit(shop)
    x = shop.binary.toarray()
    np.testing.assert_allclose(model.similarity_.toarray(), _dense_cosine(x), rtol=1e-5, atol=1e-6)


def test_jaccard_and_shrinkage() -> None:
    shop = _shop([("u1", "x"), ("u1", "y"), ("u2", "x"), ("u2", "y"), ("u3", "x")])
    sim = ItemKNN(similarity="jaccard").fit(shop).similarity_.toarray()
    x, y = shop.items.index(["x", "y"])
    assert sim[x, y] == pytest.approx(2 / 3)  # |{u1,u2}| / |{u1,u2,u3}|
    shrunk = ItemKNN(similarity="jaccard", shrinkage=3.0).fit(shop).similarity_.toarray()
    assert shrunk[x, y] == pytest.approx(2 / 6)


def test_neighbourhood_size_is_respected() -> None:
    rng = np.random.default_rng(1)
    rows = [(f"u{u}", f"i{i}") for u in range(40) for i in range(25) if rng.random() < 0.4]
    model = ItemKNN(neighbours=3).fit(_shop(rows))
    assert np.diff(model.similarity_.indptr).max() <= 3


def test_sparse_topk_rows_keeps_largest() -> None:
    import scipy.sparse as sp

    m = sp.csr_matrix(np.array([[0.1, 0.5, 0.3, 0.0], [0.0, 0.2, 0.0, 0.0]], dtype=np.float32))
    out = sparse_topk_rows(m, 2).toarray()
    np.testing.assert_allclose(out, [[0.0, 0.5, 0.3, 0.0], [0.0, 0.2, 0.0, 0.0]])


def test_recency_weighting_follows_the_latest_item() -> None:
    # x-fans also like x2; y-fans also like y2. The shopper saw y long ago and x just now.
    rows = []
    for n in range(6):
        rows += [(f"fx{n}", "x"), (f"fx{n}", "x2"), (f"fy{n}", "y"), (f"fy{n}", "y2")]
    rows += [(f"fy{n}", "y3") for n in range(3)]
    rows += [("me", "y"), ("me", "y3"), ("me", "x")]  # y, y3 old; x most recent
    shop = _shop(rows)
    plain = ItemKNN(neighbours=10).fit(shop)
    recent = ItemKNN(neighbours=10, recency_half_life=0.5).fit(shop)
    assert plain.recommend(["me"], k=1)[0][0, 0] == "y2"  # two y-items outvote one x-item
    assert recent.recommend(["me"], k=1)[0][0, 0] == "x2"  # the latest item dominates


def test_explain_names_the_contributing_neighbour(block_shop: Interactions) -> None:
    model = ItemKNN(neighbours=10).fit(block_shop)
    ids, _ = model.recommend(["ua0"], k=1)
    ev = model.explain("ua0", str(ids[0, 0])).evidence
    seen = set(block_shop.items.ids[block_shop.binary[block_shop.users.index(["ua0"])[0]].indices])
    assert ev["neighbours"] and {n["item_id"] for n in ev["neighbours"]} <= seen
    similar, _ = model.similar_items("a0", k=3)
    assert all(str(s).startswith("a") for s in similar)


def test_bad_similarity_is_named() -> None:
    with pytest.raises(ConfigError, match="similarity"):
        ItemKNN(similarity="pearsonish")
    with pytest.raises(ConfigError, match="neighbours"):
        UserKNN(neighbours=0)


class TestItemKNNProximity(RecommenderContract):
    def make_model(self) -> ItemKNN:
        return ItemKNN(proximity_half_life=2.0, backward_weight=0.5, recency_half_life=3.0)


def test_proximity_similarity_known_values() -> None:
    # u: x, y, z in that order; v: z then x.
    shop = _shop([("u", "x"), ("u", "y"), ("u", "z"), ("v", "z"), ("v", "x")])
    x, y, z = shop.items.index(["x", "y", "z"])
    dot = ItemKNN(similarity="dot", proximity_half_life=1.0, backward_weight=0.0).fit(shop)
    sim = dot.similarity_.toarray()
    assert sim[x, y] == pytest.approx(0.5)  # y follows x one step later
    assert sim[y, x] == pytest.approx(0.0)  # never the other way round
    assert sim[x, z] == pytest.approx(0.25)  # u: two steps later
    assert sim[z, x] == pytest.approx(0.5)  # v: one step later
    assert np.all(np.diag(sim) == 0)
    cos = ItemKNN(similarity="cosine", proximity_half_life=1.0).fit(shop).similarity_.toarray()
    # symmetric: (0.25 + 0.5) / sqrt(n_x · n_z) with n_x = n_z = 2
    assert cos[x, z] == pytest.approx(0.75 / 2) and cos[z, x] == pytest.approx(0.75 / 2)


def test_proximity_favours_what_usually_comes_next() -> None:
    rows = []
    for n in range(6):
        rows += [(f"f{n}", "boots"), (f"f{n}", "socks"), (f"f{n}", "insoles")]
    rows += [("me", "socks")]
    shop = _shop(rows)
    model = ItemKNN(proximity_half_life=1.0, backward_weight=0.0).fit(shop)
    ids, _ = model.recommend(["me"], k=2)
    assert ids[0, 0] == "insoles"
    assert model.score(["me"], ["boots"])[0] == pytest.approx(0.0)  # boots came before socks


def test_proximity_needs_cosine_or_dot() -> None:
    with pytest.raises(ConfigError, match="proximity_half_life"):
        ItemKNN(similarity="jaccard", proximity_half_life=3.0)
    with pytest.raises(ConfigError, match="item_knn"):
        UserKNN(proximity_half_life=3.0)
