"""EASE: a closed-form item-item linear autoencoder (Steck, 2019), with recency-weighted scoring.

B = argmin ||X - XB||² + λ||B||² subject to diag(B) = 0 has the closed form
``B = I - P · diag(1 / diag(P))`` with ``P = (XᵀX + λI)⁻¹``. Two exact solvers:

* ``primal`` inverts the item x item Gram matrix: memory ~ 3 · n_items² · 8 bytes;
* ``dual`` uses the Woodbury identity ``P = (I - Xᵀ(XXᵀ + λI)⁻¹X) / λ`` and only factorises the
  user x user matrix: memory ~ 2 · n_users² · 8 + n_users · n_items · 12 bytes. It serves
  catalogues far larger than the user base (e.g. a few thousand shoppers, 100k products) exactly.

``solver="auto"`` picks the one whose predicted work (:func:`fit_flops` plus scoring every user
once, :func:`score_flops`) is smaller among those that fit under ``memory_limit_gb``: the cost
follows the smaller of users and items (primal ~ n_items³, dual ~ n_users² · n_items). When
neither fits, the primal solver runs on the ``max_items`` most popular items only; the other
items score below every scored item (ordered by popularity).
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
    binarize,
    check_choice,
    check_positive,
    csr_arrays,
    csr_from_arrays,
    history_recency,
    proximity_gram,
    recency_history,
)
from campaignrec.models.base import (
    SCORE_WORK_PER_CELL,
    Explanation,
    Params,
    Recommender,
    WorkShape,
)

#: Items left out of a restricted (top-N) model score this much plus a popularity tie-break.
OUT_OF_SET_FLOOR = -1.0e3
_GB = 1024.0**3


@dataclasses.dataclass(frozen=True)
class EASEParams(Params):
    """Parameters of :class:`EASE`.

    Attributes
    ----------
    l2 : λ, the ridge penalty (larger = more popularity-like); 100-1000 is typical.
    recency_half_life : when set, the history scored for a user weights each past item
        ``0.5 ** (steps_from_end / recency_half_life)`` (steps over the user's distinct items,
        most recent = 0); None scores the plain 0/1 history.
    use_weights : train on log(1 + event weight) instead of 0/1.
    proximity_half_life : when set, the Gram matrix counts two items a user touched
        ``0.5 ** (steps_apart / proximity_half_life)`` instead of 1 (steps over the user's
        distinct-item sequence), so items touched close together in time are associated more
        strongly ("temporal proximity" EASE); primal solver only, 0/1 data only.
    proximity_window : pairs further apart than this many steps are ignored (None:
        ``min(ceil(4 * proximity_half_life), 200)``).
    solver : ``auto`` | ``primal`` | ``dual`` (see the module docstring).
    max_items : cut-off of the primal solver: beyond it ``auto`` tries the dual solver, then
        restricts to the most popular ``max_items`` items.
    memory_limit_gb : refuse (ConfigError) a fit whose estimated peak memory exceeds this.
    """

    l2: float = 250.0
    recency_half_life: float | None = None
    use_weights: bool = False
    proximity_half_life: float | None = None
    proximity_window: int | None = None
    solver: str = "auto"
    max_items: int = 15_000
    memory_limit_gb: float = 6.0


def _primal_bytes(n_items: int) -> float:
    return 3.0 * n_items * n_items * 8.0


def _dual_bytes(n_users: int, n_items: int) -> float:
    # K and its Cholesky factor (float64), the dense X solved in place (float64) and its float32 copy
    return 2.0 * n_users * n_users * 8.0 + 12.0 * n_users * n_items


def fit_flops(solver: str, n_users: int, n_items: int, nnz: int = 0) -> float:
    """Floating-point operations of one EASE fit (dense linear algebra; the sparse Gram is ``nnz``
    times the mean row length, small beside it).

    ``primal``: Cholesky (n³/3) + inverse from it (2n³/3) of the n_items x n_items Gram;
    ``dual``: Cholesky of the n_users x n_users Gram (n³/3) and two triangular solves against the
    dense users x items matrix (2 · n_users² · n_items).
    """
    if solver == "primal":
        return float(n_items) ** 3 + 2.0 * n_items * n_items
    mean_row = nnz / max(n_users, 1)
    return (
        float(n_users) ** 3 / 3.0
        + 2.0 * float(n_users) ** 2 * n_items
        + 2.0 * nnz * mean_row
        + 4.0 * n_users * n_items
    )


def score_flops(solver: str, n_users: int, n_items: int, nnz: int, n_scored: int) -> float:
    """Operations to score ``n_scored`` users over the modelled items: primal ``h @ B`` (history
    length x items), dual ``(h Xᵀ) K⁻¹X`` (training users x items per scored user)."""
    if solver == "primal":
        return 2.0 * n_scored * (nnz / max(n_users, 1)) * n_items + 2.0 * n_scored * n_items
    return 2.0 * n_scored * float(n_users) * n_items + 6.0 * n_scored * n_items


def plan_solver(
    params: EASEParams, n_users: int, n_items: int, nnz: int = 0
) -> tuple[str, int, float]:
    """``(solver, items modelled, predicted flops of fit + scoring every user once)``.

    Raises ConfigError when the requested solver does not fit under ``memory_limit_gb``."""
    p = params
    limit = p.memory_limit_gb * _GB

    def total(solver: str, m: int) -> float:
        return fit_flops(solver, n_users, m, nnz) + score_flops(solver, n_users, m, nnz, n_users)

    dual_ok = _dual_bytes(n_users, n_items) <= limit
    if p.solver == "dual":
        if not dual_ok:
            raise ConfigError(
                f"ease: dual solver needs ~{_dual_bytes(n_users, n_items) / _GB:.1f} GB "
                f"for {n_users} users x {n_items} items (memory_limit_gb={p.memory_limit_gb})",
                hint="use solver='primal' with a max_items cut-off, or raise memory_limit_gb",
            )
        return "dual", n_items, total("dual", n_items)
    m = min(n_items, p.max_items)
    primal_ok = _primal_bytes(m) <= limit
    # the dual models the whole catalogue: prefer it over a cut-off, else take the cheaper
    auto_dual = p.solver == "auto" and p.proximity_half_life is None and dual_ok
    if auto_dual and (m < n_items or not primal_ok or total("dual", n_items) < total("primal", m)):
        return "dual", n_items, total("dual", n_items)
    if not primal_ok:
        raise ConfigError(
            f"ease: primal solver needs ~{_primal_bytes(m) / _GB:.1f} GB for {m} items "
            f"(memory_limit_gb={p.memory_limit_gb})",
            hint="lower max_items or raise memory_limit_gb",
        )
    return "primal", m, total("primal", m)


def _spd_inverse(a: NDArray[np.float64], step: int = 2048) -> NDArray[np.float64]:
    """Inverse of a symmetric positive definite matrix (Cholesky: about half the work of LU).

    Falls back to a general inverse when ``a`` is not numerically positive definite (``a`` is
    left untouched). The lower triangle is filled from the upper one block by block, so the
    peak memory stays at two n x n arrays.
    """
    from scipy.linalg import lapack

    chol, info = lapack.dpotrf(a, lower=False, clean=False, overwrite_a=False)
    if info != 0:
        return np.asarray(np.linalg.inv(a), dtype=np.float64)
    inv, info = lapack.dpotri(chol, lower=False, overwrite_c=True)
    if info != 0:
        return np.asarray(np.linalg.inv(a), dtype=np.float64)
    n = inv.shape[0]
    for r0 in range(0, n, step):
        r1 = min(r0 + step, n)
        blk = inv[r0:r1, r0:r1]
        inv[r0:r1, r0:r1] = np.triu(blk) + np.triu(blk, 1).T
        inv[r1:, r0:r1] = inv[r0:r1, r1:].T
    return np.asarray(inv)


class EASE(Recommender):
    """Embarrassingly Shallow AutoEncoder, optionally scoring a recency-weighted history.

    Examples
    --------
    >>> model = EASE(l2=250.0, recency_half_life=20).fit(interactions)  # doctest: +SKIP
    """

    name = "ease"
    params_class = EASEParams
    params: EASEParams

    def __init__(self, params: EASEParams | None = None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        p = self.params
        check_positive(self.name, "l2", p.l2)
        check_positive(self.name, "recency_half_life", p.recency_half_life, allow_none=True)
        check_positive(self.name, "memory_limit_gb", p.memory_limit_gb)
        check_choice(self.name, "solver", p.solver, ("auto", "primal", "dual"))
        if p.max_items < 1:
            raise ConfigError(f"{self.name}: 'max_items' must be >= 1, got {p.max_items}")
        check_positive(self.name, "proximity_half_life", p.proximity_half_life, allow_none=True)
        if p.proximity_half_life is not None:
            if p.solver == "dual":
                raise ConfigError(
                    f"{self.name}: proximity_half_life={p.proximity_half_life} needs the primal "
                    "solver, got solver='dual'",
                    hint="use solver='auto' or 'primal' (with a max_items cut-off)",
                )
            if p.use_weights:
                raise ConfigError(
                    f"{self.name}: proximity_half_life works on 0/1 data, got use_weights=True",
                    hint="set use_weights=False",
                )
        if p.proximity_window is not None and p.proximity_window < 1:
            raise ConfigError(f"{self.name}: 'proximity_window' must be >= 1")

    @classmethod
    def predicted_work(cls, params: Params, shape: WorkShape) -> float:
        """Flops of the solver ``plan_solver`` picks, plus scoring ``shape.n_scored`` users
        (dense products and a per-cell cost of ranking); inf when no solver fits in memory."""
        if not isinstance(params, EASEParams):
            params = EASEParams()
        try:
            solver, m, _ = plan_solver(params, shape.n_users, shape.n_items, shape.nnz)
        except ConfigError:
            return float("inf")
        # dense factorisations run faster per flop on larger matrices (measured on 2 cores:
        # 3.3e10 flop/s at 6,000 items, 7.7e10 at 15,000); the work is in reference units
        n = m if solver == "primal" else shape.n_users
        fit = fit_flops(solver, shape.n_users, m, shape.nnz) / float(np.clip(n / 6000, 1.0, 2.5))
        if params.proximity_half_life is not None:  # the proximity Gram: pairs within a window
            fit += 50.0 * shape.n_events * min(4.0 * params.proximity_half_life, 200.0)
        score = score_flops(solver, shape.n_users, m, shape.nnz, shape.n_scored)
        return fit + score + 5.0 * SCORE_WORK_PER_CELL * shape.n_scored * shape.n_items

    # ---- fitting -------------------------------------------------------------------------------
    def _choose(self, n_users: int, n_items: int, nnz: int = 0) -> tuple[str, int]:
        """(solver, number of items modelled); see :func:`plan_solver`."""
        solver, m, _ = plan_solver(self.params, n_users, n_items, nnz)
        return solver, m

    def _fit(self, interactions: Interactions) -> None:
        p = self.params
        x = interactions.binary.astype(np.float64)
        if p.use_weights:
            w = interactions.matrix.tocsr()
            x = sp.csr_matrix(
                (np.log1p(w.data.astype(np.float64)), w.indices, w.indptr), shape=w.shape
            )
        active = np.diff(x.indptr) > 0
        x = x[active]
        solver, m = self._choose(int(active.sum()), interactions.n_items, int(x.nnz))
        self.solver_ = solver
        pop = interactions.item_popularity
        if m < interactions.n_items:
            kept = np.sort(np.argsort(-pop, kind="stable")[:m]).astype(np.int64)
        else:
            kept = np.arange(interactions.n_items, dtype=np.int64)
        self.kept_items_: NDArray[np.int64] = kept
        self.out_scores_ = (
            OUT_OF_SET_FLOOR + pop.astype(np.float64) / max(float(pop.max(initial=0.0)), 1.0)
        ).astype(np.float32)
        xk = x[:, kept].tocsr()
        if solver == "primal":
            if p.proximity_half_life is not None:
                window = p.proximity_window or min(int(np.ceil(4 * p.proximity_half_life)), 200)
                gram = proximity_gram(interactions, p.proximity_half_life, window, kept)
            else:
                gram = (xk.T @ xk).toarray()
            gram[np.diag_indices_from(gram)] += p.l2
            prec = _spd_inverse(gram)
            del gram
            b = prec / (-np.diag(prec))[None, :]
            b[np.diag_indices_from(b)] = 0.0
            self.weights_: NDArray[np.float32] = b.astype(np.float32)
            self.train_x_ = sp.csr_matrix((0, len(kept)), dtype=np.float32)
            self.q_ = np.zeros(0, dtype=np.float32)
        else:
            from scipy.linalg import cho_factor, cho_solve

            k = (xk @ xk.T).toarray()
            k[np.diag_indices_from(k)] += p.l2
            factor = cho_factor(k, lower=False, overwrite_a=True, check_finite=False)
            # K⁻¹X (users x items), solved in place in a Fortran-ordered dense copy of X
            w = cho_solve(factor, xk.toarray(order="F"), overwrite_b=True, check_finite=False)
            del k, factor
            q = np.asarray(xk.multiply(w).sum(axis=0)).ravel()  # diag(XᵀK⁻¹X)
            self.weights_ = w.astype(np.float32)
            self.train_x_ = xk.astype(np.float32)
            self.q_ = q.astype(np.float32)
        self.history_: sp.csr_matrix = recency_history(interactions, p.recency_half_life)

    # ---- scoring -------------------------------------------------------------------------------
    def _scores_kept(self, h: sp.csr_matrix) -> NDArray[np.float32]:
        """Scores over the modelled items for history rows ``h`` (restricted to kept items)."""
        if self.solver_ == "primal":
            return np.asarray(h @ self.weights_, dtype=np.float32)
        # x B = x - (x - (x Xᵀ) K⁻¹X) / (1 - q)
        z = np.asarray((h @ self.train_x_.T).toarray(), dtype=np.float32)
        xp = h.toarray() - z @ self.weights_
        dense_h = h.toarray()
        return (dense_h - xp / np.maximum(1.0 - self.q_, 1e-6)[None, :]).astype(np.float32)

    def _score_rows(self, history: sp.csr_matrix) -> NDArray[np.float32]:
        """Scores of (recency-weighted) history rows over every item."""
        kept_scores = self._scores_kept(history[:, self.kept_items_].tocsr())
        if len(self.kept_items_) == self.n_items:
            return kept_scores
        out = np.tile(self.out_scores_, (history.shape[0], 1))
        out[:, self.kept_items_] = kept_scores
        return out

    def _score_idx(self, user_idx: NDArray[np.int64]) -> NDArray[np.float32]:
        return self._score_rows(self.history_[user_idx])

    def _score_history(
        self, history: sp.csr_matrix, sequences: list[NDArray[np.int64]] | None
    ) -> NDArray[np.float32]:
        h = history_recency(binarize(history), sequences, self.params.recency_half_life)
        return self._score_rows(h)

    # ---- explanations --------------------------------------------------------------------------
    def _item_weights(self, j_pos: int) -> NDArray[np.float32]:
        """Column ``j`` of B over the kept items (how much each item votes for item j)."""
        if self.solver_ == "primal":
            return self.weights_[:, j_pos]
        xj = self.train_x_[:, [j_pos]].toarray().ravel()
        # P[:, j] = (e_j - Xᵀ K⁻¹ x_j) / λ ; B[:, j] = -P[:, j] / P[j, j], B[j, j] = 0
        col = -(np.asarray(self.weights_.T @ xj).ravel())
        col[j_pos] += 1.0
        pjj = col[j_pos]
        b = -col / pjj if pjj != 0 else np.zeros_like(col)
        b[j_pos] = 0.0
        return b.astype(np.float32)

    def similar_items(
        self, item_id: str, k: int = 10
    ) -> tuple[NDArray[np.object_], NDArray[np.float32]]:
        """The ``k`` items with the largest weight ``B[item, ·]`` (what the item votes for)."""
        self.check_fitted()
        i = int(self.items_.index([item_id])[0])
        pos = int(np.searchsorted(self.kept_items_, i))
        if pos >= len(self.kept_items_) or self.kept_items_[pos] != i:
            empty = np.asarray([], dtype=object)
            return empty, np.asarray([], dtype=np.float32)
        h = sp.csr_matrix((np.ones(1, np.float32), ([0], [pos])), shape=(1, len(self.kept_items_)))
        row = self._scores_kept(h)[0].astype(np.float64)
        row[pos] = -np.inf
        order = np.argsort(-row, kind="stable")[:k]
        return self.items_.external(self.kept_items_[order]), row[order].astype(np.float32)

    def explain(self, user_id: str, item_id: str) -> Explanation:
        pair = self._warm_pair(user_id, item_id)
        if pair is None:
            return super().explain(user_id, item_id)
        u, j = pair
        pos = np.searchsorted(self.kept_items_, j)
        if pos >= len(self.kept_items_) or self.kept_items_[pos] != j:
            return Explanation(
                "popular",
                "Outside the modelled catalogue; ranked by popularity.",
                {"popularity": float(self.popularity_[j])},
            )
        h = self.history_[u][:, self.kept_items_].tocsr()
        col = self._item_weights(int(pos))
        contrib = h.data * col[h.indices]
        order = np.argsort(-contrib, kind="stable")[:5]
        evidence = [
            {
                "item_id": str(self.items_.ids[self.kept_items_[h.indices[o]]]),
                "history_weight": float(h.data[o]),
                "contribution": float(contrib[o]),
            }
            for o in order
            if contrib[o] > 0
        ]
        names = ", ".join(str(e["item_id"]) for e in evidence[:3]) or "your history"
        return Explanation(
            "similar_items",
            f"Because you interacted with {names}.",
            {"neighbours": evidence, "score": float(contrib.sum())},
        )

    # ---- persistence ---------------------------------------------------------------------------
    def _state(self) -> dict[str, NDArray[Any]]:
        return (
            {
                "solver": np.asarray(self.solver_),
                "kept_items": self.kept_items_,
                "out_scores": self.out_scores_,
                "weights": self.weights_,
                "q": self.q_,
            }
            | csr_arrays("train_x", self.train_x_)
            | csr_arrays("history", self.history_)
        )

    def _load_state(self, arrays: dict[str, NDArray[Any]]) -> None:
        self.solver_ = str(arrays["solver"])
        self.kept_items_ = arrays["kept_items"]
        self.out_scores_ = arrays["out_scores"]
        self.weights_ = arrays["weights"]
        self.q_ = arrays["q"]
        self.train_x_ = csr_from_arrays("train_x", arrays)
        self.history_ = csr_from_arrays("history", arrays)
