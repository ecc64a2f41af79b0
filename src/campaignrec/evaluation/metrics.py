"""Metrics for top-k recommendation lists, defined once and vectorised over users.

Inputs are a matrix of recommended item indices (one row per evaluated user, best first, ``-1``
padding) and the ground truth as a CSR matrix with the same rows. Every accuracy metric returns
one value per user, so the caller can average, bootstrap, test and break down by group.

Definitions (``rel_u`` = set of relevant items of user u, ``r`` = 1-based rank, ``hit_r`` = the
item at rank r is relevant):

- ``precision@k`` = hits in the top k / k
- ``recall@k`` = hits in the top k / |rel_u|
- ``ndcg@k`` = sum_r hit_r / log2(r + 1), divided by its best possible value
  sum_{r <= min(k, |rel_u|)} 1 / log2(r + 1)
- ``map@k`` = sum_r hit_r * precision@r / min(k, |rel_u|)
- ``mrr@k`` = 1 / rank of the first hit (0 when none in the top k)
- ``hit_rate@k`` = 1 when at least one hit in the top k
- ``auc`` = share of (relevant, irrelevant) candidate pairs ranked in the right order (ties 1/2)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from campaignrec.errors import ValidationError

RANKING_METRICS: tuple[str, ...] = ("precision", "recall", "ndcg", "map", "mrr", "hit_rate")


def _check(
    recs: NDArray[np.integer], truth: sp.csr_matrix
) -> tuple[NDArray[np.int64], sp.csr_matrix]:
    recs = np.asarray(recs)
    if recs.ndim != 2:
        raise ValidationError("recs", "must be a 2-d array (users x ranks)", value=recs.shape)
    truth = sp.csr_matrix(truth)
    if truth.shape[0] != recs.shape[0]:
        raise ValidationError(
            "truth", f"needs one row per row of recs ({recs.shape[0]})", value=truth.shape[0]
        )
    return recs.astype(np.int64, copy=False), truth


def hit_matrix(recs: NDArray[np.integer], truth: sp.csr_matrix) -> NDArray[np.bool_]:
    """``hits[u, r]`` is True when the item at rank ``r`` of user ``u`` is relevant.

    Padding (``-1``) never hits, and an item repeated in a list counts once (its first rank).
    """
    recs, truth = _check(recs, truth)
    n_users, n_ranks = recs.shape
    n_items = max(truth.shape[1], 1)
    truth = truth.copy()
    truth.sum_duplicates()
    rows = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(truth.indptr))
    truth_keys = np.sort(rows * n_items + truth.indices.astype(np.int64))
    keys = np.arange(n_users, dtype=np.int64)[:, None] * n_items + recs
    pos = np.searchsorted(truth_keys, keys)
    pos = np.minimum(pos, max(len(truth_keys) - 1, 0))
    hits = (truth_keys[pos] == keys) if len(truth_keys) else np.zeros_like(keys, dtype=bool)
    hits &= recs >= 0
    if n_ranks > 1:
        # a repeated item must not be counted twice
        order = np.argsort(recs, axis=1, kind="stable")
        sorted_recs = np.take_along_axis(recs, order, axis=1)
        dup_sorted = np.zeros_like(sorted_recs, dtype=bool)
        dup_sorted[:, 1:] = sorted_recs[:, 1:] == sorted_recs[:, :-1]
        dup = np.zeros_like(dup_sorted)
        np.put_along_axis(dup, order, dup_sorted, axis=1)
        hits &= ~dup
    return hits


def ranking_metrics(
    recs: NDArray[np.integer],
    truth: sp.csr_matrix,
    ks: Iterable[int] = (10,),
    metrics: Sequence[str] = RANKING_METRICS,
) -> dict[str, NDArray[np.float64]]:
    """Per-user accuracy metrics at every k, keyed ``"<metric>@<k>"``.

    Parameters
    ----------
    recs : (n_users, K) int array
        Recommended item indices, best first; ``-1`` for empty slots. ``K`` >= max(ks).
    truth : (n_users, n_items) sparse matrix
        Non-zero entries are the relevant items of each user (rows aligned with ``recs``).
    ks : cutoffs
    metrics : names from ``RANKING_METRICS``

    Returns
    -------
    dict of str to (n_users,) float arrays. Users without any relevant item get 0 for recall,
    ndcg, map (there is nothing to find); leave them out of the evaluation upstream.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> truth = sp.csr_matrix(np.array([[0, 1, 0, 1]]))
    >>> m = ranking_metrics(np.array([[1, 0, 3]]), truth, ks=[3])
    >>> round(float(m["precision@3"][0]), 4), float(m["recall@3"][0])
    (0.6667, 1.0)
    """
    unknown = set(metrics) - set(RANKING_METRICS)
    if unknown:
        raise ValidationError(
            "metrics", "unknown metric", value=sorted(unknown), hint=f"known: {RANKING_METRICS}"
        )
    ks = sorted({int(k) for k in ks})
    recs, truth = _check(recs, truth)
    if not ks or ks[0] < 1:
        raise ValidationError("ks", "need at least one cutoff >= 1", value=ks)
    if recs.shape[1] < ks[-1]:
        pad = np.full((recs.shape[0], ks[-1] - recs.shape[1]), -1, dtype=np.int64)
        recs = np.hstack([recs, pad])
    hits = hit_matrix(recs[:, : ks[-1]], truth).astype(np.float64)
    n_rel = np.diff(truth.indptr).astype(np.float64)
    safe_rel = np.maximum(n_rel, 1.0)
    ranks = np.arange(1, ks[-1] + 1, dtype=np.float64)
    discount = 1.0 / np.log2(ranks + 1.0)
    cum_hits = np.cumsum(hits, axis=1)
    ideal_cum = np.concatenate([[0.0], np.cumsum(discount)])
    first_hit = np.where(hits.any(axis=1), hits.argmax(axis=1) + 1, 0)
    out: dict[str, NDArray[np.float64]] = {}
    for k in ks:
        h = hits[:, :k]
        n_hit = cum_hits[:, k - 1]
        for name in metrics:
            if name == "precision":
                val = n_hit / k
            elif name == "recall":
                val = n_hit / safe_rel
            elif name == "ndcg":
                dcg = h @ discount[:k]
                idcg = ideal_cum[np.minimum(n_rel, k).astype(np.int64)]
                val = np.divide(dcg, idcg, out=np.zeros_like(dcg), where=idcg > 0)
            elif name == "map":
                prec_at = cum_hits[:, :k] / ranks[:k]
                val = (h * prec_at).sum(axis=1) / np.maximum(np.minimum(n_rel, k), 1.0)
            elif name == "mrr":
                val = np.where(
                    (first_hit > 0) & (first_hit <= k), 1.0 / np.maximum(first_hit, 1), 0.0
                )
            else:  # hit_rate
                val = (n_hit > 0).astype(np.float64)
            out[f"{name}@{k}"] = np.where(n_rel > 0, val, 0.0) if name != "precision" else val
    return out


# ---- AUC ---------------------------------------------------------------------------------------
def auc_from_scores(
    scores: NDArray[np.floating],
    truth: sp.csr_matrix,
    *,
    candidates: NDArray[np.bool_] | None = None,
    n_negatives: int | None = None,
    seed: int = 0,
) -> NDArray[np.float64]:
    """Per-user AUC: the chance a relevant item outscores an irrelevant one (ties count 1/2).

    Parameters
    ----------
    scores : (n_users, n_items) dense scores
    truth : relevant items per user (rows aligned)
    candidates : (n_users, n_items) bool, optional
        Items that may be ranked at all (for example not seen in train); default all.
    n_negatives : int, optional
        Sampled AUC: compare with this many irrelevant candidates drawn uniformly (seeded)
        instead of all of them.
    seed : int

    Returns
    -------
    (n_users,) array; NaN for users without relevant or without irrelevant candidates.
    """
    scores = np.asarray(scores, dtype=np.float64)
    truth = sp.csr_matrix(truth)
    rel = truth.toarray() > 0
    cand = np.ones_like(rel) if candidates is None else np.asarray(candidates, dtype=bool)
    pos = rel & cand
    neg = ~rel & cand
    rng = np.random.default_rng(seed)
    out = np.full(scores.shape[0], np.nan)
    for u in range(scores.shape[0]):
        p = scores[u, pos[u]]
        n_idx = np.flatnonzero(neg[u])
        if len(p) == 0 or len(n_idx) == 0:
            continue
        if n_negatives is not None and n_negatives < len(n_idx):
            n_idx = rng.choice(n_idx, size=n_negatives, replace=False)
        n = np.sort(scores[u, n_idx])
        below = np.searchsorted(n, p, side="left")
        not_above = np.searchsorted(n, p, side="right")
        out[u] = float((below + 0.5 * (not_above - below)).sum() / (len(p) * len(n)))
    return out


# ---- beyond accuracy -------------------------------------------------------------------------------
def _valid(recs: NDArray[np.integer], k: int) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    r = np.asarray(recs, dtype=np.int64)[:, :k]
    return r, r >= 0


def item_coverage(recs: NDArray[np.integer], k: int, n_items: int) -> float:
    """Share of the catalogue that appears in at least one top-k list."""
    r, ok = _valid(recs, k)
    return float(len(np.unique(r[ok])) / n_items) if n_items else 0.0


def gini_index(recs: NDArray[np.integer], k: int, n_items: int) -> float:
    """Gini coefficient of how often each catalogue item is recommended (0 = even, 1 = one item)."""
    r, ok = _valid(recs, k)
    counts = np.sort(np.bincount(r[ok], minlength=n_items).astype(np.float64))
    total = counts.sum()
    if total == 0 or n_items < 2:
        return 0.0
    idx = np.arange(1, n_items + 1)
    return float(((2 * idx - n_items - 1) * counts).sum() / (n_items * total))


def intra_list_diversity(
    recs: NDArray[np.integer], k: int, item_category: NDArray[np.integer]
) -> NDArray[np.float64]:
    """Per user: share of pairs in the top k whose categories differ (``item_category`` codes).

    Items with category code ``-1`` (unknown) are treated as their own category each.
    """
    r, ok = _valid(recs, k)
    cats = np.where(ok, np.asarray(item_category)[np.maximum(r, 0)], -1).astype(np.int64)
    # unknown categories never equal one another
    unique_neg = -(np.arange(cats.size, dtype=np.int64).reshape(cats.shape) + 2)
    cats = np.where(cats < 0, unique_neg, cats)
    same = cats[:, :, None] == cats[:, None, :]
    pair_ok = ok[:, :, None] & ok[:, None, :]
    iu = np.triu_indices(r.shape[1], 1)
    pairs = pair_ok[:, iu[0], iu[1]]
    diff = (~same[:, iu[0], iu[1]]) & pairs
    n_pairs = pairs.sum(axis=1)
    return np.divide(diff.sum(axis=1), n_pairs, out=np.zeros(len(r)), where=n_pairs > 0)


def novelty(
    recs: NDArray[np.integer], k: int, item_popularity: NDArray[np.floating], n_users: int
) -> NDArray[np.float64]:
    """Per user: mean self-information ``-log2(p_i)`` of the recommended items, in bits.

    ``p_i`` is the share of train users who touched item ``i`` (floored at ``1 / n_users``).
    """
    r, ok = _valid(recs, k)
    p = np.maximum(
        np.asarray(item_popularity, dtype=np.float64) / max(n_users, 1), 1.0 / max(n_users, 1)
    )
    info = np.where(ok, -np.log2(p[np.maximum(r, 0)]), 0.0)
    cnt = ok.sum(axis=1)
    return np.divide(info.sum(axis=1), cnt, out=np.zeros(len(r)), where=cnt > 0)


def popularity_bias(
    recs: NDArray[np.integer], k: int, item_popularity: NDArray[np.floating], n_users: int
) -> NDArray[np.float64]:
    """Per user: average recommendation popularity (share of train users who touched each item)."""
    r, ok = _valid(recs, k)
    p = np.asarray(item_popularity, dtype=np.float64) / max(n_users, 1)
    val = np.where(ok, p[np.maximum(r, 0)], 0.0)
    cnt = ok.sum(axis=1)
    return np.divide(val.sum(axis=1), cnt, out=np.zeros(len(r)), where=cnt > 0)


# ---- explicit ratings ----------------------------------------------------------------------------
def rmse(predicted: NDArray[np.floating], actual: NDArray[np.floating]) -> float:
    """Root mean squared error of predicted against actual ratings."""
    p, a = np.asarray(predicted, dtype=np.float64), np.asarray(actual, dtype=np.float64)
    if p.shape != a.shape or p.size == 0:
        raise ValidationError(
            "predicted", "needs the same non-empty shape as actual", value=p.shape
        )
    return float(np.sqrt(np.mean((p - a) ** 2)))


def mae(predicted: NDArray[np.floating], actual: NDArray[np.floating]) -> float:
    """Mean absolute error of predicted against actual ratings."""
    p, a = np.asarray(predicted, dtype=np.float64), np.asarray(actual, dtype=np.float64)
    if p.shape != a.shape or p.size == 0:
        raise ValidationError(
            "predicted", "needs the same non-empty shape as actual", value=p.shape
        )
    return float(np.mean(np.abs(p - a)))
