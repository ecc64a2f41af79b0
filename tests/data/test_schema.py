from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError as PydanticError

from campaignrec.data.schema import (
    EVENT_TYPES,
    Campaign,
    Event,
    Item,
    User,
    derive_event_id,
    required_field_for,
)


def test_event_id_is_deterministic_and_depends_on_content():
    ts = datetime(2024, 5, 1, 12, tzinfo=UTC)
    a = Event(user_id="u1", event_type="view", item_id="i1", timestamp=ts)
    b = Event(user_id="u1", event_type="view", item_id="i1", timestamp=ts)
    c = Event(user_id="u1", event_type="view", item_id="i2", timestamp=ts)
    assert a.event_id == b.event_id
    assert a.event_id != c.event_id
    assert a.event_id == derive_event_id("u1", "view", ts, "i1")


def test_naive_timestamps_become_utc_and_offsets_are_converted():
    e = Event(user_id="u", event_type="view", item_id="i", timestamp=datetime(2024, 1, 1, 8))
    assert e.timestamp.tzinfo is not None and e.timestamp.utcoffset() == timedelta(0)
    shanghai = timezone(timedelta(hours=8))
    f = Event(
        user_id="u",
        event_type="view",
        item_id="i",
        timestamp=datetime(2024, 1, 1, 8, tzinfo=shanghai),
    )
    assert f.timestamp == datetime(2024, 1, 1, 0, tzinfo=UTC)


@pytest.mark.parametrize("etype", EVENT_TYPES)
def test_each_event_type_requires_its_field(etype):
    needed = required_field_for(etype)
    ts = datetime(2024, 1, 1, tzinfo=UTC)
    if needed is None:
        Event(user_id="u", event_type=etype, timestamp=ts)
        return
    value = {"rating": 4.0} if etype == "rating" else {}
    with pytest.raises(PydanticError, match=needed):
        Event(user_id="u", event_type=etype, timestamp=ts, **value)
    Event(user_id="u", event_type=etype, timestamp=ts, **{needed: "x"}, **value)


def test_a_rating_event_needs_a_value_on_the_scale():
    ts = datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(PydanticError, match="needs 'rating'"):
        Event(user_id="u", event_type="rating", item_id="i", timestamp=ts)
    for bad in (0.0, 5.5, float("nan")):
        with pytest.raises(PydanticError, match="rating must lie in"):
            Event(user_id="u", event_type="rating", item_id="i", rating=bad, timestamp=ts)
    ev = Event(user_id="u", event_type="rating", item_id="i", rating=4.5, timestamp=ts)
    assert ev.rating == 4.5


def test_negative_price_and_bad_propensity_are_rejected():
    ts = datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(PydanticError, match="price"):
        Event(user_id="u", event_type="purchase", item_id="i", price=-1, timestamp=ts)
    with pytest.raises(PydanticError, match="propensity"):
        Event(user_id="u", event_type="view", item_id="i", propensity=0, timestamp=ts)
    with pytest.raises(PydanticError, match="price"):
        Item(item_id="i", price=-3)


def test_unknown_fields_are_rejected():
    with pytest.raises(PydanticError, match="colour"):
        User(user_id="u", colour="red")


def test_campaign_validates_window_discount_and_rule():
    Campaign(
        campaign_id="c", name="Spring", type="coupon", discount_type="percent", discount_value=20
    )
    with pytest.raises(PydanticError, match="end_time"):
        Campaign(
            campaign_id="c",
            name="x",
            type="flash_sale",
            start_time=datetime(2024, 2, 1, tzinfo=UTC),
            end_time=datetime(2024, 1, 1, tzinfo=UTC),
        )
    with pytest.raises(PydanticError, match="at most 100"):
        Campaign(
            campaign_id="c", name="x", type="coupon", discount_type="percent", discount_value=150
        )
    with pytest.raises(PydanticError, match="operator"):
        Campaign(
            campaign_id="c",
            name="x",
            type="coupon",
            audience={"field": "age", "op": "older", "value": 3},
        )
    with pytest.raises(PydanticError):
        Campaign(campaign_id="c", name="x", type="lottery")


def test_items_are_visible_unless_hidden() -> None:
    assert Item(item_id="i1").hidden is False
    assert Item(item_id="i1", hidden="true").hidden is True


def test_column_specs_follow_the_models() -> None:
    from campaignrec.data.schema import COLUMN_SPECS, ENTITY_MODELS, KEY_COLUMN

    for entity, model in ENTITY_MODELS.items():
        assert tuple(s.name for s in COLUMN_SPECS[entity]) == tuple(model.model_fields)
    assert KEY_COLUMN == {
        "users": "user_id",
        "items": "item_id",
        "campaigns": "campaign_id",
        "events": "event_id",
    }
    hidden = next(s for s in COLUMN_SPECS["items"] if s.name == "hidden")
    assert (hidden.kind, hidden.default, hidden.nullable) == ("bool", False, False)
