from __future__ import annotations

import json

import numpy as np
import pandas as pd

from campaignrec.data.interactions import Interactions
from campaignrec.evaluation.runner import run_evaluation
from campaignrec.evaluation.splits import leave_one_out_split, user_temporal_split
from campaignrec.models.base import Recommender


class Oracle(Recommender):
    """Knows the future: scores each user's next items highest (test-only model)."""

    name = "oracle"

    def __init__(self, future: np.ndarray) -> None:
        super().__init__()
        self.future = future

    def _fit(self, interactions: Interactions) -> None:
        pass

    def _score_idx(self, user_idx):
        return self.future[user_idx].astype(np.float32)


class Pop(Recommender):
    name = "pop"

    def _fit(self, interactions: Interactions) -> None:
        pass

    def _score_idx(self, user_idx):
        return np.tile(self.popularity_, (len(user_idx), 1))


def _chain_shop() -> Interactions:
    """Users walk item 0,1,2,... from a user-specific start: the next item is always known."""
    rows = []
    for u in range(40):
        start = u % 10
        for step in range(6):
            rows.append(
                {
                    "user_id": f"u{u}",
                    "item_id": f"i{(start + step) % 12}",
                    "event_type": "view",
                    "timestamp": 1_700_000_000 + 3600 * (u + 100 * step),
                }
            )
    items = pd.DataFrame(
        {"item_id": [f"i{i}" for i in range(12)], "category": [f"c{i % 4}" for i in range(12)]}
    )
    return Interactions.from_frame(pd.DataFrame(rows), items=items)


def test_runner_ranks_oracle_above_popularity(tmp_path):
    inter = _chain_shop()
    split = leave_one_out_split(inter)
    test = split.test(inter)
    future = np.zeros((inter.n_users, inter.n_items))
    future[test.user_idx, test.item_idx] = 1.0
    res = run_evaluation(inter, split, {"oracle": lambda: Oracle(future), "pop": Pop()}, ks=(1, 5))
    board = res.leaderboard("ndcg@1")
    assert board["model"].tolist() == ["oracle", "pop"]
    assert res.mean("oracle", "ndcg@1") == 1.0
    assert res.mean("oracle", "hit_rate@5") == 1.0
    assert res.mean("pop", "ndcg@5") < 1.0
    assert 0 < res.mean("pop", "coverage@5") <= 1
    assert "ild@5" in res.models["pop"].per_user
    assert res.models["oracle"].fit_seconds >= 0
    # no recommended item was seen in train
    train = split.train(inter)
    recs = res.models["pop"].recs
    seen = train.binary[res.user_idx].toarray()
    assert not seen[np.arange(len(recs))[:, None], recs].any()
    test_cmp = res.compare("oracle", "pop", "ndcg@5")
    assert test_cmp.p_value < 0.05 and test_cmp.mean_diff > 0

    report = res.write_report(tmp_path / "rep")
    text = report.read_text()
    assert "| oracle |" in text and "Paired tests" in text and "history length" in text
    assert (tmp_path / "rep" / "metric_vs_k.png").stat().st_size > 0
    assert (tmp_path / "rep" / "accuracy_vs_coverage.png").stat().st_size > 0
    data = json.loads((tmp_path / "rep" / "results.json").read_text())
    assert data["models"]["oracle"]["metrics"]["ndcg@1"]["mean"] == 1.0
    assert "oracle vs pop" in data["paired_tests"]


def test_runner_samples_users(shop):
    split = user_temporal_split(shop, test_fraction=0.25)
    res = run_evaluation(shop, split, {"pop": Pop}, ks=(3,), max_users=7, seed=1)
    assert len(res.user_idx) == 7
    assert res.models["pop"].recs.shape == (7, 3)
