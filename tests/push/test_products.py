"""Product-recommendation pushes without a store: the recipients' value and content from a
ranking function, the planner's columns and campaign id, the purchase rate's shrinkage, and bad
input (k, day) refused with the field named."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest

from campaignrec.errors import ValidationError
from campaignrec.push.activity import ActivityCounts
from campaignrec.push.config import PushSettings
from campaignrec.push.plan import PLAN_COLUMNS
from campaignrec.push.products import (
    PRODUCT_COLUMNS,
    Pick,
    check_k,
    parse_day,
    plan_product_pushes,
    product_push_campaign,
    product_recipients,
    purchase_rates,
)

NOW = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
CFG = PushSettings(holdout_share=0.0)
TITLES = {"i1": "Green tea 绿茶", "i2": "Tea cup 茶杯", "i3": "Kettle 水壶", "i4": "Honey 蜂蜜"}
PRICES = {"i1": 10.0, "i2": 30.0, "i3": None, "i4": 50.0}


def _rank(calls: list[tuple[str, str, int]]):  # type: ignore[no-untyped-def]
    """A ranking function: the same four items for everyone, the reason saying the language."""

    def rank(user_id: str, lang: str, k: int) -> list[Pick]:
        calls.append((user_id, lang, k))
        text = "因为您浏览了「绿茶」" if lang == "zh" else "Because you viewed “Green tea”"
        return [Pick(i, TITLES[i], PRICES[i], "because_viewed", text) for i in list(TITLES)[:k]]

    return rank


ATTRS = {
    "zh": {"language": "zh-CN", "region": "east"},
    "en": {"region": "east"},
    "private": {"consent_personalisation": False},
    "no_marketing": {"consent_marketing": False},
    "sms_only": {
        "consent_app_push": False,
        "consent_in_app": False,
        "consent_email": False,
        "consent_sms": False,
    },
}


def test_recipients_value_content_and_consent() -> None:
    calls: list[tuple[str, str, int]] = []
    rates = {"zh": 0.5, "en": 0.2, "private": 0.9}
    rec = product_recipients(
        ATTRS, _rank(calls), rates, 0.1, CFG, k=3, margin_rate=0.3, mean_price=40.0
    ).set_index("user_id")
    # only reachable shoppers are ranked, in their language
    assert sorted(calls) == [("en", "en", 3), ("private", "en", 3), ("zh", "zh", 3)]
    # value = purchase probability x margin x mean known price of the k items (10, 30)
    assert rec.loc["zh", "value"] == pytest.approx(0.5 * 0.3 * 20.0)
    assert rec.loc["en", "value"] == pytest.approx(0.2 * 0.3 * 20.0)
    # no personalisation consent: the shop's rate, never their own
    assert rec.loc["private", "value"] == pytest.approx(0.1 * 0.3 * 20.0)
    assert rec.loc["private", "purchase_probability"] == pytest.approx(0.1)
    zh = rec.loc["zh", "content"]
    assert (
        zh.startswith("为您推荐：")
        and "「Green tea 绿茶」、「Tea cup 茶杯」、「Kettle 水壶」" in zh
    )
    assert "因为您浏览了" in zh
    en = rec.loc["en", "content"]
    assert en.startswith("Recommended for you: “Green tea 绿茶”") and "Because you viewed" in en
    assert rec.loc["zh", "item_ids"] == "i1 i2 i3"
    for u in ("no_marketing", "sms_only"):  # never ranked, no content, no value
        assert rec.loc[u, "value"] == 0 and rec.loc[u, "content"] == ""


def test_an_item_list_without_prices_counts_at_the_shop_mean() -> None:
    def rank(user_id: str, lang: str, k: int) -> list[Pick]:
        return [Pick("i3", "Kettle", None, "popular", "Popular with shoppers")]

    rec = product_recipients(
        {"a": {}}, rank, {"a": 0.5}, 0.1, CFG, k=1, margin_rate=0.5, mean_price=40.0
    )
    assert rec["value"].iloc[0] == pytest.approx(0.5 * 0.5 * 40.0)


def test_limit_keeps_the_shoppers_of_highest_value() -> None:
    attrs = {f"u{i}": {} for i in range(6)}
    rates = {f"u{i}": 0.1 * (i + 1) for i in range(6)}
    rec = product_recipients(
        attrs, _rank([]), rates, 0.1, CFG, k=2, margin_rate=0.3, mean_price=1.0, limit=2
    )
    assert sorted(rec["user_id"]) == ["u4", "u5"]
    with pytest.raises(ValidationError) as info:
        product_recipients(attrs, _rank([]), rates, 0.1, CFG, k=2, margin_rate=0.3,
                           mean_price=1.0, limit=0)  # fmt: skip
    assert info.value.field == "--limit"


def test_the_plan_has_the_plan_columns_and_the_day_as_campaign_id() -> None:
    rec = product_recipients(
        ATTRS, _rank([]), {"zh": 0.5, "en": 0.5}, 0.1, CFG, k=2, margin_rate=0.3, mean_price=1.0
    )
    users = tuple(ATTRS)
    act = ActivityCounts(users, np.ones((len(users), 7, 24)))
    day = date(2025, 3, 3)
    plan = plan_product_pushes(rec, ATTRS, act, product_push_campaign(day, CFG), CFG, NOW)
    t = plan.table
    assert list(t.columns[: len(PLAN_COLUMNS)]) == list(PLAN_COLUMNS)
    assert list(t.columns[-len(PRODUCT_COLUMNS) :]) == list(PRODUCT_COLUMNS)
    assert plan.campaign_id == "products-2025-03-03" and set(t["campaign_id"]) == {plan.campaign_id}
    assert set(t["user_id"]) == {"zh", "en", "private"}
    rows = t.set_index("user_id")
    assert rows.loc["zh", "content"] == rec.set_index("user_id").loc["zh", "content"]
    assert rows.loc["zh", "language"] == "zh" and rows.loc["zh", "item_ids"] == "i1 i2"
    # every push on that day in the shop's zone, after the lead, outside the quiet hours
    for at in t["send_at"]:
        local = datetime.fromisoformat(at)
        assert local.date() == day and 8 <= local.hour < 22 and local > NOW
    assert plan.skipped == {"no_marketing_consent": 1, "no_consented_channel": 1}


def test_purchase_rates_shrink_towards_the_shop() -> None:
    ts = pd.Timestamp("2025-03-01T10:00Z")
    rows = []
    for d in range(10):  # a: active 10 days, buys on 5; b: active 10 days, never buys
        for u in ("a", "b"):
            rows.append(
                {"user_id": u, "timestamp": ts + pd.Timedelta(days=d), "event_type": "view"}
            )
        if d % 2 == 0:
            rows.append({"user_id": "a", "timestamp": ts + pd.Timedelta(days=d, minutes=5),
                         "event_type": "purchase"})  # fmt: skip
    events = pd.DataFrame(rows)
    rates, p0 = purchase_rates(events, {"a": True, "b": True}, prior_days=10.0)
    assert p0 == pytest.approx(5 / 20)
    assert rates["a"] == pytest.approx((5 + 10 * 0.25) / 20)
    assert rates["b"] == pytest.approx((0 + 10 * 0.25) / 20)
    rates, _ = purchase_rates(events, {"a": False, "b": True}, prior_days=10.0)
    assert "a" not in rates  # withheld personalisation: their history is not read


@pytest.mark.parametrize("bad", [0, -1, 51, True])
def test_k_out_of_range_is_refused(bad) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError) as info:
        check_k(bad)
    assert info.value.field == "--k"


@pytest.mark.parametrize("bad", ["2025/03/03", "03-03-2025", "2025-02-30", "tomorrow", ""])
def test_a_day_not_in_iso_format_is_refused(bad: str) -> None:
    with pytest.raises(ValidationError) as info:
        parse_day(bad, NOW, CFG)
    assert info.value.field == "--day" and "YYYY-MM-DD" in info.value.reason


def test_the_default_day_is_the_shops_date_of_the_plan() -> None:
    late = datetime(2025, 3, 3, 17, 0, tzinfo=UTC)  # 01:00 on 4 March in Shanghai
    assert parse_day(None, late, CFG) == date(2025, 3, 4)
    assert parse_day("2025-03-05", late, CFG) == date(2025, 3, 5)
