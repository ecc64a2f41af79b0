"""The time budget of select_default: cost predictions, skipping, the fallback, progress."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from campaignrec.data.interactions import Interactions
from campaignrec.errors import ConfigError
from campaignrec.evaluation import budget as budget_mod
from campaignrec.evaluation.budget import (
    Budget,
    SelectionProgress,
    default_time_budget,
    predict_seconds,
)
from campaignrec.evaluation.selection import Candidate, select_default
from campaignrec.evaluation.tuning import tune
from campaignrec.models.base import WorkShape


def _cluster_shop(n_users: int = 40, seed: int = 0) -> Interactions:
    """Two taste clusters of 12 items each (co-occurrence wins), with item categories."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        pool = np.arange(12) + 12 * (u % 2)
        for step, i in enumerate(rng.choice(pool, size=7, replace=False)):
            rows.append(
                {
                    "user_id": f"u{u}",
                    "item_id": f"i{i}",
                    "event_type": "view",
                    "timestamp": 1_700_000_000 + 600 * step + u,
                }
            )
    items = pd.DataFrame({"item_id": [f"i{i}" for i in range(24)]})
    items["category"] = [f"c{i // 12}" for i in range(24)]
    return Interactions.from_frame(pd.DataFrame(rows), items=items)


class _Recorder(SelectionProgress):
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []

    def candidate_start(self, label: str, trials: int, predicted_s: float) -> None:
        self.events.append(("start", label))

    def trial_done(self, label: str, value: float) -> None:
        self.events.append(("trial", label))

    def skipped(self, label: str, reason: str) -> None:
        self.events.append(("skipped", label))


def test_a_tiny_budget_still_returns_popularity_and_says_what_it_skipped() -> None:
    inter = _cluster_shop()
    progress = _Recorder()
    sel = select_default(inter, time_budget=1e-3, n_trials=3, progress=progress)
    assert sel.name == "most_popular"
    ids, _ = sel.model.recommend(["u0", "u1", "nobody"], k=5)
    assert ids.shape == (3, 5) and all(x is not None for x in ids.ravel())
    skipped = {s["name"]: s["reason"] for s in sel.report["budget"]["skipped"]}
    # every other default candidate is named, with the reason
    others = {r["name"] for r in sel.report["leaderboard"]} - {"most_popular"}
    assert others and others <= set(skipped)
    # repeat_popular sits out first: this shop repeats nothing (no time spent on it)
    assert "does not repeat purchases" in skipped.pop("repeat_popular")
    others.discard("repeat_popular")
    assert all("over the time budget" in skipped[n] for n in others)
    assert "ease (recency)" in skipped and "s left to plan of" in skipped["ease (recency)"]
    rows = {r["name"]: r for r in sel.report["leaderboard"]}
    assert math.isnan(rows["ease (recency)"]["score"]) and "skipped" in rows["ease (recency)"]
    assert ("skipped", "ease (recency)") in progress.events
    assert ("trial", "most_popular") in progress.events


def test_candidates_predicted_over_the_budget_are_skipped_the_rest_tuned(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    predicted = {"most_popular": 0.01, "item_knn": 0.01, "ease": 1e6}

    def fake(model, params, shape, rate=None):
        return predicted[model]

    monkeypatch.setattr(budget_mod, "predict_seconds", fake)
    cands = (
        Candidate("ease", "ease", {"l2": 10.0}, {"l2": {"type": "float", "low": 1, "high": 50}}),
        Candidate("most_popular", "most_popular", {}, {}),
        Candidate(
            "item_knn",
            "item_knn",
            {"neighbours": 20},
            {"neighbours": {"type": "int", "low": 5, "high": 30}},
        ),
    )
    sel = select_default(_cluster_shop(), candidates=cands, n_trials=3, time_budget=120.0)
    rows = {r["name"]: r for r in sel.report["leaderboard"]}
    assert "predicted 1000000.0 s" in rows["ease"]["skipped"]
    assert rows["item_knn"]["trials"] == 3  # base + 2 tuning trials: they fitted
    assert sel.name != "ease" and sel.name in {"item_knn", "blend(item_knn + most_popular)"}
    assert [s["name"] for s in sel.report["budget"]["skipped"]] == ["ease"]
    # unbounded: nothing is skipped
    free = select_default(_cluster_shop(), candidates=cands, n_trials=3, time_budget=math.inf)
    assert not free.report["budget"]["skipped"]
    assert {r["name"]: r for r in free.report["leaderboard"]}["item_knn"]["trials"] == 3
    assert np.isfinite({r["name"]: r for r in free.report["leaderboard"]}["ease"]["score"])


def test_budget_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="time_budget"):
        select_default(_cluster_shop(), time_budget=0.0)


