"""Exposure and relevance shares on lists whose right answer is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from campaignrec.data.interactions import Interactions
from campaignrec.evaluation.fairness import (
    exposure_report,
    new_item_groups,
    popularity_groups,
    position_weights,
    quality_by_user_group,
)


def test_exposure_and_relevance_shares_known_answer():
    recs = np.array([[0, 2], [1, -1]])  # item 0, 1 in group 0; item 2 in group 1
    groups = np.array([0, 0, 1])
    truth = sp.csr_matrix(np.array([[0, 0, 1], [0, 1, 0]]))
    rep = exposure_report(recs, truth, groups, ["established", "new"], k=2)
    w = position_weights(2)
    total = w[0] + w[1] + w[0]
    assert rep["exposure_share@2"].tolist() == pytest.approx([2 * w[0] / total, w[1] / total])
    assert rep["relevance_share"].tolist() == [0.5, 0.5]
    assert rep["catalogue_share"].tolist() == pytest.approx([2 / 3, 1 / 3])
    assert rep["exposure_to_relevance"].iloc[1] == pytest.approx((w[1] / total) / 0.5)


def test_quality_by_user_group():
    recs = np.array([[2, 0], [0, 1], [1, 0]])
    truth = sp.csr_matrix(np.array([[0, 0, 1], [0, 0, 1], [0, 1, 0]]))
    q = quality_by_user_group(recs, truth, np.array([0, 1, 1]), ["new", "returning"], 3, k=2)
    assert q["users"].tolist() == [1, 2]
    assert q["ndcg@2"].tolist() == pytest.approx([1.0, 0.5])
    assert q["coverage@2"].tolist() == pytest.approx([2 / 3, 2 / 3])


def test_item_groups_from_a_snapshot():
    t0 = pd.Timestamp("2024-01-01", tz="UTC")
    ev = pd.DataFrame(
        {
            "user_id": ["a", "b", "a", "b", "c", "c"],
            "item_id": ["old", "old", "mid", "old", "new", "old"],
            "event_type": "view",
            "timestamp": [t0 + pd.Timedelta(days=d) for d in (0, 1, 5, 6, 9, 10)],
        }
    )
    inter = Interactions.from_frame(ev)
    new = dict(zip(inter.items.ids, new_item_groups(inter, 0.2), strict=True))
    assert new == {"old": 0, "mid": 0, "new": 1}
    tail = dict(zip(inter.items.ids, popularity_groups(inter, 0.34), strict=True))
    assert tail["old"] == 0 and tail["new"] == 1


def test_evaluation_reports_exposure_of_new_and_long_tail_items():
    from campaignrec.data.synthetic import ShopConfig, generate_shop
    from campaignrec.evaluation.runner import run_evaluation
    from campaignrec.evaluation.splits import user_temporal_split
    from campaignrec.models.registry import create

    shop = generate_shop(ShopConfig(n_users=120, n_items=80, n_events=3_000, seed=3))
    inter = Interactions.from_frame(shop.events)
    results = run_evaluation(
        inter,
        user_temporal_split(inter),
        {"pop": lambda: create("most_popular"), "knn": lambda: create("item_knn")},
        ks=[10],
    )
    board = results.leaderboard().set_index("model")
    for group in ("new_items", "long_tail"):
        assert board[f"exposure_{group}@10"].between(0, 1).all()
        assert board[f"relevance_{group}"].between(0, 1).all()
    # most-popular shows the long tail only once a shopper has seen the head; item KNN more
    pop, knn = board.loc["pop", "exposure_long_tail@10"], board.loc["knn", "exposure_long_tail@10"]
    assert pop < knn
