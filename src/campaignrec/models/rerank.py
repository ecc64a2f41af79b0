"""Two-stage ranking: candidates from several models, re-scored by LightGBM LambdaRank.

Stage one asks each candidate model for its top-N items per user. Stage two scores every
(user, candidate) pair from features: each candidate model's score and rank, item popularity and
trend, item recency, the user's history length, category affinity and price fit, and learns to
rank them with LambdaRank. The ranker is trained on a per-user temporal holdout carved from the
training data (the last share of each user's history gives the labels); the candidate models are
then refitted on everything for serving.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import lightgbm as lgb
import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from campaignrec.data.interactions import SECONDS_PER_DAY, Interactions
from campaignrec.errors import ConfigError
from campaignrec.models.base import Explanation, ModelFactory, ModelLoader, Params, Recommender
from campaignrec.models.catalog import create_leaf, load_leaf

LOW = -1e6  # score given to items that are not candidates (keeps the order total)


@dataclass(frozen=True)
class RerankParams(Params):
    candidates: tuple[str, ...] = ("ease", "item_knn", "most_popular")
    candidate_params: str = "{}"  # JSON: {"ease": {"l2": 250}, ...}
    n_candidates: int = 100
    holdout_fraction: float = 0.2
    n_estimators: int = 300
    learning_rate: float = 0.05
    num_leaves: int = 31
    min_child_samples: int = 20
    seed: int = 0


def _per_user_holdout(inter: Interactions, fraction: float) -> NDArray[np.bool_]:
    """True for log rows in the last ``fraction`` of each user's history (users with >= 3 events)."""
    order = np.lexsort((inter.timestamp, inter.user_idx))
    users = inter.user_idx[order]
    counts = np.bincount(users, minlength=inter.n_users)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos = np.arange(len(order)) - starts[users]
    n_hold = np.where(counts >= 3, np.maximum(1, np.floor(counts * fraction)), 0)
    hold_sorted = pos >= counts[users] - n_hold[users]
    mask = np.zeros(len(order), dtype=bool)
    mask[order] = hold_sorted
    return mask


class _Context:
    """Item and user statistics of one training log, used to build pair features."""

    ARRAYS = ("hist_len", "pop", "item_age", "trend", "user_age", "cat_of", "price", "user_price")

    def to_arrays(self) -> dict[str, NDArray[Any]]:
        out = {
            f"ctx_{k}": getattr(self, k) for k in self.ARRAYS if getattr(self, k, None) is not None
        }
        if self.cat_of is not None:
            m = self.user_cat
            out |= {"ctx_uc_indptr": m.indptr, "ctx_uc_indices": m.indices, "ctx_uc_data": m.data}
            out["ctx_uc_shape"] = np.asarray(m.shape)
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, NDArray[Any]]) -> _Context:
        ctx = cls.__new__(cls)
        for k in cls.ARRAYS:
            setattr(ctx, k, arrays.get(f"ctx_{k}"))
        if ctx.cat_of is not None:
            shape = tuple(int(v) for v in arrays["ctx_uc_shape"])
            ctx.user_cat = sp.csr_matrix(
                (arrays["ctx_uc_data"], arrays["ctx_uc_indices"], arrays["ctx_uc_indptr"]),
                shape=shape,
            )
        return ctx

    def __init__(self, inter: Interactions) -> None:
        ref = inter.reference_time
        self.hist_len = np.diff(inter.binary.indptr).astype(np.float32)
        self.pop = np.log1p(inter.item_popularity).astype(np.float32)
        last = np.full(inter.n_items, -np.inf)
        np.maximum.at(last, inter.item_idx, inter.timestamp.astype(float))
        self.item_age = np.where(np.isfinite(last), (ref - last) / SECONDS_PER_DAY, 1e4).astype(
            np.float32
        )
        recent = inter.timestamp >= ref - 7 * SECONDS_PER_DAY
        week = np.bincount(inter.item_idx[recent], minlength=inter.n_items).astype(np.float32)
        total = np.bincount(inter.item_idx, minlength=inter.n_items).astype(np.float32)
        self.trend = week / np.maximum(total, 1.0)
        ulast = np.full(inter.n_users, -np.inf)
        np.maximum.at(ulast, inter.user_idx, inter.timestamp.astype(float))
        self.user_age = np.where(np.isfinite(ulast), (ref - ulast) / SECONDS_PER_DAY, 1e4).astype(
            np.float32
        )
        feats = inter.item_features
        self.cat_of: NDArray[np.int64] | None = None
        if "category" in feats.columns and feats["category"].notna().any():
            codes = pd.Categorical(feats["category"].fillna("")).codes.astype(np.int64)
            onehot = sp.csr_matrix(
                (np.ones(len(codes), np.float32), (np.arange(len(codes)), codes)),
                shape=(len(codes), int(codes.max()) + 1),
            )
            self.user_cat = (inter.binary @ onehot).tocsr()
            self.cat_of = codes
        self.price: NDArray[np.float32] | None = None
        self.user_price: NDArray[np.float32] | None = None
        if "price" in feats.columns and feats["price"].notna().any():
            price = pd.to_numeric(feats["price"], errors="coerce").to_numpy(dtype=np.float32)
            filled = np.nan_to_num(price, nan=float(np.nanmedian(price)))
            self.price = filled
            sums = inter.binary @ filled
            self.user_price = (sums / np.maximum(self.hist_len, 1)).astype(np.float32)

    def pair_features(
        self, users: NDArray[np.int64], items: NDArray[np.int64]
    ) -> dict[str, NDArray[np.float32]]:
        out = {
            "item_pop": self.pop[items],
            "item_age_days": self.item_age[items],
            "item_trend": self.trend[items],
            "user_hist_len": np.log1p(self.hist_len[users]),
            "user_age_days": self.user_age[users],
        }
        if self.cat_of is not None:
            aff = np.asarray(self.user_cat[users, self.cat_of[items]]).ravel()
            out["cat_affinity"] = (aff / np.maximum(self.hist_len[users], 1)).astype(np.float32)
        if self.price is not None and self.user_price is not None:
            out["price_ratio"] = (
                self.price[items] / np.maximum(self.user_price[users], 1e-3)
            ).astype(np.float32)
        return out


