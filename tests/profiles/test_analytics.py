"""Funnels, heatmaps, co-purchase rules and cohorts on known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from campaignrec.errors import ValidationError
from campaignrec.profiles.analytics import (
    activity_heatmap,
    association_rules,
    baskets,
    cohort_retention,
    frequently_bought_together,
    funnel,
    peak_slots,
    planted_pair_recall,
    rules_from_baskets,
)

from .conftest import T0, events


def _funnel_events() -> pd.DataFrame:
    rows = []
    for u, stages in (("a", 4), ("b", 2), ("c", 3)):
        for st in ("view", "click", "add_to_cart", "purchase")[:stages]:
            rows.append({"user_id": u, "event_type": st, "item_id": "i1", "t": 0, "order_id": "o"})
    rows.append({"user_id": "a", "event_type": "view", "item_id": "i3", "t": 1})
    return events(rows)


def test_funnel_counts_and_rates(items: pd.DataFrame) -> None:
    ev = _funnel_events()
    f = funnel(ev).iloc[0]
    assert (f["view"], f["click"], f["add_to_cart"], f["purchase"]) == (4, 3, 2, 1)
    assert f["view_to_click"] == pytest.approx(0.75)
    assert f["overall"] == pytest.approx(0.25)
    by_cat = funnel(ev, by="category", items=items).set_index("category")
    assert by_cat.loc["socks", "view"] == 1 and by_cat.loc["shoes", "purchase"] == 1
    prof = pd.DataFrame({"user_id": ["a", "b", "c"], "segment_name": ["x", "y", "y"]})
    by_seg = funnel(ev, by="segment", profiles=prof).set_index("segment")
    assert by_seg.loc["y", "click"] == 2 and by_seg.loc["x", "view"] == 2
    by_day = funnel([ev.iloc[:5], ev.iloc[5:]], by="day")  # chunks add up
    assert by_day["view"].sum() == 4 and len(by_day) == 2
    with pytest.raises(ValidationError, match="by"):
        funnel(ev, by="weather")


def test_campaign_funnel_counts_sessions() -> None:
    ev = events(
        [
            {
                "user_id": "a",
                "event_type": "campaign_impression",
                "campaign_id": "c1",
                "session_id": "s1",
                "t": 0,
            },
            {
                "user_id": "a",
                "event_type": "campaign_click",
                "campaign_id": "c1",
                "session_id": "s1",
                "t": 0,
            },
            {"user_id": "a", "event_type": "purchase", "item_id": "i1", "session_id": "s1", "t": 0},
            {
                "user_id": "b",
                "event_type": "campaign_impression",
                "campaign_id": "c1",
                "session_id": "s2",
                "t": 0,
            },
            {"user_id": "b", "event_type": "purchase", "item_id": "i1", "session_id": "s2", "t": 0},
        ]
    )
    f = funnel(ev, by="campaign").iloc[0]
    assert f["campaign"] == "c1"
    assert (f["campaign_impression"], f["campaign_click"], f["purchase"]) == (2, 1, 1)


def test_heatmap_and_peaks() -> None:
    ev = events(
        [
            {"user_id": "a", "event_type": "view", "timestamp": T0 + pd.Timedelta(hours=20)},
            {"user_id": "a", "event_type": "view", "timestamp": T0 + pd.Timedelta(hours=20.5)},
            {"user_id": "b", "event_type": "view", "timestamp": T0 + pd.Timedelta(hours=33)},
        ]
    )
    prof = pd.DataFrame({"user_id": ["a", "b"], "segment_name": ["night", "morning"]})
    hm = activity_heatmap(ev, profiles=prof)
    assert len(hm) == 2 * 7 * 24
    assert hm.groupby("segment")["share"].sum().tolist() == pytest.approx([1.0, 1.0])
    peaks = peak_slots(hm, top=1).set_index("segment")
    assert (peaks.loc["night", "weekday"], peaks.loc["night", "hour"]) == (4, 20)  # Friday 20h
    assert (peaks.loc["morning", "weekday"], peaks.loc["morning", "hour"]) == (5, 9)
    everyone = activity_heatmap(ev, segment_column=None, timezone="Asia/Shanghai")
    assert everyone.loc[everyone["events"].idxmax(), "hour"] == 4  # 20h UTC = 4h in Shanghai


def test_association_rules_known_answer() -> None:
    # 10 orders: x+y together in 4, x alone in 2, y alone in 1, z alone in 3
    rows = []
    orders = [["x", "y"]] * 4 + [["x"]] * 2 + [["y"]] + [["z"]] * 3
    for k, basket in enumerate(orders):
        for it in basket:
            rows.append(
                {
                    "user_id": f"u{k}",
                    "event_type": "purchase",
                    "item_id": it,
                    "order_id": f"o{k}",
                    "t": 0,
                }
            )
    rules = association_rules(events(rows), min_count=2)
    assert rules.attrs["n_baskets"] == 10
    r = rules.set_index(["antecedent", "consequent"])
    assert r.loc[("x", "y"), "count"] == 4
    assert r.loc[("x", "y"), "support"] == pytest.approx(0.4)
    assert r.loc[("x", "y"), "confidence"] == pytest.approx(4 / 6)
    assert r.loc[("y", "x"), "confidence"] == pytest.approx(4 / 5)
    assert r.loc[("x", "y"), "lift"] == pytest.approx(0.4 / (0.6 * 0.5))
    pairs = frequently_bought_together(rules)
    assert pairs[["item_a", "item_b"]].values.tolist() == [["x", "y"]]
    assert frequently_bought_together(rules, item_id="y")["item_b"].tolist() == ["x"]
    assert (
        planted_pair_recall(rules, pd.DataFrame({"item_a": ["y"], "item_b": ["x"]}))["recall"]
        == 1.0
    )
    assert association_rules(events(rows), min_count=5).empty
    # the rules of a ready basket table, in the order bundles read them
    by_item = rules_from_baskets(
        baskets(events(rows)).rename(columns={"basket": "basket_id"}),
        basket_column="basket_id",
        min_count=2,
        order="antecedent",
    )
    assert by_item[["antecedent", "consequent"]].values.tolist() == [["x", "y"], ["y", "x"]]
    pd.testing.assert_frame_equal(
        by_item.set_index(["antecedent", "consequent"]), r.sort_index(), check_exact=True
    )
    with pytest.raises(ValidationError):
        rules_from_baskets(baskets(events(rows)), min_count=0)
    with pytest.raises(ValidationError):
        rules_from_baskets(baskets(events(rows)), order="confidence")  # type: ignore[arg-type]


def test_baskets_without_order_id_use_user_and_time() -> None:
    rows = [
        {"user_id": "a", "event_type": "purchase", "item_id": "x", "t": 0},
        {"user_id": "a", "event_type": "purchase", "item_id": "y", "t": 0},
        {"user_id": "a", "event_type": "purchase", "item_id": "x", "t": 1},
        {"user_id": "b", "event_type": "purchase", "item_id": "y", "t": 0},
    ]
    rules = association_rules(events(rows), min_count=1)
    assert rules.attrs["n_baskets"] == 3
    assert rules.set_index(["antecedent", "consequent"]).loc[("x", "y"), "count"] == 1


def test_cohort_retention() -> None:
    users = pd.DataFrame(
        {
            "user_id": ["a", "b", "c"],
            "signup_time": pd.to_datetime(["2024-01-05", "2024-01-20", "2024-02-02"], utc=True),
        }
    )
    ev = events(
        [
            {"user_id": "a", "event_type": "view", "timestamp": "2024-01-06T00:00:00Z"},
            {"user_id": "a", "event_type": "view", "timestamp": "2024-03-06T00:00:00Z"},
            {
                "user_id": "b",
                "event_type": "purchase",
                "item_id": "x",
                "timestamp": "2024-02-06T00:00:00Z",
            },
            {"user_id": "c", "event_type": "view", "timestamp": "2024-02-07T00:00:00Z"},
            {"user_id": "d", "event_type": "view", "timestamp": "2024-03-01T00:00:00Z"},
        ]
    )
    t = cohort_retention(ev, users)
    assert t.loc["2024-01", "size"] == 2 and t.loc["2024-03", "size"] == 1  # d: first event
    assert t.loc["2024-01", 0] == pytest.approx(0.5)
    assert t.loc["2024-01", 1] == pytest.approx(0.5)
    assert t.loc["2024-01", 2] == pytest.approx(0.5)
    assert t.loc["2024-02", 0] == pytest.approx(1.0)
    p = cohort_retention(ev, users, activity="purchase")
    assert p.loc["2024-01", 1] == pytest.approx(0.5) and p.loc["2024-01", 0] == 0


def test_copurchase_rules_recover_planted_pairs() -> None:
    from campaignrec.data.synthetic import ShopConfig, generate_shop

    shop = generate_shop(ShopConfig(n_users=300, n_items=120, n_events=40_000, seed=5))
    rules = association_rules(shop.events, min_count=3)
    strong = rules[rules["lift"] > 5]
    truth = shop.truth.complementary_pairs
    assert planted_pair_recall(strong, truth)["recall"] >= 0.8
    # the most frequent above-chance pairs are the planted ones
    pairs = frequently_bought_together(rules, top=len(truth))
    planted = {frozenset(p) for p in zip(truth["item_a"], truth["item_b"], strict=True)}
    found = [frozenset(p) in planted for p in zip(pairs["item_a"], pairs["item_b"], strict=True)]
    assert np.mean(found) >= 0.8
