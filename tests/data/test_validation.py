"""Column-wise validation agrees with the pydantic models and names each problem."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError as PydanticError

from campaignrec.data.schema import Campaign, Event, Item, User, derive_event_id
from campaignrec.data.validation import (
    SeenIds,
    ValidationOptions,
    derive_event_ids,
    validate_frame,
)
from campaignrec.errors import ConfigError

NOW = datetime(2024, 6, 1, tzinfo=UTC)
OPTS = ValidationOptions(now=NOW)


def events(**cols: list[object]) -> pl.DataFrame:
    n = len(next(iter(cols.values())))
    base: dict[str, list[object]] = {
        "user_id": ["u1"] * n,
        "event_type": ["view"] * n,
        "timestamp": ["2024-01-01T00:00:00Z"] * n,
        "item_id": ["i1"] * n,
    }
    base.update(cols)
    return pl.DataFrame({k: pl.Series(v, dtype=pl.String) for k, v in base.items()})


def reasons(
    frame: pl.DataFrame, entity: str = "events", **kw: object
) -> list[tuple[int, str, str]]:
    res = validate_frame(entity, frame, source="t.csv", options=kw.pop("options", OPTS), **kw)  # type: ignore[arg-type]
    q = res.quarantine
    return list(zip(q["line"].tolist(), q["field"].tolist(), q["reason"].tolist(), strict=True))


# ---- event ids ----------------------------------------------------------------------------------
ids = st.text(alphabet="abcXYZ01_-é ", min_size=1, max_size=6)


@settings(max_examples=60, deadline=None)
@given(
    user=ids,
    etype=st.sampled_from(["view", "purchase", "search", "campaign_click"]),
    micros=st.integers(631_152_000_000_000, 1_900_000_000_000_000),
    item=st.none() | ids,
    campaign=st.none() | ids,
    query=st.none() | ids,
    session=st.none() | ids,
    order=st.none() | ids,
)
def test_vectorised_event_ids_equal_derive_event_id(
    user, etype, micros, item, campaign, query, session, order
):
    ts = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    frame = pl.DataFrame(
        {
            "user_id": [user],
            "event_type": [etype],
            "timestamp": pl.Series([ts], dtype=pl.Datetime("us", "UTC")),
            "item_id": pl.Series([item], dtype=pl.String),
            "campaign_id": pl.Series([campaign], dtype=pl.String),
            "query": pl.Series([query], dtype=pl.String),
            "session_id": pl.Series([session], dtype=pl.String),
            "order_id": pl.Series([order], dtype=pl.String),
        }
    )
    expected = derive_event_id(user, etype, ts, item, campaign, query, session, order)
    assert derive_event_ids(frame)[0] == expected


def test_event_ids_of_validated_rows_match_the_model():
    frame = events(
        user_id=["u1", "u2"],
        timestamp=["2024-01-01T10:00:00.123457+02:00", "1704067200"],
        item_id=["i9", "i8"],
    )
    res = validate_frame("events", frame, source="s", options=OPTS)
    for row, eid in zip(frame.to_dicts(), res.valid["event_id"], strict=True):
        assert eid == Event.model_validate(row).event_id
    assert res.valid["timestamp"].iloc[1] == datetime(2024, 1, 1, tzinfo=UTC)


# ---- each reason ----------------------------------------------------------------------------------
def test_each_bad_row_gets_its_reason_and_line():
    frame = events(
        user_id=["u1", "", "u3", "u4", "u5", "u1"],
        event_type=["view", "view", "view", "purchase", "teleport", "view"],
        timestamp=[
            "2024-01-01T00:00:00Z",
            "2024-01-02",
            "yesterday",
            "2024-01-03",
            "2024-01-03",
            "2024-01-01T00:00:00Z",
        ],
        price=["1", "1", "1", "-2.5", "1", "1"],
    )
    got = reasons(frame, lines=np.arange(2, 8))
    assert got == [
        (3, "user_id", "missing_field"),
        (4, "timestamp", "bad_timestamp"),
        (5, "price", "negative_value"),
        (6, "event_type", "unknown_event_type"),
        (7, "event_id", "duplicate"),
    ]


def test_timestamp_range_is_enforced():
    frame = events(
        timestamp=[
            "1989-12-31T23:59:59Z",
            "1990-01-01T00:00:00Z",
            "2024-06-02T23:00:00Z",
            "2024-06-03T00:00:01Z",
        ],
        item_id=["a", "b", "c", "d"],
    )
    assert reasons(frame) == [(1, "timestamp", "bad_timestamp"), (4, "timestamp", "bad_timestamp")]


def test_required_field_per_event_type_and_custom_types():
    frame = events(
        event_type=["view", "campaign_impression", "search", "wishlist", "coupon_redeem"],
        item_id=["", "", "", "", ""],
        campaign_id=["", "", "", "", "c1"],
        query=["", "", "", "", ""],
    )
    got = reasons(frame, options=ValidationOptions(now=NOW, custom_event_types=("wishlist",)))
    assert got == [
        (1, "item_id", "missing_field"),
        (2, "campaign_id", "missing_field"),
        (3, "query", "missing_field"),
    ]
    got = reasons(frame)
    assert (4, "event_type", "unknown_event_type") in got


def test_propensity_must_lie_in_zero_one():
    frame = events(
        propensity=["0.5", "0", "1", "1.5", "", "x"], item_id=["a", "b", "c", "d", "e", "f"]
    )
    assert reasons(frame) == [
        (2, "propensity", "out_of_range"),
        (4, "propensity", "out_of_range"),
        (6, "propensity", "bad_value"),
    ]


def test_numbers_that_do_not_parse_are_bad_values():
    frame = events(
        quantity=["2", "two", "1e3", "inf"],
        position=["0", "1.5", "3", "-1"],
        item_id=["a", "b", "c", "d"],
    )
    assert reasons(frame) == [
        (2, "position", "bad_value"),
        (2, "quantity", "bad_value"),
        (4, "position", "negative_value"),
        (4, "quantity", "bad_value"),
    ]


def test_integers_beyond_int64_are_bad_values_not_a_crash():
    frame = events(
        position=["9223372036854775807", "99999999999999999999", "12"],
        item_id=["a", "b", "c"],
    )
    assert reasons(frame) == [(1, "position", "bad_value"), (2, "position", "bad_value")]


def test_strict_references():
    frame = events(user_id=["u1", "ghost", "u1"], item_id=["i1", "i1", "nope"])
    opts = ValidationOptions(
        now=NOW, known_user_ids=frozenset({"u1"}), known_item_ids=frozenset({"i1"})
    )
    assert reasons(frame, options=opts) == [
        (2, "user_id", "unknown_user"),
        (3, "item_id", "unknown_item"),
    ]
    assert reasons(frame) == []  # default: unknown references are accepted


def test_raw_row_and_value_are_kept():
    frame = events(user_id=["u1"], price=["-1"])
    res = validate_frame("events", frame, source="f.csv", options=OPTS)
    rec = res.quarantine.iloc[0]
    assert rec["source"] == "f.csv" and rec["value"] == "-1" and rec["entity"] == "events"
    assert '"price": "-1"' in rec["raw"]


def test_typed_columns_are_accepted_without_text():
    frame = pl.DataFrame(
        {
            "user_id": ["u1", "u2"],
            "event_type": ["purchase", "purchase"],
            "timestamp": pl.Series([datetime(2024, 1, 1), datetime(2024, 1, 2)]),
            "item_id": ["i1", "i2"],
            "price": [1.5, -1.0],
            "quantity": [1, 2],
        }
    )
    res = validate_frame("events", frame, source="df", options=OPTS)
    assert len(res.valid) == 1 and res.quarantine["reason"].tolist() == ["negative_value"]
    assert str(res.valid["timestamp"].dtype) == "datetime64[us, UTC]"


def test_timestamp_options():
    frame = events(timestamp=["20240101", "2024-01-01"], item_id=["a", "b"])
    res = validate_frame(
        "events", frame, source="s", options=ValidationOptions(now=NOW, timestamp_format="%Y%m%d")
    )
    assert len(res.valid) == 1 and res.quarantine["line"].tolist() == [2]
    frame = events(timestamp=["1704067200000"])
    res = validate_frame(
        "events", frame, source="s", options=ValidationOptions(now=NOW, timestamp_unit="ms")
    )
    assert res.valid["timestamp"].iloc[0] == datetime(2024, 1, 1, tzinfo=UTC)
    frame = events(timestamp=["2024-01-01 09:00:00"])
    res = validate_frame(
        "events", frame, source="s", options=ValidationOptions(now=NOW, timezone="Asia/Shanghai")
    )
    assert res.valid["timestamp"].iloc[0] == datetime(2024, 1, 1, 1, tzinfo=UTC)


def test_seen_ids_span_chunks():
    seen = SeenIds()
    first = seen.check_and_add(pl.Series(["a", "b", "a"]))
    second = seen.check_and_add(pl.Series(["c", "b", "c"]))
    assert first.tolist() == [False, False, True]
    assert second.tolist() == [False, True, True]
    assert len(seen) == 3


def test_unknown_entity_is_a_config_error():
    with pytest.raises(ConfigError, match="orders"):
        validate_frame("orders", pl.DataFrame({"a": ["1"]}), source="s")


# ---- agreement with the pydantic Event model ------------------------------------------------------
TS_TEXT = ["2024-01-01T00:00:00Z", "2023-05-05 12:00:00", "garbage", "1700000000"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {
                "user_id": st.sampled_from(["u1", "", " ", "u2"]),
                "event_type": st.sampled_from(
                    ["view", "purchase", "search", "coupon_claim", "bogus"]
                ),
                "timestamp": st.sampled_from(TS_TEXT),
                "item_id": st.sampled_from(["i1", "", "i2"]),
                "campaign_id": st.sampled_from(["", "c1"]),
                "query": st.sampled_from(["", "shoes"]),
                "price": st.sampled_from(["", "1.5", "-1", "abc", "0"]),
                "propensity": st.sampled_from(["", "0.5", "0", "1", "2"]),
                "position": st.sampled_from(["", "0", "3", "-1"]),
            }
        ),
        min_size=1,
        max_size=8,
    )
)
def test_validation_accepts_exactly_what_the_event_model_accepts(rows):
    frame = pl.DataFrame(rows, schema={k: pl.String for k in rows[0]})
    res = validate_frame("events", frame, source="s", options=OPTS)
    bad_lines = set(res.quarantine.loc[res.quarantine["reason"] != "duplicate", "line"])
    expected_ids = []
    for line, row in enumerate(rows, start=1):
        given_values = {k: v for k, v in row.items() if v.strip()}
        if given_values.get("event_type") == "bogus":
            model_ok = False
        else:
            try:
                ev = Event.model_validate(given_values)
                model_ok = True
            except PydanticError:
                model_ok = False
        assert (line not in bad_lines) == model_ok, (row, res.quarantine.to_dict("records"))
        if model_ok:
            expected_ids.append(ev.event_id)
    uniq = list(dict.fromkeys(expected_ids))
    assert res.valid["event_id"].tolist() == uniq


# ---- users, items, campaigns ----------------------------------------------------------------------
def test_users_types_defaults_and_extra_columns_as_attributes():
    frame = pl.DataFrame(
        {
            "user_id": ["u1", "u2", "u3", "u1"],
            "birth_year": ["1980", "1800", "x", "1990"],
            "consent_marketing": ["no", "", "maybe", "yes"],
            "loyalty_points": ["10", "", "3", "7"],
        }
    )
    res = validate_frame("users", frame, source="users.csv")
    assert reasons(frame, "users", options=ValidationOptions()) == [
        (2, "birth_year", "out_of_range"),
        (3, "birth_year", "bad_value"),
        (3, "consent_marketing", "bad_value"),
    ]
    assert res.duplicates == 1  # u1 twice: the last row wins
    row = res.valid.iloc[0]
    assert row["user_id"] == "u1" and row["birth_year"] == 1990
    assert bool(row["consent_marketing"]) is True and bool(row["consent_personalisation"]) is True
    assert row["attributes"] == {"loyalty_points": "7"}


def test_items_lists_currency_and_price():
    frame = pl.DataFrame(
        {
            "item_id": ["i1", "i2", "i3", "i4"],
            "price": ["9.99", "-1", "", "3"],
            "currency": ["EUR", "EUR", "EURO", ""],
            "tags": ["red|summer", '["a", "b"]', "", "[broken"],
        }
    )
    res = validate_frame("items", frame, source="items.csv")
    got = list(
        zip(res.quarantine["line"], res.quarantine["field"], res.quarantine["reason"], strict=True)
    )
    assert got == [
        (2, "price", "negative_value"),
        (3, "currency", "bad_value"),
        (4, "tags", "bad_value"),
    ]
    assert res.valid["tags"].iloc[0] == ["red", "summer"]
    assert bool(res.valid["in_stock"].iloc[0]) is True


CAMPAIGN_ROWS = [
    {
        "campaign_id": "c1",
        "name": "Spring",
        "type": "coupon",
        "discount_type": "percent",
        "discount_value": "10",
        "audience": '{"field": "segment", "op": "eq", "value": "loyal"}',
    },
    {
        "campaign_id": "c2",
        "name": "Bad rule",
        "type": "coupon",
        "audience": '{"field": "segment", "op": "like", "value": "x"}',
    },
    {"campaign_id": "c3", "name": "Bad type", "type": "lottery"},
    {
        "campaign_id": "c4",
        "name": "Window",
        "type": "flash_sale",
        "start_time": "2024-02-01",
        "end_time": "2024-01-01",
    },
    {
        "campaign_id": "c5",
        "name": "Too much",
        "type": "coupon",
        "discount_type": "percent",
        "discount_value": "150",
    },
    {"campaign_id": "c6", "name": "", "type": "bundle", "item_ids": "i1|i2"},
    {"campaign_id": "c7", "name": "Capped", "type": "coupon", "frequency_cap": "0"},
]


def test_campaign_rules_agree_with_the_model():
    keys = sorted({k for r in CAMPAIGN_ROWS for k in r})
    frame = pl.DataFrame(
        {k: [r.get(k, "") for r in CAMPAIGN_ROWS] for k in keys},
        schema={k: pl.String for k in keys},
    )
    res = validate_frame("campaigns", frame, source="c.csv")
    bad = dict(zip(res.quarantine["line"], res.quarantine["reason"], strict=False))
    assert bad == {
        2: "bad_rule",
        3: "bad_value",
        4: "out_of_range",
        5: "out_of_range",
        6: "missing_field",
        7: "out_of_range",
    }
    import json

    for line, row in enumerate(CAMPAIGN_ROWS, start=1):
        data = {k: v for k, v in row.items() if v}
        for k in ("item_ids",):
            if k in data:
                data[k] = data[k].split("|")
        if "audience" in data:
            data["audience"] = json.loads(data["audience"])
        try:
            Campaign.model_validate(data)
            ok = True
        except (PydanticError, Exception):
            ok = False
        assert ok == (line not in bad), row
    assert res.valid["audience"].iloc[0] == {"field": "segment", "op": "eq", "value": "loyal"}
    assert res.valid["status"].iloc[0] == "active"


@settings(max_examples=60, deadline=None)
@given(
    chunks=st.lists(
        st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f", "g"]), max_size=6), max_size=5
    )
)
def test_seen_ids_match_a_python_set(chunks):
    seen, reference = SeenIds(), set()
    for chunk in chunks:
        flags = seen.check_and_add(pl.Series(chunk, dtype=pl.String))
        expected = []
        for x in chunk:
            expected.append(x in reference)
            reference.add(x)
        assert flags.tolist() == expected
    assert len(seen) == len(reference)


@pytest.mark.parametrize("entity", ["users", "items", "campaigns", "events"])
def test_a_frame_without_canonical_columns_rejects_every_row(entity):
    res = validate_frame(entity, pl.DataFrame({"foo": ["1", "2"]}), source="s")
    assert len(res.valid) == 0 and res.rejected_rows == 2
    assert set(res.quarantine["reason"]) == {"missing_field"}


def _assert_quarantine_matches_model(kind, model, rows):
    """A row is quarantined exactly when the pydantic model rejects it (blank fields left out)."""
    frame = pl.DataFrame(rows, schema={k: pl.String for k in rows[0]})
    res = validate_frame(kind, frame, source="s")
    bad_lines = set(res.quarantine["line"])
    for line, row in enumerate(rows, start=1):
        try:
            model.model_validate({k: v for k, v in row.items() if v.strip()})
            ok = True
        except PydanticError:
            ok = False
        assert (line not in bad_lines) == ok, row


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {
                "user_id": st.sampled_from(["u1", "u2", "", " "]),
                "birth_year": st.sampled_from(["", "1980", "1980.0", "1e3", "1800", "x"]),
                "consent_marketing": st.sampled_from(["", "yes", "off", "TRUE", "2", "maybe"]),
                "signup_time": st.sampled_from(
                    ["", "2023-01-02", "2023-01-02T03:04:05+01:00", "no"]
                ),
            }
        ),
        min_size=1,
        max_size=6,
    )
)
def test_user_validation_agrees_with_the_user_model(rows):
    _assert_quarantine_matches_model("users", User, rows)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(
        st.fixed_dictionaries(
            {
                "item_id": st.sampled_from(["i1", "i2", ""]),
                "price": st.sampled_from(["", "1.5", " 2 ", "1e2", "-0.01", "nan", "abc"]),
                "currency": st.sampled_from(["", "EUR", "EURO", "EU"]),
                "in_stock": st.sampled_from(["", "no", "1", "yes please"]),
            }
        ),
        min_size=1,
        max_size=6,
    )
)
def test_item_validation_agrees_with_the_item_model(rows):
    _assert_quarantine_matches_model("items", Item, rows)


def test_hidden_items_parse_and_default_to_visible() -> None:
    frame = pl.DataFrame({"item_id": ["i1", "i2", "i3"], "hidden": ["true", "", "maybe"]})
    res = validate_frame("items", frame, source="items.csv")
    assert res.valid["hidden"].tolist() == [True, False]
    assert res.quarantine[["line", "field", "reason"]].values.tolist() == [
        [3, "hidden", "bad_value"]
    ]
