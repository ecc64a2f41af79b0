from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from campaignrec.campaigns.timing import (
    activity_heatmaps,
    heatmaps_from_long,
    predicted_demand,
    recommend_flash_sale_windows,
    select_flash_sale_products,
)
from campaignrec.errors import ValidationError

MONDAY = datetime(2026, 6, 1, tzinfo=UTC)  # a Monday


def _events() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    # night owls: Fri 21-23; commuters: every weekday 8-9; plus uniform noise
    for k in range(400):
        rows.append(
            ("owl", MONDAY + timedelta(days=4, hours=21 + k % 3, minutes=int(rng.integers(60))))
        )
        rows.append(("com", MONDAY + timedelta(days=k % 5, hours=8 + k % 2, minutes=7)))
    for _ in range(100):
        h = int(rng.integers(168))
        rows.append(("owl", MONDAY + timedelta(hours=h)))
        rows.append(("com", MONDAY + timedelta(hours=h)))
    df = pd.DataFrame(rows, columns=["user_id", "timestamp"])
    df["event_type"] = "view"
    return df


def test_heatmaps_sum_to_one_and_find_the_peak() -> None:
    hm = activity_heatmaps(_events(), {"owl": "night", "com": "commuter"})
    assert set(hm) == {"all", "night", "commuter"}
    for grid in hm.values():
        assert grid.shape == (7, 24)
        assert grid.sum() == pytest.approx(1.0)
    assert np.unravel_index(hm["night"].argmax(), (7, 24))[0] == 4
    shanghai = activity_heatmaps(_events(), {"owl": "night"}, tz="Asia/Shanghai")["night"]
    assert np.unravel_index(shanghai.argmax(), (7, 24))[0] == 5  # Fri 21 UTC = Sat 05 CST


def test_windows_cover_the_busy_hours() -> None:
    hm = activity_heatmaps(_events(), {"owl": "night", "com": "commuter"})
    rec = recommend_flash_sale_windows(
        {"night": hm["night"], "commuter": hm["commuter"]},
        response_rates={"night": 0.1, "commuter": 0.05},
        segment_sizes={"night": 1000, "commuter": 2000},
        top=2,
        start=MONDAY + timedelta(days=2, hours=10),
    )
    night = rec[rec.segment == "night"].iloc[0]
    assert night.weekday_name == "Fri" and night.start_hour == 21 and night.duration_hours == 3
    assert night.concentration >= 1.5 and night.activity_share > 0.7
    assert night.expected_buyers == pytest.approx(1000 * 0.1 * night.activity_share)
    assert night.next_start == pd.Timestamp(MONDAY + timedelta(days=4, hours=21))
    com = rec[rec.segment == "commuter"]
    assert len(com) == 2 and set(com.start_hour) == {8}
    assert com.weekday.nunique() == 2  # no overlapping windows


def test_flat_heatmap_is_flagged() -> None:
    rec = recommend_flash_sale_windows({"flat": np.ones((7, 24))}, min_concentration=1.5)
    assert len(rec) == 1 and bool(rec.iloc[0].below_threshold)
    with pytest.raises(ValidationError, match="7 x 24"):
        recommend_flash_sale_windows({"x": np.ones((24, 7))})


def test_hourly_response_rate_moves_the_window() -> None:
    flat = np.ones((7, 24))
    rate = np.full((7, 24), 0.01)
    rate[2, 12:14] = 0.5
    rec = recommend_flash_sale_windows(
        {"s": flat}, response_rates={"s": rate}, min_concentration=0.5, durations=(2,), top=1
    )
    assert (rec.iloc[0].weekday, rec.iloc[0].start_hour) == (2, 12)


def test_products_by_demand_times_margin() -> None:
    now = MONDAY + timedelta(days=30)
    ev = pd.DataFrame(
        {
            "user_id": ["u"] * 5,
            "item_id": ["a", "a", "b", "c", "d"],
            "event_type": ["purchase", "purchase", "purchase", "purchase", "view"],
            "timestamp": [now, now, now - timedelta(days=14), now, now],
            "quantity": [1, 1, 4, 1, 1],
        }
    )
    demand = predicted_demand(ev, now=now, half_life_days=14)
    assert demand.to_dict() == pytest.approx({"a": 2.0, "b": 2.0, "c": 1.0})
    items = pd.DataFrame(
        {
            "item_id": ["a", "b", "c", "d"],
            "price": [10.0, 100.0, 50.0, 10.0],
            "unit_cost": [5.0, 80.0, 20.0, 1.0],
            "in_stock": [True, True, True, True],
        }
    )
    sel = select_flash_sale_products(items, demand, discount=0.3, k=5, price_elasticity=0.0)
    # b's sale price 70 < cost 80: dropped; c: 1 * (35-20)=15 > a: 2 * (7-5)=4; d has no demand
    assert sel.item_id.tolist() == ["c", "a"]
    assert sel.expected_profit.tolist() == pytest.approx([15.0, 4.0])


def test_long_heatmap_table_is_accepted() -> None:
    hm = activity_heatmaps(_events(), {"owl": "night"})["night"]
    wd, hr = np.nonzero(np.ones((7, 24)))
    long = pd.DataFrame(
        {"segment": "night", "weekday": wd, "hour": hr, "events": (hm * 1000).ravel()}
    )
    np.testing.assert_allclose(heatmaps_from_long(long)["night"], hm)
    a = recommend_flash_sale_windows(long, top=1)
    b = recommend_flash_sale_windows({"night": hm}, top=1)
    assert a[["weekday", "start_hour", "duration_hours"]].equals(
        b[["weekday", "start_hour", "duration_hours"]]
    )
