from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from campaignrec.data.interactions import Interactions
from campaignrec.errors import ConfigError
from campaignrec.models import registry
from campaignrec.models.base import Recommender
from campaignrec.models.catalog import LEAF_MODELS


def test_every_core_model_is_registered_under_its_own_name() -> None:
    for name, cls in registry.MODELS.items():
        assert cls.name == name and issubclass(cls, Recommender)
    assert {"hybrid", "sasrec", "rerank"} <= set(registry.available_models())
    assert {"most_popular", "item_knn", "ease", "als", "bpr", "content", "blend"} <= set(
        registry.MODELS
    )


def test_create_passes_params() -> None:
    model = registry.create("ease", l2=123.0)
    assert model.params.l2 == 123.0  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="unknown model"):
        registry.create("nope")
    with pytest.raises(ConfigError, match="unknown parameter"):
        registry.create("ease", lambda_=1.0)


@pytest.mark.parametrize(
    "name",
    ["most_popular", "category_popular", "item_knn", "user_knn", "ease", "content", "transition"],
)
def test_load_model_picks_the_class(name: str, block_shop: Interactions, tmp_path: Path) -> None:
    model = registry.create(name).fit(block_shop)
    model.save(tmp_path / name)
    loaded = registry.load_model(tmp_path / name)
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(
        loaded.recommend(["ua2"], k=3)[0], model.recommend(["ua2"], k=3)[0]
    )


def test_load_model_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"meta\.json"):
        registry.load_model(tmp_path)
    (tmp_path / "meta.json").write_text(json.dumps({"model": "mystery"}))
    with pytest.raises(ConfigError, match="unknown model"):
        registry.load_model(tmp_path)


def test_lazy_model_without_its_extra_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.LAZY_MODELS, "ghost", ("campaignrec.models.no_such_module", None))
    with pytest.raises(ConfigError, match="not available"):
        registry.get_class("ghost")
    monkeypatch.setitem(registry.LAZY_MODELS, "needs", ("tests.models._needs_missing_dep", "deep"))
    with pytest.raises(ConfigError, match="campaignrec\\[deep\\]"):
        registry.get_class("needs")


@pytest.mark.skipif(importlib.util.find_spec("campaignrec") is None, reason="package not installed")
def test_importing_the_registry_does_not_import_torch() -> None:
    code = "import sys, campaignrec.models.registry as r; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("name", sorted(registry.MODELS))
def test_every_core_model_survives_an_empty_snapshot(name: str, block_shop: Interactions) -> None:
    empty = block_shop.subset(np.zeros(len(block_shop), dtype=bool))
    params = {"models": ("ease", "item_knn")} if name == "blend" else {}
    model = registry.create(name, **params).fit(empty)
    ids, scores = model.recommend(["ua0", "nobody"], k=3)
    assert ids.shape == (2, 3) and all(x is not None for x in ids.ravel())
    assert np.isfinite(scores).all()


@pytest.mark.parametrize("name", sorted(LEAF_MODELS))
def test_every_core_model_predicts_work_that_grows_with_the_data(name: str) -> None:
    """The time budget of `campaignrec train` plans with predicted_work: finite, positive, and
    larger for more events and more scored users."""
    from campaignrec.models.base import WorkShape

    cls = LEAF_MODELS[name]
    params = cls.params_class()
    small = WorkShape(n_users=500, n_items=2_000, nnz=20_000, n_events=30_000, n_scored=100)
    more_events = WorkShape(n_users=5_000, n_items=2_000, nnz=200_000, n_events=300_000)
    more_scored = WorkShape(n_users=500, n_items=2_000, nnz=20_000, n_events=30_000, n_scored=500)
    w = cls.predicted_work(params, small)
    assert np.isfinite(w) and w > 0
    assert cls.predicted_work(params, more_events) > cls.predicted_work(
        params, WorkShape(500, 2_000, 20_000, 30_000)
    )
    assert cls.predicted_work(params, more_scored) > w
