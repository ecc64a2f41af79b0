"""Protected attributes in audiences and selection rates by group."""

from __future__ import annotations

import pytest

from campaignrec.campaigns.audience import audience_of
from campaignrec.campaigns.fairness import (
    check_protected_use,
    protected_fields_used,
    selection_rates,
)
from campaignrec.data.schema import Campaign
from campaignrec.errors import ValidationError


def _campaign(rule):
    return Campaign(campaign_id="c1", name="launch", type="new_arrival", audience=rule)


def test_protected_fields_are_named_and_refused_unless_declared():
    rule = {
        "all": [
            {"field": "gender", "op": "eq", "value": "female"},
            {"field": "region", "op": "eq", "value": "east"},
        ]
    }
    c = _campaign(rule)
    assert protected_fields_used(c) == ["gender"]
    with pytest.raises(ValidationError, match="gender"):
        check_protected_use(c)
    check_protected_use(c, declared=["gender"])  # a women's-wear launch says so
    check_protected_use(_campaign({"field": "region", "op": "eq", "value": "east"}))
    assert protected_fields_used(_campaign(None)) == []


def test_selection_rates_by_group():
    attrs = {
        f"u{n}": {"gender": "female" if n < 6 else "male", "region": "east" if n % 2 else "west"}
        for n in range(10)
    }
    c = _campaign({"field": "region", "op": "eq", "value": "east"})
    aud = audience_of(c, attrs)
    rates = selection_rates(aud, attrs).set_index(["field", "group"])
    assert rates.loc[("gender", "female"), "shoppers"] == 6
    assert rates.loc[("gender", "female"), "selected"] == 3  # u1, u3, u5
    assert rates.loc[("gender", "male"), "rate"] == pytest.approx(0.5)
    assert rates.loc[("region", "west"), "rate"] == 0.0
    assert rates.loc[("region", "east"), "ratio_to_max"] == 1.0
    assert "age_band" not in rates.index.get_level_values(0)  # nobody has it
