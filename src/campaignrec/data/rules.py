"""Audience rules: a small rule tree that is data, never code.

A rule is a JSON-able dict, one of::

    {"all": [rule, ...]}        every child holds (an empty list holds)
    {"any": [rule, ...]}        at least one child holds
    {"not": rule}               the child does not hold
    {"field": "segment", "op": "in", "value": ["loyal", "champions"]}

Leaf operators: eq, ne, in, not_in, gt, gte, lt, lte, between ([low, high], inclusive), exists,
missing, contains (a list attribute contains the value, or a string contains the substring).
A user's attributes are a flat mapping (profile fields such as ``segment``, ``lifecycle``,
``membership_tier``, ``region``, ``age``, ``bought_categories``, ``is_new``). Evaluating a rule
never executes user-supplied code; explaining one says which leaf failed and why.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from campaignrec.errors import ValidationError

#: User attributes a campaign audience may select on only when the campaign declares them
#: (the ``protected_attributes`` setting overrides this default).
PROTECTED_ATTRIBUTES = ("gender", "age", "age_band", "birth_year")

OPS = (
    "eq",
    "ne",
    "in",
    "not_in",
    "gt",
    "gte",
    "lt",
    "lte",
    "between",
    "exists",
    "missing",
    "contains",
)


@dataclass(frozen=True)
class Leaf:
    field: str
    op: str
    value: Any = None


@dataclass(frozen=True)
class All:
    children: tuple[Rule, ...]


@dataclass(frozen=True)
class AnyOf:
    children: tuple[Rule, ...]


@dataclass(frozen=True)
class Not:
    child: Rule


Rule = Leaf | All | AnyOf | Not


def parse_rule(node: Any, path: str = "audience") -> Rule:
    """Parse and validate a rule tree; raises :class:`ValidationError` naming the bad node."""
    if not isinstance(node, Mapping):
        raise ValidationError(path, "a rule must be an object", value=node)
    keys = set(node)
    if keys == {"all"} or keys == {"any"}:
        key = next(iter(keys))
        kids = node[key]
        if not isinstance(kids, list):
            raise ValidationError(f"{path}.{key}", "must be a list of rules", value=kids)
        parsed = tuple(parse_rule(k, f"{path}.{key}[{i}]") for i, k in enumerate(kids))
        return All(parsed) if key == "all" else AnyOf(parsed)
    if keys == {"not"}:
        return Not(parse_rule(node["not"], f"{path}.not"))
    if "field" in keys and "op" in keys and keys <= {"field", "op", "value"}:
        field, op, value = node["field"], node["op"], node.get("value")
        if not isinstance(field, str) or not field:
            raise ValidationError(f"{path}.field", "must be a non-empty string", value=field)
        if op not in OPS:
            raise ValidationError(
                f"{path}.op", f"unknown operator; use one of {', '.join(OPS)}", value=op
            )
        if op in ("in", "not_in") and not isinstance(value, list):
            raise ValidationError(f"{path}.value", f"'{op}' needs a list", value=value)
        if op == "between" and not (isinstance(value, list) and len(value) == 2):
            raise ValidationError(f"{path}.value", "'between' needs [low, high]", value=value)
        if op not in ("exists", "missing") and "value" not in node:
            raise ValidationError(f"{path}.value", f"'{op}' needs a value")
        return Leaf(field, op, value)
    raise ValidationError(
        path,
        "expected one of the keys all / any / not, or field + op (+ value)",
        value=sorted(keys),
    )


def _leaf_holds(leaf: Leaf, attrs: Mapping[str, Any]) -> bool:
    present = leaf.field in attrs and attrs[leaf.field] is not None
    if leaf.op == "exists":
        return present
    if leaf.op == "missing":
        return not present
    if not present:
        return leaf.op in ("ne", "not_in")
    x = attrs[leaf.field]
    v = leaf.value
    try:
        match leaf.op:
            case "eq":
                return bool(x == v)
            case "ne":
                return bool(x != v)
            case "in":
                return x in v
            case "not_in":
                return x not in v
            case "gt":
                return bool(x > v)
            case "gte":
                return bool(x >= v)
            case "lt":
                return bool(x < v)
            case "lte":
                return bool(x <= v)
            case "between":
                return bool(v[0] <= x <= v[1])
            case "contains":
                return v in x
    except TypeError:
        return False
    return False


def evaluate(rule: Rule | Mapping[str, Any] | None, attrs: Mapping[str, Any]) -> bool:
    """Whether ``attrs`` satisfies ``rule`` (``None`` means everyone)."""
    return explain(rule, attrs) is None


def explain(rule: Rule | Mapping[str, Any] | None, attrs: Mapping[str, Any]) -> str | None:
    """``None`` when the rule holds, else a human sentence naming the first condition that failed."""
    if rule is None:
        return None
    node = rule if isinstance(rule, Leaf | All | AnyOf | Not) else parse_rule(rule)
    if isinstance(node, Leaf):
        if _leaf_holds(node, attrs):
            return None
        actual = attrs.get(node.field)
        want = "" if node.op in ("exists", "missing") else f" {node.value!r}"
        return f"{node.field} is {actual!r}, rule needs {node.op}{want}"
    if isinstance(node, All):
        for child in node.children:
            why = explain(child, attrs)
            if why is not None:
                return why
        return None
    if isinstance(node, AnyOf):
        reasons = [explain(c, attrs) for c in node.children]
        if not node.children or any(r is None for r in reasons):
            return None
        return "none of: " + "; ".join(r for r in reasons if r)
    why = explain(node.child, attrs)
    return "excluded by a 'not' rule" if why is None else None


def rule_fields(rule: Rule | Mapping[str, Any] | None) -> set[str]:
    """Every attribute name the rule reads (to check a profile can answer it)."""
    if rule is None:
        return set()
    node = rule if isinstance(rule, Leaf | All | AnyOf | Not) else parse_rule(rule)
    if isinstance(node, Leaf):
        return {node.field}
    if isinstance(node, Not):
        return rule_fields(node.child)
    out: set[str] = set()
    for child in node.children:
        out |= rule_fields(child)
    return out


# ---- many users at once ------------------------------------------------------------------------
_NUMERIC_KINDS = "biuf"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, np.datetime64)


def _present_holds(leaf: Leaf, x: Any) -> bool:
    """``_leaf_holds`` for one present value (the object path of :func:`evaluate_frame`)."""
    return _leaf_holds(leaf, {leaf.field: x})


def _numeric_leaf(leaf: Leaf, col: NDArray[Any]) -> NDArray[np.bool_] | None:
    """The leaf on a numeric column with numpy, or ``None`` when only the object path is exact."""
    v = leaf.value
    match leaf.op:
        case "eq" | "ne" | "gt" | "gte" | "lt" | "lte" if _is_number(v):
            fn = {
                "eq": np.equal,
                "ne": np.not_equal,
                "gt": np.greater,
                "gte": np.greater_equal,
                "lt": np.less,
                "lte": np.less_equal,
            }[leaf.op]
            return np.asarray(fn(col, v), dtype=bool)
        case "in" | "not_in" if all(_is_number(x) for x in v):
            inside = (
                np.isin(col, np.asarray(v, dtype=np.float64)) if v else np.zeros(len(col), bool)
            )
            return inside if leaf.op == "in" else ~inside
        case "between" if _is_number(v[0]) and _is_number(v[1]):
            return np.asarray((col >= v[0]) & (col <= v[1]), dtype=bool)
        case "contains":
            return np.zeros(len(col), dtype=bool)  # a number contains nothing
    return None


def _leaf_frame(leaf: Leaf, frame: pd.DataFrame) -> NDArray[np.bool_]:
    n = len(frame)
    if leaf.field not in frame.columns:
        present = np.zeros(n, dtype=bool)
        values: NDArray[Any] = np.empty(0, dtype=object)
    else:
        column = frame[leaf.field]
        values = column.to_numpy()
        present = ~np.asarray(pd.isna(values), dtype=bool)
    if leaf.op == "exists":
        return present
    if leaf.op == "missing":
        return ~present
    out = np.full(n, leaf.op in ("ne", "not_in"), dtype=bool)  # what a missing value gives
    if not present.any():
        return out
    col = values[present]
    fast = _numeric_leaf(leaf, col) if col.dtype.kind in _NUMERIC_KINDS else None
    if fast is None:
        fast = np.fromiter((_present_holds(leaf, x) for x in col), dtype=bool, count=len(col))
    out[present] = fast
    return out


def evaluate_frame(rule: Rule | Mapping[str, Any] | None, frame: pd.DataFrame) -> NDArray[np.bool_]:
    """Whether each row of ``frame`` satisfies ``rule``: one boolean per row, in row order.

    The same semantics as :func:`evaluate` on each row: a column that is absent, or a cell that is
    missing (``None``, ``NaN``, ``NA``), is a missing attribute (only ``ne``, ``not_in`` and
    ``missing`` hold on it); values that cannot be compared do not satisfy the leaf.

    Parameters
    ----------
    rule : Rule, mapping or None
        A parsed rule, a rule dict (parsed and validated here) or ``None`` (every row holds).
    frame : DataFrame
        One row per user, one column per attribute.

    Returns
    -------
    numpy.ndarray
        Boolean array of length ``len(frame)``.

    Examples
    --------
    >>> import pandas as pd
    >>> rule = {"field": "age", "op": "gte", "value": 30}
    >>> evaluate_frame(rule, pd.DataFrame({"age": [25, 40, None]})).tolist()
    [False, True, False]
    """
    n = len(frame)
    if rule is None:
        return np.ones(n, dtype=bool)
    node = rule if isinstance(rule, Leaf | All | AnyOf | Not) else parse_rule(rule)
    if isinstance(node, Leaf):
        return _leaf_frame(node, frame)
    if isinstance(node, Not):
        return ~evaluate_frame(node.child, frame)
    if isinstance(node, All):
        out = np.ones(n, dtype=bool)
        for child in node.children:
            out &= evaluate_frame(child, frame)
        return out
    if not node.children:
        return np.ones(n, dtype=bool)  # an empty "any" holds, as in evaluate
    out = np.zeros(n, dtype=bool)
    for child in node.children:
        out |= evaluate_frame(child, frame)
    return out


def undeclared_protected(
    rule: Rule | Mapping[str, Any] | None,
    declared: Iterable[str] = (),
    protected: Iterable[str] = PROTECTED_ATTRIBUTES,
) -> list[str]:
    """The protected attributes ``rule`` reads that are not in ``declared`` (sorted)."""
    return sorted((rule_fields(rule) & set(protected)) - set(declared))
