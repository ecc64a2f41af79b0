from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from campaignrec.data.interactions import Interactions
from campaignrec.errors import ConfigError
from campaignrec.models.ease import EASE, OUT_OF_SET_FLOOR
from tests.models.contract import RecommenderContract


class TestEASE(RecommenderContract):
    def make_model(self) -> EASE:
        return EASE(l2=5.0)


class TestEASEDualRecency(RecommenderContract):
    def make_model(self) -> EASE:
        return EASE(l2=5.0, solver="dual", recency_half_life=2.0)


class TestEASERestricted(RecommenderContract):
    def make_model(self) -> EASE:
        return EASE(l2=5.0, solver="primal", max_items=24)


def _random_shop(seed: int, n_users: int = 25, n_items: int = 15) -> Interactions:
    rng = np.random.default_rng(seed)
    rows = [
        (f"u{u}", f"i{i}") for u in range(n_users) for i in range(n_items) if rng.random() < 0.35
    ]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id"])
    frame["event_type"] = "view"
    frame["timestamp"] = pd.date_range("2026-01-01", periods=len(rows), freq="h", tz="UTC")
    return Interactions.from_frame(frame)


def _reference_b(x: np.ndarray, lam: float) -> np.ndarray:
    """EASE by direct constrained least squares, one column at a time (no closed form)."""
    n = x.shape[1]
    b = np.zeros((n, n))
    for j in range(n):
        others = [i for i in range(n) if i != j]
        a = x[:, others]
        b[others, j] = np.linalg.solve(a.T @ a + lam * np.eye(n - 1), a.T @ x[:, j])
    return b


def test_closed_form_matches_direct_solve() -> None:
    shop = _random_shop(0)
    model = EASE(l2=3.0, solver="primal").fit(shop)
    x = shop.binary.toarray().astype(np.float64)
    np.testing.assert_allclose(model.weights_, _reference_b(x, 3.0), atol=2e-5)


def test_dual_solver_equals_primal() -> None:
    shop = _random_shop(1, n_users=10, n_items=30)
    users = np.arange(shop.n_users)
    primal = EASE(l2=2.0, solver="primal").fit(shop).score_matrix(users)
    dual = EASE(l2=2.0, solver="dual").fit(shop).score_matrix(users)
    np.testing.assert_allclose(primal, dual, atol=1e-4)


def test_auto_picks_dual_for_wide_catalogues() -> None:
    shop = _random_shop(2, n_users=8, n_items=40)
    model = EASE(l2=2.0, max_items=10).fit(shop)
    assert model.solver_ == "dual" and len(model.kept_items_) == shop.n_items


def test_restricted_catalogue_scores_outside_items_below() -> None:
    shop = _random_shop(3)
    model = EASE(l2=2.0, solver="primal", max_items=5).fit(shop)
    assert len(model.kept_items_) == 5
    scores = model.score_matrix(np.arange(shop.n_users))
    outside = np.setdiff1d(np.arange(shop.n_items), model.kept_items_)
    assert scores[:, outside].max() < OUT_OF_SET_FLOOR + 2
    assert scores[:, model.kept_items_].min() > OUT_OF_SET_FLOOR + 2


def test_memory_guard() -> None:
    shop = _random_shop(4)
    with pytest.raises(ConfigError, match="memory_limit_gb"):
        EASE(solver="primal", memory_limit_gb=1e-9).fit(shop)


def test_recency_weighting_changes_ranking() -> None:
    # Two tastes: {x, x2} and {y, y2, y3}. The shopper touched y, y3 long ago and x just now.
    rows = []
    for n in range(8):
        rows += [
            (f"fx{n}", "x"),
            (f"fx{n}", "x2"),
            (f"fy{n}", "y"),
            (f"fy{n}", "y2"),
            (f"fy{n}", "y3"),
        ]
    rows += [("me", "y"), ("me", "y3"), ("me", "x")]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id"])
    frame["event_type"] = "view"
    frame["timestamp"] = pd.date_range("2026-01-01", periods=len(rows), freq="h", tz="UTC")
    shop = Interactions.from_frame(frame)
    plain = EASE(l2=1.0).fit(shop)
    recent = EASE(l2=1.0, recency_half_life=0.5).fit(shop)
    assert plain.recommend(["me"], k=1)[0][0, 0] == "y2"
    assert recent.recommend(["me"], k=1)[0][0, 0] == "x2"
    hist = recent.history_[shop.users.index(["me"])[0]]
    weights = dict(zip(shop.items.ids[hist.indices], hist.data, strict=True))
    assert weights["x"] == pytest.approx(1.0)
    assert weights["y3"] == pytest.approx(0.25)
    assert weights["y"] == pytest.approx(0.0625)


class TestEASEProximity(RecommenderContract):
    def make_model(self) -> EASE:
        return EASE(l2=5.0, proximity_half_life=2.0, recency_half_life=3.0)


def _sequence_shop(rows: list[tuple[str, str]]) -> Interactions:
    frame = pd.DataFrame(rows, columns=["user_id", "item_id"])
    frame["event_type"] = "view"
    frame["timestamp"] = pd.date_range("2026-01-01", periods=len(rows), freq="h", tz="UTC")
    return Interactions.from_frame(frame)


def test_proximity_gram_known_values() -> None:
    from campaignrec.models._common import proximity_gram

    shop = _sequence_shop([("u", "x"), ("u", "y"), ("u", "z"), ("v", "x"), ("v", "z")])
    x, y, z = shop.items.index(["x", "y", "z"])
    g = proximity_gram(shop, half_life_steps=1.0, window=5)
    assert g[x, x] == 2 and g[y, y] == 1 and g[z, z] == 2
    assert g[x, y] == pytest.approx(0.5)  # u: one step apart
    assert g[x, z] == pytest.approx(0.25 + 0.5)  # u: two steps, v: one step
    np.testing.assert_allclose(g, g.T)
    g1 = proximity_gram(shop, half_life_steps=1.0, window=1)
    assert g1[x, z] == pytest.approx(0.5)  # u's pair is outside the window


