"""Property tests of the push planner over random shoppers, campaigns and settings: quiet hours,
consent, caps, quotas and the cool-down after an ignored push are never violated, and the
holdout gets nothing.

The checks are written here from the rules of docs/push.md, not from the planner's helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaignrec.data.schema import Campaign
from campaignrec.errors import ValidationError
from campaignrec.push.activity import ActivityCounts
from campaignrec.push.config import CHANNELS, ChannelSpec, PushSettings
from campaignrec.push.plan import PLAN_COLUMNS, plan_pushes

ZONES = [
    "Asia/Shanghai",
    "Europe/London",
    "America/New_York",
    "Australia/Sydney",
    "Asia/Kolkata",
    "Pacific/Chatham",
    "Not/AZone",
]
# around the DST changes of 2025 (US 9 March, Europe 30 March, Sydney 6 April, Europe 26 Oct)
BASE_TIMES = [
    datetime(2025, 3, 8, 3, 17, tzinfo=UTC),
    datetime(2025, 3, 29, 20, 0, tzinfo=UTC),
    datetime(2025, 4, 5, 10, 45, tzinfo=UTC),
    datetime(2025, 10, 25, 23, 59, tzinfo=UTC),
    datetime(2025, 6, 1, 12, 0, tzinfo=UTC),
]
CONSENT_VALUES = [None, True, False, "yes", "no", "maybe", 1, 0, "TRUE"]
# how each drawn value reads (the planner accepts clear spellings, anything else is "absent")
READS_AS = {"yes": True, "TRUE": True, "no": False, "maybe": None}
WEEK = timedelta(days=7)


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@st.composite
def cases(draw):  # type: ignore[no-untyped-def]
    n = draw(st.integers(1, 25))
    users = [f"u{i}" for i in range(n)]
    attrs: dict[str, dict[str, object]] = {}
    for u in users:
        a: dict[str, object] = {"user_id": u}
        m = draw(st.sampled_from([True, False, None]))
        if m is not None:
            a["consent_marketing"] = m
        for ch in CHANNELS:
            v = draw(st.sampled_from(CONSENT_VALUES))
            if v is not None:
                a[f"consent_{ch}"] = v
        tz = draw(st.sampled_from([*ZONES, None]))
        if tz is not None:
            a["timezone"] = tz
        a["region"] = draw(st.sampled_from(["east", "overseas", None]))
        a["segment"] = draw(st.sampled_from(["s0", "s1", None]))
        a["consent_personalisation"] = draw(st.booleans())
        attrs[u] = a
    values = draw(st.lists(st.floats(-1.0, 20.0), min_size=n, max_size=n))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    counts = rng.poisson(rng.uniform(0, 2, (n, 1, 1)) * rng.uniform(0, 1, (1, 7, 24)))
    now = draw(st.sampled_from(BASE_TIMES))
    existing = [
        {
            "user_id": draw(st.sampled_from(users)),
            "channel": draw(st.sampled_from(CHANNELS)),
            "send_at_utc": now + timedelta(hours=draw(st.integers(-200, 400))),
            "ignored": draw(st.booleans()),
        }
        for _ in range(draw(st.integers(0, 30)))
    ]
    q_start = draw(st.integers(0, 47)) * 30
    q_end = draw(st.integers(0, 47)) * 30
    if q_end == q_start:
        q_end = (q_start + 60) % 1440
    channels = {
        "app_push": ChannelSpec(
            open_rate=0.08, cost=0.0005, daily_quota=draw(st.sampled_from([None, 0, 1, 3]))
        ),
        "in_app": ChannelSpec(open_rate=0.04, cost=0.0005),
        "email": ChannelSpec(
            open_rate=0.02, cost=0.001, daily_quota=draw(st.sampled_from([None, 2]))
        ),
        "sms": ChannelSpec(
            open_rate=0.3,
            cost=0.03,
            daily_quota=draw(st.sampled_from([None, 0, 1, 4])),
            default_consent=False,
        ),
    }
    cfg = PushSettings(
        quiet_start=_clock(q_start),
        quiet_end=_clock(q_end),
        max_per_day=draw(st.integers(1, 2)),
        max_per_week=draw(st.integers(1, 4)),
        holdout_share=draw(st.sampled_from([0.0, 0.1, 0.5])),
        horizon_days=draw(st.integers(1, 10)),
        min_lead_minutes=draw(st.sampled_from([0, 30])),
        region_timezones={"east": "Asia/Shanghai", "overseas": "Europe/London"},
        channels=channels,
        seed=draw(st.integers(0, 3)),
        cooldown_hours=draw(st.sampled_from([0.0, 24.0, 48.0, 100.0])),
        fatigue_decay=draw(st.sampled_from([1.0, 0.8, 0.3])),
        optout_per_push=draw(st.sampled_from([0.0, 0.002, 0.05])),
    )
    start = now + timedelta(hours=draw(st.integers(-48, 48)))
    end = start + timedelta(hours=draw(st.integers(1, 240)))
    campaign = Campaign(
        campaign_id=draw(st.sampled_from(["c1", "c2"])),
        name="Spring sale",
        type="coupon",
        start_time=start,
        end_time=end,
        title_zh="春季促销",
    )
    recipients = pd.DataFrame({"user_id": users, "value": values})
    activity = ActivityCounts(tuple(users), counts.astype(float))
    ex = pd.DataFrame(existing, columns=["user_id", "channel", "send_at_utc", "ignored"])
    return recipients, attrs, activity, campaign, cfg, now, ex


def _zone(a: dict[str, object], cfg: PushSettings) -> str:
    tz = a.get("timezone")
    if isinstance(tz, str) and tz != "Not/AZone":
        return tz
    region = a.get("region")
    if isinstance(region, str) and region in cfg.region_timezones:
        return cfg.region_timezones[region]
    return cfg.default_timezone


def _quiet(minute: int, cfg: PushSettings) -> bool:
    s = int(cfg.quiet_start[:2]) * 60 + int(cfg.quiet_start[3:])
    e = int(cfg.quiet_end[:2]) * 60 + int(cfg.quiet_end[3:])
    return (s <= minute < e) if s < e else (minute >= s or minute < e)


def _channel_ok(a: dict[str, object], ch: str, cfg: PushSettings) -> bool:
    if a.get("consent_marketing") is False:
        return False
    v = a.get(f"consent_{ch}")
    flag = READS_AS.get(v) if isinstance(v, str) else None if v is None else bool(v)
    return cfg.channels[ch].default_consent if flag is None else flag


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_plans_never_break_quiet_hours_consent_caps_or_quotas(case) -> None:  # type: ignore[no-untyped-def]
    recipients, attrs, activity, campaign, cfg, now, existing = case
    lead = now + timedelta(minutes=cfg.min_lead_minutes)
    lo = max(lead, campaign.start_time)
    hi = min(now + timedelta(days=cfg.horizon_days), campaign.end_time)
    try:
        plan = plan_pushes(recipients, attrs, activity, campaign, cfg, now, existing=existing)
    except ValidationError:
        assert hi <= lo  # only a campaign without time left is refused
        return
    t = plan.table
    assert list(t.columns[: len(PLAN_COLUMNS)]) == list(PLAN_COLUMNS)
    assert t["user_id"].is_unique and set(t["user_id"]) <= set(recipients["user_id"])
    assert not set(t["user_id"]) & set(plan.holdout)
    # the treatment arm: pushed or left out, never both, never held out, always a recipient
    assert not set(plan.left_out) & (set(t["user_id"]) | set(plan.holdout))
    assert set(plan.left_out) <= set(recipients["user_id"])
    value = dict(zip(recipients["user_id"], recipients["value"], strict=True))
    for row in t.itertuples(index=False):
        a = attrs[row.user_id]
        sent = datetime.fromisoformat(row.send_at)
        at = sent.astimezone(UTC)
        local = at.astimezone(ZoneInfo(_zone(a, cfg)))
        # the ISO time carries the shopper's local offset, and it is the same instant
        assert sent.utcoffset() == local.utcoffset()
        assert at == datetime.fromisoformat(row.send_at_utc)
        assert not _quiet(local.hour * 60 + local.minute, cfg), (row.send_at, cfg.quiet_start)
        assert _channel_ok(a, row.channel, cfg), (a, row.channel)
        assert lo <= at < hi
        assert value[row.user_id] > 0 and row.expected_value > cfg.min_expected_value
    # caps: every new push sits in a day and in 7-day windows within the caps, counting the old
    old = existing.assign(send_at_utc=pd.to_datetime(existing["send_at_utc"], utc=True))
    for row in t.itertuples(index=False):
        tz = ZoneInfo(_zone(attrs[row.user_id], cfg))
        mine = [p.to_pydatetime() for p in old.loc[old["user_id"] == row.user_id, "send_at_utc"]]
        mine += [datetime.fromisoformat(row.send_at_utc)]
        at = datetime.fromisoformat(row.send_at_utc)
        # the cool-down: nothing within cooldown_hours after a push the shopper ignored
        ignored = old.loc[(old["user_id"] == row.user_id) & old["ignored"], "send_at_utc"]
        for p in ignored:
            gap = at - p.to_pydatetime()
            assert not timedelta(0) <= gap < timedelta(hours=cfg.cooldown_hours), (gap, cfg)
        same_day = [p for p in mine if p.astimezone(tz).date() == at.astimezone(tz).date()]
        assert len(same_day) <= cfg.max_per_day
        for s in mine:
            if at - WEEK < s <= at:
                assert sum(s <= p < s + WEEK for p in mine) <= cfg.max_per_week
    # quotas: per channel per shop day (default time zone), counting the old pushes
    shop = ZoneInfo(cfg.default_timezone)
    days = pd.concat(
        [
            pd.DataFrame({"channel": old["channel"], "at": old["send_at_utc"]}),
            pd.DataFrame({"channel": t["channel"], "at": pd.to_datetime(t["send_at_utc"])}),
        ]
    )
    days["day"] = [p.astimezone(shop).date() for p in days["at"]]
    new_days = {
        (c, datetime.fromisoformat(s).astimezone(shop).date())
        for c, s in zip(t["channel"], t["send_at_utc"], strict=True)
    }
    for (ch, day), n in days.groupby(["channel", "day"]).size().items():
        quota = cfg.channels[str(ch)].daily_quota
        if quota is not None and (ch, day) in new_days:
            assert n <= quota
