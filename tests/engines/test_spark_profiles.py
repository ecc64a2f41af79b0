"""Profiles on Spark equal the local ones (RFM, behaviour, interests, lifecycle) to 1e-9."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from campaignrec.engines.spark.io import read_shop
from campaignrec.engines.spark.profiles import spark_profiles, to_local_frame
from campaignrec.profiles.pipeline import build_profiles

pytestmark = pytest.mark.spark


def _assert_same(local: pd.DataFrame, got: pd.DataFrame) -> None:
    assert list(got.columns) == list(local.columns)
    assert got["user_id"].tolist() == local["user_id"].tolist()
    for c in local.columns:
        a, b = local[c], got[c]
        if pd.api.types.is_numeric_dtype(a.dtype) and not pd.api.types.is_bool_dtype(a.dtype):
            np.testing.assert_allclose(
                b.astype(float).to_numpy(),
                a.astype(float).to_numpy(),
                rtol=1e-9,
                atol=1e-9,
                err_msg=c,
            )
        elif pd.api.types.is_datetime64_any_dtype(a.dtype):
            assert (b.isna() == a.isna()).all(), c
            assert (b[a.notna()] == a[a.notna()]).all(), c
        else:
            assert [None if v is None else v for v in b] == [
                None if v is None or (isinstance(v, float) and np.isnan(v)) else v for v in a
            ], c


@pytest.fixture(scope="module")
def local_profiles(local_tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    res = build_profiles(
        local_tables["events"],
        users=local_tables["users"],
        items=local_tables["items"],
        predict=False,
        segment=False,
    )
    return res.profiles.drop(
        columns=[
            "p_purchase_30d",
            "expected_spend_30d",
            "segment",
            "segment_name",
            "segment_name_zh",
        ]
    )


def test_profiles_equal_local(profile_table: Any, local_profiles: pd.DataFrame) -> None:
    got = to_local_frame(profile_table)
    _assert_same(local_profiles, got)
    # the comparison is not vacuous: buyers, RFM scores and tags are there
    assert (got["frequency"] > 0).sum() > 10
    assert set(got["r_score"]) == {0, 1, 2, 3, 4, 5} and got["rfm_segment"].nunique() > 3
    assert got["top_categories"].map(len).max() > 0


def test_users_without_events_get_a_row(spark: Any, tmp_path: Path) -> None:
    t = pd.Timestamp("2024-05-01T10:00:00Z")
    pd.DataFrame(
        {
            "user_id": ["a", "a", "b", "b", "d"],
            "event_type": ["view", "purchase", "view", "purchase", "purchase"],
            "timestamp": [t, t + pd.Timedelta(hours=1), t, t, t - pd.Timedelta(days=3)],
            "item_id": ["i1", "i1", "i2", "i2", "i3"],
            "price": [5.0, 5.0, 7.0, 7.0, 9.0],
        }
    ).to_parquet(tmp_path / "events.parquet", index=False)
    pd.DataFrame({"user_id": ["a", "c"], "birth_year": [1990, 1980]}).to_parquet(
        tmp_path / "users.parquet", index=False
    )
    shop = read_shop(spark, tmp_path)
    got = to_local_frame(spark_profiles(spark, shop, buckets=4))
    ev = shop.events.canonical().toPandas()
    ev["timestamp"] = pd.to_datetime(ev["timestamp"]).dt.tz_localize("UTC")
    local = build_profiles(
        ev, users=shop.users.canonical().toPandas(), predict=False, segment=False
    ).profiles[got.columns]
    _assert_same(local, got)
    assert got["user_id"].tolist() == ["a", "b", "c", "d"]
    assert got.set_index("user_id").loc["c", "n_events"] == 0
    # fewer than three catalogue prices: the price bands come from every buyer's mean price
    assert got["price_band"].tolist() == ["low", "mid", None, "high"]
