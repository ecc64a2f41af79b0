"""Known-answer tests of the push planner: send time, shrinkage, channel choice and quotas,
consent defaults, time zones, the holdout and the ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from campaignrec.data.schema import Campaign
from campaignrec.errors import ValidationError
from campaignrec.push.activity import ActivityCounts, timing_model
from campaignrec.push.config import ChannelSpec, PushSettings
from campaignrec.push.ledger import pushes_counted, read_ledger, record_plan
from campaignrec.push.plan import in_holdout, plan_pushes
from campaignrec.push.shoppers import allowed_channels, timezone_of

NOW = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai
CAMPAIGN = Campaign(
    campaign_id="c1",
    name="Spring",
    type="coupon",
    start_time=NOW - timedelta(days=1),
    end_time=NOW + timedelta(days=20),
)
NO_HOLDOUT = PushSettings(holdout_share=0.0)


def _counts(hours_local: dict[int, float], n_days: int = 7) -> np.ndarray:
    c = np.zeros((7, 24))
    for h, n in hours_local.items():
        c[:n_days, h] = n
    return c


def _plan(users: dict[str, np.ndarray], attrs=None, cfg=NO_HOLDOUT, values=None, existing=None):  # type: ignore[no-untyped-def]
    ids = list(users)
    act = ActivityCounts(tuple(ids), np.stack([users[u] for u in ids]).astype(float))
    rec = pd.DataFrame({"user_id": ids, "value": values or [5.0] * len(ids)})
    attrs = attrs or {u: {"user_id": u} for u in ids}
    return plan_pushes(rec, attrs, act, CAMPAIGN, cfg, NOW, existing=existing)


def test_the_send_time_is_the_shoppers_own_busiest_hour_outside_quiet_hours() -> None:
    plan = _plan({"a": _counts({19: 5}), "owl": _counts({23: 20, 7: 5, 12: 5})})
    t = plan.table.set_index("user_id")
    assert t.loc["a", "send_at"].endswith("T19:00:00+08:00")
    # 23:00 and 07:00 are quiet: the best allowed hour of their pattern is noon
    assert t.loc["owl", "send_at"].endswith("T12:00:00+08:00")


def test_a_thin_history_follows_the_segment_a_long_one_its_own() -> None:
    seg = _counts({10: 20})  # the segment's members act at 10:00
    users = {f"s{i}": seg for i in range(5)}
    users["thin"] = _counts({18: 1}, n_days=1)
    users["long"] = _counts({18: 10})
    attrs = {u: {"user_id": u, "segment": "x"} for u in users}
    t = _plan(users, attrs).table.set_index("user_id")
    assert t.loc["thin", "send_at"].endswith("T10:00:00+08:00")
    assert t.loc["long", "send_at"].endswith("T18:00:00+08:00")


def test_without_personalisation_consent_the_own_history_is_not_used() -> None:
    users = {f"s{i}": _counts({10: 20}) for i in range(5)}
    users["private"] = _counts({18: 50})
    attrs = {u: {"user_id": u} for u in users}
    attrs["private"]["consent_personalisation"] = False
    t = _plan(users, attrs).table.set_index("user_id")
    assert t.loc["private", "history_events"] == 0
    assert not t.loc["private", "send_at"].endswith("T18:00:00+08:00")


def test_channel_by_value_per_cost_and_the_next_one_when_the_quota_is_full() -> None:
    cfg = PushSettings(
        holdout_share=0.0,
        channels={
            "app_push": ChannelSpec(open_rate=0.1, cost=0.001, daily_quota=2),
            "sms": ChannelSpec(open_rate=0.3, cost=0.03, default_consent=True),
        },
    )
    users = {f"u{i}": _counts({19: 5}) for i in range(3)}
    t = _plan(users, cfg=cfg, values=[3.0, 2.0, 1.0]).table.set_index("user_id")
    # the two most valuable shoppers take the app-push quota of their best day at 19:00
    assert list(t.loc[["u0", "u1"], "channel"]) == ["app_push", "app_push"]
    assert t.loc["u0", "send_at"] == t.loc["u1", "send_at"] == "2025-03-03T19:00:00+08:00"
    # the third finds the quota full at the same best slot and goes by SMS, the next channel
    assert t.loc["u2", "channel"] == "sms" and t.loc["u2", "send_at"] == t.loc["u0", "send_at"]


def test_consent_defaults_sms_needs_an_opt_in_and_marketing_gates_everything() -> None:
    cfg = PushSettings()
    assert "sms" not in allowed_channels({}, cfg)
    assert set(allowed_channels({}, cfg)) == {"app_push", "in_app", "email"}
    assert "sms" in allowed_channels({"consent_sms": "yes"}, cfg)
    assert "email" not in allowed_channels({"consent_email": False}, cfg)
    assert allowed_channels({"consent_marketing": False, "consent_sms": True}, cfg) == ()


def test_time_zone_from_the_shopper_city_region_or_the_default() -> None:
    cfg = PushSettings()
    assert timezone_of({"timezone": "Europe/Paris", "city": "London"}, cfg) == "Europe/Paris"
    assert timezone_of({"timezone": "Mars/Olympus", "city": "London"}, cfg) == "Europe/London"
    assert timezone_of({"region": "east"}, cfg) == "Asia/Shanghai"
    assert timezone_of({}, PushSettings(default_timezone="UTC")) == "UTC"
    with pytest.raises(ValueError, match="unknown time zone"):
        PushSettings(default_timezone="Nowhere/City")
    with pytest.raises(ValueError, match="HH:MM"):
        PushSettings(quiet_start="10pm")


def test_the_holdout_is_stable_and_about_its_share() -> None:
    draws = [in_holdout("c1", f"u{i}", 0.2, seed=1) for i in range(5000)]
    assert 0.18 < np.mean(draws) < 0.22
    assert draws == [in_holdout("c1", f"u{i}", 0.2, seed=1) for i in range(5000)]
    users = {f"u{i}": _counts({19: 5}) for i in range(200)}
    plan = _plan(users, cfg=PushSettings(holdout_share=0.25))
    assert 30 < len(plan.holdout) < 70
    assert not set(plan.holdout) & set(plan.table["user_id"])


def test_the_ledger_replaces_a_replanned_campaign_and_counts_the_others(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "ledger.parquet"
    users = {"a": _counts({19: 5})}
    first = _plan(users)
    record_plan(path, first, NOW)
    record_plan(path, first, NOW)
    ledger = read_ledger(path)
    assert len(ledger) == 1
    # for another campaign, c1's push counts: the same day is taken (1 a day)
    other = Campaign(**{**CAMPAIGN.model_dump(), "campaign_id": "c2"})
    ids = ["a"]
    act = ActivityCounts(("a",), users["a"][None].astype(float))
    rec = pd.DataFrame({"user_id": ids, "value": [5.0]})
    plan2 = plan_pushes(
        rec, {"a": {}}, act, other, NO_HOLDOUT, NOW, existing=pushes_counted(ledger, "c2")
    )
    d1 = first.table["send_at"].iloc[0][:10]
    d2 = plan2.table["send_at"].iloc[0][:10]
    assert d1 != d2
    assert len(pushes_counted(ledger, "c1")) == 0  # re-planning c1 does not count itself


def test_caps_full_for_the_horizon_leave_the_shopper_out() -> None:
    existing = pd.DataFrame(
        {
            "user_id": ["a"] * 3,
            "channel": ["app_push"] * 3,
            "send_at_utc": [NOW + timedelta(days=d, hours=3) for d in (0, 1, 2)],
        }
    )
    cfg = PushSettings(holdout_share=0.0, horizon_days=5)
    plan = _plan({"a": _counts({19: 5})}, cfg=cfg, existing=existing)
    assert plan.table.empty and plan.skipped == {"caps": 1}
    assert plan.left_out == ("a",)  # in the treatment arm of the holdout comparison


def test_an_ended_campaign_has_no_time_left() -> None:
    with pytest.raises(ValidationError, match="no time left"):
        plan_pushes(
            pd.DataFrame({"user_id": ["a"], "value": [1.0]}),
            {},
            ActivityCounts((), np.zeros((0, 7, 24))),
            CAMPAIGN,
            NO_HOLDOUT,
            CAMPAIGN.end_time + timedelta(hours=1),  # type: ignore[operator]
        )


def test_timing_model_rows_are_distributions() -> None:
    act = ActivityCounts(("a", "b"), np.stack([_counts({3: 2}), np.zeros((7, 24))]))
    m = timing_model(act, {}, prior_events=5.0)
    for u in ("a", "b"):
        assert np.isclose(m.hours[u].sum(), 1.0) and np.isclose(m.weekdays[u].sum(), 1.0)


def test_push_settings_come_from_the_toml_section_and_bad_ones_name_the_field(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from campaignrec.config import load_settings
    from campaignrec.errors import ConfigError

    (tmp_path / "campaignrec.toml").write_text(
        '[push]\nquiet_start = "21:30"\nmax_per_week = 2\n'
        '[push.region_timezones]\noverseas = "Europe/London"\n'
    )
    s = load_settings(tmp_path).push
    assert (s.quiet_start, s.quiet_end, s.max_per_week, s.max_per_day) == ("21:30", "08:00", 2, 1)
    assert s.is_quiet(21 * 60 + 30) and not s.is_quiet(21 * 60 + 29)
    assert timezone_of({"region": "overseas"}, s) == "Europe/London"
    (tmp_path / "campaignrec.toml").write_text('[push]\nquiet_end = "25:00"\n')
    with pytest.raises(ConfigError, match=r"push\.quiet_end"):
        load_settings(tmp_path)
    (tmp_path / "campaignrec.toml").write_text("[push]\nmax_per_dya = 2\n")
    with pytest.raises(ConfigError, match="max_per_dya"):
        load_settings(tmp_path)


def test_a_live_marketing_withdrawal_in_the_online_state_stops_the_push() -> None:
    from campaignrec.privacy.consent import record_consent
    from campaignrec.store.online import MemoryOnlineState

    state = MemoryOnlineState()
    record_consent(
        state, {"user_id": "b", "event_type": "consent_marketing_withdrawn", "timestamp": NOW}
    )
    users = {"a": _counts({19: 5}), "b": _counts({19: 5})}
    act = ActivityCounts(("a", "b"), np.stack(list(users.values())).astype(float))
    rec = pd.DataFrame({"user_id": ["a", "b"], "value": [5.0, 5.0]})
    attrs = {u: {"user_id": u, "consent_marketing": True} for u in users}
    plan = plan_pushes(rec, attrs, act, CAMPAIGN, NO_HOLDOUT, NOW, state=state)
    assert list(plan.table["user_id"]) == ["a"]
    assert plan.skipped == {"no_marketing_consent": 1}


def test_recent_pushes_lower_the_value_of_one_more_and_the_risk_can_outweigh_it() -> None:
    cfg = PushSettings(
        holdout_share=0.0,
        max_per_day=1,
        max_per_week=10,
        channels={"app_push": ChannelSpec(open_rate=0.1, cost=0.001)},
        fatigue_decay=0.5,
        optout_per_push=0.01,
        optout_cost=1.0,
    )
    users = {"rested": _counts({19: 5}), "tired": _counts({19: 5})}
    # two pushes in the week before (none on the planning days), so n = 2 for 'tired'
    before = [NOW - timedelta(days=2), NOW - timedelta(days=3)]
    existing = pd.DataFrame({"user_id": "tired", "channel": "app_push", "send_at_utc": before})
    t = _plan(users, cfg=cfg, values=[5.0, 5.0], existing=existing).table.set_index("user_id")
    lift = t.loc["rested", "timing_lift"]
    assert t.loc["rested", "expected_value"] == pytest.approx(5.0 * 0.1 * lift - 0.001, abs=1e-5)
    tired = t.loc["tired"]
    n = sum(
        timedelta(0) < pd.Timestamp(tired["send_at_utc"]).to_pydatetime() - b < timedelta(days=7)
        for b in before
    )
    assert n >= 1
    want = 5.0 * 0.1 * tired["timing_lift"] * 0.5**n - 0.001 - 0.01 * n * 1.0
    assert tired["expected_value"] == pytest.approx(want, abs=1e-5)
    assert tired["expected_value"] < t.loc["rested", "expected_value"]
    # a high enough predicted opt-out risk leaves the tired shopper out altogether
    risky = cfg.model_copy(update={"optout_cost": 100.0, "horizon_days": 3})
    plan = _plan(users, cfg=risky, values=[5.0, 5.0], existing=existing)
    assert list(plan.table["user_id"]) == ["rested"]
    assert plan.skipped.get("no_positive_value") == 1


def test_no_push_within_the_cool_down_after_an_ignored_one() -> None:
    cfg = PushSettings(holdout_share=0.0, cooldown_hours=48.0, max_per_week=10)
    users = {"a": _counts({19: 5}), "b": _counts({19: 5})}
    sent = NOW - timedelta(hours=10)  # Sunday 17:00 Shanghai
    existing = pd.DataFrame(
        {
            "user_id": ["a", "b"],
            "channel": "app_push",
            "send_at_utc": [sent, sent],
            "ignored": [True, False],
        }
    )
    t = _plan(users, cfg=cfg, existing=existing).table.set_index("user_id")
    assert pd.Timestamp(t.loc["a", "send_at_utc"]) >= sent + timedelta(hours=48)
    assert pd.Timestamp(t.loc["b", "send_at_utc"]) < sent + timedelta(hours=48)
    off = _plan(users, cfg=cfg.model_copy(update={"cooldown_hours": 0.0}), existing=existing)
    at = pd.to_datetime(off.table.set_index("user_id")["send_at_utc"])
    assert at["a"] == at["b"]
    # a cool-down as long as the campaign leaves the shopper out, counted as such
    short = Campaign(
        campaign_id="c2",
        name="Short",
        type="coupon",
        start_time=NOW,
        end_time=NOW + timedelta(hours=30),
    )
    ids = ["a", "b"]
    act = ActivityCounts(tuple(ids), np.stack([users[u] for u in ids]).astype(float))
    rec = pd.DataFrame({"user_id": ids, "value": [5.0, 5.0]})
    plan = plan_pushes(rec, {u: {} for u in ids}, act, short, cfg, NOW, existing=existing)
    assert list(plan.table["user_id"]) == ["b"] and plan.skipped == {"cooldown": 1}


def test_a_shoppers_own_channel_rates_choose_their_channel() -> None:
    cfg = PushSettings(
        holdout_share=0.0,
        channels={
            "app_push": ChannelSpec(open_rate=0.1, cost=0.001),
            "email": ChannelSpec(open_rate=0.02, cost=0.001),
        },
    )
    users = {"app": _counts({19: 5}), "mail": _counts({19: 5})}
    ids = list(users)
    act = ActivityCounts(tuple(ids), np.stack([users[u] for u in ids]).astype(float))
    rec = pd.DataFrame({"user_id": ids, "value": [5.0, 5.0]})
    rates = {"mail": {"app_push": 0.0, "email": 0.2}}
    attrs = {u: {} for u in ids}
    t = plan_pushes(rec, attrs, act, CAMPAIGN, cfg, NOW, channel_rates=rates).table
    assert dict(zip(t["user_id"], t["channel"], strict=True)) == {
        "app": "app_push",
        "mail": "email",
    }


def test_a_sent_push_without_an_open_or_click_counts_as_ignored() -> None:
    from campaignrec.push.run import mark_ignored

    sent = NOW - timedelta(hours=30)
    pushes = pd.DataFrame(
        {
            "user_id": ["opened", "silent", "other_campaign", "recent", "planned"],
            "campaign_id": "c1",
            "channel": "app_push",
            "send_at_utc": [sent, sent, sent, NOW - timedelta(hours=2), sent],
            "status": ["sent", "sent", "sent", "sent", "planned"],
        }
    )
    events = pd.DataFrame(
        {
            "user_id": ["opened", "other_campaign", "silent"],
            "event_type": ["campaign_click", "campaign_click", "campaign_click"],
            "campaign_id": ["c1", "c9", "c1"],
            "timestamp": [
                sent + timedelta(hours=1),
                sent + timedelta(hours=1),
                sent - timedelta(hours=1),
            ],  # clicked before the push: not an answer
        }
    )
    got = mark_ignored(pushes, events, NOW, 24.0).set_index("user_id")["ignored"].to_dict()
    assert got == {
        "opened": False,
        "silent": True,
        "other_campaign": True,
        "recent": False,  # too recent to tell
        "planned": False,
    }