def test_default_budget_grows_with_events_and_is_capped() -> None:
    assert default_time_budget(100_000) == pytest.approx(44.0)
    assert default_time_budget(1_000_000) == pytest.approx(260.0)
    assert default_time_budget(10**9) == 1200.0
    assert default_time_budget(10_000) < default_time_budget(100_000)


def test_predictions_follow_the_model_cost() -> None:
    rate = 3e10
    small = WorkShape(1_000, 5_000, 50_000, 80_000, 500)
    big = WorkShape(10_000, 5_000, 500_000, 800_000, 500)
    for model in ("most_popular", "item_knn", "als", "transition"):
        assert predict_seconds(model, {}, big, rate) > predict_seconds(model, {}, small, rate)
    # EASE on a wide catalogue follows the users (dual), not the items
    wide = WorkShape(600, 13_000, 60_000, 100_000, 600)
    assert predict_seconds("ease", {}, wide, rate) < 5.0
    assert predict_seconds("ease", {"solver": "primal"}, wide, rate) > 30.0
    # the proximity variant needs the primal Gram: it costs what the primal does
    assert predict_seconds("ease", {"proximity_half_life": 5.0}, wide, rate) > 30.0
    # no solver fits in memory: never admitted
    assert predict_seconds("ease", {"memory_limit_gb": 1e-6}, wide, rate) == math.inf


def test_budget_correction_learns_from_measurements() -> None:
    now = [0.0]
    b = Budget(10.0, clock=lambda: now[0])
    assert b.correction() == 1.0 and b.left() == 10.0
    b.record(1.0, 2.0)
    b.record(0.001, 5.0)  # too small to say anything about the machine
    b.record(2.0, 4.0)
    assert b.correction() == pytest.approx(2.0)
    now[0] = 4.0
    assert b.left() == pytest.approx(6.0)
    b.record(1.0, 100.0)
    b.record(1.0, 100.0)
    b.record(1.0, 100.0)
    assert b.correction() == 10.0  # clipped


def test_tune_counts_prior_trials_without_refitting() -> None:
    from campaignrec.evaluation.tuning import make_validation

    inter = _cluster_shop()
    val = make_validation(inter, "leave_one_out")
    fits = []

    def factory(q):
        from campaignrec.models.knn import ItemKNN

        fits.append(q)
        return ItemKNN(**q)

    space = {"neighbours": {"type": "int", "low": 5, "high": 30}}
    res = tune(factory, space, val, n_trials=2, prior=[({"neighbours": 20}, 2.0)], seed=0)
    assert len(fits) == 2  # the prior was not fitted again
    assert res.best_value == 2.0 and res.best_params == {"neighbours": 20}
    assert len(res.trials) == 3


def test_a_model_with_an_item_cut_off_is_shrunk_to_fit_rather_than_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from campaignrec.evaluation import selection

    def fake(model, params, shape, rate=None):
        if model == "ease" and params.get("max_items", 15_000) >= 15:
            return 1e6  # the whole 24-item catalogue "does not fit"
        return 0.01

    monkeypatch.setattr(budget_mod, "predict_seconds", fake)
    monkeypatch.setattr(selection, "MIN_APPROX_ITEMS", 5)
    cands = (
        Candidate("most_popular", "most_popular", {}, {}),
        Candidate("ease", "ease", {"l2": 10.0}, {}),
    )
    sel = select_default(_cluster_shop(), candidates=cands, n_trials=1, time_budget=60.0)
    rows = {r["name"]: r for r in sel.report["leaderboard"]}
    assert np.isfinite(rows["ease"]["score"]) and "skipped" not in rows["ease"]
    assert rows["ease"]["params"]["max_items"] == 14  # 60 % of the 24 items
    assert "14 most popular of 24 items" in rows["ease"]["approximation"]
    assert rows["ease"]["params"]["solver"] == "primal"  # the cut-off is a primal approximation
    if sel.name == "ease":
        assert len(sel.model.kept_items_) == 14


