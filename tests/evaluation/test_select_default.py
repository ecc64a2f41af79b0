"""select_default and the runner with the real models (ItemKNN, EASE, MostPopular)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from campaignrec.data.interactions import Interactions
from campaignrec.evaluation.runner import run_evaluation
from campaignrec.evaluation.selection import Candidate, select_default
from campaignrec.evaluation.splits import leave_one_out_split


def _cluster_shop(n_users: int = 60, seed: int = 0) -> Interactions:
    """Two taste clusters of items: a user's items come from one cluster (co-occurrence wins)."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        cluster = u % 2
        pool = np.arange(12) + 12 * cluster
        items = rng.choice(pool, size=7, replace=False)
        for step, i in enumerate(items):
            rows.append(
                {
                    "user_id": f"u{u}",
                    "item_id": f"i{i}",
                    "event_type": "view",
                    "timestamp": 1_700_000_000 + 600 * step + u,
                }
            )
    return Interactions.from_frame(pd.DataFrame(rows))


def test_runner_with_real_models_knn_beats_popularity():
    from campaignrec.models.ease import EASE
    from campaignrec.models.knn import ItemKNN
    from campaignrec.models.popularity import MostPopular

    inter = _cluster_shop()
    split = leave_one_out_split(inter)
    res = run_evaluation(
        inter,
        split,
        {"pop": MostPopular, "knn": lambda: ItemKNN(neighbours=20), "ease": lambda: EASE(l2=10.0)},
        ks=(5,),
    )
    assert res.mean("knn", "hit_rate@5") > res.mean("pop", "hit_rate@5")
    assert res.mean("ease", "hit_rate@5") > res.mean("pop", "hit_rate@5")


def test_select_default_chooses_on_validation_and_refits_on_all():
    inter = _cluster_shop()
    cands = (
        Candidate("most_popular", "most_popular", {}, {}),
        Candidate(
            "item_knn",
            "item_knn",
            {"neighbours": 20},
            {"neighbours": {"type": "int", "low": 5, "high": 30}},
        ),
    )
    sel = select_default(inter, n_trials=2, candidates=cands, seed=0)
    names = [r["name"] for r in sel.report["leaderboard"]]
    assert set(names) >= {"most_popular", "item_knn"}
    scores = [r["score"] for r in sel.report["leaderboard"]]
    assert scores == sorted(scores, reverse=True)
    assert sel.name == names[0]
    assert sel.name != "most_popular"  # co-occurrence is what this shop rewards
    assert sel.model.snapshot_id_ == inter.snapshot_id  # refitted on all data
    ids, _ = sel.model.recommend(["u0"], k=3)
    assert len(ids[0]) == 3


def test_select_default_skips_a_failing_candidate():
    inter = _cluster_shop(n_users=30)
    cands = (
        Candidate("most_popular", "most_popular", {}, {}),
        Candidate("broken", "no_such_model", {}, {}),
    )
    sel = select_default(inter, n_trials=1, candidates=cands, blend=False)
    assert sel.name == "most_popular"
    broken = [r for r in sel.report["leaderboard"] if r["name"] == "broken"]
    assert broken and "error" in broken[0]


def test_select_default_needs_some_history():
    from campaignrec.errors import ValidationError

    rows = [
        {"user_id": f"u{u}", "item_id": "i1", "event_type": "view", "timestamp": 1_700_000_000 + u}
        for u in range(5)
    ]
    with pytest.raises(ValidationError):
        select_default(Interactions.from_frame(pd.DataFrame(rows)), n_trials=1)


def test_default_candidates_cover_sequence_and_category_models():
    """Every default candidate runs on a shop with categories; without them only that one is skipped."""
    inter = _cluster_shop(n_users=40)
    items = pd.DataFrame(
        {
            "item_id": list(inter.items.ids),
            "category": [f"c{int(i[1:]) // 12}" for i in inter.items.ids],
        }
    )
    with_cats = Interactions.from_frame(inter.to_frame(), items=items)
    sel = select_default(with_cats, n_trials=1, blend=False)
    rows = {r["name"]: r for r in sel.report["leaderboard"]}
    expected = {"category_popular", "transition", "ease (proximity)", "item_knn (sequential)"}
    assert expected <= set(rows)
    assert all(np.isfinite(rows[name]["score"]) for name in expected)
    # category interest separates the two clusters: it beats global popularity here
    assert rows["category_popular"]["score"] > rows["most_popular"]["score"]

    plain = select_default(inter, n_trials=1, blend=False)
    rows = {r["name"]: r for r in plain.report["leaderboard"]}
    assert "category_column" in rows["category_popular"]["error"]
    assert np.isfinite(rows["transition"]["score"])
