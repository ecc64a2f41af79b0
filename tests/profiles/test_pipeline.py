"""build_profiles end to end, persistence, and the attributes audience rules read."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from campaignrec.data.rules import evaluate, explain
from campaignrec.errors import UnknownIdError, ValidationError
from campaignrec.profiles.pipeline import (
    build_profiles,
    iter_profile_attributes,
    load_profiles,
    profile_attributes,
    save_profiles,
)
from campaignrec.profiles.segments import SegmentConfig


@pytest.fixture(scope="module")
def shop():  # type: ignore[no-untyped-def]
    from campaignrec.data.synthetic import ShopConfig, generate_shop

    return generate_shop(
        ShopConfig(n_users=150, n_items=80, n_events=15_000, n_campaigns=3, seed=4)
    )


def test_build_save_load_and_attributes(shop, tmp_path) -> None:  # type: ignore[no-untyped-def]
    ev = shop.events
    chunks = [ev.iloc[i : i + 4_000] for i in range(0, len(ev), 4_000)]
    cfg = SegmentConfig(k_max=4, n_init=2)
    res = build_profiles(
        lambda: iter(chunks), users=shop.users, items=shop.items, segment_config=cfg
    )
    prof = res.profiles
    assert len(prof) == len(shop.users) and prof["user_id"].is_unique
    for c in (
        "user_id",
        "recency_days",
        "frequency",
        "monetary",
        "lifecycle",
        "segment",
        "segment_name",
        "rfm_segment",
        "p_purchase_30d",
        "expected_spend_30d",
    ):
        assert c in prof.columns
    assert res.meta["purchase_model"]["fitted"] is True
    p = prof["p_purchase_30d"].to_numpy()
    assert np.all((p >= 0) & (p <= 1))
    assert res.meta["n_events"] == len(ev)
    # lifetime value: BG/NBD x Gamma-Gamma for every buyer, NaN for users who never bought
    assert res.meta["lifetime_value"]["fitted"] is True, res.meta["lifetime_value"]
    buyers = (prof["frequency"] > 0).to_numpy()
    clv = prof["clv"].to_numpy()
    assert np.isfinite(clv[buyers]).all() and (clv[buyers] >= 0).all()
    assert np.isnan(clv[~buyers]).all()
    alive = prof["p_alive"].to_numpy()[buyers]
    assert ((alive >= 0) & (alive <= 1)).all()
    expected = prof["expected_purchases"] * prof["expected_order_value"]
    assert (prof.loc[buyers, "clv"] <= expected[buyers] + 1e-6).all()  # discounting only lowers it
    # same as one DataFrame in one go
    again = build_profiles(ev, users=shop.users, items=shop.items, segment_config=cfg)
    pd.testing.assert_series_equal(again.profiles["monetary"], prof["monetary"])
    assert (again.profiles["segment"] == prof["segment"]).all()

    save_profiles(res, tmp_path)
    back = load_profiles(tmp_path)
    assert back.segments is not None and back.meta["as_of"] == res.meta["as_of"]
    assert back.profiles["top_categories"].map(type).eq(list).all()
    buyer = prof.loc[prof["frequency"].idxmax(), "user_id"]
    attrs = profile_attributes(back.profiles, buyer)
    assert attrs["frequency"] == int(prof["frequency"].max())
    assert isinstance(attrs["recency_days"], int) and isinstance(attrs["bought_categories"], list)
    assert attrs["segment"] in set(res.segments.names_en_)
    rule = {
        "all": [
            {"field": "frequency", "op": "gte", "value": 1},
            {
                "field": "bought_categories",
                "op": "contains",
                "value": attrs["bought_categories"][0],
            },
        ]
    }
    assert evaluate(rule, attrs)
    assert "lifecycle" in explain({"field": "lifecycle", "op": "eq", "value": "nope"}, attrs)
    with pytest.raises(UnknownIdError):
        profile_attributes(prof, "nobody")
    everyone = list(iter_profile_attributes(back.profiles))
    assert len(everyone) == len(prof)
    assert next(a for a in everyone if a["user_id"] == buyer) == attrs


def test_as_of_and_empty_inputs(shop) -> None:  # type: ignore[no-untyped-def]
    cut = shop.events["timestamp"].min() + pd.Timedelta(days=20)
    res = build_profiles(shop.events, items=shop.items, as_of=cut, predict=False, segment=False)
    assert res.meta["as_of"] == cut.isoformat()
    assert pd.to_datetime(res.profiles["last_seen"]).max() <= cut
    assert res.profiles["p_purchase_30d"].isna().all()
    assert "clv" not in res.profiles.columns and "lifetime_value" not in res.meta
    with pytest.raises(ValidationError, match="no events"):
        build_profiles(shop.events.iloc[:0])
