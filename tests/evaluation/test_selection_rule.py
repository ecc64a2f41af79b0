"""The one-standard-error rule of select_default, alone and inside the selection."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from campaignrec.data.interactions import Interactions
from campaignrec.evaluation.selection import select_default
from campaignrec.evaluation.selection_rule import one_standard_error, simplicity

ROWS = [
    {"name": "pop", "model": "most_popular"},
    {"name": "knn", "model": "item_knn"},
    {"name": "ease", "model": "ease"},
]


def test_a_richer_model_within_noise_loses_to_the_simpler_one() -> None:
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 0.5, 400)

    def noise(shift: float) -> np.ndarray:  # per-user noise of sd 0.2 around a fixed shift
        n = rng.normal(0.0, 0.2, 400)
        return n - n.mean() + shift

    # richer models better on average by less than the noise of 400 users (se ~ 0.01)
    scores = {"pop": [base], "knn": [base + noise(0.003)], "ease": [base + noise(0.006)]}
    chosen, standings = one_standard_error(ROWS, scores)
    by = {s.name: s for s in standings}
    assert chosen == "pop"
    best = max(standings, key=lambda s: s.mean)
    assert best.name != "pop" and by["pop"].within
    assert by["pop"].diff >= -by["pop"].se


def test_a_richer_model_better_beyond_noise_wins() -> None:
    rng = np.random.default_rng(1)
    base = rng.uniform(0, 0.5, 400)
    scores = {
        "pop": [base],
        "knn": [base + 0.01 + rng.normal(0, 0.01, 400)],
        "ease": [base + 0.05 + rng.normal(0, 0.01, 400)],
    }
    chosen, standings = one_standard_error(ROWS, scores)
    assert chosen == "ease"
    assert [s.within for s in standings] == [False, False, True]


def test_windows_are_pooled_and_ties_in_simplicity_go_to_the_higher_mean() -> None:
    rows = [{"name": "a", "model": "item_knn"}, {"name": "b", "model": "transition"}]
    same = np.full(50, 0.2)
    scores = {"a": [same, same], "b": [same + 0.001, same]}
    chosen, standings = one_standard_error(rows, scores)
    assert chosen == "b"  # both within (se 0 of a constant difference is not noise, b is best)
    assert standings[1].window_means == pytest.approx((0.201, 0.2))
    with pytest.raises(ValueError, match="different users"):
        one_standard_error(rows, {"a": [same], "b": [same[:10]]})


def test_simplicity_orders_popularity_first_blends_last() -> None:
    assert simplicity("most_popular") < simplicity("item_knn") < simplicity("ease")
    assert simplicity("ease") < simplicity("blend")
    assert simplicity("something_new") == simplicity("ease")


def _zipf_shop(seed: int, n_users: int = 150, n_items: int = 60) -> Interactions:
    """Shoppers draw items from one Zipf popularity law: nothing beyond popularity to learn."""
    rng = np.random.default_rng(seed)
    p = 1.0 / np.arange(1, n_items + 1) ** 1.1
    p /= p.sum()
    rows = []
    for u in range(n_users):
        for step, i in enumerate(rng.choice(n_items, size=8, replace=False, p=p)):
            rows.append(
                {
                    "user_id": f"u{u}",
                    "item_id": f"i{i}",
                    "event_type": "view",
                    "timestamp": 1_700_000_000 + 3600 * step + u,
                }
            )
    return Interactions.from_frame(pd.DataFrame(rows))


def test_select_default_prefers_popularity_when_nothing_else_is_learnable() -> None:
    inter = _zipf_shop(seed=0)
    sel = select_default(inter, n_trials=2, seed=0)
    decision = sel.report["decision"]
    assert decision["rule"] == "one_se" and decision["windows"] == 2
    # the leaderboard's top on the tuning window is a richer model, within noise of popularity
    assert decision["best"] != sel.name
    assert sel.name.startswith("most_popular")
    names = {f["name"] for f in decision["finalists"]}
    assert any(n.startswith("most_popular") for n in names) and len(names) >= 3
    # the old rule, for comparison: the top of the leaderboard
    best = select_default(inter, n_trials=2, seed=0, rule="best")
    assert best.name == decision["best"] == best.report["leaderboard"][0]["name"]
