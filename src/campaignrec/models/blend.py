"""Blending several fitted models: weighted score fusion and reciprocal-rank fusion.

Score fusion normalises each model's scores per user (z-score or min-max over the items the user
can still be shown) and adds them with weights. Reciprocal-rank fusion adds ``w / (rrf_k + rank)``
over each model's top ``rrf_depth`` unseen items. Weights are parameters: tune them on a
validation split (:meth:`Blend.with_weights` re-weights without refitting, :meth:`Blend.fuse`
re-fuses cached component scores).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from campaignrec.data.interactions import Interactions
from campaignrec.errors import ConfigError, UnknownIdError
from campaignrec.models._common import check_choice, normalize_rows
from campaignrec.models.base import (
    Explanation,
    ModelFactory,
    ModelLoader,
    Params,
    Recommender,
    top_k,
)
from campaignrec.models.catalog import create_leaf, load_leaf

_COMPONENTS = "components"


@dataclasses.dataclass(frozen=True)
class BlendParams(Params):
    """Parameters of :class:`Blend`.

    Attributes
    ----------
    models : names of the component models (filled in from ``components=`` when given; with
        only names, each component is created by the member factory with default parameters:
        the leaf catalogue by default, any registered model when created through the registry).
    weights : one weight per component (empty = all 1).
    method : ``score`` (weighted sum of normalised scores) or ``rrf`` (reciprocal-rank fusion).
    normalization : ``zscore`` | ``minmax`` | ``none`` for score fusion.
    rrf_k : the constant of reciprocal-rank fusion (60 in the original paper).
    rrf_depth : how many top items of each component take part in reciprocal-rank fusion.
    """

    models: tuple[str, ...] = ()
    weights: tuple[float, ...] = ()
    method: str = "score"
    normalization: str = "zscore"
    rrf_k: float = 60.0
    rrf_depth: int = 200


class Blend(Recommender):
    """A weighted blend of fitted recommenders.

    Examples
    --------
    >>> blend = Blend(components=[EASE(), ItemKNN()], weights=(0.7, 0.3))  # doctest: +SKIP
    >>> blend.fit(train)  # fits components not yet fitted on this snapshot  # doctest: +SKIP
    >>> tuned = blend.with_weights((0.5, 0.5))  # no refit  # doctest: +SKIP
    """

    name = "blend"
    params_class = BlendParams
    handles_cold_users = True  # each component applies its own cold-start fallback
    composite = True
    params: BlendParams

    def __init__(
        self,
        params: BlendParams | None = None,
        *,
        components: Sequence[Recommender] | None = None,
        factory: ModelFactory | None = None,
        loader: ModelLoader | None = None,
        **overrides: Any,
    ) -> None:
        """``factory`` creates components named in ``models`` (default: the leaf catalogue's
        ``create_leaf``); ``loader`` is kept for :meth:`load`'s members."""
        self.factory: ModelFactory = factory if factory is not None else create_leaf
        self.loader: ModelLoader = loader if loader is not None else load_leaf
        if components is not None:
            overrides = {"models": tuple(c.name for c in components)} | overrides
        super().__init__(params, **overrides)
        p = self.params
        check_choice(self.name, "method", p.method, ("score", "rrf"))
        check_choice(self.name, "normalization", p.normalization, ("zscore", "minmax", "none"))
        if p.weights and len(p.weights) != len(p.models):
            raise ConfigError(
                f"{self.name}: {len(p.weights)} weights for {len(p.models)} models {list(p.models)}",
                hint="give one weight per model, or none for equal weights",
            )
        if p.rrf_depth < 1 or p.rrf_k < 0:
            raise ConfigError(f"{self.name}: need rrf_depth >= 1 and rrf_k >= 0")
        self.components = list(components) if components is not None else None

    @property
    def weights(self) -> NDArray[np.float64]:
        n = len(self.params.models)
        return np.asarray(
            self.params.weights if self.params.weights else [1.0] * n, dtype=np.float64
        )

    # ---- fitting -------------------------------------------------------------------------------
    def _fit(self, interactions: Interactions) -> None:
        if not self.params.models:
            raise ConfigError(
                f"{self.name}: no models to blend", hint="pass components= or models="
            )
        if self.components is None:
            self.components = [self.factory(name) for name in self.params.models]
        for comp in self.components:
            fitted_here = (
                getattr(comp, "fitted_", False) and comp.snapshot_id_ == interactions.snapshot_id
            )
            if not fitted_here:
                comp.fit(interactions)

    def with_weights(self, weights: Sequence[float]) -> Blend:
        """The same fitted blend with other weights (components are shared, nothing is refitted)."""
        self.check_fitted()
        new = Blend(
            dataclasses.replace(self.params, weights=tuple(float(w) for w in weights)),
            components=self.components,
            factory=self.factory,
            loader=self.loader,
        )
        for attr in ("users_", "items_", "seen_", "popularity_", "snapshot_id_", "fitted_"):
            setattr(new, attr, getattr(self, attr))
        return new

    # ---- scoring -------------------------------------------------------------------------------
    def component_scores(self, user_idx: NDArray[np.int64]) -> list[NDArray[np.float32]]:
        """Each component's dense scores for ``user_idx`` (cache these to tune weights fast)."""
        self.check_fitted()
        assert self.components is not None
        return [c.score_matrix(user_idx) for c in self.components]

    def seen_mask(self, user_idx: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Dense (users, items) mask of items each user already touched."""
        mask = np.zeros((len(user_idx), self.n_items), dtype=bool)
        known = user_idx >= 0
        if known.any():
            rows = self.seen_[user_idx[known]]
            r, c = rows.nonzero()
            sub = np.zeros((int(known.sum()), self.n_items), dtype=bool)
            sub[r, c] = True
            mask[known] = sub
        return mask

    def fuse(
        self, scores: Sequence[NDArray[np.float32]], seen: NDArray[np.bool_] | None = None
    ) -> NDArray[np.float32]:
        """Fuse component score matrices with this blend's method and weights.

        ``seen`` marks items each user already touched: they are left out of the normalisation
        statistics (score fusion) and of the ranked lists (reciprocal-rank fusion).
        """
        p = self.params
        w = self.weights
        if len(scores) != len(w):
            raise ConfigError(f"{self.name}: {len(scores)} score matrices for {len(w)} weights")
        out = np.zeros_like(scores[0], dtype=np.float32)
        if p.method == "score":
            mask = None if seen is None else ~seen
            for wi, s in zip(w, scores, strict=True):
                if wi != 0:
                    norm = normalize_rows(s, p.normalization, mask)
                    out += np.float32(wi) * np.where(np.isfinite(norm), norm, 0.0).astype(
                        np.float32
                    )
            return out
        depth = min(p.rrf_depth, out.shape[1])
        rows = np.arange(out.shape[0])[:, None]
        for wi, s in zip(w, scores, strict=True):
            if wi == 0:
                continue
            ranked = s if seen is None else np.where(seen, -np.inf, s)
            idx, _ = top_k(ranked, depth)
            contrib = (wi / (p.rrf_k + np.arange(1, depth + 1)))[None, :].repeat(len(out), axis=0)
            contrib[idx < 0] = 0.0
            np.add.at(out, (rows, np.where(idx < 0, 0, idx)), contrib.astype(np.float32))
        return out

    def _score_idx(self, user_idx: NDArray[np.int64]) -> NDArray[np.float32]:
        return self.fuse(self.component_scores(user_idx), self.seen_mask(user_idx))

    def _score_history(
        self, history: sp.csr_matrix, sequences: list[NDArray[np.int64]] | None
    ) -> NDArray[np.float32]:
        assert self.components is not None
        scores = [c.score_history(history, sequences=sequences) for c in self.components]
        return self.fuse(scores, history.toarray() != 0)

    def _cold_scores(self, n: int) -> NDArray[np.float32]:
        unknown = np.full(n, -1, dtype=np.int64)
        return self.fuse(self.component_scores(unknown), None)

    # ---- explanations --------------------------------------------------------------------------
    def explain(self, user_id: str, item_id: str) -> Explanation:
        self.check_fitted()
        assert self.components is not None
        if item_id not in self.items_:
            raise UnknownIdError("item", item_id)
        parts: list[dict[str, Any]] = []
        best: Explanation | None = None
        best_w = -np.inf
        for comp, w in zip(self.components, self.weights, strict=True):
            e = comp.explain(user_id, item_id)
            if w > best_w:
                best, best_w = e, float(w)
            parts.append(
                {
                    "model": comp.name,
                    "weight": float(w),
                    "reason": e.reason,
                    "text": e.text,
                    "evidence": e.evidence,
                }
            )
        assert best is not None
        return Explanation(
            best.reason,
            best.text,
            {"score": float(self.score([user_id], [item_id])[0]), "components": parts},
        )

    # ---- persistence ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the blend's meta and every component into ``path/components/<i>_<name>``."""
        out = super().save(path)
        assert self.components is not None
        for i, comp in enumerate(self.components):
            comp.save(out / _COMPONENTS / f"{i}_{comp.name}")
        return out

    @classmethod
    def load(cls, path: str | Path, *, loader: ModelLoader | None = None) -> Self:
        """Load the blend and its components (``loader``: default the leaf catalogue's)."""
        model = super().load(path)
        if loader is not None:
            model.loader = loader
        src = Path(path) / _COMPONENTS
        model.components = [
            model.loader(src / f"{i}_{name}") for i, name in enumerate(model.params.models)
        ]
        return model
