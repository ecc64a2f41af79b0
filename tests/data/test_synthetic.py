"""Tests of the synthetic shop generator: determinism, schema, planted structure, streaming."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from campaignrec.data.schema import (
    CAMPAIGN_COLUMNS,
    CAMPAIGN_TYPES,
    EVENT_COLUMNS,
    ITEM_COLUMNS,
    USER_COLUMNS,
    Campaign,
    Event,
    Item,
    User,
    derive_event_id,
    required_field_for,
)
from campaignrec.data.synthetic import (
    SHOPPER_TYPES,
    ShopConfig,
    SyntheticShop,
    generate_shop,
    iter_events,
    write_shop,
)
from campaignrec.errors import ValidationError

SMALL = ShopConfig(n_users=600, n_items=200, n_events=30_000, n_campaigns=9, days=45, seed=7)


@pytest.fixture(scope="module")
def shop() -> SyntheticShop:
    return generate_shop(SMALL)


def _record(row: pd.Series) -> dict:
    out = {}
    for k, v in row.items():
        if v is None or (not isinstance(v, list | dict) and pd.isna(v)):
            continue
        out[k] = v.to_pydatetime() if isinstance(v, pd.Timestamp) else v
    return out


def test_same_config_gives_identical_frames(shop: SyntheticShop) -> None:
    again = generate_shop(SMALL)
    for name in ("users", "items", "campaigns", "events"):
        pd.testing.assert_frame_equal(getattr(shop, name), getattr(again, name))
    pd.testing.assert_frame_equal(shop.truth.campaign_effect, again.truth.campaign_effect)
    other = generate_shop(ShopConfig(**{**SMALL.__dict__, "seed": 8}))
    assert not other.events["event_id"].equals(shop.events["event_id"])


def test_canonical_columns_and_exact_size(shop: SyntheticShop) -> None:
    assert tuple(shop.users.columns) == USER_COLUMNS
    assert tuple(shop.items.columns) == ITEM_COLUMNS
    assert tuple(shop.campaigns.columns) == CAMPAIGN_COLUMNS
    assert tuple(shop.events.columns) == EVENT_COLUMNS
    assert len(shop.users) == SMALL.n_users and len(shop.items) == SMALL.n_items
    assert len(shop.events) == SMALL.n_events
    assert shop.events["event_id"].is_unique
    ts = shop.events["timestamp"]
    assert str(ts.dt.tz) == "UTC" and ts.is_monotonic_increasing
    assert ts.min() >= pd.Timestamp(SMALL.start) and ts.max() < pd.Timestamp(SMALL.end)
    assert set(shop.campaigns["type"]) == set(CAMPAIGN_TYPES)


def test_records_validate_with_the_pydantic_models(shop: SyntheticShop) -> None:
    for _, row in shop.users.iterrows():
        User(**_record(row))
    for _, row in shop.items.iterrows():
        Item(**_record(row))
    for _, row in shop.campaigns.iterrows():
        Campaign(**_record(row))
    ev = shop.events
    # every event type, plus a random sample
    sample = pd.concat(
        [ev.groupby("event_type").head(30), ev.sample(1500, random_state=0)]
    ).drop_duplicates("event_id")
    for _, row in sample.iterrows():
        rec = _record(row)
        event_id = rec.pop("event_id")
        model = Event(**rec)
        assert model.event_id == event_id  # vectorised ids agree with derive_event_id
        assert model.timestamp.tzinfo is not None
    assert set(ev["event_type"]) == {
        "view", "click", "add_to_cart", "remove_from_cart", "purchase", "search", "favorite",
        "campaign_impression", "campaign_click", "coupon_claim", "coupon_redeem",
    }  # fmt: skip


def test_required_fields_by_type(shop: SyntheticShop) -> None:
    ev = shop.events
    for etype, group in ev.groupby("event_type"):
        needed = required_field_for(str(etype))
        if needed is not None:
            assert group[needed].notna().all(), etype
    buys = ev[ev["event_type"] == "purchase"]
    assert buys["order_id"].notna().all() and (buys["quantity"] >= 1).all()
    assert np.allclose(buys["revenue"], (buys["price"] * buys["quantity"]).round(2))
    imp = ev[ev["event_type"] == "campaign_impression"]
    assert (imp["policy"] == "uniform_random").all()
    assert set(imp["variant"]) == {"treatment", "control"}
    assert ((imp["propensity"] > 0) & (imp["propensity"] <= 1)).all()
    assert ev["session_id"].notna().all()


def test_event_id_matches_schema_function(shop: SyntheticShop) -> None:
    ev = shop.events.sample(200, random_state=1)
    for row in ev.itertuples(index=False):

        def val(x: object) -> str | None:
            return None if pd.isna(x) else str(x)

        expected = derive_event_id(
            row.user_id,
            row.event_type,
            row.timestamp.to_pydatetime(),
            val(row.item_id),
            val(row.campaign_id),
            val(row.query),
            val(row.session_id),
            val(row.order_id),
        )
        assert row.event_id == expected


def test_bad_config_is_rejected_with_the_field_named() -> None:
    with pytest.raises(ValidationError, match="n_items"):
        ShopConfig(n_items=3)
    with pytest.raises(ValidationError, match="start"):
        ShopConfig(start=datetime(2025, 1, 1))
    with pytest.raises(ValidationError, match="type_shares"):
        ShopConfig(type_shares=(1.0, 2.0))


def test_truth_shapes(shop: SyntheticShop) -> None:
    truth = shop.truth
    assert set(truth.user_type) == set(SHOPPER_TYPES)
    assert truth.user_type.index.equals(pd.Index(shop.users["user_id"], name="user_id"))
    assert len(truth.complementary_pairs) > 0
    eff = truth.campaign_effect
    assert len(eff) == SMALL.n_users * SMALL.n_campaigns
    assert ((eff["p_control"] >= 0) & (eff["p_treated"] <= 1)).all()
    by_type = eff.assign(t=eff["user_id"].map(truth.user_type)).groupby("t")["uplift"].mean()
    assert by_type["bargain_hunter"] > 0.1  # persuadable
    assert by_type["bargain_hunter"] > 3 * by_type["loyal_big_spender"]
    assert by_type["dormant"] < 0  # sleeping dogs
    p_ctrl = eff.assign(t=eff["user_id"].map(truth.user_type)).groupby("t")["p_control"].mean()
    assert p_ctrl["loyal_big_spender"] > p_ctrl["bargain_hunter"]  # sure things


def test_chunked_generation_equals_in_memory(shop: SyntheticShop) -> None:
    chunks = list(iter_events(SMALL, chunk_rows=5_000))
    assert len(chunks) > 1
    for chunk in chunks:
        assert chunk["timestamp"].is_monotonic_increasing
    joined = pd.concat(chunks, ignore_index=True)
    joined = joined.iloc[np.argsort(joined["timestamp"].to_numpy(), kind="stable")]
    pd.testing.assert_frame_equal(joined.reset_index(drop=True), shop.events)


def test_write_shop_canonical_files(tmp_path, shop: SyntheticShop) -> None:  # type: ignore[no-untyped-def]
    small = ShopConfig(n_users=50, n_items=40, n_events=2_000, n_campaigns=7, seed=2)
    written = write_shop(small, tmp_path / "csv", fmt="csv", chunk_rows=500)
    users = pd.read_csv(written["users"])
    assert tuple(users.columns) == USER_COLUMNS
    items = pd.read_csv(written["items"], keep_default_na=False)
    assert items["tags"].str.contains("|", regex=False).all()
    events = pd.read_csv(written["events"])
    assert len(events) == 2_000 and tuple(events.columns) == EVENT_COLUMNS
    in_memory = generate_shop(small)
    assert list(events["event_id"]) == list(in_memory.events["event_id"])
    assert pd.read_parquet(written["truth/user_type"]).shape == (50, 2)
    pq = write_shop(in_memory, tmp_path / "pq", fmt="parquet", chunk_rows=700)
    back = pd.read_parquet(pq["events"])
    assert list(back["event_id"]) == list(in_memory.events["event_id"])
