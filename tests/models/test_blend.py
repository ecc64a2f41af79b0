from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from campaignrec.data.interactions import Interactions
from campaignrec.errors import ConfigError
from campaignrec.models.blend import Blend
from campaignrec.models.ease import EASE
from campaignrec.models.knn import ItemKNN
from campaignrec.models.popularity import MostPopular, Random
from campaignrec.models.registry import load_model
from tests.models.contract import RecommenderContract


class TestBlendScore(RecommenderContract):
    def make_model(self) -> Blend:
        return Blend(components=[EASE(l2=5.0), ItemKNN(neighbours=10)], weights=(0.7, 0.3))


class TestBlendRRF(RecommenderContract):
    def make_model(self) -> Blend:
        return Blend(
            components=[EASE(l2=5.0), ItemKNN(neighbours=10), MostPopular()],
            weights=(1.0, 1.0, 0.2),
            method="rrf",
            rrf_depth=3,
        )


class TestBlendFromNames(RecommenderContract):
    def make_model(self) -> Blend:
        return Blend(models=("item_knn", "ease"), normalization="minmax")


def test_weight_zero_reproduces_the_other_model(block_shop: Interactions) -> None:
    ease = EASE(l2=5.0).fit(block_shop)
    noise = Random(seed=1).fit(block_shop)
    blend = Blend(components=[ease, noise], weights=(1.0, 0.0)).fit(block_shop)
    users = [str(u) for u in block_shop.users.ids[block_shop.active_users]]
    np.testing.assert_array_equal(blend.recommend(users, k=5)[0], ease.recommend(users, k=5)[0])
    flipped = blend.with_weights((0.0, 1.0))
    np.testing.assert_array_equal(flipped.recommend(users, k=5)[0], noise.recommend(users, k=5)[0])


def test_fit_reuses_components_fitted_on_the_same_snapshot(block_shop: Interactions) -> None:
    ease = EASE(l2=5.0).fit(block_shop)
    weights_before = ease.weights_
    Blend(components=[ease, ItemKNN()]).fit(block_shop)
    assert ease.weights_ is weights_before


def test_rrf_known_values() -> None:
    blend = Blend(models=("a", "b"), method="rrf", rrf_k=1.0, rrf_depth=2, weights=(1.0, 2.0))
    s1 = np.array([[3.0, 2.0, 1.0]], dtype=np.float32)  # ranks: item0=1, item1=2
    s2 = np.array([[1.0, 2.0, 3.0]], dtype=np.float32)  # ranks: item2=1, item1=2
    fused = blend.fuse([s1, s2])
    np.testing.assert_allclose(fused, [[1 / 2, 1 / 3 + 2 / 3, 2 / 2]], rtol=1e-6)


def test_zscore_ignores_seen_items_in_statistics() -> None:
    blend = Blend(models=("a",))
    s = np.array([[100.0, 1.0, 2.0, 3.0]], dtype=np.float32)
    seen = np.array([[True, False, False, False]])
    fused = blend.fuse([s], seen)
    np.testing.assert_allclose(fused[0, 1:], [-1.2247449, 0.0, 1.2247449], rtol=1e-5)


def test_explain_lists_each_component(block_shop: Interactions) -> None:
    blend = Blend(components=[EASE(l2=5.0), ItemKNN()], weights=(0.6, 0.4)).fit(block_shop)
    ev = blend.explain("ua0", "a_new").evidence
    assert [c["model"] for c in ev["components"]] == ["ease", "item_knn"]


def test_save_load_through_registry(block_shop: Interactions, tmp_path: Path) -> None:
    blend = Blend(components=[EASE(l2=5.0), ItemKNN()], weights=(0.6, 0.4)).fit(block_shop)
    blend.save(tmp_path / "b")
    loaded = load_model(tmp_path / "b")
    assert isinstance(loaded, Blend)
    np.testing.assert_array_equal(
        loaded.recommend(["ua1"], k=4)[0], blend.recommend(["ua1"], k=4)[0]
    )


def test_bad_blend_config() -> None:
    with pytest.raises(ConfigError, match="weights"):
        Blend(components=[EASE()], weights=(1.0, 2.0))
    with pytest.raises(ConfigError, match="method"):
        Blend(models=("ease",), method="vote")
