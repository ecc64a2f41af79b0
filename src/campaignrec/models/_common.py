"""Shared building blocks of the models: history weighting, sparse top-k, term weighting.

Everything here is vectorised over the whole matrix (no Python loop per user or per item), so the
models stay batch-first.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from campaignrec.data.interactions import SECONDS_PER_DAY, Interactions
from campaignrec.errors import ConfigError

WeightingT = Literal["none", "log", "bm25", "tfidf"]
WEIGHTINGS = ("none", "log", "bm25", "tfidf")
#: proximity_gram accumulates straight into a dense array up to this many cells.
DENSE_GRAM_MAX = 25_000_000


def check_choice(model: str, field: str, value: Any, choices: tuple[Any, ...]) -> None:
    """Raise a ConfigError naming the field, the value and the allowed choices."""
    if value not in choices:
        raise ConfigError(
            f"{model}: parameter '{field}' is {value!r}", hint=f"use one of {list(choices)}"
        )


def check_positive(
    model: str, field: str, value: float | None, *, allow_none: bool = False
) -> None:
    """Raise a ConfigError unless ``value`` is a positive number (or None when allowed)."""
    if value is None and allow_none:
        return
    if value is None or not np.isfinite(value) or value <= 0:
        raise ConfigError(f"{model}: parameter '{field}' must be > 0, got {value!r}")


def csr_arrays(prefix: str, m: sp.csr_matrix) -> dict[str, NDArray[Any]]:
    """A CSR matrix as npz-ready arrays (``prefix_indptr`` ...)."""
    m = m.tocsr()
    return {
        f"{prefix}_indptr": m.indptr,
        f"{prefix}_indices": m.indices,
        f"{prefix}_data": m.data,
        f"{prefix}_shape": np.asarray(m.shape, dtype=np.int64),
    }


def csr_from_arrays(prefix: str, arrays: dict[str, NDArray[Any]]) -> sp.csr_matrix:
    """Inverse of :func:`csr_arrays`."""
    shape = tuple(int(v) for v in arrays[f"{prefix}_shape"])
    return sp.csr_matrix(
        (arrays[f"{prefix}_data"], arrays[f"{prefix}_indices"], arrays[f"{prefix}_indptr"]),
        shape=shape,
    )


def row_of_nonzero(m: sp.csr_matrix) -> NDArray[np.int64]:
    """The row index of every stored entry of a CSR matrix."""
    return np.repeat(np.arange(m.shape[0], dtype=np.int64), np.diff(m.indptr))


def sparse_topk_rows(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the ``k`` largest stored entries of every row (others dropped), vectorised."""
    m = m.tocsr()
    m.eliminate_zeros()
    counts = np.diff(m.indptr)
    if m.nnz == 0 or counts.max() <= k:
        return m
    rows = row_of_nonzero(m)
    order = np.lexsort((-m.data, rows))
    rank = np.arange(m.nnz) - m.indptr[rows[order]]
    keep = np.sort(order[rank < k])
    out = sp.csr_matrix((m.data[keep], (rows[keep], m.indices[keep])), shape=m.shape, dtype=m.dtype)
    out.sort_indices()
    return out


def bm25_weight(x: sp.csr_matrix, k1: float = 1.2, b: float = 0.75) -> sp.csr_matrix:
    """BM25 weighting of a user x item matrix, users as terms and items as documents.

    An item is a document made of the users who touched it: users who touch everything carry
    little evidence (idf), and items touched by many users are length-normalised.
    """
    x = x.tocsr().astype(np.float32)
    n_items = x.shape[1]
    rows = row_of_nonzero(x)
    cols = x.indices
    users_per_row = np.diff(x.indptr).astype(np.float64)
    idf = np.log(n_items / (1.0 + users_per_row)) + 1.0
    idf = np.maximum(idf, 1e-3)
    item_len = np.asarray(x.sum(axis=0)).ravel().astype(np.float64)
    avg = item_len[item_len > 0].mean() if (item_len > 0).any() else 1.0
    norm = (1.0 - b) + b * item_len / avg
    tf = x.data.astype(np.float64)
    data = tf * (k1 + 1.0) / (k1 * norm[cols] + tf) * idf[rows]
    return sp.csr_matrix((data.astype(np.float32), x.indices, x.indptr), shape=x.shape)


