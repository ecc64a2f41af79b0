"""``retrain``: the gate activates a better model, refuses a broken one, and says so."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from campaignrec.data.interactions import Interactions
from campaignrec.errors import ValidationError
from campaignrec.models.knn import ItemKNN
from campaignrec.pipeline import active_model_row, train
from campaignrec.pipeline.retrain import last_decision, retrain
from campaignrec.store.retrain import RetrainDecisionRepository

from .conftest import end_of, events_before, events_from, load


class ShuffledItemKNN(ItemKNN):
    """A deliberately broken item KNN: it learns from the log with the items shuffled."""

    def fit(self, interactions: Interactions) -> Any:
        perm = np.random.default_rng(7).permutation(interactions.n_items).astype(np.int32)
        return super().fit(dataclasses.replace(interactions, item_idx=perm[interactions.item_idx]))


def _active(store: Any) -> str:
    return str(active_model_row(store)["version"])


def test_retrain_activates_a_better_model_after_new_events(small_shop, tmp_path: Path) -> None:
    end = end_of(small_shop)
    early = end - pd.Timedelta(days=45)  # the weak active model saw only the first 15 days
    shop = load(small_shop, tmp_path / "better", events_before(small_shop, early))
    weak = train(shop.store, shop.settings, model="item_knn")
    assert _active(shop.store) == weak.version
    from campaignrec.data.importer import import_frame

    import_frame(shop.store, "events", events_from(small_shop, early))
    report = retrain(shop.store, shop.settings, min_new_events=500, eval_days=7, profiles=False,
                     campaign_models=False)  # fmt: skip
    assert report.outcome == "activated"
    assert report.active_version == weak.version
    assert _active(shop.store) == report.candidate_version != weak.version
    j = report.decision["judgement"]  # type: ignore[index]
    assert j["mean_candidate"] > j["mean_active"] and j["n_users"] >= 30
    # the window starts after the weak model's data: it is judged on what it never saw
    assert pd.Timestamp(j["window_start"]) > early
    stored = last_decision(shop.store)
    assert stored is not None and stored["outcome"] == "activated"
    assert stored["candidate_version"] == report.candidate_version
    assert "activated" in stored["sentence"]["en"] and "已启用" in stored["sentence"]["zh"]


def test_retrain_refuses_a_broken_model_and_keeps_the_active_one(
    small_shop, tmp_path: Path
) -> None:
    end = end_of(small_shop)
    cut = end - pd.Timedelta(days=7)
    shop = load(small_shop, tmp_path / "broken", events_before(small_shop, cut))
    good = train(shop.store, shop.settings, model="item_knn")
    from campaignrec.data.importer import import_frame

    import_frame(shop.store, "events", events_from(small_shop, cut))
    report = retrain(shop.store, shop.settings, min_new_events=500, eval_days=7,
                     candidate=ShuffledItemKNN, profiles=False, campaign_models=False)  # fmt: skip
    assert report.outcome == "kept"
    assert _active(shop.store) == good.version  # the registry still serves the good one
    models = shop.store.list_models()
    assert report.candidate_version in set(models["version"])  # registered for inspection
    row = models[models["version"] == report.candidate_version].iloc[0]
    assert not bool(row["active"])
    stored = last_decision(shop.store)
    assert stored is not None and stored["outcome"] == "kept"
    assert stored["active_version"] == good.version
    j = stored["judgement"]
    assert j["mean_candidate"] < j["mean_active"] - j["margin"]
    assert j["p_worse_beyond_margin"] < 0.05
    assert "worse" in stored["sentence"]["en"] and "保留当前版本" in stored["sentence"]["zh"]


def test_retrain_with_too_few_new_events_does_nothing(small_shop, tmp_path: Path) -> None:
    shop = load(small_shop, tmp_path / "quiet", small_shop.events)
    good = train(shop.store, shop.settings, model="item_knn")
    report = retrain(shop.store, shop.settings, min_new_events=10, profiles=False,
                     campaign_models=False)  # fmt: skip
    assert report.outcome == "skipped" and report.new_events == 0
    assert "nothing to do" in report.sentence["en"] and "无需重训" in report.sentence["zh"]
    assert _active(shop.store) == good.version
    assert RetrainDecisionRepository(shop.store).latest(5) == []  # a skip is not a gate decision


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [("tolerance", {"tolerance": 1.5}), ("eval_days", {"eval_days": 0}),
     ("min_new_events", {"min_new_events": -1})],
)  # fmt: skip
def test_retrain_rejects_bad_options_naming_them(
    small_shop, tmp_path: Path, field: str, kwargs: dict[str, Any]
) -> None:
    shop = load(small_shop, tmp_path / "bad", small_shop.events.head(100))
    with pytest.raises(ValidationError) as err:
        retrain(shop.store, shop.settings, **kwargs)
    assert err.value.field == field  # type: ignore[attr-defined]


def test_forced_retrain_without_new_events_judges_refitted_configurations(
    small_shop, tmp_path: Path
) -> None:
    """No new events: the active version learned from every recent day, so the gate refits its
    configuration on the days before the window; the same configuration passes, a broken one
    does not."""
    shop = load(small_shop, tmp_path / "forced", small_shop.events)
    good = train(shop.store, shop.settings, model="item_knn")
    same = retrain(shop.store, shop.settings, force=True, profiles=False, campaign_models=False)
    assert same.outcome == "activated" and same.new_events == 0
    j = same.decision["judgement"]  # type: ignore[index]
    assert j["active_saw_window"] and j["diff"] == pytest.approx(0.0)
    assert _active(shop.store) == same.candidate_version != good.version
    broken = retrain(shop.store, shop.settings, force=True, candidate=ShuffledItemKNN,
                     profiles=False, campaign_models=False)  # fmt: skip
    assert broken.outcome == "kept"
    assert _active(shop.store) == same.candidate_version
    assert [d["outcome"] for d in RetrainDecisionRepository(shop.store).latest(5)] == [
        "kept",
        "activated",
    ]
