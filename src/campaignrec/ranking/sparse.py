"""Candidate-first scoring for large catalogues: score and boost vectors as their non-zero entries.

On a catalogue of a million items a shopper's model scores, session co-views and campaign items
touch a few thousand items; every other item's total is exactly zero. The large-catalogue path
(:meth:`campaignrec.ranking.Ranker._large_candidates`) partitions only the allowed items with a
non-zero total and fills the list from the popular head, so it needs the totals of the items
with a signal and the rules only for those and for the popular head. This module computes the
same numbers as the dense path -- the same additions in the same order, the min-max constants of
the whole score vector -- on the union of the non-zero entries, so the served list is identical.
Where the dense vector would not be zero outside that union (a score vector whose min-max maps
zero to a non-zero value), :func:`sparse_total` answers None and the ranker takes the dense path.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from campaignrec.errors import CampaignrecError
from campaignrec.models.knn import ItemKNN, request_history

Entries = tuple[NDArray[np.int64], NDArray[np.float64]]


def nonzero(x: NDArray[Any]) -> Entries:
    """The non-zero entries of a dense vector (NaN counts as non-zero), as float64."""
    idx = np.flatnonzero(x)
    return idx.astype(np.int64), np.asarray(x[idx], dtype=np.float64)


def _row(m: sp.csr_matrix) -> Entries:
    row = sp.csr_matrix(m)
    row.sum_duplicates()
    idx = row.indices.astype(np.int64)
    # the dense path casts the product to float32 (model_scores), then to float64
    val = row.data.astype(np.float32).astype(np.float64)
    order = np.argsort(idx, kind="stable")
    return idx[order], val[order]


def model_entries(
    model: Any,
    user_idx: int,
    history: sp.csr_matrix,
    sequence: NDArray[np.int64],
    *,
    has_fresh: bool,
) -> tuple[Entries, str] | None:
    """:func:`campaignrec.ranking.candidates.model_scores` as non-zero entries, for the models
    whose scores are a sparse product (item-KNN); None: use the dense scores.

    Only the history-nonempty case of the ranking path comes here (``history`` has entries).
    """
    if type(model) is not ItemKNN:
        return None
    try:
        if user_idx >= 0 and not has_fresh:
            if np.diff(model.seen_.indptr)[user_idx] <= 0:
                return None  # a cold row: the model's cold scores, dense
            return _row(model.history_[[user_idx]] @ model.similarity_), "snapshot"
        h = sp.csr_matrix(history, dtype=np.float32)
        if h.shape != (1, model.n_items) or h.nnz == 0:
            return None
        seq = np.asarray(sequence, dtype=np.int64)
        if len(seq) and (seq.min() < 0 or seq.max() >= model.n_items):
            return None
        fresh = request_history(h, [seq], model.params)
        return _row(fresh @ model.similarity_), "history"
    except (CampaignrecError, IndexError, ValueError):
        return None


class Boost:
    """The boosts of one request, added in the dense path's order.

    ``dense``: one float64 vector over the catalogue (the small-catalogue path); otherwise the
    additions are kept as (indices, values) and summed per item in the same order by
    :meth:`entries`, so each item's boost is bit-for-bit the dense one.
    """

    def __init__(self, n_items: int, *, dense: bool) -> None:
        self.n_items = n_items
        self.dense = np.zeros(n_items, dtype=np.float64) if dense else None
        self._parts: list[Entries] = []

    def add(
        self,
        x: NDArray[Any],
        scale: float | None = None,
        support: NDArray[np.int64] | None = None,
    ) -> None:
        """``boost += x`` (or ``boost += scale * x``) for a dense vector ``x`` (``support``: its
        non-zero indices when known)."""
        if self.dense is not None:
            self.dense += x if scale is None else scale * x
            return
        idx = nonzero(x)[0] if support is None else support
        part = x[idx] if scale is None else scale * x[idx]
        self._parts.append((idx, np.asarray(part, dtype=np.float64)))

    def add_entries(self, idx: NDArray[np.int64], val: NDArray[np.float64]) -> None:
        """``boost[idx] += val`` for distinct ``idx`` (the non-zero entries of a dense ``x``)."""
        if self.dense is not None:
            self.dense[idx] += val
            return
        self._parts.append((np.asarray(idx, np.int64), np.asarray(val, np.float64)))

    def add_at(self, i: int, value: float) -> None:
        """``boost[i] += value``."""
        if self.dense is not None:
            self.dense[i] += value
            return
        self._parts.append((np.asarray([i], np.int64), np.asarray([value], np.float64)))

    def densified(self) -> Boost:
        """The same boosts as one dense vector (the additions replayed in order)."""
        out = Boost(self.n_items, dense=True)
        assert out.dense is not None
        if self.dense is not None:
            out.dense[:] = self.dense
        for idx, part in self._parts:
            out.dense[idx] += part
        return out

    def entries(self) -> Entries:
        """The summed boosts on the union of the touched items (sorted indices)."""
        if not self._parts:
            return np.zeros(0, np.int64), np.zeros(0, np.float64)
        union = np.unique(np.concatenate([p[0] for p in self._parts]))
        val = np.zeros(len(union), dtype=np.float64)
        for idx, part in self._parts:  # one addition per touched item per step, in order
            val[np.searchsorted(union, idx)] += part
        return union, val


def _minmax_entries(
    idx: NDArray[np.int64], val: NDArray[np.float64], n: int
) -> tuple[NDArray[np.float64], float]:
    """``_minmax`` of the dense vector (``val`` at ``idx``, zero elsewhere): the values at
    ``idx`` and the value every other item gets."""
    outside = len(idx) < n
    finite = np.isfinite(val)
    if not finite.any() and not outside:
        return np.zeros(len(val)), 0.0
    lo_parts = [float(val[finite].min())] if finite.any() else []
    hi_parts = [float(val[finite].max())] if finite.any() else []
    if outside:
        lo_parts.append(0.0)
        hi_parts.append(0.0)
    lo, hi = min(lo_parts), max(hi_parts)
    out = np.zeros(len(val), dtype=np.float64)
    if hi > lo:
        out[finite] = (val[finite] - lo) / (hi - lo)
        rest = float((np.float64(0.0) - lo) / (hi - lo))
    else:
        out[finite] = 1.0
        rest = 1.0
    out[~finite] = -np.inf
    return out, (rest if outside else 0.0)


def sparse_total(n_items: int, scores: Entries, boost: Boost) -> Entries | None:
    """The request's total (``_minmax(scores) + boost`` when any boost, else the scores) on the
    union of the non-zero entries; None when the dense total is not zero outside it."""
    s_idx, s_val = scores
    b_idx, b_val = boost.entries()
    if not bool(np.any(b_val != 0)):
        return s_idx, s_val.copy()
    mm, rest = _minmax_entries(s_idx, s_val, n_items)
    if rest != 0.0:
        return None
    union = np.union1d(s_idx, b_idx).astype(np.int64)
    total = np.zeros(len(union), dtype=np.float64)
    total[np.searchsorted(union, s_idx)] = mm
    total[np.searchsorted(union, b_idx)] += b_val
    return union, total


def value_at(entries: Entries, at: NDArray[np.int64]) -> NDArray[np.float64]:
    """The total of items ``at`` (zero for those without an entry)."""
    idx, val = entries
    out = np.zeros(len(at), dtype=np.float64)
    if len(idx) and len(at):
        pos = np.minimum(np.searchsorted(idx, at), len(idx) - 1)
        hit = idx[pos] == at
        out[hit] = val[pos[hit]]
    return out
