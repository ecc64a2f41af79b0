"""Popularity baselines: MostPopular (global, per segment, trending) and a seeded Random floor."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from campaignrec.data.interactions import SECONDS_PER_DAY, Interactions
from campaignrec.errors import ConfigError, UnknownIdError
from campaignrec.models._common import check_choice, check_positive
from campaignrec.models.base import Explanation, Params, Recommender, top_k

_NO_SEGMENT = -1


@dataclasses.dataclass(frozen=True)
class MostPopularParams(Params):
    """Parameters of :class:`MostPopular`.

    Attributes
    ----------
    count : ``"users"`` counts distinct users per item, ``"weight"`` sums event weights
        (a purchase counts more than a view).
    half_life_days : trending mode: every event is weighted ``0.5 ** (age_days / half_life_days)``
        relative to the end of the data; None for all-time popularity.
    segment_column : a column of the snapshot's user features (e.g. ``"region"``) whose values are
        the segments; popularity is then computed per segment.
    segment_shrinkage : pseudo-count pulling small segments towards the global ranking
        (score = (segment count + m * global share) / (segment total + m)).
    """

    count: str = "users"
    half_life_days: float | None = None
    segment_column: str | None = None
    segment_shrinkage: float = 10.0


class MostPopular(Recommender):
    """Recommend what is popular: globally, within the user's segment, or trending now.

    Users with a segment (from ``segment_column`` or the ``segments=`` mapping) get their segment's
    ranking even without history; everyone else gets the global ranking.

    Examples
    --------
    >>> model = MostPopular(half_life_days=7).fit(interactions)  # doctest: +SKIP
    >>> ids, scores = model.recommend(["u1", "u2"], k=10)  # doctest: +SKIP
    """

    name = "most_popular"
    params_class = MostPopularParams
    handles_cold_users = True
    params: MostPopularParams

    def __init__(
        self,
        params: MostPopularParams | None = None,
        *,
        segments: Mapping[str, Any] | pd.Series | None = None,
        **overrides: Any,
    ) -> None:
        super().__init__(params, **overrides)
        self.segments = segments
        p = self.params
        check_choice(self.name, "count", p.count, ("users", "weight"))
        check_positive(self.name, "half_life_days", p.half_life_days, allow_none=True)
        if p.segment_shrinkage < 0:
            raise ConfigError(
                f"{self.name}: 'segment_shrinkage' must be >= 0, got {p.segment_shrinkage}"
            )
        if segments is not None and p.segment_column is not None:
            raise ConfigError(
                f"{self.name}: give either segments= or segment_column={p.segment_column!r}, not both"
            )

    # ---- fitting -------------------------------------------------------------------------------
    def _event_weights(self, interactions: Interactions) -> NDArray[np.float64]:
        p = self.params
        w = (
            np.ones(len(interactions), dtype=np.float64)
            if p.count == "users"
            else interactions.weight.astype(np.float64)
        )
        if p.half_life_days is not None and len(interactions):
            age = (interactions.reference_time - interactions.timestamp) / SECONDS_PER_DAY
            w = w * np.power(0.5, np.maximum(age, 0.0) / p.half_life_days)
        return w

    def _item_counts(
        self, interactions: Interactions, w: NDArray[np.float64], rows: NDArray[np.bool_]
    ) -> NDArray[np.float64]:
        if self.params.count == "users":
            # distinct users: one vote per (user, item), the most recent (decayed) one
            key = interactions.user_idx[rows].astype(np.int64) * interactions.n_items
            key += interactions.item_idx[rows]
            vote = pd.Series(w[rows]).groupby(key).max()
            items = (vote.index.to_numpy() % interactions.n_items).astype(np.int64)
            counts = np.bincount(items, weights=vote.to_numpy(), minlength=interactions.n_items)
        else:
            counts = np.bincount(
                interactions.item_idx[rows], weights=w[rows], minlength=interactions.n_items
            )
        return counts.astype(np.float64)

    def _user_segments(self, interactions: Interactions) -> pd.Series | None:
        p = self.params
        if p.segment_column is not None:
            feats = interactions.user_features
            if p.segment_column not in feats.columns:
                raise ConfigError(
                    f"{self.name}: segment_column {p.segment_column!r} is not a user feature",
                    hint=f"user feature columns: {sorted(map(str, feats.columns))}",
                )
            return feats[p.segment_column].reset_index(drop=True)
        if self.segments is None:
            return None
        mapping = (
            pd.Series(self.segments) if not isinstance(self.segments, pd.Series) else self.segments
        )
        mapping.index = mapping.index.astype(str)
        return mapping.reindex(pd.Index(interactions.users.ids, dtype=object)).reset_index(
            drop=True
        )

    def _fit(self, interactions: Interactions) -> None:
        w = self._event_weights(interactions)
        every = np.ones(len(interactions), dtype=bool)
        glob = self._item_counts(interactions, w, every)
        total = glob.sum()
        self.global_scores_ = (glob / total if total > 0 else glob).astype(np.float32)
        seg = self._user_segments(interactions)
        if seg is None:
            self.segment_names_ = np.asarray([], dtype=str)
            self.user_segment_ = np.full(interactions.n_users, _NO_SEGMENT, dtype=np.int64)
            self.segment_scores_ = np.zeros((0, interactions.n_items), dtype=np.float32)
            return
        codes, names = pd.factorize(seg.astype("string"), use_na_sentinel=True)
        self.segment_names_ = np.asarray([str(n) for n in names], dtype=str)
        self.user_segment_ = codes.astype(np.int64)
        m = self.params.segment_shrinkage
        prior = self.global_scores_.astype(np.float64)
        rows_seg = self.user_segment_[interactions.user_idx]
        scores = np.zeros((len(names), interactions.n_items), dtype=np.float32)
        for s in range(len(names)):  # one pass per segment (few), vectorised inside
            cnt = self._item_counts(interactions, w, rows_seg == s)
            scores[s] = (cnt + m * prior) / (cnt.sum() + m) if cnt.sum() + m > 0 else prior
        self.segment_scores_ = scores

    # ---- scoring -------------------------------------------------------------------------------
    def _score_idx(self, user_idx: NDArray[np.int64]) -> NDArray[np.float32]:
        out = np.tile(self.global_scores_, (len(user_idx), 1))
        if len(self.segment_names_):
            seg = self.user_segment_[user_idx]
            has = seg >= 0
            if has.any():
                out[has] = self.segment_scores_[seg[has]]
        return out

    def _cold_scores(self, n: int) -> NDArray[np.float32]:
        return np.tile(self.global_scores_, (n, 1))

    def recommend_idx(
        self,
        user_idx: NDArray[np.int64] | Any,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        items: NDArray[np.int64] | None = None,
        exclude_items: NDArray[np.int64] | None = None,
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Top-k without dense per-user score matrices.

        Every user of a segment (or every user, without segments) shares one ranking, so only its
        first ``k + (most items any of these users has seen)`` entries are candidates: fast on
        catalogues of any size.
        """
        self.check_fitted()
        uidx = np.asarray(user_idx, dtype=np.int64)
        out_idx = np.full((len(uidx), max(k, 0)), -1, np.int64)
        out_val = np.full((len(uidx), max(k, 0)), -np.inf, np.float32)
        if k <= 0 or len(uidx) == 0:
            return out_idx, out_val
        group = np.full(len(uidx), _NO_SEGMENT, dtype=np.int64)
        known = uidx >= 0
        if len(self.segment_names_):
            group[known] = self.user_segment_[uidx[known]]
        banned = np.zeros(self.n_items, dtype=bool)
        if items is not None:
            banned[:] = True
            banned[np.asarray(items, dtype=np.int64)] = False
        if exclude_items is not None and len(exclude_items):
            banned[np.asarray(exclude_items, dtype=np.int64)] = True
        seen_counts = np.diff(self.seen_.indptr)
        for g in np.unique(group):
            rows = np.flatnonzero(group == g)
            base = self.global_scores_ if g < 0 else self.segment_scores_[g]
            order = np.argsort(-base, kind="stable")
            order = order[~banned[order]]
            extra = 0
            users_known = uidx[rows][uidx[rows] >= 0]
            if exclude_seen and len(users_known):
                extra = int(seen_counts[users_known].max())
            cand = order[: k + extra]
            if len(cand) == 0:
                continue
            scores = np.tile(base[cand].astype(np.float32), (len(rows), 1))
            if exclude_seen:
                hit = uidx[rows] >= 0
                if hit.any():
                    seen = self.seen_[uidx[rows][hit]][:, cand].toarray() > 0
                    sub = scores[hit]
                    sub[seen] = -np.inf
                    scores[hit] = sub
            idx, val = top_k(scores, k)
            out_idx[rows] = np.where(idx >= 0, cand[np.maximum(idx, 0)], -1)
            out_val[rows] = val
        return out_idx, out_val

    def explain(self, user_id: str, item_id: str) -> Explanation:
        self.check_fitted()
        if item_id not in self.items_:
            raise UnknownIdError("item", item_id)
        i = int(self.items_.index([item_id])[0])
        u = int(self.users_.index([user_id], missing="ignore")[0])
        seg = int(self.user_segment_[u]) if u >= 0 else _NO_SEGMENT
        trending = self.params.half_life_days is not None
        evidence: dict[str, Any] = {
            "global_share": float(self.global_scores_[i]),
            "global_rank": int((self.global_scores_ > self.global_scores_[i]).sum()) + 1,
            "trending_half_life_days": self.params.half_life_days,
        }
        if seg >= 0:
            evidence["segment"] = str(self.segment_names_[seg])
            evidence["segment_share"] = float(self.segment_scores_[seg, i])
            text = f"Popular with shoppers like you (segment {self.segment_names_[seg]})."
            return Explanation("segment_popular", text, evidence)
        text = "Trending right now." if trending else "Popular with shoppers."
        return Explanation("trending" if trending else "popular", text, evidence)

    # ---- persistence ---------------------------------------------------------------------------
    def _state(self) -> dict[str, NDArray[Any]]:
        return {
            "global_scores": self.global_scores_,
            "segment_names": self.segment_names_,
            "user_segment": self.user_segment_,
            "segment_scores": self.segment_scores_,
        }

    def _load_state(self, arrays: dict[str, NDArray[Any]]) -> None:
        self.global_scores_ = arrays["global_scores"]
        self.segment_names_ = arrays["segment_names"]
        self.user_segment_ = arrays["user_segment"]
        self.segment_scores_ = arrays["segment_scores"]


