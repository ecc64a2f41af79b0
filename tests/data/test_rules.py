import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaignrec.data.rules import evaluate, explain, parse_rule, rule_fields
from campaignrec.errors import ValidationError

RULE = {
    "all": [
        {"field": "segment", "op": "in", "value": ["loyal", "champions"]},
        {"not": {"field": "lifecycle", "op": "eq", "value": "churned"}},
        {
            "any": [
                {"field": "age", "op": "between", "value": [18, 30]},
                {"field": "vip", "op": "exists"},
            ]
        },
    ]
}


def test_rule_holds_and_explains_failure():
    ok = {"segment": "loyal", "lifecycle": "active", "age": 25}
    assert evaluate(RULE, ok)
    assert explain(RULE, ok) is None
    dormant = {**ok, "segment": "dormant"}
    assert not evaluate(RULE, dormant)
    assert "segment is 'dormant'" in explain(RULE, dormant)
    churned = {**ok, "lifecycle": "churned"}
    assert explain(RULE, churned) == "excluded by a 'not' rule"
    old = {**ok, "age": 60}
    assert explain(RULE, old).startswith("none of:")
    assert evaluate(RULE, {**old, "vip": True})


def test_no_rule_means_everyone_and_fields_are_listed():
    assert evaluate(None, {})
    assert rule_fields(RULE) == {"segment", "lifecycle", "age", "vip"}


@pytest.mark.parametrize(
    "bad, where",
    [
        ([1, 2], "audience"),
        ({"all": {"field": "a"}}, "audience.all"),
        ({"field": "a", "op": "in", "value": "x"}, "audience.value"),
        ({"field": "a", "op": "between", "value": [1]}, "audience.value"),
        ({"all": [{"field": "a", "op": "gt"}]}, "audience.all[0].value"),
        ({"field": "a", "op": "__import__", "value": 1}, "audience.op"),
        ({"code": "os.system('x')"}, "audience"),
    ],
)
def test_bad_rules_name_the_node(bad, where):
    with pytest.raises(ValidationError) as info:
        parse_rule(bad)
    assert info.value.field == where


def test_type_mismatch_is_false_not_a_crash():
    assert not evaluate({"field": "age", "op": "gt", "value": 3}, {"age": "old"})
    assert evaluate({"field": "age", "op": "ne", "value": 3}, {})


@given(st.integers(-100, 100), st.integers(-100, 100))
def test_not_inverts(x, threshold):
    leaf = {"field": "x", "op": "gt", "value": threshold}
    assert evaluate(leaf, {"x": x}) != evaluate({"not": leaf}, {"x": x})
    assert evaluate({"all": [leaf]}, {"x": x}) == evaluate({"any": [leaf]}, {"x": x})
