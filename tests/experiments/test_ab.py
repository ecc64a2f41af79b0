"""A/B assignment and analysis: stability, weights, known answers from textbook formulas."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from campaignrec.errors import ValidationError
from campaignrec.experiments.ab import (
    analyse_conversion,
    assign_variant,
    bootstrap_mean_difference,
    sample_size_per_variant,
    srm_check,
    welch_t_test,
)


@settings(max_examples=50, deadline=None)
@given(user=st.text(min_size=1, max_size=30), exp=st.text(min_size=1, max_size=10))
def test_assignment_is_deterministic(user: str, exp: str) -> None:
    variants = {"control": 0.5, "coupon": 0.3, "flash": 0.2}
    first = assign_variant(user, exp, variants, salt="s1")
    assert first in variants
    assert all(assign_variant(user, exp, variants, salt="s1") == first for _ in range(3))


def test_assignment_follows_weights_and_salt_reshuffles() -> None:
    users = [f"u{i}" for i in range(20000)]
    variants = {"a": 0.7, "b": 0.2, "c": 0.1}
    got = [assign_variant(u, "exp", variants, salt="x") for u in users]
    shares = {v: got.count(v) / len(got) for v in variants}
    for v, w in variants.items():
        assert shares[v] == pytest.approx(w, abs=0.015)
    assert not srm_check({v: got.count(v) for v in variants}, variants).mismatch
    other = [assign_variant(u, "exp", variants, salt="y") for u in users]
    agree = np.mean([a == b for a, b in zip(got, other, strict=True)])
    assert agree < 0.6  # about 0.7^2 + 0.2^2 + 0.1^2 = 0.54 when independent
    independent = [assign_variant(u, "exp2", ["a", "b"], salt="x") for u in users[:4000]]
    assert 0.45 < independent.count("a") / 4000 < 0.55


def test_assignment_rejects_bad_variants() -> None:
    with pytest.raises(ValidationError, match="two variants"):
        assign_variant("u", "e", ["only"])
    with pytest.raises(ValidationError, match="weights"):
        assign_variant("u", "e", {"a": -1.0, "b": 2.0})
    with pytest.raises(ValidationError, match="unique"):
        assign_variant("u", "e", ["a", "a"])


def test_conversion_known_answer() -> None:
    res = analyse_conversion(200, 2000, 260, 2000)
    assert res.rate_a == 0.1 and res.rate_b == 0.13
    assert res.difference == pytest.approx(0.03)
    se = np.sqrt(0.1 * 0.9 / 2000 + 0.13 * 0.87 / 2000)
    assert res.difference_ci[0] == pytest.approx(0.03 - 1.959964 * se, rel=1e-5)
    pooled = 460 / 4000
    z = 0.03 / np.sqrt(pooled * (1 - pooled) * 2 / 2000)
    assert res.z == pytest.approx(z)
    assert res.p_value == pytest.approx(2 * stats.norm.sf(z))
    assert res.ratio == pytest.approx(1.3)
    assert res.ratio_ci[0] < 1.3 < res.ratio_ci[1]
    assert res.significant
    null = analyse_conversion(100, 1000, 101, 1000)
    assert not null.significant and null.p_value > 0.9
    with pytest.raises(ValidationError):
        analyse_conversion(5, 3, 1, 10)


def test_conversion_interval_covers_truth() -> None:
    """Over simulated experiments the 95% interval of the difference covers the truth ~95%."""
    rng = np.random.default_rng(0)
    hits = 0
    for _ in range(400):
        a = rng.binomial(3000, 0.05)
        b = rng.binomial(3000, 0.06)
        lo, hi = analyse_conversion(a, 3000, b, 3000).difference_ci
        hits += lo <= 0.01 <= hi
    assert 0.92 <= hits / 400 <= 0.98


def test_welch_matches_scipy_and_bootstrap_agrees() -> None:
    rng = np.random.default_rng(1)
    a = rng.exponential(10.0, size=400) * (rng.random(400) < 0.3)
    b = rng.exponential(12.0, size=500) * (rng.random(500) < 0.3)
    res = welch_t_test(a, b)
    ref = stats.ttest_ind(b, a, equal_var=False)
    assert res.p_value == pytest.approx(ref.pvalue)
    assert res.difference == pytest.approx(b.mean() - a.mean())
    boot = bootstrap_mean_difference(a, b, n_boot=1000, seed=0)
    assert boot.difference == res.difference
    assert boot.difference_ci[0] == pytest.approx(res.difference_ci[0], abs=0.6)
    assert boot.difference_ci[1] == pytest.approx(res.difference_ci[1], abs=0.6)
    const = welch_t_test(np.ones(5), np.ones(5))
    assert const.p_value == 1.0 and const.difference == 0.0


def test_sample_size_known_answer() -> None:
    # textbook: 10% -> 12%, alpha 0.05, power 0.8: about 3,841 per variant
    n = sample_size_per_variant(0.10, 0.02)
    assert 3800 <= n <= 3900
    assert sample_size_per_variant(0.10, 0.2, relative=True) == n
    assert sample_size_per_variant(0.10, 0.04) < n / 3
    with pytest.raises(ValidationError):
        sample_size_per_variant(0.10, 0.0)


def test_srm_detects_a_broken_split() -> None:
    ok = srm_check({"a": 5030, "b": 4970})
    assert not ok.mismatch and ok.p_value > 0.5
    broken = srm_check({"a": 5300, "b": 4700})
    assert broken.mismatch and broken.p_value < 1e-6
    weighted = srm_check({"a": 9000, "b": 1000}, {"a": 0.9, "b": 0.1})
    assert not weighted.mismatch and weighted.chi2 == pytest.approx(0.0)
    with pytest.raises(ValidationError):
        srm_check({"a": 10})
