from __future__ import annotations

import numpy as np
import pytest

from campaignrec.errors import ValidationError
from campaignrec.evaluation.splits import user_temporal_split
from campaignrec.evaluation.stats import (
    bootstrap_ci,
    breakdown,
    history_length_groups,
    paired_test,
)


def test_bootstrap_interval_contains_mean_and_is_seeded():
    rng = np.random.default_rng(0)
    x = rng.random(400)
    a, b = bootstrap_ci(x, seed=5), bootstrap_ci(x, seed=5)
    assert a == b
    assert a.low < a.mean < a.high
    assert a.high - a.low < 0.1
    with pytest.raises(ValidationError):
        bootstrap_ci([np.nan])


@pytest.mark.parametrize("method", ["t", "wilcoxon", "bootstrap"])
def test_identical_models_are_not_different(method):
    x = np.random.default_rng(1).random(300)
    t = paired_test(x, x.copy(), method=method)
    assert t.p_value == pytest.approx(1.0)
    assert t.mean_diff == 0.0


@pytest.mark.parametrize("method", ["t", "wilcoxon", "bootstrap"])
def test_clearly_better_model_has_small_p(method):
    rng = np.random.default_rng(2)
    b = rng.random(300)
    a = b + 0.1 + rng.normal(0, 0.05, 300)
    t = paired_test(a, b, method=method)
    assert t.p_value < 0.01
    assert t.low > 0
    assert t.relative_lift > 0


def test_noise_only_is_rarely_significant():
    rng = np.random.default_rng(3)
    pvals = [paired_test(rng.random(200), rng.random(200)).p_value for _ in range(40)]
    assert np.mean(np.asarray(pvals) < 0.05) < 0.2


def test_paired_test_rejects_misaligned():
    with pytest.raises(ValidationError):
        paired_test([1.0, 2.0], [1.0])
    with pytest.raises(ValidationError):
        paired_test([1.0], [1.0], method="magic")


def test_history_groups_and_breakdown(shop):
    split = user_temporal_split(shop, test_fraction=0.25)
    train = split.train(shop)
    users = np.arange(shop.n_users)
    labels = history_length_groups(train, users, bins=(5, 7))
    assert set(labels) == {"warm (5-6)"}  # each user has 6 train items
    labels = np.array(["a"] * 10 + ["b"] * 20, dtype=object)
    vals = np.r_[np.ones(10), np.zeros(20)]
    df = breakdown({"ndcg@10": vals}, labels)
    got = df.set_index("group")["mean"].to_dict()
    assert got == {"a": 1.0, "b": 0.0}
    assert df.set_index("group")["n_users"].to_dict() == {"a": 10, "b": 20}
