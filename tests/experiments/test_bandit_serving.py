"""A campaign slot served by a bandit: exact propensities, shared statistics, learning from clicks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from campaignrec.campaigns.catalog import load_campaigns
from campaignrec.errors import ConfigError
from campaignrec.experiments.serving import BanditCampaignServer, credit_reward, serving_policy
from campaignrec.store.online import MemoryOnlineState

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _catalog(**extra: object):  # type: ignore[no-untyped-def]
    window = {"start_time": NOW - timedelta(days=1), "end_time": NOW + timedelta(days=1)}
    return load_campaigns(
        [
            {"campaign_id": "a", "name": "A", "type": "coupon", "priority": 1, **window, **extra},
            {"campaign_id": "b", "name": "B", "type": "coupon", "priority": 1, **window, **extra},
            {"campaign_id": "c", "name": "C", "type": "flash_sale", "priority": 0, **window},
        ]
    )


def test_the_first_slot_is_the_bandits_draw_with_its_exact_propensity() -> None:
    state = MemoryOnlineState()
    server = BanditCampaignServer(
        _catalog(), state, policy_name="bernoulli_ts", rng=np.random.default_rng(0)
    )
    d = server.serve("u1", {}, 2, NOW)
    assert d.policy == "bernoulli_ts" and len(d.served) == 2
    first = d.served[0]
    assert 0.0 < first.propensity <= 1.0 and d.served[1].propensity == 1.0
    # before any reward all three arms look alike: about a third each
    assert 0.15 < first.propensity < 0.55
    events = d.to_events()
    assert events[0]["policy"] == "bernoulli_ts" and events[0]["propensity"] == first.propensity
    arms = state.hgetall("bandit:bernoulli_ts:arms")
    assert arms[f"n:{first.campaign_id}"] == 1.0  # the pull is counted at serve time


def test_it_learns_from_rewards_and_every_worker_sees_the_same_statistics() -> None:
    state = MemoryOnlineState()  # stands for the Redis all workers share
    workers = [
        BanditCampaignServer(
            _catalog(), state, policy_name="bernoulli_ts", rng=np.random.default_rng(seed)
        )
        for seed in (1, 2)
    ]
    policy = serving_policy("bernoulli_ts", state)
    chosen = []
    for n in range(400):
        d = workers[n % 2].serve(f"u{n}", {}, 1, NOW)
        cid = d.served[0].campaign_id
        chosen.append(cid)
        if cid == "b":  # only b's shoppers click
            credit_reward(policy, cid)
    late = chosen[-100:]
    assert late.count("b") > 80, late.count("b")
    p = policy.action_probabilities(None, ["a", "b", "c"], np.random.default_rng(0))
    assert p[1] > 0.9


def test_caps_still_hold_and_a_refused_draw_is_drawn_again() -> None:
    state = MemoryOnlineState()
    server = BanditCampaignServer(
        _catalog(frequency_cap=1), state, policy_name="ucb1", rng=np.random.default_rng(0)
    )
    ids = [
        d.served[0].campaign_id for d in (server.serve("same-user", {}, 1, NOW) for _ in range(6))
    ]
    assert ids.count("a") == 1 and ids.count("b") == 1  # capped at one impression each
    assert ids.count("c") == 4  # uncapped: every other draw lands on it


def test_unknown_policy_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        serving_policy("roulette", MemoryOnlineState())
