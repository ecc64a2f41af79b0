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


def _decisions_store(tmp_path):  # type: ignore[no-untyped-def]
    import pandas as pd

    from campaignrec.data.importer import import_frame
    from campaignrec.store.sql import SQLStore

    store = SQLStore(f"sqlite:///{tmp_path / 'campaignrec.db'}")
    server = BanditCampaignServer(
        _catalog(), MemoryOnlineState(), policy_name="bernoulli_ts", rng=np.random.default_rng(3)
    )
    rows = []
    for n in range(240):
        d = server.serve(f"u{n}", {}, 1, NOW + timedelta(minutes=n))
        rows.extend(d.to_events())
        s = d.served[0]
        if s.campaign_id == "b" or (s.campaign_id == "a" and n % 4 == 0):
            rows.append(
                {
                    "user_id": f"u{n}",
                    "event_type": "campaign_click",
                    "campaign_id": s.campaign_id,
                    "timestamp": NOW + timedelta(minutes=n, seconds=30),
                }
            )
    rows.append(
        {
            "user_id": "u0",
            "event_type": "campaign_click",
            "campaign_id": "c",
            "timestamp": NOW + timedelta(days=3),
        }
    )  # outside any window
    import_frame(store, "events", pd.DataFrame(rows))
    return store


def test_the_decision_log_attributes_rewards_within_the_window(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from campaignrec.experiments.logs_io import decision_log

    store = _decisions_store(tmp_path)
    frame = decision_log(store.read_table("events"), window_hours=1)
    store.close()
    assert len(frame) == 240 and set(frame["policy"]) == {"bernoulli_ts"}
    assert ((frame["pscore"] > 0) & (frame["pscore"] <= 1)).all()
    by = frame.groupby("action")["reward"].mean()
    assert by["b"] == 1.0 and 0.1 < by.get("a", 0.25) <= 0.5 and by.get("c", 0.0) == 0.0


def test_ope_from_store_through_the_cli(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import json

    from typer.testing import CliRunner

    from campaignrec.cli.context import STATE
    from campaignrec.cli.main import app

    _decisions_store(tmp_path).close()
    monkeypatch.setattr(STATE, "_settings", None)
    argv = [
        "--data-dir",
        str(tmp_path),
        "ope",
        "--from-store",
        "--policy",
        "uniform",
        "--n-boot",
        "50",
        "--window-hours",
        "1",
        "--json",
    ]
    r = CliRunner().invoke(app, argv)
    assert r.exit_code == 0, r.output
    out = json.loads(r.output.strip().splitlines()[-1])
    assert out["rounds"] == 240 and out["n_actions"] == 3
    ips = out["estimates"]["ips"]["value"]
    # uniform over a, b, c: clicks b always, a a quarter of the time, c never
    assert 0.25 < ips < 0.55
    bad = CliRunner().invoke(app, [*argv[:3], "--from-store", "--logs", "x.csv"])
    assert isinstance(bad.exception, ConfigError) and "--from-store" in str(bad.exception)
