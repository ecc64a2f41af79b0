"""Results of an experiment from its events: planted winners, broken splits, holdouts, the
sequential test's error rate under daily peeking, and the sample-size calculator's power."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from scipy import stats

from campaignrec.experiments.ab import analyse_conversion, sample_size_per_variant
from campaignrec.experiments.registry import Experiment
from campaignrec.experiments.results import analyse_experiment
from campaignrec.experiments.sequential import (
    always_valid_p_value,
    msprt_confidence_interval,
    sample_size_for_mean,
)
from campaignrec.experiments.simulation import ArmTruth, simulate_experiment_events

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def experiment(**kw) -> Experiment:  # type: ignore[no-untyped-def]
    base = {
        "experiment_id": "e1",
        "variants": [{"name": "A", "share": 1}, {"name": "B", "share": 1}],
        "start_time": T0,
        "range_low": 0.0,
        "range_high": 1.0,
        "minimum_detectable_effect": 0.3,
    }
    base.update(kw)
    return Experiment.model_validate(base)


def test_a_planted_winner_is_named_with_its_lift_in_both_languages() -> None:
    exp = experiment(guardrail_metrics=["ctr"])
    ev = simulate_experiment_events(
        exp, {"A": ArmTruth(0.05), "B": ArmTruth(0.08)}, n_users=6000, days=14, seed=0
    )
    r = analyse_experiment(exp, ev, at=T0 + timedelta(days=16))
    assert r["decision"]["verdict"] == "winner" and r["decision"]["winner"] == "B"
    assert r["decision"]["en"].startswith("B wins on conversion, +")
    assert r["decision"]["en"].endswith("guardrails hold")
    assert "B 在转化率上胜出" in r["decision"]["zh"]
    primary = next(c for c in r["comparisons"] if c["primary"])
    assert primary["ci_low"] < 0.03 < primary["ci_high"]
    assert primary["sequential_p_value"] < 0.05
    # the always-valid interval is wider than the fixed-horizon one
    assert primary["sequential_ci_low"] < primary["ci_low"]
    assert r["srm"]["p_value"] > 0.001 and r["crossed_users"] == 0
    a = r["variants"]["A"]
    assert a["conversion"]["ci_low"] < 0.05 < a["conversion"]["ci_high"]
    assert a["ctr"]["ci_low"] < 0.1 < a["ctr"]["ci_high"]
    assert a["revenue_per_user"]["ci_low"] < 0.05 * 50 < a["revenue_per_user"]["ci_high"]
    assert a["exposures"] > a["users"]


def test_a_broken_split_says_do_not_trust_the_numbers() -> None:
    exp = experiment()
    ev = simulate_experiment_events(
        exp, {"A": ArmTruth(0.05), "B": ArmTruth(0.08)}, n_users=4000, days=10, seed=2,
        drop_share={"B": 0.2},
    )  # fmt: skip
    r = analyse_experiment(exp, ev, at=T0 + timedelta(days=12))
    assert r["srm"]["mismatch"]
    assert r["decision"] == {
        "verdict": "broken",
        "en": "traffic split is broken: do not trust these numbers",
        "zh": "流量分配异常：这些数字不可信",
    }


def test_too_early_says_how_many_more_days() -> None:
    exp = experiment(minimum_detectable_effect=0.1)
    ev = simulate_experiment_events(
        exp, {"A": ArmTruth(0.05), "B": ArmTruth(0.05)}, n_users=2000, days=4, seed=3
    )
    r = analyse_experiment(exp, ev, at=T0 + timedelta(days=4))
    assert r["decision"]["verdict"] == "keep_running"
    size = r["sample_size"]
    assert size["per_variant_needed"] == sample_size_per_variant(
        r["variants"]["A"]["conversion"]["value"], 0.1, relative=True
    )
    expected_days = math.ceil(
        (size["per_variant_needed"] - size["per_variant_now"]) / (size["per_variant_now"] / 4)
    )
    assert size["days_more"] == expected_days
    assert (
        r["decision"]["en"] == f"keep running: about {expected_days} more days at current traffic"
    )
    assert f"{expected_days} 天" in r["decision"]["zh"]


def test_a_failing_guardrail_is_named() -> None:
    exp = experiment(guardrail_metrics=["ctr"])
    ev = simulate_experiment_events(
        exp, {"A": ArmTruth(0.05, ctr=0.2), "B": ArmTruth(0.08, ctr=0.1)}, n_users=6000,
        days=14, seed=4,
    )  # fmt: skip
    r = analyse_experiment(exp, ev, at=T0 + timedelta(days=16))
    assert r["decision"]["verdict"] == "guardrail_failed"
    assert r["decision"]["en"].endswith("but guardrails fail: CTR")


def test_holdout_measures_incremental_value() -> None:
    exp = experiment(holdout_share=0.2)
    truths = {"A": ArmTruth(0.06), "B": ArmTruth(0.06), "holdout": ArmTruth(0.02)}
    ev = simulate_experiment_events(exp, truths, n_users=8000, days=10, seed=5)
    r = analyse_experiment(exp, ev, at=T0 + timedelta(days=12))
    assert r["variants"]["holdout"]["users"] == pytest.approx(0.2 * 8000, rel=0.1)
    assert r["srm"]["p_value"] > 0.001  # judged against 40/40/20
    inc = {(x["variant"], x["metric"]): x for x in r["vs_holdout"]}
    for arm in ("A", "B"):
        conv = inc[(arm, "conversion")]
        assert conv["ci_low"] < 0.04 < conv["ci_high"] and conv["ci_low"] > 0
        assert inc[(arm, "revenue_per_user")]["incremental"] > 0


def test_conversions_outside_the_window_are_not_attributed() -> None:
    exp = experiment(conversion_window_hours=1)
    ev = simulate_experiment_events(
        exp, {"A": ArmTruth(0.5), "B": ArmTruth(0.5)}, n_users=1000, days=5, seed=6
    )
    r = analyse_experiment(exp, ev, at=T0 + timedelta(days=8))
    # purchases happen uniformly 0-48 h after arrival: about 1/48 fall in a 1-hour window
    rate = r["variants"]["A"]["conversion"]["value"]
    assert 0.0 < rate < 0.05


def _aa_paths(n_sims: int, looks: int, per_look: int, seed: int):  # type: ignore[no-untyped-def]
    """Cumulative (difference, variance) at each look of A/A tests on a conversion metric."""
    rng = np.random.default_rng(seed)
    a = rng.random((n_sims, looks * per_look)) < 0.1
    b = rng.random((n_sims, looks * per_look)) < 0.1
    out = []
    for s in range(n_sims):
        path = []
        for k in range(1, looks + 1):
            n = k * per_look
            pa, pb = a[s, :n].mean(), b[s, :n].mean()
            path.append((pb - pa, (pa * (1 - pa) + pb * (1 - pb)) / n))
        out.append(path)
    return out


def test_sequential_test_keeps_its_error_rate_when_peeked_at_daily() -> None:
    paths = _aa_paths(400, looks=28, per_look=200, seed=0)
    tau2 = (0.3 * 0.1) ** 2
    seq = np.mean([always_valid_p_value(p, tau2) < 0.05 for p in paths])
    # the fixed-horizon test, read at every daily look, rejects far more often than 5 %
    naive = np.mean(
        [min(2 * stats.norm.sf(abs(d) / math.sqrt(v)) for d, v in p) < 0.05 for p in paths]
    )
    assert seq <= 0.05
    assert naive > 0.10
    # the always-valid interval covers the truth (0) whenever the p-value does not reject
    d, v = paths[0][-1]
    lo, hi = msprt_confidence_interval(d, v, tau2)
    assert (lo < 0 < hi) == (always_valid_p_value([(d, v)], tau2) >= 0.05)


def test_the_calculator_predicts_the_power_of_a_planted_lift() -> None:
    base, lift = 0.10, 0.2  # +20 % relative
    n = sample_size_per_variant(base, lift, relative=True, power=0.8)
    rng = np.random.default_rng(1)
    ca = rng.binomial(n, base, size=400)
    cb = rng.binomial(n, base * (1 + lift), size=400)
    power = np.mean(
        [analyse_conversion(a, n, b, n).p_value < 0.05 for a, b in zip(ca, cb, strict=True)]
    )
    assert abs(power - 0.8) <= 0.10
    # the same for a mean metric
    m = sample_size_for_mean(10.0, 1.0, power=0.8)
    x = rng.normal(0, 10, size=(300, m))
    y = rng.normal(1, 10, size=(300, m))
    t = stats.ttest_ind(y, x, axis=1, equal_var=False)
    assert abs(np.mean(t.pvalue < 0.05) - 0.8) <= 0.10


def test_no_exposures_yet_is_no_data_not_an_error() -> None:
    import pandas as pd

    from campaignrec.experiments.results import EXPOSURE_COLUMNS

    exp = experiment(holdout_share=0.1)
    empty = pd.DataFrame({c: [] for c in EXPOSURE_COLUMNS})
    r = analyse_experiment(exp, empty, at=T0 + timedelta(days=3))
    assert r["decision"]["verdict"] == "no_data"
    assert r["variants"]["A"]["users"] == 0 and r["srm"]["p_value"] is None
    assert r["sample_size"]["days_more"] is None


def test_cuped_on_the_pre_period_narrows_the_store_results_without_bias() -> None:
    truths = {"A": ArmTruth(0.10, mean_order_value=40), "B": ArmTruth(0.13, mean_order_value=40)}
    with_pre = experiment(primary_metric="revenue_per_user")
    without = experiment(primary_metric="revenue_per_user", pre_period_days=0)
    lifts, raw_lifts = [], []
    for seed in range(6):
        ev = simulate_experiment_events(
            with_pre, truths, n_users=3000, days=10, seed=20 + seed, heterogeneity=3.0,
            pre_purchases=2.0,
        )  # fmt: skip
        at = T0 + timedelta(days=12)
        cup = next(
            c for c in analyse_experiment(with_pre, ev, at=at)["comparisons"]
            if c["metric"] == "revenue_per_user"
        )  # fmt: skip
        raw = next(
            c for c in analyse_experiment(without, ev, at=at)["comparisons"]
            if c["metric"] == "revenue_per_user"
        )  # fmt: skip
        assert raw["variance_reduction"] is None
        assert cup["variance_reduction"] > 0.10  # 14-17 % measured over these seeds
        assert (cup["ci_high"] - cup["ci_low"]) < (raw["ci_high"] - raw["ci_low"])
        lifts.append(cup["lift"])
        raw_lifts.append(raw["lift"])
    # both estimate the same planted lift: 0.03 x 40 = 1.2 per shopper (the mean propensity is 1;
    # the few shoppers whose rate is capped at 1 take a little off)
    assert abs(np.mean(lifts) - 1.2) < 3 * np.std(lifts, ddof=1) / np.sqrt(len(lifts))
    assert abs(np.mean(lifts) - np.mean(raw_lifts)) < 0.5
