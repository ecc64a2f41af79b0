"""Popularity baselines: MostPopular (global, per segment, trending), CategoryPopular (trending in the
shopper's categories) and a seeded Random floor."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Self

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from campaignrec.data.interactions import SECONDS_PER_DAY, Interactions
from campaignrec.errors import ConfigError, UnknownIdError
from campaignrec.models._common import (
    check_choice,
    check_positive,
    csr_arrays,
    csr_from_arrays,
    history_recency,
    recency_history,
)
from campaignrec.models.base import Explanation, Params, Recommender, top_k

_NO_SEGMENT = -1


def event_vote_weights(
    interactions: Interactions, count: str, half_life_days: float | None
) -> NDArray[np.float64]:
    """Each event's vote: 1 (``count="users"``) or its event weight, decayed by age in days.

    With ``half_life_days`` set, an event counts ``0.5 ** (age_days / half_life_days)``, age
    measured back from the end of the data (trending popularity).
    """
    w = (
        np.ones(len(interactions), dtype=np.float64)
        if count == "users"
        else interactions.weight.astype(np.float64)
    )
    if half_life_days is not None and len(interactions):
        age = (interactions.reference_time - interactions.timestamp) / SECONDS_PER_DAY
        w = w * np.power(0.5, np.maximum(age, 0.0) / half_life_days)
    return w


def item_vote_counts(
    interactions: Interactions,
    w: NDArray[np.float64],
    rows: NDArray[np.bool_],
    count: str,
) -> NDArray[np.float64]:
    """Per-item popularity from the events in ``rows`` with votes ``w``.

    ``count="users"`` gives each (user, item) one vote, its most recent (least decayed) one, so a
    shopper who views an item twenty times counts once; ``"weight"`` sums every event's vote.
    """
    if count == "users":
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
    work_per_event = 3.0e3
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
        return event_vote_weights(interactions, self.params.count, self.params.half_life_days)

    def _item_counts(
        self, interactions: Interactions, w: NDArray[np.float64], rows: NDArray[np.bool_]
    ) -> NDArray[np.float64]:
        return item_vote_counts(interactions, w, rows, self.params.count)

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

    def fit(self, interactions: Interactions) -> Self:
        """Fit, then fold the shared cold-item fallback into the score tables (its own
        ``recommend_idx`` reads them directly): a new item ranks with its content neighbours."""
        super().fit(interactions)
        if self.cold_items_ is not None:
            self.global_scores_ = self.cold_items_.apply(self.global_scores_[None, :].copy())[0]
            if len(self.segment_scores_):
                self.segment_scores_ = self.cold_items_.apply(self.segment_scores_.copy())
        return self

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

    def _score_history(
        self, history: sp.csr_matrix, sequences: list[NDArray[np.int64]] | None
    ) -> NDArray[np.float32]:
        # a history names no segment: everyone gets the global (or trending) ranking
        return np.tile(self.global_scores_, (history.shape[0], 1))

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
class CategoryPopularParams(Params):
    """Parameters of :class:`CategoryPopular`.

    Attributes
    ----------
    category_column : the item feature that names an item's category (or brand, or any grouping).
    half_life_days : trending window of item popularity: each shopper's latest event on an item
        counts ``0.5 ** (age_days / half_life_days)``; None for all-time popularity.
    interest_half_life : how fast a shopper's category interest forgets, in steps over their
        distinct items (0 = the most recent): each item they touched adds its event weight times
        ``0.5 ** (steps_from_end / interest_half_life)`` to its category.
    global_weight : how much global popularity adds to the in-category score (both scaled to a
        maximum of 1); 0 ranks items outside the shopper's categories only by chance of ties.
    popularity_power : in-category score = interest share x popularity ** popularity_power
        (< 1 flattens the head, > 1 sharpens it).
    """

    category_column: str = "category"
    half_life_days: float | None = 3.0
    interest_half_life: float = 20.0
    global_weight: float = 0.5
    popularity_power: float = 1.0


class CategoryPopular(Recommender):
    """What is trending in the categories a shopper browses, then what is trending everywhere.

    score(u, i) = interest(u, cat(i)) · pop(i)^γ / max over u's row + global_weight · pop(i) / max pop,
    where pop counts distinct recent shoppers per item and interest is u's recency-weighted share
    of attention per category. A strong baseline where most of tomorrow's items are items nobody
    in your history touched together (large, fast-moving catalogues): it needs only the category
    of an item, not co-occurrence.

    Examples
    --------
    >>> model = CategoryPopular(half_life_days=2, interest_half_life=20).fit(interactions)  # doctest: +SKIP
    >>> model.explain("u1", "i42").text  # doctest: +SKIP
    'Trending in shoes, a category you browse (31 % of your recent attention).'
    """

    name = "category_popular"
    work_per_event = 5.0e3
    params_class = CategoryPopularParams
    params: CategoryPopularParams

    def __init__(self, params: CategoryPopularParams | None = None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        p = self.params
        check_positive(self.name, "half_life_days", p.half_life_days, allow_none=True)
        check_positive(self.name, "interest_half_life", p.interest_half_life)
        for field in ("global_weight", "popularity_power"):
            value = getattr(p, field)
            if not np.isfinite(value) or value < 0:
                raise ConfigError(f"{self.name}: parameter '{field}' must be >= 0, got {value!r}")

    def _fit(self, interactions: Interactions) -> None:
        p = self.params
        feats = interactions.item_features
        if p.category_column not in feats.columns:
            raise ConfigError(
                f"{self.name}: category_column {p.category_column!r} is not an item feature",
                hint=f"item feature columns: {sorted(map(str, feats.columns))}; import items "
                "with a category, or pass -p category_column=<column>",
            )
        labels = feats[p.category_column].astype("string").str.strip()
        labels = labels.mask(labels == "")
        codes, names = pd.factorize(labels, use_na_sentinel=True)
        self.item_category_ = codes.astype(np.int64)  # -1: no category
        self.category_names_ = np.asarray([str(n) for n in names], dtype=str)
        votes = event_vote_weights(interactions, "users", p.half_life_days)
        every = np.ones(len(interactions), dtype=bool)
        self.trend_ = item_vote_counts(interactions, votes, every, "users").astype(np.float32)
        self.interest_ = self._interest(interactions)
        self._derive()

    def _interest(self, interactions: Interactions) -> sp.csr_matrix:
        """User x category share of recent attention (rows sum to 1; users without any: 0)."""
        n_cat = len(self.category_names_)
        history = recency_history(
            interactions, self.params.interest_half_life, base=interactions.matrix
        )
        has_cat = self.item_category_ >= 0
        to_cat = sp.csr_matrix(
            (
                np.ones(int(has_cat.sum()), dtype=np.float32),
                (np.flatnonzero(has_cat), self.item_category_[has_cat]),
            ),
            shape=(interactions.n_items, n_cat),
        )
        return self._interest_of(history, to_cat)

    @staticmethod
    def _interest_of(history: sp.csr_matrix, to_cat: sp.csr_matrix) -> sp.csr_matrix:
        """Rows of ``history`` as shares of attention per category (rows sum to 1 or 0)."""
        interest = (history @ to_cat).tocsr()
        totals = np.asarray(interest.sum(axis=1)).ravel()
        scale = np.divide(1.0, totals, out=np.zeros_like(totals), where=totals > 0)
        return (sp.diags(scale.astype(np.float32)) @ interest).tocsr().astype(np.float32)

    def _derive(self) -> None:
        """What scoring reads, built once from the learned arrays (after fit and after load)."""
        has_cat = self.item_category_ >= 0
        items = np.flatnonzero(has_cat)
        weight = np.power(self.trend_[items].astype(np.float64), self.params.popularity_power)
        # category x item: popularity ** power, one entry per categorised item
        self.in_category_ = sp.csr_matrix(
            (weight.astype(np.float32), (self.item_category_[items], items)),
            shape=(len(self.category_names_), self.n_items),
        )
        top = float(self.trend_.max()) if len(self.trend_) else 0.0
        self.global_ = (self.trend_ / top if top > 0 else self.trend_).astype(np.float32)

    def _score_idx(self, user_idx: NDArray[np.int64]) -> NDArray[np.float32]:
        return self._score_interest(self.interest_[user_idx])

    def _score_history(
        self, history: sp.csr_matrix, sequences: list[NDArray[np.int64]] | None
    ) -> NDArray[np.float32]:
        h = history_recency(history, sequences, self.params.interest_half_life)
        has_cat = self.item_category_ >= 0
        to_cat = sp.csr_matrix(
            (
                np.ones(int(has_cat.sum()), dtype=np.float32),
                (np.flatnonzero(has_cat), self.item_category_[has_cat]),
            ),
            shape=(self.n_items, len(self.category_names_)),
        )
        return self._score_interest(self._interest_of(h, to_cat))

    def _score_interest(self, interest: sp.csr_matrix) -> NDArray[np.float32]:
        scores = (interest @ self.in_category_).toarray().astype(np.float32)
        top = scores.max(axis=1, keepdims=True)
        np.divide(scores, top, out=scores, where=top > 0)
        scores += self.params.global_weight * self.global_[None, :]
        return scores

    def _cold_scores(self, n: int) -> NDArray[np.float32]:
        return np.tile(self.global_, (n, 1))

    def explain(self, user_id: str, item_id: str) -> Explanation:
        self.check_fitted()
        if item_id not in self.items_:
            raise UnknownIdError("item", item_id)
        i = int(self.items_.index([item_id])[0])
        cat = int(self.item_category_[i])
        evidence: dict[str, Any] = {
            "recent_shoppers": float(self.trend_[i]),
            "trending_rank": int((self.trend_ > self.trend_[i]).sum()) + 1,
            "trending_half_life_days": self.params.half_life_days,
            "category": None if cat < 0 else str(self.category_names_[cat]),
        }
        pair = self._warm_pair(user_id, item_id)
        share = float(self.interest_[pair[0], cat]) if pair is not None and cat >= 0 else 0.0
        evidence["category_share"] = share
        if share > 0:
            text = (
                f"Trending in {self.category_names_[cat]}, a category you browse "
                f"({share:.0%} of your recent attention)."
            )
            return Explanation("category_trending", text, evidence)
        return Explanation("trending", "Trending with shoppers right now.", evidence)

    def _state(self) -> dict[str, NDArray[Any]]:
        return {
            "item_category": self.item_category_,
            "category_names": self.category_names_,
            "trend": self.trend_,
            **csr_arrays("interest", self.interest_),
        }

    def _load_state(self, arrays: dict[str, NDArray[Any]]) -> None:
        self.item_category_ = arrays["item_category"]
        self.category_names_ = arrays["category_names"]
        self.trend_ = arrays["trend"]
        self.interest_ = csr_from_arrays("interest", arrays)
        self._derive()


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
    handles_cold_items = True  # a random score means nothing to borrow
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

    def _score_history(
        self, history: sp.csr_matrix, sequences: list[NDArray[np.int64]] | None
    ) -> NDArray[np.float32]:
        # a fresh history has no user key: the one random ranking unknown users share
        return self._cold_scores(history.shape[0])

    def explain(self, user_id: str, item_id: str) -> Explanation:
        self.check_fitted()
        if item_id not in self.items_:
            raise UnknownIdError("item", item_id)
        return Explanation(
            "random",
            "Picked at random (a baseline).",
            {"seed": self.params.seed, "score": float(self.score([user_id], [item_id])[0])},
        )