def test_a_model_that_cannot_fit_in_memory_is_reported_as_such_not_as_slow() -> None:
    cands = (
        Candidate("most_popular", "most_popular", {}, {}),
        Candidate("ease", "ease", {"memory_limit_gb": 1e-9}, {}),
    )
    sel = select_default(_cluster_shop(), candidates=cands, n_trials=1, time_budget=60.0)
    rows = {r["name"]: r for r in sel.report["leaderboard"]}
    assert "memory_limit_gb" in rows["ease"]["error"] and "skipped" not in rows["ease"]
    assert sel.name == "most_popular"


def test_the_popularity_variants_run_before_any_expensive_candidate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the variants are predicted dearer than item_knn / EASE here: the order must not follow
    predicted = {"most_popular": 0.3, "category_popular": 0.5, "item_knn": 0.01, "ease": 0.02}

    def fake(model, params, shape, rate=None):
        return predicted[model]

    monkeypatch.setattr(budget_mod, "predict_seconds", fake)
    cands = (
        Candidate("ease", "ease", {"l2": 10.0}, {}),
        Candidate("item_knn", "item_knn", {"neighbours": 20}, {}),
        Candidate("category_popular", "category_popular", {}, {}),
        Candidate("most_popular", "most_popular", {}, {}),
        Candidate("most_popular (trending)", "most_popular", {"half_life_days": 7.0}, {}),
    )
    progress = _Recorder()
    sel = select_default(
        _cluster_shop(), candidates=cands, n_trials=1, time_budget=60.0, progress=progress
    )
    started = [label for kind, label in progress.events if kind == "start"]
    first = started[:3]
    assert first[0] == "most_popular"  # the fallback, then the variants, dearest or not
    assert set(first) == {"most_popular", "most_popular (trending)", "category_popular"}
    assert started.index("item_knn") > 2 and started.index("ease") > 2
    rows = {r["name"]: r for r in sel.report["leaderboard"]}
    assert rows["category_popular"]["started_at_s"] < rows["item_knn"]["started_at_s"]


class _Fitted:
    def __init__(self, name: str) -> None:
        self.name = name

    def fit(self, data: object) -> _Fitted:
        return self


class _Window:
    """A second validation window whose per-user scores are given per candidate."""

    fit_part = None

    def __init__(self, scores: dict[str, np.ndarray]) -> None:
        self.scores = scores

    def evaluate_users(self, model: _Fitted) -> np.ndarray:
        return self.scores[model.name]


class _NoTime:
    def plan_left(self) -> float:
        return 1.0


def test_a_popularity_variant_keeps_its_second_window_when_time_runs_short() -> None:
    """Protocol B under the default budget: category_popular was dropped from the decision for
    lack of time for its second window, and the rule fell back to plain popularity although
    category_popular was best on both windows."""
    from campaignrec.evaluation.selection import _decide

    rng = np.random.default_rng(0)

    def hits(rate: float) -> np.ndarray:
        return (rng.random(400) < rate).astype(np.float64)

    first = {"transition": hits(0.35), "category_popular": hits(0.3), "most_popular": hits(0.1)}
    second = {"transition": hits(0.1), "category_popular": hits(0.3), "most_popular": hits(0.1)}
    ok = [
        {"name": n, "model": n, "score": float(first[n].mean()), "params": {}}
        for n in sorted(first, key=lambda n: -first[n].mean())
    ]
    cost = {"transition": (0.1, 0.1), "most_popular": (0.01, 0.01), "category_popular": (4.2, 0.5)}
    chosen, report = _decide(
        ok,
        first,
        cost,
        None,  # type: ignore[arg-type]
        _NoTime(),  # type: ignore[arg-type]
        windows=2,
        make=lambda r: _Fitted(r["name"]),
        second=lambda: _Window(second),  # type: ignore[arg-type,return-value]
    )
    assert report["windows"] == 2
    assert "category_popular" in {f["name"] for f in report["finalists"]}
    assert chosen["name"] == "category_popular"
    # a dear rich finalist is still left out for time, and the report says so
    cost["transition"] = (4.2, 0.1)
    _, report = _decide(
        ok,
        first,
        cost,
        None,  # type: ignore[arg-type]
        _NoTime(),  # type: ignore[arg-type]
        windows=2,
        make=lambda r: _Fitted(r["name"]),
        second=lambda: _Window(second),  # type: ignore[arg-type,return-value]
    )
    assert any("transition: no time" in n for n in report["notes"])