@dataclasses.dataclass(frozen=True)
class RandomParams(Params):
    """Parameters of :class:`Random`: ``seed`` fixes the (user, item) scores."""

    seed: int = 0


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(x: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """splitmix64 finaliser: a fast, well-spread hash of 64-bit keys."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * _M1
        x = x ^ (x >> np.uint64(27))
        x = x * _M2
        return x ^ (x >> np.uint64(31))


class Random(Recommender):
    """A seeded random ranking: the floor every real model must beat.

    Scores are a hash of (seed, user, item), so ``score`` and ``recommend`` agree and a reload gives
    the same lists. Unknown users share one random ranking.
    """

    name = "random"
    params_class = RandomParams
    handles_cold_users = True
    params: RandomParams

    def _fit(self, interactions: Interactions) -> None:
        """Nothing to learn: the scores are a hash of (seed, user, item)."""

    def _hash_scores(self, keys: NDArray[np.int64]) -> NDArray[np.float32]:
        seed = np.uint64(self.params.seed % (1 << 63))
        items = np.arange(self.n_items, dtype=np.uint64)
        with np.errstate(over="ignore"):
            u = _mix(keys.astype(np.int64).astype(np.uint64) + _GOLDEN * seed)
            h = _mix(u[:, None] * _GOLDEN + items[None, :])
        return ((h >> np.uint64(40)).astype(np.float64) / float(1 << 24)).astype(np.float32)

    def _score_idx(self, user_idx: NDArray[np.int64]) -> NDArray[np.float32]:
        return self._hash_scores(user_idx)

    def _cold_scores(self, n: int) -> NDArray[np.float32]:
        return self._hash_scores(np.full(n, -1, dtype=np.int64))

    def explain(self, user_id: str, item_id: str) -> Explanation:
        self.check_fitted()
        if item_id not in self.items_:
            raise UnknownIdError("item", item_id)
        return Explanation(
            "random",
            "Picked at random (a baseline).",
            {"seed": self.params.seed, "score": float(self.score([user_id], [item_id])[0])},
        )
