"""Campaign ROI per day from the event log: exposures, the control baseline, redemption costs."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
import pytest

from campaignrec.campaigns.roi import ROI_COLUMNS, campaign_roi_by_day, roi_over_time

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
CAMPAIGN = {
    "campaign_id": "c",
    "name": "C",
    "type": "coupon",
    "discount_type": "amount",
    "discount_value": 4.0,
    "cost_per_redemption": 1.0,
    "categories": ["a"],
}
ITEMS = pd.DataFrame({"item_id": ["a1", "b1"], "category": ["a", "b"], "price": [30.0, 99.0]})


def ev(user: str, kind: str, at: datetime, **extra: Any) -> dict[str, Any]:
    return {"user_id": user, "event_type": kind, "timestamp": at, **extra}


def exposure_day(
    day: int, users: list[str], variant: str, spend: dict[str, float]
) -> list[dict[str, Any]]:
    """Impressions of ``c`` on day ``day`` (a session each) and purchases of a1 in them."""
    rows = []
    for n, u in enumerate(users):
        t = T0 + timedelta(days=day, minutes=n)
        s = f"{u}-{day}"
        rows.append(ev(u, "campaign_impression", t, campaign_id="c", session_id=s, variant=variant))
        if u in spend:
            bought = {"item_id": "a1", "session_id": s, "revenue": spend[u]}
            rows.append(ev(u, "purchase", t + timedelta(minutes=3), **bought))
    return rows


AGAIN = {"campaign_id": "c", "session_id": "u4-1", "variant": "treatment"}


def test_incremental_revenue_uses_the_campaigns_control_baseline() -> None:
    rows = [
        # day 0: 3 shown, 2 bought for 30 and 20; 2 held out, one bought for 10
        *exposure_day(0, ["u1", "u2", "u3"], "treatment", {"u1": 30.0, "u2": 20.0}),
        *exposure_day(0, ["h1", "h2"], "control", {"h1": 10.0}),
        # day 1: 1 shown bought for 40; 2 held out, nobody bought -> baseline 10 / 4 = 2.5
        *exposure_day(1, ["u4"], "treatment", {"u4": 40.0}),
        *exposure_day(1, ["h3", "h4"], "control", {}),
        # the same shopper seen twice in one session counts once
        ev("u4", "campaign_impression", T0 + timedelta(days=1, minutes=9), **AGAIN),
        # a purchase of an item the campaign does not cover adds nothing
        ev("u3", "purchase", T0 + timedelta(minutes=5), item_id="b1", session_id="u3-0"),
        ev("u1", "coupon_redeem", T0 + timedelta(minutes=6), campaign_id="c"),
        ev("u2", "coupon_redeem", T0 + timedelta(minutes=7), campaign_id="c"),
        ev("u4", "coupon_redeem", T0 + timedelta(days=1, minutes=6), campaign_id="c"),
    ]
    out = campaign_roi_by_day(pd.DataFrame(rows), [CAMPAIGN], ITEMS)
    assert list(out.columns) == list(ROI_COLUMNS)
    assert list(out["day"]) == ["2026-03-02", "2026-03-03"]
    d0, d1 = out.to_dict("records")
    assert (d0["shown"], d0["held_out"], d1["shown"], d1["held_out"]) == (3, 2, 1, 2)
    assert d0["baseline_per_exposure"] == pytest.approx(2.5)
    assert d0["revenue_shown"] == pytest.approx(50.0)
    assert d0["incremental_revenue"] == pytest.approx(50.0 - 3 * 2.5)
    assert d1["incremental_revenue"] == pytest.approx(40.0 - 2.5)
    assert (d0["redemptions"], d1["redemptions"]) == (2, 1)
    assert d0["cost"] == pytest.approx(2 * 5.0) and d1["cost"] == pytest.approx(5.0)

    total = roi_over_time(out)
    assert list(total["roi"]) == pytest.approx([(42.5 - 10) / 10, (37.5 - 5) / 5])
    assert total["cumulative_cost"].iloc[-1] == pytest.approx(15.0)
    assert total["cumulative_roi"].iloc[-1] == pytest.approx((80.0 - 15.0) / 15.0)


def test_without_a_control_group_there_is_cost_but_no_incremental_figure() -> None:
    rows = [
        *exposure_day(0, ["u1", "u2"], "treatment", {"u1": 30.0}),
        ev("u1", "coupon_redeem", T0 + timedelta(minutes=6), campaign_id="c"),
    ]
    out = campaign_roi_by_day(pd.DataFrame(rows), [CAMPAIGN], ITEMS)
    assert math.isnan(out["incremental_revenue"].iloc[0])
    total = roi_over_time(out)
    assert total["campaigns_measured"].iloc[0] == 0
    assert total["cost"].iloc[0] == pytest.approx(5.0)
    assert total["roi"].iloc[0] == pytest.approx(-1.0)  # spent, nothing measured as gained


def test_without_sessions_a_purchase_counts_within_the_window() -> None:
    rows = [
        ev("u1", "campaign_impression", T0, campaign_id="c", variant="treatment"),
        ev("u1", "purchase", T0 + timedelta(hours=5), item_id="a1"),  # catalogue price 30
        ev("u2", "campaign_impression", T0, campaign_id="c", variant="treatment"),
        ev("u2", "purchase", T0 + timedelta(hours=30), item_id="a1", revenue=50.0),  # too late
        ev("h1", "campaign_impression", T0, campaign_id="c", variant="control"),
    ]
    frame = pd.DataFrame(rows).assign(session_id=None)
    out = campaign_roi_by_day(frame, [CAMPAIGN], ITEMS, window_hours=24)
    assert out["revenue_shown"].iloc[0] == pytest.approx(30.0)
    assert out["incremental_revenue"].iloc[0] == pytest.approx(30.0)  # the control spent 0


def test_a_percent_discount_is_priced_on_the_redemptions_value() -> None:
    pct = {**CAMPAIGN, "discount_type": "percent", "discount_value": 10.0, "min_spend": 20.0}
    rows = [
        ev("u1", "coupon_redeem", T0, campaign_id="c", revenue=80.0),  # 10% of 80 + 1
        ev("u2", "coupon_redeem", T0, campaign_id="c"),  # no value logged: 10% of min_spend + 1
    ]
    out = campaign_roi_by_day(pd.DataFrame(rows), [pct], ITEMS)
    assert out["cost"].iloc[0] == pytest.approx(9.0 + 3.0)
    assert out["shown"].iloc[0] == 0 and math.isnan(out["incremental_revenue"].iloc[0])


def test_no_campaign_activity_is_an_empty_table() -> None:
    rows = [ev("u1", "view", T0, item_id="a1")]
    out = campaign_roi_by_day(pd.DataFrame(rows), [CAMPAIGN], ITEMS)
    assert out.empty and list(out.columns) == list(ROI_COLUMNS)
    assert roi_over_time(out).empty
