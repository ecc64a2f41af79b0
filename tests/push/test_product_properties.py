"""Property tests of product-recommendation pushes over random shoppers, consent, activity,
earlier pushes and settings (the cases of ``test_plan_properties``): planned after a campaign
push of the same day, a product push never breaks the quiet hours, consent, the caps (counting
the campaign's pushes, the earlier ones and its own), the cool-down or its day's window, and the
holdout gets nothing.

The checks are written from the rules of docs/push.md, not from the planner's helpers."""

from __future__ import annotations

import zlib
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from campaignrec.errors import ValidationError
from campaignrec.push.activity import ActivityCounts
from campaignrec.push.config import PushSettings
from campaignrec.push.plan import PLAN_COLUMNS, plan_pushes
from campaignrec.push.products import (
    Pick,
    plan_product_pushes,
    product_push_campaign,
    product_recipients,
)
from tests.push.test_plan_properties import _channel_ok, _quiet, _zone, cases

WEEK = timedelta(days=7)


def _rank(seed: int):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    prices = {f"i{j}": float(rng.uniform(1, 200)) for j in range(8)}

    def rank(user_id: str, lang: str, k: int) -> list[Pick]:
        picked = sorted(prices, key=lambda i: zlib.crc32(f"{user_id}|{i}|{seed}".encode()))[:k]
        return [Pick(i, f"商品 {i}" if lang == "zh" else f"Item {i}", prices[i], "popular",
                     "热门商品" if lang == "zh" else "Popular") for i in picked]  # fmt: skip

    return rank


def _as_existing(t: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": t["user_id"],
            "channel": t["channel"],
            "send_at_utc": pd.to_datetime(t["send_at_utc"], utc=True),
            "ignored": False,
        }
    )


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.integers(0, 1), st.integers(1, 4), st.integers(0, 2**16))
def test_product_plans_after_a_campaign_keep_quiet_hours_consent_and_shared_caps(
    case, day_offset: int, k: int, seed: int
) -> None:  # type: ignore[no-untyped-def]
    _, attrs, activity, campaign, cfg, now, existing = case
    # the campaign's push first (when its window has time left), recorded like the ledger does
    try:
        first = plan_pushes(
            pd.DataFrame({"user_id": list(attrs), "value": 5.0}),
            attrs, activity, campaign, cfg, now, existing=existing,
        )  # fmt: skip
        before = pd.concat([existing, _as_existing(first.table)], ignore_index=True)
    except ValidationError:
        before = existing
    rng = np.random.default_rng(seed)
    rates = {u: float(rng.uniform(0, 1)) for u in attrs}
    rec = product_recipients(
        attrs, _rank(seed), rates, 0.2, cfg, k=k, margin_rate=0.3, mean_price=50.0
    )
    shop = ZoneInfo(cfg.default_timezone)
    day: date = now.astimezone(shop).date() + timedelta(days=day_offset)
    products = product_push_campaign(day, cfg)
    lo = max(now + timedelta(minutes=cfg.min_lead_minutes), products.start_time)
    hi = min(now + timedelta(days=cfg.horizon_days), products.end_time)
    try:
        plan = plan_product_pushes(rec, attrs, activity, products, cfg, now, existing=before)
    except ValidationError:
        assert hi <= lo  # only a day without time left is refused
        event("day refused")
        return
    t = plan.table
    event("product pushes planned" if len(t) else "no product push")
    event("after campaign pushes" if len(before) > len(existing) else "no campaign push")
    assert list(t.columns[: len(PLAN_COLUMNS)]) == list(PLAN_COLUMNS)
    assert set(t["campaign_id"]) <= {f"products-{day.isoformat()}"}
    assert t["user_id"].is_unique and not set(t["user_id"]) & set(plan.holdout)
    old = before.assign(send_at_utc=pd.to_datetime(before["send_at_utc"], utc=True))
    content = dict(zip(rec["user_id"], rec["content"], strict=True))
    for row in t.itertuples(index=False):
        a = attrs[row.user_id]
        at = datetime.fromisoformat(row.send_at_utc)
        tz = ZoneInfo(_zone(a, cfg))
        local = at.astimezone(tz)
        assert datetime.fromisoformat(row.send_at).utcoffset() == local.utcoffset()
        assert not _quiet(local.hour * 60 + local.minute, cfg), (row.send_at, cfg.quiet_start)
        assert _channel_ok(a, row.channel, cfg), (a, row.channel)
        assert lo <= at < hi and at.astimezone(shop).date() == day
        assert row.content == content[row.user_id] and len(row.item_ids.split()) == k
        # the caps across the campaign, the earlier pushes and this one
        mine = [p.to_pydatetime() for p in old.loc[old["user_id"] == row.user_id, "send_at_utc"]]
        mine.append(at)
        same_day = [p for p in mine if p.astimezone(tz).date() == local.date()]
        assert len(same_day) <= cfg.max_per_day, (row.user_id, same_day)
        for s in mine:
            if at - WEEK < s <= at:
                assert sum(s <= p < s + WEEK for p in mine) <= cfg.max_per_week
        ignored = old.loc[(old["user_id"] == row.user_id) & old["ignored"].astype(bool)]
        for p in ignored["send_at_utc"]:
            gap = at - p.to_pydatetime()
            assert not timedelta(0) <= gap < timedelta(hours=cfg.cooldown_hours)


def test_a_shopper_pushed_by_a_campaign_that_day_gets_no_product_push_the_same_day() -> None:
    cfg = PushSettings(holdout_share=0.0)
    users = ["a", "b"]
    attrs: dict[str, dict[str, object]] = {u: {} for u in users}
    act = ActivityCounts(tuple(users), np.ones((2, 7, 24)))
    now = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)  # 09:00 Shanghai
    campaign_push = pd.DataFrame(
        {"user_id": ["a"], "channel": ["app_push"],
         "send_at_utc": [pd.Timestamp("2025-03-03T12:00Z")], "ignored": [False]}
    )  # fmt: skip
    rec = product_recipients(attrs, _rank(0), {"a": 0.5, "b": 0.5}, 0.2, cfg, k=2,
                             margin_rate=0.3, mean_price=50.0)  # fmt: skip
    day = product_push_campaign(date(2025, 3, 3), cfg)
    plan = plan_product_pushes(rec, attrs, act, day, cfg, now, existing=campaign_push)
    assert list(plan.table["user_id"]) == ["b"] and plan.skipped == {"caps": 1}
    assert plan.left_out == ("a",)
    # the next day, the cap of one a day leaves room
    nxt = product_push_campaign(date(2025, 3, 4), cfg)
    plan = plan_product_pushes(rec, attrs, act, nxt, cfg, now, existing=campaign_push)
    assert sorted(plan.table["user_id"]) == ["a", "b"]
