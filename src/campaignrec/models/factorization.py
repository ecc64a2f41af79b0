"""Matrix factorisation through ``implicit``: ALS (confidence-weighted) and BPR.

The user x item matrix of summed event weights (purchase > cart > click > view, optionally
time-decayed by the snapshot) becomes the confidence, optionally log- or BM25-weighted, then
scaled by ``alpha`` inside ``implicit``. Training runs implicit's own CPU kernels with BLAS pinned to
one thread (implicit's advice, and it silences its warning); recommending uses implicit's batched
``topk`` for known users, so our overhead over calling implicit directly stays small.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Self

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from threadpoolctl import threadpool_limits

from campaignrec.data.interactions import Interactions
from campaignrec.errors import ConfigError
from campaignrec.models._common import apply_weighting, binarize, check_choice, check_positive
from campaignrec.models.base import Explanation, Params, Recommender, WorkShape

_FILTERED = -1.0e30  # implicit's topk marks filtered items with -FLT_MAX
#: From this catalogue size on, implicit's topk kernel beats dense scoring + argpartition
#: (measured by benchmarks/implicit_overhead.py: ML-100k 1.7k items dense 0.3 s vs topk 0.9 s;
#: Taobao 55k items dense 5.1 s vs topk 1.2 s).
TOPK_MIN_ITEMS = 10_000


@dataclasses.dataclass(frozen=True)
class ALSParams(Params):
    """Parameters of :class:`ALS`.

    Attributes
    ----------
    factors : latent dimensions.
    regularization : L2 penalty on the factors.
    alpha : confidence scale (confidence = alpha * weighted event weight).
    iterations : ALS sweeps.
    weighting : ``none`` (summed event weights) | ``log`` (log1p) | ``bm25`` | ``tfidf``.
    bm25_k1, bm25_b : BM25 parameters when ``weighting="bm25"``.
    seed : random initialisation.
    num_threads : implicit's worker threads (0 = all cores).
    """

    factors: int = 64
    regularization: float = 0.01
    alpha: float = 1.0
    iterations: int = 15
    weighting: str = "none"
    bm25_k1: float = 100.0
    bm25_b: float = 0.8
    seed: int = 0
    num_threads: int = 0


@dataclasses.dataclass(frozen=True)
class BPRParams(Params):
    """Parameters of :class:`BPR` (every touched item is a positive; weights are not used)."""

    factors: int = 64
    learning_rate: float = 0.01
    regularization: float = 0.01
    iterations: int = 100
    seed: int = 0
    num_threads: int = 0


class _Factorization(Recommender):
    """Shared scoring, recommending and persistence of factor models."""

    user_factors_: NDArray[np.float32]
    item_factors_: NDArray[np.float32]

    def fit(self, interactions: Interactions) -> Self:
        """Fit, then give cold items their content neighbours' mean factor (the shared cold-item
        fallback, done once here so the fast ``topk`` path ranks them too)."""
        super().fit(interactions)
        if self.cold_items_ is not None:
            self.item_factors_ = self.cold_items_.fold(self.item_factors_)
        return self

    def _score_idx(self, user_idx: NDArray[np.int64]) -> NDArray[np.float32]:
        return np.asarray(self.user_factors_[user_idx] @ self.item_factors_.T, dtype=np.float32)

    def recommend_idx(
        self,
        user_idx: NDArray[np.int64] | Any,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        items: NDArray[np.int64] | None = None,
        exclude_items: NDArray[np.int64] | None = None,
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Top-k per user; on large catalogues known users go through implicit's ``topk``."""
        self.check_fitted()
        uidx = np.asarray(user_idx, dtype=np.int64)
        if items is not None or k <= 0 or k > self.n_items or self.n_items < TOPK_MIN_ITEMS:
            return super().recommend_idx(
                uidx, k, exclude_seen=exclude_seen, items=items, exclude_items=exclude_items
            )
        from implicit.cpu.topk import topk

        warm = self._has_history(uidx)
        out_idx = np.full((len(uidx), k), -1, np.int64)
        out_val = np.full((len(uidx), k), -np.inf, np.float32)
        if warm.any():
            w_users = uidx[warm]
            block = None
            if exclude_items is not None and len(exclude_items):
                block = np.unique(np.asarray(exclude_items, dtype=np.int32))
            ids, vals = topk(
                self.item_factors_,
                self.user_factors_[w_users],
                k,
                filter_query_items=self.seen_[w_users].astype(np.float32) if exclude_seen else None,
                filter_items=block,
                num_threads=getattr(self.params, "num_threads", 0),
            )
            bad = ~(vals > _FILTERED)
            ids = ids.astype(np.int64)
            ids[bad] = -1
            vals = vals.astype(np.float32)
            vals[bad] = -np.inf
            out_idx[warm], out_val[warm] = ids, vals
        if (~warm).any():
            cold_idx, cold_val = super().recommend_idx(
                uidx[~warm], k, exclude_seen=exclude_seen, exclude_items=exclude_items
            )
            out_idx[~warm], out_val[~warm] = cold_idx, cold_val
        return out_idx, out_val

    def _item_embedding(self) -> NDArray[np.float32]:
        """Item vectors used for item-item similarity (BPR drops its bias column)."""
        return self.item_factors_

    def similar_items(
        self, item_id: str, k: int = 10
    ) -> tuple[NDArray[np.object_], NDArray[np.float32]]:
        """The ``k`` items whose factors are closest (cosine) to ``item_id``'s."""
        self.check_fitted()
        i = int(self.items_.index([item_id])[0])
        emb = self._item_embedding().astype(np.float64)
        norms = np.linalg.norm(emb, axis=1)
        sims = (emb @ emb[i]) / np.maximum(norms * norms[i], 1e-12)
        sims[i] = -np.inf
        order = np.argsort(-sims, kind="stable")[:k]
        return self.items_.external(order), sims[order].astype(np.float32)

    def _state(self) -> dict[str, NDArray[Any]]:
        return {"user_factors": self.user_factors_, "item_factors": self.item_factors_}

    def _load_state(self, arrays: dict[str, NDArray[Any]]) -> None:
        self.user_factors_ = np.ascontiguousarray(arrays["user_factors"], dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(arrays["item_factors"], dtype=np.float32)

    def _factor_evidence(
        self, u: int, j: int, weights: NDArray[np.float64]
    ) -> list[dict[str, Any]]:
        hist = self.seen_[u].indices
        order = np.argsort(-weights, kind="stable")[:5]
        return [
            {"item_id": str(self.items_.ids[hist[o]]), "contribution": float(weights[o])}
            for o in order
            if weights[o] > 0
        ]


class ALS(_Factorization):
    """Implicit-feedback ALS (Hu, Koren & Volinsky 2008) via ``implicit.cpu.als``.

    ``explain`` splits the score of an item into the contributions of the user's history items
    (the user factor is a confidence-weighted least-squares fit of those items).
    """

    name = "als"
    params_class = ALSParams

    @classmethod
    def predicted_work(cls, params: Params, shape: WorkShape) -> float:
        """Per event and sweep ~ factors² (measured: 3 s for 1M events, 64 factors, 15 sweeps)."""
        f = getattr(params, "factors", 64) / 64.0
        sweeps = getattr(params, "iterations", 15) / 15.0
        fit = 1.0e5 * shape.n_events * sweeps * f * f
        return fit + 2.0 * f * 64 * shape.n_scored * max(shape.n_items, 1)

    params: ALSParams

    def __init__(self, params: ALSParams | None = None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        p = self.params
        check_choice(self.name, "weighting", p.weighting, ("none", "log", "bm25", "tfidf"))
        check_positive(self.name, "alpha", p.alpha)
        if p.factors < 1 or p.iterations < 1:
            raise ConfigError(f"{self.name}: 'factors' and 'iterations' must be >= 1")
        if p.regularization < 0:
            raise ConfigError(f"{self.name}: 'regularization' must be >= 0")

    def confidence(self, interactions: Interactions) -> sp.csr_matrix:
        """The user x item matrix handed to implicit (before ``alpha``)."""
        p = self.params
        return apply_weighting(interactions.matrix, p.weighting, k1=p.bm25_k1, b=p.bm25_b)

    def fold_in(self, history: sp.csr_matrix) -> NDArray[np.float32]:
        """User factors for history rows: ALS's least-squares step against the item factors.

        Solves ``(YᵀY + Yₕᵀ diag(c - 1) Yₕ + λI) x = Yₕᵀ c`` per row with confidence
        ``c = alpha · weighted history`` (what implicit's ``recalculate_user`` solves). BM25 /
        TF-IDF weighting is applied within the given rows only, an approximation.
        """
        p = self.params
        conf = apply_weighting(history, p.weighting, k1=p.bm25_k1, b=p.bm25_b).tocsr()
        y = self.item_factors_.astype(np.float64)
        gram = y.T @ y
        out = np.zeros((conf.shape[0], y.shape[1]), dtype=np.float32)
        for r in range(conf.shape[0]):
            lo, hi = conf.indptr[r], conf.indptr[r + 1]
            if hi == lo:
                continue
            idx = conf.indices[lo:hi]
            c = p.alpha * conf.data[lo:hi].astype(np.float64)
            yh = y[idx]
            a = gram + (yh * (c - 1.0)[:, None]).T @ yh
            a[np.diag_indices_from(a)] += p.regularization
            out[r] = np.linalg.solve(a, yh.T @ c)
        return out

    def _score_history(
        self, history: sp.csr_matrix, sequences: list[NDArray[np.int64]] | None
    ) -> NDArray[np.float32]:
        return np.asarray(self.fold_in(history) @ self.item_factors_.T, dtype=np.float32)

    def _fit(self, interactions: Interactions) -> None:
        from implicit.cpu.als import AlternatingLeastSquares

        p = self.params
        conf = self.confidence(interactions)
        with threadpool_limits(1, "blas"):
            model = AlternatingLeastSquares(
                factors=p.factors,
                regularization=p.regularization,
                alpha=p.alpha,
                iterations=p.iterations,
                random_state=p.seed,
                num_threads=p.num_threads,
            )
            model.fit(conf, show_progress=False)
        self.user_factors_ = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(model.item_factors, dtype=np.float32)
        self.confidence_: sp.csr_matrix = conf

    def _state(self) -> dict[str, NDArray[Any]]:
        c = self.confidence_.tocsr()
        return super()._state() | {
            "conf_data": c.data,
            "conf_indices": c.indices,
            "conf_indptr": c.indptr,
        }

    def _load_state(self, arrays: dict[str, NDArray[Any]]) -> None:
        super()._load_state(arrays)
        self.confidence_ = sp.csr_matrix(
            (arrays["conf_data"], arrays["conf_indices"], arrays["conf_indptr"]),
            shape=(len(self.users_), len(self.items_)),
        )

    def explain(self, user_id: str, item_id: str) -> Explanation:
        pair = self._warm_pair(user_id, item_id)
        if pair is None:
            return super().explain(user_id, item_id)
        u, j = pair
        y = self.item_factors_.astype(np.float64)
        row = self.confidence_[u]
        hist = self.seen_[u].indices
        conf = np.zeros(len(hist))
        pos = {int(i): n for n, i in enumerate(hist)}
        for i, c in zip(row.indices, row.data, strict=True):
            conf[pos[int(i)]] = self.params.alpha * float(c)
        yh = y[hist]
        # A = YᵀY + Yₕᵀ diag(c - 1) Yₕ + λI ; score_j = Σ_h c_h · y_jᵀ A⁻¹ y_h
        a = y.T @ y + (yh * (conf - 1.0)[:, None]).T @ yh
        a[np.diag_indices_from(a)] += self.params.regularization
        weights = conf * (yh @ np.linalg.solve(a, y[j]))
        evidence = self._factor_evidence(u, j, weights)
        names = ", ".join(e["item_id"] for e in evidence[:3]) or "your history"
        return Explanation(
            "similar_items",
            f"Because you interacted with {names}.",
            {
                "neighbours": evidence,
                "score": float(self.user_factors_[u] @ self.item_factors_[j]),
                "explained_score": float(weights.sum()),
            },
        )


class BPR(_Factorization):
    """Bayesian Personalised Ranking (Rendle et al. 2009) via ``implicit.cpu.bpr``.

    ``explain`` lists the history items whose factors align most with the recommended item.
    """

    name = "bpr"
    params_class = BPRParams

    @classmethod
    def predicted_work(cls, params: Params, shape: WorkShape) -> float:
        """Per event and epoch ~ factors (measured: 12.5 s for 1M events, 64 factors, 100)."""
        f = getattr(params, "factors", 64) / 64.0
        epochs = getattr(params, "iterations", 100) / 100.0
        fit = 4.4e5 * shape.n_events * epochs * f
        return fit + 2.0 * f * 64 * shape.n_scored * max(shape.n_items, 1)

    params: BPRParams

    def __init__(self, params: BPRParams | None = None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        p = self.params
        check_positive(self.name, "learning_rate", p.learning_rate)
        if p.factors < 1 or p.iterations < 1:
            raise ConfigError(f"{self.name}: 'factors' and 'iterations' must be >= 1")

    def _fit(self, interactions: Interactions) -> None:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        p = self.params
        with threadpool_limits(1, "blas"):
            model = BayesianPersonalizedRanking(
                factors=p.factors,
                learning_rate=p.learning_rate,
                regularization=p.regularization,
                iterations=p.iterations,
                random_state=p.seed,
                num_threads=p.num_threads,
            )
            model.fit(interactions.binary.astype(np.float32), show_progress=False)
        self.user_factors_ = np.ascontiguousarray(model.user_factors, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(model.item_factors, dtype=np.float32)

    def _item_embedding(self) -> NDArray[np.float32]:
        return self.item_factors_[:, :-1]  # the last column is the item bias

    def fold_in(self, history: sp.csr_matrix) -> NDArray[np.float32]:
        """User factors for history rows: the sum of the history items' factors.

        BPR has no closed-form user step; the sum of the touched items' factors (bias column
        left out, the user's bias weight 1 as in training) ranks like the trained factors on
        the known-answer shop, where a least-squares fit of the 0/1 history with BPR's small
        regularisation over-fits (measured: ridge at λ=0.01 put the other block's items in
        the top 3 of 24 of 40 users, the sum of none).
        """
        h = binarize(history)
        x = np.asarray(h @ self._item_embedding().astype(np.float64))
        return np.hstack([x, np.ones((len(x), 1))]).astype(np.float32)

    def _score_history(
        self, history: sp.csr_matrix, sequences: list[NDArray[np.int64]] | None
    ) -> NDArray[np.float32]:
        return np.asarray(self.fold_in(history) @ self.item_factors_.T, dtype=np.float32)

    def explain(self, user_id: str, item_id: str) -> Explanation:
        pair = self._warm_pair(user_id, item_id)
        if pair is None:
            return super().explain(user_id, item_id)
        u, j = pair
        hist = self.seen_[u].indices
        y = self._item_embedding().astype(np.float64)  # the last column is the item bias
        norms = np.linalg.norm(y, axis=1) + 1e-12
        cos = (y[hist] @ y[j]) / (norms[hist] * norms[j])
        evidence = self._factor_evidence(u, j, cos)
        names = ", ".join(e["item_id"] for e in evidence[:3]) or "your history"
        return Explanation(
            "similar_items",
            f"Because you interacted with {names}.",
            {
                "neighbours": evidence,
                "score": float(self.user_factors_[u] @ self.item_factors_[j]),
                "item_bias": float(self.item_factors_[j, -1]),
            },
        )
