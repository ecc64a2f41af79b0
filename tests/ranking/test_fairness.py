"""The FA*IR-style re-ranker: every prefix meets the binomial minimum, the model's order is kept
within each group, strength 0 changes nothing, and more strength never means less exposure."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import binom

from campaignrec.errors import ValidationError
from campaignrec.evaluation.fairness import exposure_shares
from campaignrec.ranking.fairness import FairRankingConfig, fair_rerank, minimum_protected


def test_minimum_table_is_the_binomial_quantile():
    for p in (0.3, 0.5, 0.8):
        m = minimum_protected(40, p, 0.1)
        assert np.all(np.diff(m) >= 0) and np.all(m <= np.arange(1, 41))
        for i in (1, 10, 40):
            # the smallest count whose binomial CDF reaches alpha
            assert binom.cdf(m[i - 1], i, p) >= 0.1
            assert m[i - 1] == 0 or binom.cdf(m[i - 1] - 1, i, p) < 0.1
    assert minimum_protected(10, 0.0).tolist() == [0] * 10


def _lists(seed=0, n_users=50, n_cand=60, n_items=200):
    rng = np.random.default_rng(seed)
    cand = np.stack([rng.permutation(n_items)[:n_cand] for _ in range(n_users)])
    scores = -np.sort(-rng.random((n_users, n_cand)), axis=1)
    protected = np.zeros(n_items, dtype=bool)
    protected[: n_items * 2 // 5] = True  # a 40 % minority of the catalogue
    return cand, scores, protected


def test_every_prefix_meets_the_minimum_and_order_is_kept():
    cand, scores, protected = _lists()
    k, cfg = 20, FairRankingConfig(p=0.6, alpha=0.1)
    out = fair_rerank(cand, scores, protected, k, cfg)
    m = minimum_protected(k, cfg.p, cfg.alpha)
    assert out.shortfall_lists == 0
    for u in range(len(cand)):
        row = out.items[u]
        assert len(set(row.tolist())) == k and set(row.tolist()) <= set(cand[u].tolist())
        assert np.all(np.cumsum(protected[row]) >= m)
        pos = {int(i): j for j, i in enumerate(cand[u])}
        for group in (True, False):
            ranks = [pos[int(i)] for i in row if protected[i] == group]
            assert ranks == sorted(ranks)  # the model's order within each group
    base = fair_rerank(cand, scores, protected, k, FairRankingConfig(p=0.0))
    assert np.array_equal(base.items, cand[:, :k]) and np.array_equal(base.scores, scores[:, :k])


def test_more_strength_never_lowers_protected_exposure():
    cand, scores, protected = _lists(seed=3)
    groups = protected.astype(np.int64)
    shares = [
        exposure_shares(
            fair_rerank(cand, scores, protected, 10, FairRankingConfig(p=p)).items, groups, 2, 10
        )[1]
        for p in (0.0, 0.3, 0.5, 0.7, 0.9)
    ]
    assert all(b >= a - 1e-12 for a, b in itertools.pairwise(shares))
    assert shares[-1] > shares[0] + 0.2


def test_too_few_protected_candidates_is_counted_not_raised():
    cand = np.array([[5, 6, 7, 8], [1, 6, 7, 8]])
    protected = np.zeros(10, dtype=bool)
    protected[1] = True
    out = fair_rerank(cand, np.ones((2, 4)), protected, 4, FairRankingConfig(p=0.9))
    assert out.shortfall_lists == 2  # user 0 has none, user 1 only one
    assert out.items[1, 0] == 1 and (out.items >= 0).all()


def test_bad_strength_is_a_validation_error():
    with pytest.raises(ValidationError, match="p"):
        FairRankingConfig(p=1.0)
    with pytest.raises(ValidationError, match="alpha"):
        FairRankingConfig(p=0.5, alpha=0.0)


def test_one_list_order_matches_the_batch_reranker():
    from campaignrec.ranking.fairness import fair_order

    cand, scores, protected = _lists(seed=11, n_users=20)
    cfg = FairRankingConfig(p=0.55)
    batch = fair_rerank(cand, scores, protected, 12, cfg)
    for u in range(len(cand)):
        items, moved = fair_order(cand[u], protected, 12, cfg)
        assert items.tolist() == batch.items[u].tolist()
        pos = {int(i): j for j, i in enumerate(cand[u])}
        assert moved.tolist() == [pos[int(i)] > j for j, i in enumerate(items)]
    items, moved = fair_order(cand[0], protected, 12, FairRankingConfig(p=0.0))
    assert items.tolist() == cand[0][:12].tolist() and not moved.any()