def tfidf_weight(x: sp.csr_matrix) -> sp.csr_matrix:
    """TF-IDF weighting of a user x item matrix (users as terms), log-scaled term frequency."""
    x = x.tocsr().astype(np.float32)
    n_items = x.shape[1]
    rows = row_of_nonzero(x)
    idf = np.log((1.0 + n_items) / (1.0 + np.diff(x.indptr))) + 1.0
    data = np.log1p(x.data) * idf[rows]
    return sp.csr_matrix((data.astype(np.float32), x.indices, x.indptr), shape=x.shape)


def apply_weighting(
    x: sp.csr_matrix, weighting: str, *, k1: float = 1.2, b: float = 0.75
) -> sp.csr_matrix:
    """Apply one of ``none | log | bm25 | tfidf`` to a user x item matrix."""
    if weighting == "none":
        return x.tocsr().astype(np.float32)
    if weighting == "log":
        x = x.tocsr().astype(np.float32)
        return sp.csr_matrix((np.log1p(x.data), x.indices, x.indptr), shape=x.shape)
    if weighting == "bm25":
        return bm25_weight(x, k1, b)
    if weighting == "tfidf":
        return tfidf_weight(x)
    raise ConfigError(f"unknown weighting {weighting!r}", hint=f"use one of {list(WEIGHTINGS)}")


