from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from campaignrec.campaigns.bundles import (
    ItemEmbeddings,
    association_rules,
    complementary_items,
    evaluate_bundles,
    order_baskets,
    price_bundle,
    recommend_bundles,
    split_baskets,
)
from campaignrec.profiles import analytics


def _shop_baskets(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Baskets where p0 -> q0, p1 -> q1, ... are planted pairs (partner joins 60% of the time)."""
    rng = np.random.default_rng(seed)
    items = [f"i{k}" for k in range(30)]
    pop = np.linspace(3, 1, 30)
    pop /= pop.sum()
    rows = []
    for b in range(n):
        picked = set(rng.choice(items, size=int(rng.integers(1, 4)), replace=False, p=pop))
        for k in range(5):
            if f"p{k}" not in picked and rng.random() < 0.15:
                picked.add(f"p{k}")
                if rng.random() < 0.6:
                    picked.add(f"q{k}")
        rows += [(f"o{b}", "u", i) for i in picked]
    return pd.DataFrame(rows, columns=["order_id", "user_id", "item_id"])


def test_rules_have_known_values() -> None:
    baskets = pd.DataFrame(
        {"basket_id": ["1", "1", "2", "2", "3", "4"], "item_id": ["a", "b", "a", "b", "a", "c"]}
    )
    r = association_rules(baskets, min_count=1).set_index(["antecedent", "consequent"])
    assert r.loc[("a", "b"), "count"] == 2
    assert r.loc[("a", "b"), "support"] == pytest.approx(0.5)
    assert r.loc[("a", "b"), "confidence"] == pytest.approx(2 / 3)
    assert r.loc[("b", "a"), "confidence"] == pytest.approx(1.0)
    assert r.loc[("a", "b"), "lift"] == pytest.approx((2 / 3) / (2 / 4))
    assert ("a", "c") not in r.index
    # bundles has always taken min_count 0 as 1
    pd.testing.assert_frame_equal(
        association_rules(baskets, min_count=0), association_rules(baskets, min_count=1)
    )


def test_bundle_rules_are_the_profile_rules_on_the_same_baskets() -> None:
    # one definition: bundles' rules from order baskets equal profiles' rules from the events
    ev = _shop_baskets(n=800).assign(event_type="purchase", timestamp=0)
    from_baskets = association_rules(order_baskets(ev), min_count=3)
    from_events = analytics.association_rules(ev, min_count=3)
    assert len(from_baskets) > 50
    assert from_baskets.attrs["n_baskets"] == from_events.attrs["n_baskets"] == 800
    key = ["antecedent", "consequent"]
    pd.testing.assert_frame_equal(
        from_baskets.sort_values(key).reset_index(drop=True),
        from_events.sort_values(key).reset_index(drop=True),
        check_exact=True,
    )
    # lift is one number per pair, whichever direction
    back = from_baskets.set_index(["consequent", "antecedent"])["lift"]
    assert (from_baskets.set_index(key)["lift"] == back.reindex(from_baskets[key]).values).all()
    # each caller keeps its order: bundles by antecedent then confidence, profiles by lift
    pd.testing.assert_frame_equal(
        from_baskets,
        from_events.sort_values(
            ["antecedent", "confidence", "lift", "consequent"],
            ascending=[True, False, False, True],
        ).reset_index(drop=True),
        check_exact=True,
    )
    assert from_events["lift"].is_monotonic_decreasing


def test_planted_pairs_are_recovered_and_beat_popularity() -> None:
    ev = _shop_baskets().assign(event_type="purchase", timestamp=0)
    baskets = order_baskets(ev)
    train, test = split_baskets(baskets, test_share=0.3, seed=1)
    comp = complementary_items(association_rules(train, min_count=5), k=1)
    for k in range(5):
        assert comp[f"p{k}"][0][0] == f"q{k}"
    res = evaluate_bundles(train, test, comp)
    assert res["cases"] > 100
    assert res["hit_rate"] > 2 * res["popularity_hit_rate"]


def test_price_keeps_margin() -> None:
    p = price_bundle([100.0, 50.0], [60.0, 30.0], max_discount=0.3, min_margin=0.2)
    # cost 90; price at 20% margin = 112.5 -> discount 25%
    assert p["discount"] == pytest.approx(0.25)
    assert p["bundle_price"] == pytest.approx(112.5)
    assert p["margin"] == pytest.approx(0.2)
    capped = price_bundle([100.0], [10.0], max_discount=0.1, min_margin=0.2)
    assert capped["discount"] == pytest.approx(0.1)
    none = price_bundle([100.0], [95.0], max_discount=0.3, min_margin=0.2)
    assert none["discount"] == 0.0


def test_recommend_bundles_and_embeddings() -> None:
    comp = {"a": [("b", 0.9)], "b": [("a", 0.8)], "c": [("z", 0.5)]}
    items = pd.DataFrame({"item_id": ["a", "b", "c"], "price": [10.0, 30.0, 5.0]})
    out = recommend_bundles(comp, items, margin_rate=0.5, min_margin=0.3, max_discount=0.5)
    assert len(out) == 1  # a/b once; c's partner has no price
    row = out.iloc[0]
    assert (row.item_a, row.item_b) == ("a", "b")
    assert row.margin >= 0.3 - 1e-9 and row.discount > 0
    emb = ItemEmbeddings(["a", "b", "c", "n"], np.array([[1, 0], [0.9, 0.1], [0, 1], [1, 0.05]]))
    rules = pd.DataFrame(
        {
            "antecedent": ["a", "a"],
            "consequent": ["b", "c"],
            "confidence": [0.5, 0.55],
            "lift": [2.0, 2.0],
        }
    )
    plain = complementary_items(rules, k=2)
    assert plain["a"][0][0] == "c"
    mixed = complementary_items(
        rules, k=2, embeddings=emb, embedding_weight=0.5, candidates=["a", "b", "c", "n"]
    )
    assert mixed["a"][0][0] == "b"  # similarity breaks the near tie
    assert mixed["n"][0][0] == "a"  # a new item with no rules gets a partner by similarity
