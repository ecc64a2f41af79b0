import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaignrec.data.rules import evaluate, evaluate_frame, explain, parse_rule, rule_fields
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


# ---- evaluate_frame agrees with evaluate on every row ------------------------------------------
_FIELDS = ("a", "b", "c", "absent")
_scalar = st.one_of(
    st.integers(-3, 3),
    st.floats(-3, 3, allow_nan=False),
    st.booleans(),
    st.sampled_from(["x", "y", "xy", ""]),
)
_leaf = st.one_of(
    st.builds(
        lambda f, op, v: {"field": f, "op": op, "value": v},
        st.sampled_from(_FIELDS),
        st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte", "contains"]),
        _scalar,
    ),
    st.builds(
        lambda f, op, v: {"field": f, "op": op, "value": v},
        st.sampled_from(_FIELDS),
        st.sampled_from(["in", "not_in"]),
        st.lists(_scalar, max_size=3),
    ),
    st.builds(
        lambda f, lo, hi: {"field": f, "op": "between", "value": [lo, hi]},
        st.sampled_from(_FIELDS),
        _scalar,
        _scalar,
    ),
    st.builds(
        lambda f, op: {"field": f, "op": op},
        st.sampled_from(_FIELDS),
        st.sampled_from(["exists", "missing"]),
    ),
)
_rules = st.recursive(
    _leaf,
    lambda kids: st.one_of(
        st.builds(lambda k: {"all": k}, st.lists(kids, max_size=3)),
        st.builds(lambda k: {"any": k}, st.lists(kids, max_size=3)),
        st.builds(lambda k: {"not": k}, kids),
    ),
    max_leaves=6,
)
_object_value = st.one_of(
    st.none(),
    _scalar,
    st.lists(st.sampled_from(["x", "y", "home"]), max_size=3),
)


@st.composite
def _frames(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(0, 8))
    columns: dict[str, pd.Series] = {}
    for name in ("a", "b", "c"):
        kind = draw(st.sampled_from(["int", "float", "bool", "object"]))
        if kind == "int":
            values = draw(st.lists(st.integers(-3, 3), min_size=n, max_size=n))
            columns[name] = pd.Series(values, dtype="int64")
        elif kind == "float":
            cells = st.one_of(st.none(), st.floats(-3, 3, allow_nan=False))
            values = draw(st.lists(cells, min_size=n, max_size=n))
            columns[name] = pd.Series(values, dtype="float64")
        elif kind == "bool":
            values = draw(st.lists(st.booleans(), min_size=n, max_size=n))
            columns[name] = pd.Series(values, dtype="bool")
        else:
            values = draw(st.lists(_object_value, min_size=n, max_size=n))
            columns[name] = pd.Series(values, dtype=object)
    return pd.DataFrame(columns, index=pd.RangeIndex(n))


def _row_records(frame: pd.DataFrame) -> list[dict[str, object]]:
    """Each row as the mapping evaluate reads: a missing cell is an absent attribute."""
    rows = []
    for i in range(len(frame)):
        row: dict[str, object] = {}
        for name in frame.columns:
            value = frame[name].iloc[i]
            if isinstance(value, list) or not pd.isna(value):
                row[name] = value.item() if isinstance(value, np.generic) else value
        rows.append(row)
    return rows


@given(_rules, _frames())
def test_evaluate_frame_equals_evaluate_on_each_row(rule, frame):
    got = evaluate_frame(rule, frame)
    want = [evaluate(rule, row) for row in _row_records(frame)]
    assert got.dtype == bool
    assert got.tolist() == want


def test_evaluate_frame_missing_attributes_and_empty_any():
    frame = pd.DataFrame({"age": [25.0, 40.0, np.nan]})
    assert evaluate_frame({"field": "age", "op": "gte", "value": 30}, frame).tolist() == [
        False,
        True,
        False,
    ]
    assert evaluate_frame({"field": "age", "op": "ne", "value": 25}, frame).tolist() == [
        False,
        True,
        True,
    ]
    assert evaluate_frame({"field": "tier", "op": "missing"}, frame).all()
    assert evaluate_frame({"any": []}, frame).all()
    assert evaluate_frame(None, frame).all()
