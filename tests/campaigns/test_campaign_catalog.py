from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from campaignrec.campaigns.catalog import (
    covered_items,
    is_live,
    load_campaigns,
    load_campaigns_file,
    unit_cost,
    window_state,
)
from campaignrec.data.schema import Campaign
from campaignrec.errors import UnknownIdError, ValidationError

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def test_load_from_canonical_frame_parses_json_columns() -> None:
    frame = pd.DataFrame(
        [
            {
                "campaign_id": "c1",
                "name": "VIP",
                "type": "coupon",
                "audience": json.dumps({"field": "segment", "op": "eq", "value": "loyal"}),
                "item_ids": '["i1", "i2"]',
                "categories": "home|garden",
                "budget": 100.0,
                "inventory": float("nan"),
            },
            {"campaign_id": "c2", "name": "Flash", "type": "flash_sale", "audience": None},
        ]
    )
    cat = load_campaigns(frame)
    assert cat.ids == ["c1", "c2"]
    c1 = cat.get("c1")
    assert c1.audience == {"field": "segment", "op": "eq", "value": "loyal"}
    assert c1.item_ids == ["i1", "i2"]
    assert c1.categories == ["home", "garden"]
    assert c1.inventory is None
    assert cat.get("c2").audience is None
    assert len(cat.to_frame()) == 2


def test_unknown_id_and_bad_rule_name_the_field() -> None:
    cat = load_campaigns([{"campaign_id": "c1", "name": "x", "type": "coupon"}])
    with pytest.raises(UnknownIdError, match="nope"):
        cat.get("nope")
    with pytest.raises(ValidationError, match="audience"):
        load_campaigns(
            [
                {
                    "campaign_id": "c1",
                    "name": "x",
                    "type": "coupon",
                    "audience": {"field": "a", "op": "bogus", "value": 1},
                }
            ]
        )
    with pytest.raises(ValidationError, match="duplicate"):
        load_campaigns([{"campaign_id": "c1", "name": "x", "type": "coupon"}] * 2)


def test_window_states() -> None:
    base = {"campaign_id": "c", "name": "n", "type": "coupon"}
    live = Campaign(**base, start_time=NOW - timedelta(days=1), end_time=NOW + timedelta(days=1))
    assert window_state(live, NOW) == "live" and is_live(live, NOW)
    early = Campaign(**base, start_time=NOW + timedelta(hours=1))
    assert window_state(early, NOW) == "scheduled"
    late = Campaign(**base, start_time=NOW - timedelta(days=2), end_time=NOW)
    assert window_state(late, NOW) == "expired"  # end is exclusive
    assert window_state(Campaign(**base, status="paused"), NOW) == "paused"
    with pytest.raises(ValidationError, match="now"):
        window_state(live, datetime(2026, 6, 1))


def test_unit_cost_and_covered_items() -> None:
    c = Campaign(
        campaign_id="c",
        name="n",
        type="coupon",
        discount_type="percent",
        discount_value=10,
        min_spend=50,
        cost_per_redemption=1.0,
        item_ids=["x"],
        categories=["home"],
    )
    assert unit_cost(c) == pytest.approx(6.0)
    assert unit_cost(c, basket_value=100) == pytest.approx(11.0)
    items = pd.DataFrame(
        {"item_id": ["a", "b", "c", "x"], "category": ["home/kitchen", "homeware", "home", None]}
    )
    assert covered_items(c, items) == ["x", "a", "c"]


def test_load_files_toml_json_csv(tmp_path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text(
        '[[campaign]]\ncampaign_id = "t1"\nname = "Spring"\ntype = "coupon"\n'
        'budget = 500.0\naudience = { field = "segment", op = "in", value = ["loyal"] }\n',
        encoding="utf-8",
    )
    assert load_campaigns_file(toml).get("t1").audience["op"] == "in"
    js = tmp_path / "c.json"
    js.write_text(json.dumps({"campaigns": [{"campaign_id": "j1", "name": "n", "type": "bundle"}]}))
    assert load_campaigns_file(js).ids == ["j1"]
    csv = tmp_path / "c.csv"
    csv.write_text(
        "campaign_id,name,type,budget,frequency_cap,audience,categories\n"
        'v1,n,coupon,100,3,"{""field"": ""age"", ""op"": ""gte"", ""value"": 18}",a|b\n'
        "v2,m,coupon,,,,\n",
        encoding="utf-8",
    )
    cat = load_campaigns_file(csv)
    assert cat.get("v1").frequency_cap == 3 and cat.get("v1").budget == 100.0
    assert cat.get("v1").categories == ["a", "b"]
    assert cat.get("v2").budget is None and cat.get("v2").audience is None
    with pytest.raises(ValidationError, match="file type"):
        load_campaigns_file(tmp_path / "c.toml").get("t1") and load_campaigns_file(
            _touch(tmp_path / "c.xml")
        )


def _touch(p):
    p.write_text("x")
    return p
