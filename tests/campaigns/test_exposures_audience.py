from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from campaignrec.campaigns.audience import audience_of, base_attributes, merge_attributes
from campaignrec.campaigns.exposures import exposure_outcomes, segment_response_rates
from campaignrec.data.schema import Campaign

T0 = datetime(2025, 3, 1, 10, tzinfo=UTC)
ITEMS = pd.DataFrame({"item_id": ["k1", "g1"], "category": ["home/kitchen", "garden"]})
CAMP = Campaign(campaign_id="c", name="home", type="coupon", categories=["home"])


def _ev(rows):
    cols = ["user_id", "event_type", "timestamp", "item_id", "campaign_id", "session_id", "variant"]
    return pd.DataFrame(rows, columns=cols)


def test_outcome_is_a_covered_purchase_in_the_exposure_session() -> None:
    ev = _ev(
        [
            ("a", "campaign_impression", T0, None, "c", "s1", "treatment"),
            ("a", "purchase", T0 + timedelta(minutes=5), "k1", None, "s1", None),
            ("b", "campaign_impression", T0, None, "c", "s2", "control"),
            ("b", "purchase", T0, "g1", None, "s2", None),  # not covered
            ("c", "campaign_impression", T0, None, "c", "s3", "control"),
            ("c", "purchase", T0, "k1", None, "s3", None),
            ("d", "campaign_impression", T0, None, "c", "s4", None),  # no variant: shown
        ]
    )
    out = exposure_outcomes(ev, [CAMP], ITEMS).set_index("user_id")
    assert out["treated"].to_dict() == {"a": 1, "b": 0, "c": 0, "d": 1}
    assert out["outcome"].to_dict() == {"a": 1, "b": 0, "c": 1, "d": 0}


def test_outcome_window_without_sessions() -> None:
    ev = _ev(
        [
            ("a", "campaign_impression", T0, None, "c", None, "treatment"),
            ("a", "purchase", T0 + timedelta(hours=3), "k1", None, None, None),
            ("b", "campaign_impression", T0, None, "c", None, "treatment"),
            ("b", "purchase", T0 + timedelta(hours=30), "k1", None, None, None),
            ("b", "purchase", T0 - timedelta(hours=1), "k1", None, None, None),
        ]
    )
    out = exposure_outcomes(ev, [CAMP], ITEMS, window_hours=24).set_index("user_id")
    assert out["outcome"].to_dict() == {"a": 1, "b": 0}


def test_segment_rates_are_shrunk_to_the_campaign_rate() -> None:
    rows = []
    for i in range(100):
        rows.append(
            {
                "user_id": f"v{i}",
                "campaign_id": "c",
                "treated": i % 2,
                "outcome": int(i % 2 and i % 4 == 1),
            }
        )
    out = pd.DataFrame(rows)
    seg = {f"v{i}": "vip" for i in range(100)}
    r = segment_response_rates(out, seg, prior_strength=0).iloc[0]
    assert r.p_treated == pytest.approx(0.5) and r.p_control == pytest.approx(0.0)
    assert r.uplift == pytest.approx(0.5) and r.n_treated == 50
    small = pd.concat(
        [out, pd.DataFrame([{"user_id": "x", "campaign_id": "c", "treated": 1, "outcome": 1}])]
    )
    rs = segment_response_rates(small, {**seg, "x": "tiny"}, prior_strength=20)
    tiny = rs.set_index("segment").loc["tiny"]
    assert 0.5 < tiny.p_treated < 0.6  # one success pulled towards the campaign's ~0.51


def test_base_attributes_and_audience() -> None:
    now = datetime(2025, 6, 1, tzinfo=UTC)
    users = pd.DataFrame(
        {
            "user_id": ["a", "b", "c"],
            "birth_year": [1990, None, 2000],
            "gender": ["female", "male", None],
            "membership_tier": ["gold", "basic", "gold"],
            "signup_time": [now - timedelta(days=3), now - timedelta(days=300), None],
            "consent_marketing": [True, True, False],
            "attributes": [{"language": "zh"}, {}, None],
        }
    )
    ev = pd.DataFrame(
        {"user_id": ["a"], "event_type": ["purchase"], "item_id": ["k1"], "timestamp": [now]}
    )
    attrs = base_attributes(users, ev, ITEMS, now=now)
    a = attrs["a"]
    assert a["age"] == 35 and a["is_new"] is True and a["language"] == "zh"
    assert a["bought_categories"] == ["home", "home/kitchen"] and a["n_purchases"] == 1
    assert attrs["b"]["age"] is None and attrs["b"]["is_new"] is False
    merged = merge_attributes(
        attrs,
        {"a": {"segment": "loyal", "bought_categories": ["garden/tools"]}, "z": {"segment": "new"}},
    )
    assert merged["a"]["segment"] == "loyal" and merged["z"]["user_id"] == "z"
    assert merged["a"]["bought_categories"] == ["garden", "garden/tools"]
    gold = Campaign(
        campaign_id="g",
        name="g",
        type="coupon",
        audience={
            "all": [
                {"field": "membership_tier", "op": "eq", "value": "gold"},
                {"field": "bought_categories", "op": "contains", "value": "home"},
            ]
        },
    )
    assert audience_of(gold, attrs) == ["a"]
    everyone = Campaign(campaign_id="e", name="e", type="coupon")
    assert audience_of(everyone, attrs) == ["a", "b"]  # c has no marketing consent
