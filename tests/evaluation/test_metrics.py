from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from campaignrec.errors import ValidationError
from campaignrec.evaluation.metrics import (
    auc_from_scores,
    gini_index,
    hit_matrix,
    intra_list_diversity,
    item_coverage,
    mae,
    novelty,
    popularity_bias,
    ranking_metrics,
    rmse,
)


def test_known_answers():
    truth = sp.csr_matrix(np.array([[0, 1, 0, 1, 0], [1, 0, 0, 0, 0]]))
    recs = np.array([[1, 0, 3], [2, 4, 0]])
    m = ranking_metrics(recs, truth, ks=[1, 3])
    assert m["precision@3"].tolist() == pytest.approx([2 / 3, 1 / 3])
    assert m["recall@3"].tolist() == pytest.approx([1.0, 1.0])
    idcg = 1 + 1 / math.log2(3)
    assert m["ndcg@3"][0] == pytest.approx((1 + 1 / math.log2(4)) / idcg)
    assert m["ndcg@3"][1] == pytest.approx(1 / math.log2(4))
    assert m["map@3"].tolist() == pytest.approx([(1 + 2 / 3) / 2, 1 / 3])
    assert m["mrr@3"].tolist() == pytest.approx([1.0, 1 / 3])
    assert m["hit_rate@1"].tolist() == [1.0, 0.0]
    assert m["ndcg@1"].tolist() == [1.0, 0.0]


def test_padding_and_repeats_never_hit():
    truth = sp.csr_matrix(np.array([[1, 1, 0]]))
    h = hit_matrix(np.array([[0, 0, -1]]), truth)
    assert h.tolist() == [[True, False, False]]


def test_perfect_ranking_scores_one():
    truth = sp.csr_matrix(np.array([[0, 1, 1, 0], [1, 0, 0, 0]]))
    recs = np.array([[1, 2, 0, 3], [0, 1, 2, 3]])
    m = ranking_metrics(recs, truth, ks=[1, 2])
    for key in ("ndcg@2", "map@2", "mrr@2", "hit_rate@2", "ndcg@1", "precision@1"):
        assert np.allclose(m[key], 1.0), key
    assert np.allclose(m["recall@2"], 1.0)


def test_bad_inputs_raise():
    with pytest.raises(ValidationError):
        ranking_metrics(np.array([1, 2]), sp.csr_matrix((1, 3)))
    with pytest.raises(ValidationError):
        ranking_metrics(np.array([[1]]), sp.csr_matrix((2, 3)))
    with pytest.raises(ValidationError):
        ranking_metrics(np.array([[1]]), sp.csr_matrix((1, 3)), metrics=["nope"])


@st.composite
def ranking_case(draw):
    n_users = draw(st.integers(1, 6))
    n_items = draw(st.integers(2, 15))
    k = draw(st.integers(1, n_items))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    truth = (rng.random((n_users, n_items)) < 0.3).astype(np.float32)
    truth[np.arange(n_users), rng.integers(0, n_items, n_users)] = 1.0
    recs = np.stack([rng.permutation(n_items)[:k] for _ in range(n_users)])
    return recs, sp.csr_matrix(truth), k


@settings(max_examples=60, deadline=None)
@given(ranking_case())
def test_metrics_lie_in_unit_interval(case):
    recs, truth, k = case
    m = ranking_metrics(recs, truth, ks=[k])
    for key, v in m.items():
        assert np.all(v >= -1e-12) and np.all(v <= 1 + 1e-12), key
    # recall never decreases with k, precision@k * k == hits
    hits = hit_matrix(recs, truth).sum(axis=1)
    assert np.allclose(m[f"precision@{k}"] * k, hits)


@settings(max_examples=40, deadline=None)
@given(ranking_case())
def test_ideal_ordering_maximises_ndcg(case):
    recs, truth, k = case
    dense = truth.toarray()
    ideal = np.argsort(-dense, axis=1, kind="stable")[:, :k]
    m_ideal = ranking_metrics(ideal, truth, ks=[k])
    m = ranking_metrics(recs, truth, ks=[k])
    assert np.allclose(m_ideal[f"ndcg@{k}"], 1.0)
    assert np.all(m[f"ndcg@{k}"] <= m_ideal[f"ndcg@{k}"] + 1e-12)


def test_auc_full_and_sampled():
    scores = np.array([[0.9, 0.1, 0.5, 0.3], [0.1, 0.2, 0.3, 0.4]])
    truth = sp.csr_matrix(np.array([[1, 0, 0, 0], [1, 0, 0, 0]]))
    auc = auc_from_scores(scores, truth)
    assert auc.tolist() == pytest.approx([1.0, 0.0])
    ties = auc_from_scores(np.ones((1, 4)), truth[:1])
    assert ties[0] == pytest.approx(0.5)
    cand = np.array([[True, True, False, False], [True, True, True, True]])
    assert auc_from_scores(scores, truth, candidates=cand)[0] == 1.0
    sampled = auc_from_scores(scores, truth, n_negatives=2, seed=1)
    assert sampled.tolist() == pytest.approx([1.0, 0.0])
    assert np.isnan(auc_from_scores(scores, sp.csr_matrix((2, 4)))).all()


def test_beyond_accuracy_known_answers():
    recs = np.array([[0, 1], [0, 2]])
    assert item_coverage(recs, 2, 4) == 0.75
    assert gini_index(np.array([[0], [0]]), 1, 4) == pytest.approx(0.75)
    assert gini_index(np.array([[0, 1, 2, 3]]), 4, 4) == pytest.approx(0.0)
    cats = np.array([0, 0, 1, -1])
    assert intra_list_diversity(recs, 2, cats).tolist() == [0.0, 1.0]
    pop = np.array([4.0, 2.0, 1.0, 1.0])
    assert novelty(recs, 2, pop, 4).tolist() == pytest.approx([0.5, 1.0])
    assert popularity_bias(recs, 2, pop, 4).tolist() == pytest.approx([0.75, 0.625])


def test_rmse_mae():
    assert rmse([1.0, 3.0], [2.0, 5.0]) == pytest.approx(math.sqrt(2.5))
    assert mae([1.0, 3.0], [2.0, 5.0]) == pytest.approx(1.5)
    with pytest.raises(ValidationError):
        rmse([1.0], [1.0, 2.0])
