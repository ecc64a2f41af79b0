"""Explicit ratings: biased matrix factorisation fitted by alternating least squares.

``rating_mf`` predicts the value of a shopper's rating of an item (a film's stars, a product's
review score) as ``mu + b_u + b_i + p_u . q_i``: the global mean, a user and an item bias, and the
dot product of latent factors. It learns only from the snapshot's rating events
(:meth:`campaignrec.data.interactions.Interactions.ratings`); their implicit weights are not used.

Fitting alternates two ridge regressions: with the item side fixed, each user's ``(p_u, b_u)``
is the least-squares fit of that user's ratings (minus ``mu + b_i``), factors penalised by
``regularization * n_u`` (the weighted-lambda rule, so heavy raters are not shrunk less than
light ones) and the bias by ``bias_regularization``; then the same for items. Each sweep is exact
(no learning rate to tune), and ``iterations`` sweeps converge on data of ML-100k's size.

Ranking: ``recommend`` orders unseen items by predicted rating. Users without ratings get
``mu + b_i`` (the items rated best, shrunk towards the mean); unknown items ``mu + b_u``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from campaignrec.data.interactions import Interactions
from campaignrec.data.schema import DEFAULT_RATING_SCALE
from campaignrec.errors import ConfigError, ValidationError
from campaignrec.models._common import check_positive
from campaignrec.models.base import Explanation, Params, Recommender, WorkShape


@dataclasses.dataclass(frozen=True)
class RatingMFParams(Params):
    """Parameters of :class:`RatingMF`.

    Attributes
    ----------
    factors : latent dimensions (0: biases only, the baseline predictor).
    regularization : L2 penalty on the factors, times the row's number of ratings.
    bias_regularization : L2 penalty on the user and item biases.
    iterations : ALS sweeps (users then items).
    init_scale : standard deviation of the random initial factors.
    seed : random initialisation.
    """

    factors: int = 16
    regularization: float = 0.08
    bias_regularization: float = 5.0
    iterations: int = 15
    init_scale: float = 0.1
    seed: int = 0


class RatingMF(Recommender):
    """Biased matrix factorisation of explicit ratings (ALS with biases)."""

    name = "rating_mf"
    params_class = RatingMFParams
    params: RatingMFParams
    #: users with events but no rating still get the item-bias ranking from ``_score_idx``
    handles_cold_users = False
    work_per_event = 4.0e3
    no_history_reason = "it predicts ratings from the ratings a snapshot user gave"

    user_factors_: NDArray[np.float32]
    item_factors_: NDArray[np.float32]
    user_bias_: NDArray[np.float32]
    item_bias_: NDArray[np.float32]
    global_mean_: float
    scale_: tuple[float, float]

    def __init__(self, params: RatingMFParams | None = None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        p = self.params
        if p.factors < 0:
            raise ConfigError(f"rating_mf: factors must be >= 0 (got {p.factors})")
        check_positive(self.name, "iterations", p.iterations)
        for key in ("regularization", "bias_regularization", "init_scale"):
            if getattr(p, key) < 0:
                raise ConfigError(f"rating_mf: {key} must be >= 0 (got {getattr(p, key)})")

    @classmethod
    def predicted_work(cls, params: Params, shape: WorkShape) -> float:
        assert isinstance(params, RatingMFParams)
        k = params.factors + 1
        per_sweep = shape.n_events * k * k + (shape.n_users + shape.n_items) * k**3
        return params.iterations * per_sweep + super().predicted_work(params, shape)

    # ---- fitting ---------------------------------------------------------------------------------
    def _fit(self, interactions: Interactions) -> None:
        p = self.params
        n_u, n_i, k = interactions.n_users, interactions.n_items, p.factors
        u, i, r = interactions.ratings()
        if len(interactions) and not len(r):
            raise ValidationError(
                "rating",
                "rating_mf learns from rating events, and this snapshot has none",
                hint="import events of type 'rating' with a 'rating' value (e.g. the movielens "
                "preset), or train an implicit model (ease, als, item_knn)",
            )
        rng = np.random.default_rng(p.seed)
        self.user_factors_ = (rng.standard_normal((n_u, k)) * p.init_scale).astype(np.float32)
        self.item_factors_ = (rng.standard_normal((n_i, k)) * p.init_scale).astype(np.float32)
        self.user_bias_ = np.zeros(n_u, dtype=np.float32)
        self.item_bias_ = np.zeros(n_i, dtype=np.float32)
        self.global_mean_ = float(r.mean()) if len(r) else float(np.mean(DEFAULT_RATING_SCALE))
        self.scale_ = (
            (float(r.min()), float(r.max()))
            if len(r)
            else (float(DEFAULT_RATING_SCALE[0]), float(DEFAULT_RATING_SCALE[1]))
        )
        if not len(r):
            return
        dev = (r - self.global_mean_).astype(np.float64)
        by_user = sp.csr_matrix((dev, (u, i)), shape=(n_u, n_i))
        by_user.sum_duplicates()  # a user who rated an item twice: the values add up
        counts = sp.csr_matrix((np.ones_like(dev), (u, i)), shape=(n_u, n_i))
        counts.sum_duplicates()
        by_user.data /= counts.data  # ... so divide: the mean of that user's ratings of the item
        by_item = by_user.T.tocsr()
        uf = self.user_factors_.astype(np.float64)
        itf = self.item_factors_.astype(np.float64)
        # rows without ratings keep zero factors: their predictions are the biases alone
        uf[np.diff(by_user.indptr) == 0] = 0.0
        itf[np.diff(by_item.indptr) == 0] = 0.0
        ub = np.zeros(n_u)
        ib = np.zeros(n_i)
        for _ in range(p.iterations):
            _ridge_rows(by_user, itf, ib, uf, ub, p.regularization, p.bias_regularization)
            _ridge_rows(by_item, uf, ub, itf, ib, p.regularization, p.bias_regularization)
        self.user_factors_ = uf.astype(np.float32)
        self.item_factors_ = itf.astype(np.float32)
        self.user_bias_ = ub.astype(np.float32)
        self.item_bias_ = ib.astype(np.float32)

    # ---- predicting ------------------------------------------------------------------------------
    def predict_idx(
        self, user_idx: NDArray[np.integer], item_idx: NDArray[np.integer]
    ) -> NDArray[np.float32]:
        """Predicted ratings of aligned (user, item) index pairs, clipped to the seen scale.

        An index of -1 (unknown user or item) leaves out that side's bias and factors.
        """
        self.check_fitted()
        uu = np.asarray(user_idx, dtype=np.int64)
        ii = np.asarray(item_idx, dtype=np.int64)
        ku, ki = uu >= 0, ii >= 0
        out = np.full(len(uu), self.global_mean_, dtype=np.float64)
        out[ku] += self.user_bias_[uu[ku]]
        out[ki] += self.item_bias_[ii[ki]]
        both = ku & ki
        if both.any():
            out[both] += np.einsum(
                "ij,ij->i",
                self.user_factors_[uu[both]].astype(np.float64),
                self.item_factors_[ii[both]].astype(np.float64),
            )
        return np.clip(out, *self.scale_).astype(np.float32)

    def predict(self, user_ids: list[str], item_ids: list[str]) -> NDArray[np.float32]:
        """Predicted ratings of aligned (user id, item id) pairs (unknown ids: see predict_idx)."""
        self.check_fitted()
        if len(user_ids) != len(item_ids):
            raise ConfigError("predict(): user_ids and item_ids must have the same length")
        return self.predict_idx(
            self.users_.index(list(user_ids), missing="ignore"),
            self.items_.index(list(item_ids), missing="ignore"),
        )

    def _score_idx(self, user_idx: NDArray[np.int64]) -> NDArray[np.float32]:
        scores = self.user_factors_[user_idx] @ self.item_factors_.T
        scores += self.user_bias_[user_idx, None] + self.item_bias_[None, :] + self.global_mean_
        return np.asarray(np.clip(scores, *self.scale_), dtype=np.float32)

    def _cold_scores(self, n: int) -> NDArray[np.float32]:
        base = np.clip(self.global_mean_ + self.item_bias_, *self.scale_).astype(np.float32)
        return np.tile(base, (n, 1))

    def explain(self, user_id: str, item_id: str) -> Explanation:
        pair = self._warm_pair(user_id, item_id)
        item = int(self.items_.index([item_id])[0])
        if pair is None:
            return Explanation(
                "well_rated",
                "Rated highly by other shoppers.",
                {
                    "predicted_rating": float(
                        self.predict_idx(np.array([-1]), np.array([item]))[0]
                    ),
                    "item_bias": float(self.item_bias_[item]),
                },
            )
        u, _ = pair
        return Explanation(
            "predicted_rating",
            "You would likely rate it highly, judging by your ratings.",
            {
                "predicted_rating": float(self.predict_idx(np.array([u]), np.array([item]))[0]),
                "global_mean": self.global_mean_,
                "user_bias": float(self.user_bias_[u]),
                "item_bias": float(self.item_bias_[item]),
                "taste_match": float(self.user_factors_[u] @ self.item_factors_[item]),
            },
        )

    # ---- persistence ---------------------------------------------------------------------------
    def _state(self) -> dict[str, NDArray[Any]]:
        return {
            "user_factors": self.user_factors_,
            "item_factors": self.item_factors_,
            "user_bias": self.user_bias_,
            "item_bias": self.item_bias_,
            "global_mean": np.asarray(self.global_mean_, dtype=np.float64),
            "scale": np.asarray(self.scale_, dtype=np.float64),
        }

    def _load_state(self, arrays: dict[str, NDArray[Any]]) -> None:
        self.user_factors_ = arrays["user_factors"]
        self.item_factors_ = arrays["item_factors"]
        self.user_bias_ = arrays["user_bias"]
        self.item_bias_ = arrays["item_bias"]
        self.global_mean_ = float(arrays["global_mean"])
        lo, hi = (float(x) for x in arrays["scale"])
        self.scale_ = (lo, hi)


def _ridge_rows(
    ratings: sp.csr_matrix,
    other: NDArray[np.float64],
    other_bias: NDArray[np.float64],
    factors: NDArray[np.float64],
    bias: NDArray[np.float64],
    reg: float,
    bias_reg: float,
) -> None:
    """One half-sweep: each row's (factors, bias) as the ridge fit of its ratings, in place.

    Row ``r`` of ``ratings`` holds deviations from the global mean; the target of its entry at
    column ``c`` is that deviation minus ``other_bias[c]``, explained by ``other[c] . f + b``.
    """
    k = factors.shape[1]
    penalty = np.zeros(k + 1)
    indptr, indices, data = ratings.indptr, ratings.indices, ratings.data
    for row in range(ratings.shape[0]):
        lo, hi = indptr[row], indptr[row + 1]
        if lo == hi:
            continue
        cols = indices[lo:hi]
        x = np.empty((hi - lo, k + 1))
        x[:, :k] = other[cols]
        x[:, k] = 1.0
        y = data[lo:hi] - other_bias[cols]
        penalty[:k] = reg * (hi - lo)
        penalty[k] = bias_reg
        gram = x.T @ x
        gram[np.diag_indices_from(gram)] += penalty
        sol = np.linalg.solve(gram, x.T @ y)
        factors[row] = sol[:k]
        bias[row] = sol[k]
