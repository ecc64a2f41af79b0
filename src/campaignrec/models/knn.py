"""Neighbourhood models: ItemKNN and UserKNN.

Similarities are computed sparse and in blocks (cosine, Jaccard, or cosine over BM25 / TF-IDF
weighted vectors, with shrinkage), and only the ``neighbours`` strongest per item (per user) are
kept, so scoring a batch of users is one sparse product.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from campaignrec.data.interactions import Interactions
from campaignrec.errors import ConfigError
from campaignrec.models._common import (
    apply_weighting,
    binarize,
    check_choice,
    check_positive,
    csr_arrays,
    csr_from_arrays,
    history_recency,
    proximity_counts,
    recency_history,
    row_of_nonzero,
    sparse_topk_rows,
)
from campaignrec.models.base import Explanation, Params, Recommender, WorkShape

SIMILARITIES = ("cosine", "jaccard", "bm25", "tfidf", "dot")
_BLOCK = 2048


@dataclasses.dataclass(frozen=True)
class KNNParams(Params):
    """Parameters shared by :class:`ItemKNN` and :class:`UserKNN`.

    Attributes
    ----------
    similarity : ``cosine`` | ``jaccard`` | ``bm25`` | ``tfidf`` (cosine over BM25 / TF-IDF
        weighted vectors) | ``dot`` (plain co-occurrence of the weighted vectors).
    neighbours : how many neighbours to keep per item (per user).
    shrinkage : added to the similarity's denominator; damps similarities built on few co-users.
    use_weights : build vectors from event weights (purchase > view) instead of 0/1.
    bm25_k1, bm25_b : BM25 saturation and length normalisation (similarity ``bm25``).
    recency_half_life : score a history where each past item counts
        ``0.5 ** (steps_from_end / recency_half_life)``; None = every item counts the same.
    proximity_half_life : ItemKNN only ("sequential" item KNN): co-occurrence counts two items a
        user touched ``0.5 ** (steps_apart / proximity_half_life)`` (steps over the user's
        distinct-item sequence) instead of 1; similarity ``cosine`` divides by
        ``sqrt(n_i · n_j) + shrinkage``, ``dot`` keeps the raw counts.
    proximity_window : ignore pairs further apart (None: ``min(ceil(4 · half-life), 200)``).
    backward_weight : with proximity, how much "j came before i" counts relative to
        "j came after i" (1 = symmetric; < 1 favours items that usually follow the history).
    """

    similarity: str = "cosine"
    neighbours: int = 100
    shrinkage: float = 0.0
    use_weights: bool = False
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    recency_half_life: float | None = None
    proximity_half_life: float | None = None
    proximity_window: int | None = None
    backward_weight: float = 1.0


def _check_params(name: str, p: KNNParams) -> None:
    check_choice(name, "similarity", p.similarity, SIMILARITIES)
    if p.neighbours < 1:
        raise ConfigError(f"{name}: 'neighbours' must be >= 1, got {p.neighbours}")
    if p.shrinkage < 0:
        raise ConfigError(f"{name}: 'shrinkage' must be >= 0, got {p.shrinkage}")
    check_positive(name, "recency_half_life", p.recency_half_life, allow_none=True)
    check_positive(name, "proximity_half_life", p.proximity_half_life, allow_none=True)
    if p.proximity_half_life is not None and p.similarity not in ("cosine", "dot"):
        raise ConfigError(
            f"{name}: proximity_half_life works with similarity 'cosine' or 'dot', "
            f"got {p.similarity!r}",
            hint="set similarity='cosine'",
        )
    if p.backward_weight < 0:
        raise ConfigError(f"{name}: 'backward_weight' must be >= 0, got {p.backward_weight}")
    if p.proximity_window is not None and p.proximity_window < 1:
        raise ConfigError(f"{name}: 'proximity_window' must be >= 1, got {p.proximity_window}")


def _vectors(interactions: Interactions, p: KNNParams) -> sp.csr_matrix:
    """User x item matrix the similarity is computed on."""
    base = interactions.matrix if p.use_weights else interactions.binary
    if p.similarity == "bm25":
        return apply_weighting(base, "bm25", k1=p.bm25_k1, b=p.bm25_b)
    if p.similarity == "tfidf":
        return apply_weighting(base, "tfidf")
    if p.similarity == "jaccard":
        return interactions.binary.astype(np.float32)
    return base.astype(np.float32)


def _similarity_rows(
    a_rows: sp.csr_matrix,
    a_all: sp.csr_matrix,
    row_ids: NDArray[np.int64],
    stat: NDArray[np.float64],
    p: KNNParams,
) -> sp.csr_matrix:
    """Similarities of some rows of ``a`` to all rows of ``a`` (rows are items or users).

    ``stat`` is the norm (cosine-like) or the count (Jaccard) of every row of ``a_all``.
    The self-similarity is removed; then only the ``neighbours`` largest per row are kept.
    """
    return _scaled_neighbours(a_rows, a_all, row_ids, stat[row_ids], stat, p)


def _scaled_neighbours(
    query: sp.csr_matrix,
    a_all: sp.csr_matrix,
    row_ids: NDArray[np.int64],
    query_stat: NDArray[np.float64],
    all_stat: NDArray[np.float64],
    p: KNNParams,
) -> sp.csr_matrix:
    """Dot products of ``query`` rows with every row of ``a_all``, scaled into the chosen
    similarity (``query_stat`` / ``all_stat``: norms or counts), self-similarity (the query
    row's own id, ``row_ids``) removed, top ``neighbours`` kept per row."""
    co = (query @ a_all.T).tocsr().astype(np.float32)
    r = row_of_nonzero(co)
    c = co.indices
    dot = co.data.astype(np.float64)
    if p.similarity == "jaccard":
        den = query_stat[r] + all_stat[c] - dot + p.shrinkage
    elif p.similarity == "dot":
        den = np.ones_like(dot) + p.shrinkage
    else:
        den = query_stat[r] * all_stat[c] + p.shrinkage
    data = np.where(den > 0, dot / np.where(den > 0, den, 1.0), 0.0)
    data[c == row_ids[r]] = 0.0
    sim = sp.csr_matrix((data.astype(np.float32), c, co.indptr), shape=co.shape)
    return sparse_topk_rows(sim, p.neighbours)


def _row_stat(a: sp.csr_matrix, p: KNNParams) -> NDArray[np.float64]:
    if p.similarity == "jaccard":
        return np.diff(a.indptr).astype(np.float64)
    return np.sqrt(np.asarray(a.multiply(a).sum(axis=1)).ravel().astype(np.float64))


def request_history(
    history: sp.csr_matrix, sequences: list[NDArray[np.int64]] | None, p: KNNParams
) -> sp.csr_matrix:
    """What :func:`_history` gives a snapshot user, for a history given at request time.

    Public: the ranking stage's candidate-first path (:mod:`campaignrec.ranking.sparse`) scores a
    request's history with it, so both paths weight a fresh history the same way.
    """
    base = history if p.use_weights else binarize(history)
    return history_recency(base, sequences, p.recency_half_life)


def _history(interactions: Interactions, p: KNNParams) -> sp.csr_matrix:
    base = interactions.matrix if p.use_weights else interactions.binary
    return recency_history(interactions, p.recency_half_life, base=base)


class ItemKNN(Recommender):
    """Item-based nearest neighbours: score(u, j) = sum over the user's items i of h_ui * sim(i, j).

    Examples
    --------
    >>> model = ItemKNN(similarity="bm25", neighbours=200).fit(interactions)  # doctest: +SKIP
    >>> model.explain("u1", "i42").evidence["neighbours"]  # doctest: +SKIP
    """

    name = "item_knn"
    params_class = KNNParams
    params: KNNParams
    similarity_: sp.csr_matrix
    history_: sp.csr_matrix
    work_per_event = 6.0e4

    @classmethod
    def predicted_work(cls, params: Params, shape: WorkShape) -> float:
        """The default, doubled for the sequential ("what comes next") co-occurrence."""
        base = super().predicted_work(params, shape)
        sequential = getattr(params, "proximity_half_life", None) is not None
        return base + (cls.work_per_event * shape.n_events if sequential else 0.0)

    def __init__(self, params: KNNParams | None = None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        _check_params(self.name, self.params)

    def _proximity_similarity(self, interactions: Interactions) -> sp.csr_matrix:
        p = self.params
        assert p.proximity_half_life is not None
        window = p.proximity_window or min(int(np.ceil(4 * p.proximity_half_life)), 200)
        counts = proximity_counts(
            interactions, p.proximity_half_life, window, backward=p.backward_weight
        )
        if p.similarity == "cosine":
            n = np.asarray(interactions.binary.sum(axis=0)).ravel().astype(np.float64)
            r = row_of_nonzero(counts)
            den = np.sqrt(n[r] * n[counts.indices]) + p.shrinkage
            counts.data = counts.data / np.where(den > 0, den, 1.0)
        else:
            counts.data = counts.data / (1.0 + p.shrinkage)
        return sparse_topk_rows(counts.astype(np.float32), p.neighbours)

    def _fit(self, interactions: Interactions) -> None:
        p = self.params
        if p.proximity_half_life is not None:
            self.similarity_ = self._proximity_similarity(interactions)
            self.history_ = _history(interactions, p)
            return
        items = _vectors(interactions, p).T.tocsr()  # item x user
        stat = _row_stat(items, p)
        blocks = []
        for start in range(0, items.shape[0], _BLOCK):
            ids = np.arange(start, min(start + _BLOCK, items.shape[0]), dtype=np.int64)
            blocks.append(_similarity_rows(items[ids], items, ids, stat, p))
        sim = sp.vstack(blocks, format="csr") if blocks else sp.csr_matrix(items.shape[:1] * 2)
        self.similarity_ = sim.astype(np.float32)
        self.history_ = _history(interactions, p)

    def _score_idx(self, user_idx: NDArray[np.int64]) -> NDArray[np.float32]:
        return np.asarray((self.history_[user_idx] @ self.similarity_).toarray(), dtype=np.float32)

    def _score_history(
        self, history: sp.csr_matrix, sequences: list[NDArray[np.int64]] | None
    ) -> NDArray[np.float32]:
        h = request_history(history, sequences, self.params)
        return np.asarray((h @ self.similarity_).toarray(), dtype=np.float32)

    def similar_items(
        self, item_id: str, k: int = 10
    ) -> tuple[NDArray[np.object_], NDArray[np.float32]]:
        """The ``k`` nearest neighbours of one item and their similarities."""
        self.check_fitted()
        i = int(self.items_.index([item_id])[0])
        row = self.similarity_[i]
        order = np.argsort(-row.data, kind="stable")[:k]
        return self.items_.external(row.indices[order]), row.data[order].astype(np.float32)

    def explain(self, user_id: str, item_id: str) -> Explanation:
        pair = self._warm_pair(user_id, item_id)
        if pair is None:
            return super().explain(user_id, item_id)
        u, j = pair
        hist = self.history_[u]
        col = np.asarray(self.similarity_[hist.indices][:, [j]].toarray()).ravel()
        contrib = hist.data * col
        order = np.argsort(-contrib, kind="stable")
        order = order[contrib[order] > 0][:5]
        neighbours = [
            {
                "item_id": str(self.items_.ids[hist.indices[o]]),
                "similarity": float(col[o]),
                "contribution": float(contrib[o]),
            }
            for o in order
        ]
        if not neighbours:
            return Explanation(
                "item_knn",
                "No item you touched is similar to this one.",
                {"neighbours": [], "score": 0.0},
            )
        names = ", ".join(str(n["item_id"]) for n in neighbours[:3])
        return Explanation(
            "similar_items",
            f"Because you interacted with {names}.",
            {"neighbours": neighbours, "score": float(contrib.sum())},
        )

    def _state(self) -> dict[str, NDArray[Any]]:
        return csr_arrays("similarity", self.similarity_) | csr_arrays("history", self.history_)

    def _load_state(self, arrays: dict[str, NDArray[Any]]) -> None:
        self.similarity_ = csr_from_arrays("similarity", arrays)
        self.history_ = csr_from_arrays("history", arrays)


class UserKNN(Recommender):
    """User-based nearest neighbours: score(u, j) = sum over u's neighbours v of sim(u, v) * h_vj.

    Neighbours are found at scoring time (one sparse product per batch of users), so the model only
    stores the user vectors.
    """

    name = "user_knn"
    params_class = KNNParams
    params: KNNParams

    def __init__(self, params: KNNParams | None = None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        _check_params(self.name, self.params)
        if self.params.proximity_half_life is not None:
            raise ConfigError(
                f"{self.name}: proximity_half_life is an item_knn parameter",
                hint="use ItemKNN(proximity_half_life=...) or leave it None",
            )

    def _fit(self, interactions: Interactions) -> None:
        p = self.params
        self.vectors_: sp.csr_matrix = _vectors(interactions, p).tocsr()
        self.history_: sp.csr_matrix = _history(interactions, p)
        self.targets_: sp.csr_matrix = (
            interactions.matrix if p.use_weights else interactions.binary
        ).astype(np.float32)

    no_history_reason = (
        "similarity 'bm25' / 'tfidf' weighs a shopper's vector by corpus statistics of the "
        "training users"
    )

    def _score_history(
        self, history: sp.csr_matrix, sequences: list[NDArray[np.int64]] | None
    ) -> NDArray[np.float32]:
        p = self.params
        if p.similarity in ("bm25", "tfidf"):
            return super()._score_history(history, sequences)
        query = binarize(history) if p.similarity == "jaccard" or not p.use_weights else history
        query = sp.csr_matrix(query, dtype=np.float32)
        if p.recency_half_life is not None:
            query = query.multiply(request_history(history, sequences, p)).tocsr()
        no_self = np.full(query.shape[0], -1, dtype=np.int64)  # a fresh history has no self
        sim = _scaled_neighbours(
            query, self.vectors_, no_self, _row_stat(query, p), _row_stat(self.vectors_, p), p
        )
        return np.asarray((sim @ self.targets_).toarray(), dtype=np.float32)

    def _neighbours(self, user_idx: NDArray[np.int64]) -> sp.csr_matrix:
        p = self.params
        query = self.vectors_[user_idx]
        if p.recency_half_life is not None:
            # recent items shape who the neighbours are
            query = query.multiply(self.history_[user_idx]).tocsr()
        stat_all = _row_stat(self.vectors_, p)
        if p.similarity == "jaccard":
            stat_q = stat_all
        else:
            stat_q = stat_all.copy()
            stat_q[user_idx] = _row_stat(query, p)
        return _scaled_neighbours(query, self.vectors_, user_idx, stat_q[user_idx], stat_all, p)

    def _score_idx(self, user_idx: NDArray[np.int64]) -> NDArray[np.float32]:
        sim = self._neighbours(user_idx)
        return np.asarray((sim @ self.targets_).toarray(), dtype=np.float32)

    def explain(self, user_id: str, item_id: str) -> Explanation:
        pair = self._warm_pair(user_id, item_id)
        if pair is None:
            return super().explain(user_id, item_id)
        u, j = pair
        sim = self._neighbours(np.asarray([u], dtype=np.int64))
        had = np.asarray(self.targets_[sim.indices][:, [j]].toarray()).ravel()
        contrib = sim.data * had
        order = np.argsort(-contrib, kind="stable")
        order = order[contrib[order] > 0][:5]
        hist = self.history_[u]
        top_hist = hist.indices[np.argsort(-hist.data, kind="stable")[:5]]
        neighbours = [
            {
                "similarity": float(sim.data[o]),
                "contribution": float(contrib[o]),
            }
            for o in order
        ]
        return Explanation(
            "similar_shoppers",
            f"{len(neighbours)} shoppers with tastes like yours interacted with this item.",
            {
                "neighbours": neighbours,
                "your_items": [str(x) for x in self.items_.ids[top_hist]],
                "score": float(contrib.sum()),
            },
        )

    def _state(self) -> dict[str, NDArray[Any]]:
        return (
            csr_arrays("vectors", self.vectors_)
            | csr_arrays("history", self.history_)
            | csr_arrays("targets", self.targets_)
        )

    def _load_state(self, arrays: dict[str, NDArray[Any]]) -> None:
        self.vectors_ = csr_from_arrays("vectors", arrays)
        self.history_ = csr_from_arrays("history", arrays)
        self.targets_ = csr_from_arrays("targets", arrays)