def test_proximity_with_long_half_life_is_plain_ease() -> None:
    shop = _random_shop(5)
    users = np.arange(shop.n_users)
    plain = EASE(l2=3.0).fit(shop).score_matrix(users)
    near = EASE(l2=3.0, proximity_half_life=1e9, proximity_window=1000).fit(shop)
    np.testing.assert_allclose(near.score_matrix(users), plain, atol=1e-4)


def test_proximity_links_items_touched_together() -> None:
    # Everyone touches a, b, c, d in that order. A shopper who just touched b should be offered
    # the item next to it (c), not the far end (d) — only when proximity counts.
    rows = []
    for n in range(10):
        rows += [(f"f{n}", "a"), (f"f{n}", "b"), (f"f{n}", "c"), (f"f{n}", "d"), (f"f{n}", "e")]
    rows += [("me", "a"), ("me", "b")]
    shop = _sequence_shop(rows)
    model = EASE(l2=1.0, proximity_half_life=0.5).fit(shop)
    scores = dict(zip(["c", "d", "e"], model.score(["me"] * 3, ["c", "d", "e"]), strict=True))
    assert scores["c"] > scores["d"] > scores["e"]


def test_proximity_rejects_dual_and_weights() -> None:
    with pytest.raises(ConfigError, match="primal"):
        EASE(proximity_half_life=5.0, solver="dual")
    with pytest.raises(ConfigError, match="use_weights"):
        EASE(proximity_half_life=5.0, use_weights=True)


def test_proximity_gram_sparse_and_dense_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    from campaignrec.models import _common

    shop = _random_shop(6, n_users=12, n_items=20)
    kept = np.array([0, 3, 4, 7, 9, 15], dtype=np.int64)
    dense = _common.proximity_gram(shop, 2.0, 6, kept)
    monkeypatch.setattr(_common, "DENSE_GRAM_MAX", 0)
    sparse = _common.proximity_gram(shop, 2.0, 6, kept)
    np.testing.assert_allclose(dense, sparse)
    assert dense.shape == (6, 6)


def test_spd_inverse_matches_numpy() -> None:
    from campaignrec.models.ease import _spd_inverse

    rng = np.random.default_rng(0)
    for n, step in ((1, 4), (7, 3), (10, 4), (12, 2048)):  # blocks that do / do not divide n
        a = rng.normal(size=(n, n))
        spd = a @ a.T + n * np.eye(n)
        np.testing.assert_allclose(_spd_inverse(spd, step), np.linalg.inv(spd), atol=1e-10)
    indefinite = np.array([[1.0, 2.0], [2.0, 1.0]])
    np.testing.assert_allclose(_spd_inverse(indefinite), np.linalg.inv(indefinite))


def test_similar_items_is_the_row_of_b(block_shop: Interactions) -> None:
    for solver in ("primal", "dual"):
        model = EASE(l2=5.0, solver=solver).fit(block_shop)
        ids, weights = model.similar_items("b2", k=4)
        assert "b2" not in ids and all(str(i).startswith("b") for i in ids)
        i, j = block_shop.items.index(["b2", str(ids[0])])
        primal = EASE(l2=5.0, solver="primal").fit(block_shop)
        assert weights[0] == pytest.approx(primal.weights_[i, j], abs=1e-4)


def test_auto_follows_the_smaller_dimension_and_equals_primal() -> None:
    """Fewer users than items (below the primal cut-off): auto takes the dual, same scores."""
    wide = _random_shop(5, n_users=12, n_items=40)
    auto = EASE(l2=3.0, recency_half_life=4.0).fit(wide)
    primal = EASE(l2=3.0, recency_half_life=4.0, solver="primal").fit(wide)
    assert auto.solver_ == "dual" and primal.solver_ == "primal"
    users = np.arange(wide.n_users)
    np.testing.assert_allclose(auto.score_matrix(users), primal.score_matrix(users), atol=1e-4)
    ids_a, _ = auto.recommend(list(wide.users.ids), k=5)
    ids_p, _ = primal.recommend(list(wide.users.ids), k=5)
    assert (ids_a == ids_p).mean() > 0.95  # ties at float32 precision may swap neighbours
    tall = _random_shop(6, n_users=40, n_items=12)
    assert EASE(l2=3.0).fit(tall).solver_ == "primal"


def test_plan_solver_cost_follows_min_users_items() -> None:
    from campaignrec.models.ease import EASEParams, fit_flops, plan_solver

    grocery = plan_solver(EASEParams(), n_users=600, n_items=13_000, nnz=120_000)
    assert grocery[:2] == ("dual", 13_000)
    # the dual's fit is more than 30x cheaper than inverting the 13,000 x 13,000 Gram
    assert fit_flops("primal", 600, 13_000) > 30 * fit_flops("dual", 600, 13_000, 120_000)
    tall = plan_solver(EASEParams(), n_users=30_000, n_items=5_000, nnz=1_000_000)
    assert tall[:2] == ("primal", 5_000)
    # proximity needs the primal Gram; explicit solvers are kept
    assert plan_solver(EASEParams(proximity_half_life=5.0), 600, 13_000)[0] == "primal"
    assert plan_solver(EASEParams(solver="primal"), 600, 13_000)[0] == "primal"
