from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from campaignrec.campaigns.relevance import (
    affinity_campaign_scores,
    campaign_relevance,
    model_campaign_scores,
)
from campaignrec.data.schema import Campaign
from campaignrec.errors import ValidationError

ITEMS = pd.DataFrame(
    {
        "item_id": ["k1", "k2", "k3", "g1", "g2", "b1"],
        "category": ["home/kitchen", "home/kitchen", "home/bath", "garden", "garden", "books"],
    }
)
CAMPS = [
    Campaign(campaign_id="home", name="h", type="coupon", categories=["home"]),
    Campaign(campaign_id="garden", name="g", type="coupon", categories=["garden"]),
    Campaign(campaign_id="book", name="b", type="flash_sale", item_ids=["b1"]),
]


class TableModel:
    """Scores from a fixed table; unknown pairs are NaN (like the Recommender protocol)."""

    def __init__(self, table: dict[tuple[str, str], float]) -> None:
        self.table = table

    def score(self, user_ids, item_ids):
        return np.array(
            [self.table.get((u, i), np.nan) for u, i in zip(user_ids, item_ids, strict=True)]
        )


MODEL = TableModel(
    {
        ("a", "k1"): 0.9,
        ("a", "k2"): 0.1,
        ("a", "k3"): 0.2,
        ("a", "g1"): 0.3,
        ("a", "g2"): 0.3,
        ("a", "b1"): 0.0,
        ("b", "k1"): 0.1,
        ("b", "k2"): 0.1,
        ("b", "k3"): 0.1,
        ("b", "g1"): 0.5,
        ("b", "g2"): 0.7,
        ("b", "b1"): 0.6,
    }
)


def test_model_scores_aggregate_over_covered_items() -> None:
    mx = model_campaign_scores(MODEL, ["a", "b"], CAMPS, ITEMS, agg="max")
    np.testing.assert_allclose(mx, [[0.9, 0.3, 0.0], [0.1, 0.7, 0.6]])
    top2 = model_campaign_scores(MODEL, ["a", "b"], CAMPS, ITEMS, agg="mean_top_m", m=2)
    np.testing.assert_allclose(top2[0], [0.55, 0.3, 0.0])
    unknown = model_campaign_scores(MODEL, ["zz"], CAMPS, ITEMS)
    assert np.isnan(unknown).all()


def test_affinity_matches_category_paths() -> None:
    aff = {"a": {"home/kitchen": 0.8, "books": 0.2}, "b": {"garden": 0.4}}
    s = affinity_campaign_scores(aff, ["a", "b", "c"], CAMPS, ITEMS)
    np.testing.assert_allclose(s, [[0.8, 0.0, 0.2], [0.0, 0.4, 0.0], [0, 0, 0]])


def test_relevance_ranks_the_obvious_campaign_first() -> None:
    aff = {"a": {"home/kitchen": 0.8}, "b": {"garden": 0.4, "books": 0.4}}
    rel = campaign_relevance(["a", "b"], CAMPS, model=MODEL, affinities=aff, items=ITEMS)
    assert rel.loc["a"].idxmax() == "home"
    assert rel.loc["b"].idxmax() == "garden"
    assert ((rel.to_numpy() >= 0) & (rel.to_numpy() <= 1)).all()
    only_model = campaign_relevance(["a"], CAMPS, model=MODEL, items=ITEMS)
    assert only_model.loc["a"].tolist() == pytest.approx([1.0, 0.5, 0.0])
    with pytest.raises(ValidationError, match="model"):
        campaign_relevance(["a"], CAMPS)


def test_relevance_orders_served_campaigns_of_equal_priority() -> None:
    from datetime import UTC, datetime

    from campaignrec.campaigns.eligibility import CampaignServer
    from campaignrec.campaigns.relevance import relevance_value_fn
    from campaignrec.store.online import open_online_state

    aff = {"a": {"garden": 0.9, "home": 0.2}}
    rel = campaign_relevance(["a"], CAMPS, affinities=aff, items=ITEMS)
    server = CampaignServer(CAMPS, open_online_state("memory://"), value_fn=relevance_value_fn(rel))
    d = server.serve("a", {}, 3, datetime(2026, 1, 1, tzinfo=UTC))
    assert d.campaign_ids[:2] == ["garden", "home"]
    assert d.served[0].value == pytest.approx(1.0)
