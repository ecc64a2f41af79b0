"""RepeatPopular: a shopper's own most-bought items first, then what is popular (consumables).

On grocery and other consumable shops most of next week's basket is last week's basket: milk,
bread, the usual coffee. The strongest simple baseline there is the shopper's own purchase
counts, with global popularity filling the list. This model is that baseline, so it can race
against the rich models in ``select_default``.

It only makes sense when seen items may be recommended: with ``exclude_seen=True`` every item
the shopper touched is removed and what is left is global popularity. The ranking rules keep a
purchased item only in the shop's ``repeat_categories`` (``campaignrec.ranking.config``), and
``select_default`` scores every candidate with seen items allowed when the shop's validation
period is mostly repeat purchases (see :func:`campaignrec.evaluation.tuning.repeat_share`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from campaignrec.data.interactions import SECONDS_PER_DAY, Interactions
from campaignrec.errors import ConfigError, UnknownIdError
from campaignrec.models._common import check_positive, csr_arrays, csr_from_arrays
from campaignrec.models.base import Explanation, Params, Recommender
from campaignrec.models.popularity import event_vote_weights, item_vote_counts

#: the event type whose repeats the model counts when the log has it
PURCHASE = "purchase"


@dataclasses.dataclass(frozen=True)
class RepeatPopularParams(Params):
    """Parameters of :class:`RepeatPopular`.

    Attributes
    ----------
    half_life_days : how fast a shopper's own purchases are forgotten: each counts
        ``0.5 ** (age_days / half_life_days)`` back from the end of the data; None for all-time
        counts.
    global_half_life_days : trending window of the global popularity that fills the list; None
        for all-time popularity.
    global_weight : how much global popularity (scaled to a maximum of 1) adds to the shopper's
        own counts (scaled to a maximum of 1 per shopper). Below 1 the shopper's own items
        always come first; above it, a very popular item can pass a rarely bought own item.
    purchases_only : count only ``purchase`` events as the shopper's own (when the log has any;
        otherwise every event counts), so a viewed item is not mistaken for a staple.
    """

    half_life_days: float | None = None
    global_half_life_days: float | None = None
    global_weight: float = 0.1
    purchases_only: bool = True


class RepeatPopular(Recommender):
    """Recommend what the shopper buys again and again, then what everyone buys.

    Score of item i for shopper u = own(u, i) / max_j own(u, j) + global_weight * pop(i) /
    max pop, where own counts u's (decayed) purchase events of i and pop counts distinct
    shoppers. Shoppers without a purchase get global popularity.

    Examples
    --------
    >>> model = RepeatPopular(half_life_days=60).fit(interactions)  # doctest: +SKIP
    >>> ids, _ = model.recommend(["household 7"], k=10, exclude_seen=False)  # doctest: +SKIP
    """

    name = "repeat_popular"
    work_per_event = 3.0e3
    params_class = RepeatPopularParams
    params: RepeatPopularParams

    def __init__(self, params: RepeatPopularParams | None = None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        p = self.params
        check_positive(self.name, "half_life_days", p.half_life_days, allow_none=True)
        check_positive(self.name, "global_half_life_days", p.global_half_life_days, allow_none=True)
        if not np.isfinite(p.global_weight) or p.global_weight < 0:
            raise ConfigError(f"{self.name}: 'global_weight' must be >= 0, got {p.global_weight}")

    # ---- fitting -------------------------------------------------------------------------------
    def _own_rows(self, interactions: Interactions) -> NDArray[np.bool_]:
        if self.params.purchases_only and PURCHASE in interactions.event_types:
            rows = np.asarray(interactions.event_code == interactions.event_types.index(PURCHASE))
            if rows.any():
                return rows
        return np.ones(len(interactions), dtype=bool)

    def _fit(self, interactions: Interactions) -> None:
        p = self.params
        rows = self._own_rows(interactions)
        w = np.ones(int(rows.sum()), dtype=np.float64)
        if p.half_life_days is not None and len(w):
            age = (interactions.reference_time - interactions.timestamp[rows]) / SECONDS_PER_DAY
            w = np.power(0.5, np.maximum(age, 0.0) / p.half_life_days)
        own = sp.csr_matrix(
            (w, (interactions.user_idx[rows], interactions.item_idx[rows])),
            shape=(interactions.n_users, interactions.n_items),
            dtype=np.float64,
        )
        own.sum_duplicates()
        self.own_counts_ = own.astype(np.float32).tocsr()
        votes = event_vote_weights(interactions, "users", p.global_half_life_days)
        every = np.ones(len(interactions), dtype=bool)
        pop = item_vote_counts(interactions, votes, every, "users")
        top = float(pop.max()) if len(pop) else 0.0
        self.global_ = (pop / top if top > 0 else pop).astype(np.float32)
        self._derive()

    def _derive(self) -> None:
        """The per-shopper share of own purchases (row maximum 1), after fit and after load."""
        self.own_ = self._scaled(self.own_counts_)

    @staticmethod
    def _scaled(counts: sp.csr_matrix) -> sp.csr_matrix:
        m = sp.csr_matrix(counts, dtype=np.float32)
        top = np.asarray(m.max(axis=1).todense()).ravel().astype(np.float32)
        scale = np.divide(1.0, top, out=np.zeros_like(top), where=top > 0)
        return (sp.diags(scale) @ m).tocsr().astype(np.float32)

    # ---- scoring -------------------------------------------------------------------------------
    def _score_own(self, own: sp.csr_matrix) -> NDArray[np.float32]:
        scores = own.toarray().astype(np.float32, copy=False)
        scores += self.params.global_weight * self.global_[None, :]
        return scores

    def _score_idx(self, user_idx: NDArray[np.int64]) -> NDArray[np.float32]:
        return self._score_own(self.own_[user_idx])

    def _cold_scores(self, n: int) -> NDArray[np.float32]:
        return np.tile(self.global_, (n, 1))

    def _score_history(
        self, history: sp.csr_matrix, sequences: list[NDArray[np.int64]] | None
    ) -> NDArray[np.float32]:
        # the history's weights stand for the shopper's own counts
        return self._score_own(self._scaled(history))

    def explain(self, user_id: str, item_id: str) -> Explanation:
        self.check_fitted()
        if item_id not in self.items_:
            raise UnknownIdError("item", item_id)
        i = int(self.items_.index([item_id])[0])
        u = int(self.users_.index([user_id], missing="ignore")[0])
        bought = float(self.own_counts_[u, i]) if u >= 0 else 0.0
        evidence: dict[str, Any] = {
            "own_purchases": bought,
            "global_share": float(self.global_[i]),
            "half_life_days": self.params.half_life_days,
        }
        if bought > 0:
            return Explanation("buy_again", "You buy this regularly. 您经常购买此商品。", evidence)
        return Explanation("popular", "Popular with shoppers. 深受顾客欢迎。", evidence)

    # ---- persistence ---------------------------------------------------------------------------
    def _state(self) -> dict[str, NDArray[Any]]:
        return {"global": self.global_, **csr_arrays("own", self.own_counts_)}

    def _load_state(self, arrays: dict[str, NDArray[Any]]) -> None:
        self.global_ = arrays["global"]
        self.own_counts_ = csr_from_arrays("own", arrays)
        self._derive()