class TwoStageRanker(Recommender):
    """Candidates from several models, re-ranked by LightGBM LambdaRank on pair features."""

    name = "rerank"
    params_class = RerankParams
    composite = True
    no_history_reason = (
        "its pair features (history length, category affinity, price fit, recency) are "
        "statistics of the training users"
    )

    def __init__(
        self,
        params: RerankParams | None = None,
        *,
        factory: ModelFactory | None = None,
        loader: ModelLoader | None = None,
        **overrides: Any,
    ) -> None:
        """``factory`` creates the candidate models by name (default: the leaf catalogue's
        ``create_leaf``); ``loader`` loads them back in :meth:`load`."""
        super().__init__(params, **overrides)
        self.factory: ModelFactory = factory if factory is not None else create_leaf
        self.loader: ModelLoader = loader if loader is not None else load_leaf

    def _specs(self) -> list[tuple[str, dict[str, Any]]]:
        p: RerankParams = self.params  # type: ignore[assignment]
        try:
            extra = json.loads(p.candidate_params) if p.candidate_params else {}
        except json.JSONDecodeError as exc:
            raise ConfigError(f"rerank: candidate_params is not JSON ({exc})") from exc
        if not p.candidates:
            raise ConfigError("rerank: name at least one candidate model")
        return [(name, dict(extra.get(name, {}))) for name in p.candidates]

    def _fit_candidates(self, inter: Interactions) -> list[Recommender]:
        return [self.factory(name, **params).fit(inter) for name, params in self._specs()]

    def _candidate_frame(
        self,
        models: list[Recommender],
        ctx: _Context,
        user_idx: NDArray[np.int64],
        names: list[str] | None = None,
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float32], list[str]]:
        """Pairs (user, item), their feature matrix for ``user_idx`` and its column names.

        ``names`` orders the columns (the fitted ``feature_names_``); None takes the order
        in which they are built. Nothing is written to ``self``: scoring is read-only, so
        several threads may score one fitted ranker.
        """
        p: RerankParams = self.params  # type: ignore[assignment]
        n_models = len(models)
        per_model = [m.recommend_idx(user_idx, p.n_candidates) for m in models]
        rows = np.repeat(np.arange(len(user_idx)), p.n_candidates)
        pair_u = np.concatenate([rows] * n_models)
        pair_i = np.concatenate([idx.ravel() for idx, _ in per_model])
        ok = pair_i >= 0
        pairs = np.unique(np.stack([pair_u[ok], pair_i[ok]], axis=1), axis=0)
        pu, pi = pairs[:, 0], pairs[:, 1]
        cols: dict[str, NDArray[np.float32]] = {}
        key = pu * (ctx.pop.shape[0] + 1) + pi
        for j, (idx, val) in enumerate(per_model):
            flat_key = rows * (ctx.pop.shape[0] + 1) + idx.ravel()
            rank = np.tile(np.arange(1, p.n_candidates + 1), len(user_idx)).astype(np.float32)
            lookup = pd.Series(np.arange(len(flat_key)), index=flat_key)
            lookup = lookup[~lookup.index.duplicated()]
            pos = lookup.reindex(key).to_numpy()
            have = ~np.isnan(pos)
            score = np.full(len(key), np.nan, np.float32)
            rk = np.full(len(key), p.n_candidates + 1, np.float32)
            posi = pos[have].astype(np.int64)
            score[have] = val.ravel()[posi]
            rk[have] = rank[posi]
            cols[f"m{j}_score"] = score
            cols[f"m{j}_rank"] = rk
        cols.update(ctx.pair_features(user_idx[pu], pi))
        order = list(cols) if names is None else names
        return pu, pi, np.column_stack([cols[c] for c in order]).astype(np.float32), order

    def _fit(self, interactions: Interactions) -> None:
        p: RerankParams = self.params  # type: ignore[assignment]
        hold = _per_user_holdout(interactions, p.holdout_fraction)
        inner = interactions.subset(~hold)
        labels = interactions.subset(hold).binary.tocsr()
        labels = labels - labels.multiply(inner.binary)  # only new items count as hits
        labels.eliminate_zeros()
        users = np.flatnonzero(np.diff(labels.indptr) > 0).astype(np.int64)
        models = self._fit_candidates(inner)
        ctx = _Context(inner)
        pu, pi, x, self.feature_names_ = self._candidate_frame(models, ctx, users)
        y = np.asarray(labels[users[pu], pi]).ravel() > 0
        # users whose candidates contain no hit teach LambdaRank nothing
        has_hit = np.bincount(pu, weights=y, minlength=len(users)) > 0
        keep = has_hit[pu]
        pu, x, y = pu[keep], x[keep], y[keep]
        self.ranker_ = lgb.LGBMRanker(
            objective="lambdarank",
            n_estimators=p.n_estimators,
            learning_rate=p.learning_rate,
            num_leaves=p.num_leaves,
            min_child_samples=p.min_child_samples,
            random_state=p.seed,
            n_jobs=1,
            verbose=-1,
        )
        if len(y) == 0 or not y.any():
            raise ConfigError(
                "rerank: the holdout gave no hits among the candidates; use more data or candidates"
            )
        group = np.bincount(pu)[np.unique(pu)]
        self.ranker_.fit(x, y.astype(np.int32), group=group)
        self.booster_ = self.ranker_.booster_
        self.candidates_ = self._fit_candidates(interactions)
        self.ctx_ = _Context(interactions)

    def _score_idx(self, user_idx: NDArray[np.int64]) -> NDArray[np.float32]:
        pu, pi, x, _ = self._candidate_frame(
            self.candidates_, self.ctx_, user_idx, self.feature_names_
        )
        out = np.full((len(user_idx), len(self.items_)), LOW, np.float32)
        fallback = self.candidates_[0].score_matrix(user_idx)
        out += np.nan_to_num(fallback, nan=0.0, neginf=0.0) * 1e-6
        if len(pu):
            out[pu, pi] = np.asarray(self.booster_.predict(x), dtype=np.float32)
        return out

    def explain(self, user_id: str, item_id: str) -> Explanation:
        base = super().explain(user_id, item_id)
        if base.reason == "popular":
            return base
        u = self.users_.index([user_id])
        i = int(self.items_.index([item_id])[0])
        _, pi, x, _ = self._candidate_frame(self.candidates_, self.ctx_, u, self.feature_names_)
        row = np.flatnonzero(pi == i)
        if not len(row):
            return Explanation("rerank", "Not among the candidates for this shopper.", {})
        contrib = self.booster_.predict(x[row], pred_contrib=True)[0][:-1]
        order = np.argsort(-contrib)[:3]
        top = [
            {
                "feature": self.feature_names_[j],
                "value": float(x[row[0], j]),
                "contribution": float(contrib[j]),
            }
            for j in order
        ]
        names = [n for n, _ in self._specs()]
        for t in top:
            if t["feature"].startswith("m"):
                j, kind = t["feature"][1:].split("_")
                t["feature"] = f"{names[int(j)]}_{kind}"
        return Explanation(
            "rerank",
            "Ranked up by: " + ", ".join(str(t["feature"]) for t in top) + ".",
            {"features": top},
        )

    # ---- persistence: the booster as its text model, candidates as sub-directories --------------
    def save(self, path: str | Path) -> Path:
        out = super().save(path)
        for j, model in enumerate(self.candidates_):
            model.save(out / "candidates" / f"{j}_{model.name}")
        (out / "ranker.txt").write_text(self.booster_.model_to_string())
        (out / "features.json").write_text(json.dumps(self.feature_names_))
        return out

    def _state(self) -> dict[str, NDArray[Any]]:
        return self.ctx_.to_arrays()

    def _load_state(self, arrays: dict[str, NDArray[Any]]) -> None:
        self.ctx_ = _Context.from_arrays(arrays)

    @classmethod
    def load(cls, path: str | Path, *, loader: ModelLoader | None = None) -> Self:
        """Load the ranker and its candidate models (``loader``: default the leaf catalogue's)."""
        model = super().load(path)
        if loader is not None:
            model.loader = loader
        src = Path(path)
        dirs = sorted((src / "candidates").iterdir(), key=lambda d: int(d.name.split("_", 1)[0]))
        model.candidates_ = [model.loader(d) for d in dirs]
        model.booster_ = lgb.Booster(model_str=(src / "ranker.txt").read_text())
        model.feature_names_ = json.loads((src / "features.json").read_text())
        return model
