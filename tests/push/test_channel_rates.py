"""Per-shopper channel rates from logged push outcomes: the pooled rate, the shrinkage of thin
histories, the prior's strength from the spread, and answered/ignored read from the events."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from campaignrec.push.channel_rates import estimate_channel_rates, push_outcomes
from campaignrec.push.config import ChannelSpec, PushSettings

NOW = datetime(2025, 3, 10, tzinfo=UTC)


def _settings(**kw: float) -> PushSettings:
    chans = {
        "app_push": ChannelSpec(open_rate=0.1, cost=0.001),
        "email": ChannelSpec(open_rate=0.02, cost=0.001),
    }
    return PushSettings(channels=chans, **kw)  # type: ignore[arg-type]


def _outcomes(rows: list[tuple[str, str, int, int]]) -> pd.DataFrame:
    out = []
    for u, ch, answered, n in rows:
        out += [{"user_id": u, "channel": ch, "answered": i < answered} for i in range(n)]
    return pd.DataFrame(out)


def test_thin_histories_are_shrunk_towards_the_pooled_rate() -> None:
    cfg = _settings(channel_prior_pushes=10.0, channel_global_prior=0.0)
    # too few shoppers to estimate the prior's strength: the setting (10 pseudo-pushes)
    o = _outcomes([("a", "app_push", 0, 5), ("b", "app_push", 5, 5), ("c", "app_push", 2, 10)])
    est = estimate_channel_rates(o, cfg)
    g = 7 / 20
    assert est.global_rates["app_push"] == pytest.approx(g)
    assert est.prior_pushes["app_push"] == 10.0
    assert est.per_user["a"]["app_push"] == pytest.approx((0 + 10 * g) / 15)
    assert est.per_user["b"]["app_push"] == pytest.approx((5 + 10 * g) / 15)
    # a channel without a log keeps its configured rate, for everyone
    assert est.global_rates["email"] == 0.02 and "email" not in est.per_user["a"]
    assert est.rates_for(cfg)["a"]["email"] == 0.02
    moved = est.settings_with_global(cfg).channels
    assert moved["app_push"].open_rate == pytest.approx(g) and moved["email"].open_rate == 0.02


def test_the_global_rate_is_shrunk_towards_the_configured_rate() -> None:
    cfg = _settings(channel_global_prior=100.0)
    est = estimate_channel_rates(_outcomes([("a", "app_push", 0, 100)]), cfg)
    assert est.global_rates["app_push"] == pytest.approx((0 + 100 * 0.1) / 200)


def test_the_prior_strength_follows_the_spread_between_shoppers() -> None:
    cfg = _settings(channel_global_prior=0.0)
    rng = np.random.default_rng(0)
    # half never answer, half answer 40 %: a wide spread, so a weak prior
    mixed = [
        (f"m{i}", "app_push", 0 if i % 2 else int(rng.binomial(20, 0.4)), 20) for i in range(60)
    ]
    # everyone answers 20 %: the spread is binomial noise only, so a strong prior
    same = [(f"s{i}", "email", int(rng.binomial(20, 0.2)), 20) for i in range(60)]
    est = estimate_channel_rates(_outcomes(mixed + same), cfg)
    assert est.prior_pushes["app_push"] < 5 < 50 < est.prior_pushes["email"]
    # a shopper who never answers the app ends far below one who did
    assert est.per_user["m1"]["app_push"] < 0.1 < est.per_user["m0"]["app_push"]


def test_push_outcomes_read_answers_within_the_window_from_the_events() -> None:
    ledger = pd.DataFrame(
        {
            "user_id": ["a", "b", "c", "d", "e"],
            "campaign_id": ["c1"] * 5,
            "channel": ["app_push", "app_push", "email", "email", "sms"],
            "send_at_utc": pd.to_datetime(
                ["2025-03-01T10:00Z"] * 4 + ["2025-03-09T23:00Z"], utc=True
            ),
            "group": "push",
            "status": ["sent", "sent", "sent", "planned", "sent"],
        }
    )
    events = pd.DataFrame(
        {
            "user_id": ["a", "b", "c"],
            "campaign_id": ["c1", "c1", "other"],
            "event_type": ["campaign_click", "campaign_impression", "campaign_click"],
            # a answers within 24 h; b only two days later; c answers another campaign
            "timestamp": pd.to_datetime(
                ["2025-03-01T12:00Z", "2025-03-03T12:00Z", "2025-03-01T11:00Z"], utc=True
            ),
        }
    )
    out = push_outcomes(ledger, events, NOW, 24.0)
    # d was never sent; e is too recent for its answer to be known
    assert dict(zip(out["user_id"], out["answered"], strict=True)) == {
        "a": True,
        "b": False,
        "c": False,
    }