def distinct_sequences(
    interactions: Interactions,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Each user's distinct items in order of their last occurrence, as ``(indptr, items, users)``.

    User u's sequence is ``items[indptr[u]:indptr[u + 1]]``, oldest first; a repeated item sits at
    the position of its latest event. ``users`` repeats u along its sequence.
    """
    n_users, n_items = interactions.n_users, interactions.n_items
    indptr, items, _ = interactions.sequences
    users = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(indptr))
    key = users * n_items + items.astype(np.int64)
    # the last occurrence of each (user, item): first hit when scanning the log backwards
    _, first_rev = np.unique(key[::-1], return_index=True)
    last = np.sort(len(items) - 1 - first_rev)  # sorted positions keep (user, time) order
    u, it = users[last], items[last].astype(np.int64)
    out_ptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(u, minlength=n_users), out=out_ptr[1:])
    return out_ptr, it, u


def recency_history(
    interactions: Interactions,
    half_life_steps: float | None,
    *,
    base: sp.csr_matrix | None = None,
) -> sp.csr_matrix:
    """User x item history where recent items count more.

    Each distinct item a user touched is weighted ``0.5 ** (steps_from_end / half_life_steps)``,
    where ``steps_from_end`` is 0 for the user's most recent distinct item, 1 for the one before,
    and so on (items are ordered by their last occurrence). ``half_life_steps=None`` gives plain
    weights. The weights multiply ``base`` (default: the 0/1 matrix).
    """
    base_m = interactions.binary if base is None else base.tocsr()
    if half_life_steps is None or len(interactions) == 0:
        return base_m.astype(np.float32)
    indptr, items, users = distinct_sequences(interactions)
    steps = (indptr[users + 1] - 1 - np.arange(len(items))).astype(np.float64)
    decay = np.power(0.5, steps / float(half_life_steps)).astype(np.float32)
    shape = (interactions.n_users, interactions.n_items)
    w = sp.csr_matrix((decay, (users, items)), shape=shape, dtype=np.float32)
    w.sort_indices()
    return w.multiply(base_m).tocsr().astype(np.float32)


def proximity_pairs(
    interactions: Interactions,
    half_life_steps: float,
    window: int,
    remap: NDArray[np.int64] | None = None,
    chunk: int = 20_000_000,
) -> Iterator[tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]]:
    """Chunks ``(earlier, later, weight)`` of item pairs from each user's distinct-item sequence.

    A pair ``d`` steps apart (1 <= d <= ``window``) weighs ``0.5 ** (d / half_life_steps)``.
    ``remap`` maps item indices to output indices (-1 drops the item). Vectorised per offset d.
    """
    _, items, users = distinct_sequences(interactions)
    pos_items = items if remap is None else remap[items]
    ci: list[NDArray[np.int64]] = []
    cj: list[NDArray[np.int64]] = []
    cw: list[NDArray[np.float64]] = []
    pending = 0
    for d in range(1, window + 1):
        a = np.flatnonzero(users[:-d] == users[d:])
        if len(a) == 0:
            break
        i, j = pos_items[a], pos_items[a + d]
        ok = (i >= 0) & (j >= 0)
        ci.append(i[ok])
        cj.append(j[ok])
        cw.append(np.full(int(ok.sum()), 0.5 ** (d / half_life_steps)))
        pending += int(ok.sum())
        if pending > chunk:
            yield np.concatenate(ci), np.concatenate(cj), np.concatenate(cw)
            ci, cj, cw, pending = [], [], [], 0
    if ci:
        yield np.concatenate(ci), np.concatenate(cj), np.concatenate(cw)


def _remap(n_items: int, items_kept: NDArray[np.int64] | None) -> tuple[NDArray[np.int64], int]:
    if items_kept is None:
        return np.arange(n_items, dtype=np.int64), n_items
    remap = np.full(n_items, -1, dtype=np.int64)
    remap[items_kept] = np.arange(len(items_kept))
    return remap, len(items_kept)


def proximity_gram(
    interactions: Interactions,
    half_life_steps: float,
    window: int,
    items_kept: NDArray[np.int64] | None = None,
) -> NDArray[np.float64]:
    """Item x item co-occurrence where pairs close in a user's sequence count more.

    ``G[i, j] = Σ_users 0.5 ** (|pos_i - pos_j| / half_life_steps)`` over pairs at most ``window``
    steps apart in each user's distinct-item sequence; the diagonal is the number of users per
    item (as in XᵀX). ``items_kept`` restricts (and orders) the rows and columns.
    """
    remap, m = _remap(interactions.n_items, items_kept)
    # small catalogues: accumulate straight into a dense flat array; large: via sparse sums
    dense_acc = m * m <= DENSE_GRAM_MAX
    flat = np.zeros(m * m if dense_acc else 0, dtype=np.float64)
    gram = sp.csr_matrix((m, m), dtype=np.float64)
    for i, j, w in proximity_pairs(interactions, half_life_steps, window, remap):
        if dense_acc:
            flat += np.bincount(i * m + j, weights=w, minlength=m * m)
        else:
            gram = gram + sp.csr_matrix((w, (i, j)), shape=(m, m))
    half = flat.reshape(m, m) if dense_acc else gram.toarray()
    dense = half + half.T  # pairs were counted in one direction
    del half
    _, items, _ = distinct_sequences(interactions)
    kept = remap[items]
    dense[np.diag_indices(m)] += np.bincount(kept[kept >= 0], minlength=m).astype(np.float64)
    return dense


def proximity_counts(
    interactions: Interactions,
    half_life_steps: float,
    window: int,
    *,
    forward: float = 1.0,
    backward: float = 1.0,
) -> sp.csr_matrix:
    """Sparse directional item x item proximity counts (no diagonal).

    ``C[i, j] = forward · Σ w(i before j) + backward · Σ w(j before i)`` with the weights of
    :func:`proximity_pairs`; ``forward == backward`` gives the symmetric counts.
    """
    n = interactions.n_items
    fwd = sp.csr_matrix((n, n), dtype=np.float64)
    for i, j, w in proximity_pairs(interactions, half_life_steps, window):
        fwd = fwd + sp.csr_matrix((w, (i, j)), shape=(n, n))
    out = (forward * fwd + backward * fwd.T).tocsr()
    out.setdiag(0.0)
    out.eliminate_zeros()
    out.sort_indices()
    return out


def time_decayed_matrix(
    interactions: Interactions, half_life_days: float | None, *, binary: bool = False
) -> sp.csr_matrix:
    """User x item matrix with our own time decay (``None``: the snapshot's ``matrix``)."""
    if half_life_days is None:
        return interactions.binary if binary else interactions.matrix
    age = (interactions.reference_time - interactions.timestamp) / SECONDS_PER_DAY
    decay = np.power(0.5, np.maximum(age, 0.0) / half_life_days).astype(np.float32)
    w = decay if binary else decay * interactions.weight
    m = sp.csr_matrix(
        (w, (interactions.user_idx, interactions.item_idx)),
        shape=(interactions.n_users, interactions.n_items),
        dtype=np.float32,
    )
    m.sum_duplicates()
    m.sort_indices()
    return m


#: the methods of :func:`normalize_rows`
NORMALISATIONS = ("zscore", "minmax", "rank", "none")
#: the constant of reciprocal-rank normalisation, ``1 / (RRF_K + rank)``
RRF_K = 60.0


def normalize_rows(
    scores: NDArray[np.floating],
    method: str = "zscore",
    mask: NDArray[np.bool_] | None = None,
) -> NDArray[np.float32]:
    """Per-row score normalisation (the one score normaliser); -inf kept as -inf.

    ``zscore`` subtracts each row's mean and divides by its (population) standard deviation;
    ``minmax`` maps each row to [0, 1]; ``rank`` gives ``1 / (60 + rank)`` with rank 0 for the
    best entry (reciprocal-rank fusion); ``none`` returns a float32 copy. ``mask`` (same shape,
    True = counts) restricts the zscore / minmax statistics to some entries, e.g. the items a
    user can still be shown.

    Examples
    --------
    >>> normalize_rows(np.array([[1.0, 3.0]]), "minmax").tolist()
    [[0.0, 1.0]]
    """
    s = np.asarray(scores).astype(np.float32, copy=True)
    if method == "none":
        return s
    if method == "rank":
        order = np.argsort(-np.where(np.isfinite(s), s, -np.inf), axis=1)
        ranks = np.empty_like(order)
        np.put_along_axis(ranks, order, np.arange(s.shape[1])[None, :].repeat(len(s), 0), axis=1)
        ranked = (1.0 / (RRF_K + ranks.astype(np.float32))).astype(np.float32)
        ranked[~np.isfinite(s)] = -np.inf
        return ranked
    finite = np.isfinite(s) if mask is None else (np.isfinite(s) & mask)
    cnt = np.maximum(finite.sum(axis=1, keepdims=True), 1)
    z = np.where(finite, s, 0.0)
    if method == "zscore":
        mean = z.sum(axis=1, keepdims=True) / cnt
        var = (np.where(finite, s - mean, 0.0) ** 2).sum(axis=1, keepdims=True) / cnt
        std = np.sqrt(var)
        out = (s - mean) / np.where(std > 0, std, 1.0)
    elif method == "minmax":
        lo = np.where(finite, s, np.inf).min(axis=1, keepdims=True)
        hi = np.where(finite, s, -np.inf).max(axis=1, keepdims=True)
        lo = np.where(np.isfinite(lo), lo, 0.0)
        hi = np.where(np.isfinite(hi), hi, 1.0)
        span = np.where(hi > lo, hi - lo, 1.0)
        out = (s - lo) / span
    else:
        raise ConfigError(
            f"unknown normalisation {method!r}", hint=f"use one of {list(NORMALISATIONS)}"
        )
    out[~np.isfinite(s)] = -np.inf
    return out.astype(np.float32)


def binarize(h: sp.csr_matrix) -> sp.csr_matrix:
    """The 0/1 pattern of a history matrix (stored zeros dropped), float32."""
    out = sp.csr_matrix(h, dtype=np.float32, copy=True)
    out.eliminate_zeros()
    out.data[:] = 1.0
    return out


def history_recency(
    history: sp.csr_matrix,
    sequences: list[NDArray[np.int64]] | None,
    half_life_steps: float | None,
) -> sp.csr_matrix:
    """Request-time counterpart of :func:`recency_history`: ``history`` rows times recency.

    Each distinct item of a row's sequence (oldest first) is weighted
    ``0.5 ** (steps_from_end / half_life_steps)`` with items ordered by their last occurrence;
    history items missing from the sequence count as one step older than the oldest sequenced
    item. Without sequences (or half-life) the history is returned as float32.
    """
    h = sp.csr_matrix(history, dtype=np.float32)
    if half_life_steps is None or sequences is None:
        return h
    factor = np.ones(h.nnz, dtype=np.float32)
    for r, seq in enumerate(sequences):
        lo, hi = h.indptr[r], h.indptr[r + 1]
        if hi == lo:
            continue
        rev = np.asarray(seq, dtype=np.int64)[::-1]
        distinct, first = np.unique(rev, return_index=True)  # first in reverse = last in time
        steps = np.empty(len(distinct), dtype=np.float64)
        steps[np.argsort(first, kind="stable")] = np.arange(len(distinct))
        cols = h.indices[lo:hi].astype(np.int64)
        pos = np.searchsorted(distinct, cols)
        found = (pos < len(distinct)) & (distinct[np.minimum(pos, len(distinct) - 1)] == cols)
        row_steps = np.full(len(cols), float(len(distinct)))
        row_steps[found] = steps[pos[found]]
        factor[lo:hi] = np.power(0.5, row_steps / float(half_life_steps)).astype(np.float32)
    return sp.csr_matrix((h.data * factor, h.indices, h.indptr), shape=h.shape)
