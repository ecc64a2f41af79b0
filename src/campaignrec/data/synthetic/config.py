"""Configuration and results of the synthetic shop, and the sampling helpers every phase uses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from campaignrec.data.synthetic.vocabulary import _N_SUBS, SHOPPER_TYPES, TYPE_PARAMS
from campaignrec.errors import ValidationError


# ---- configuration and results ---------------------------------------------------------------------
@dataclass(frozen=True)
class ShopConfig:
    """Size and knobs of a synthetic shop.

    Parameters
    ----------
    n_users, n_items, n_events, n_campaigns, days
        Sizes. ``n_events`` is exact; ``n_items`` >= 26 (one per sub-category); ``n_campaigns`` >= 7
        covers every campaign type.
    seed
        Everything is determined by the config: same config, identical frames.
    start
        Start of the observed window (timezone-aware; converted to UTC).
    type_shares
        Share of each of :data:`SHOPPER_TYPES` (same order); ``None`` uses the defaults
        (0.25, 0.15, 0.25, 0.15, 0.20).
    impression_rate
        Probability that a session with at least one eligible, running campaign logs an exposure.
    holdout_share
        Share of exposures assigned to the ``control`` variant (the offer is not shown).
    pair_rate
        Probability that an order line of a pair's anchor item brings the partner into the order.
    n_pairs
        Number of planted complementary pairs (``None``: ``n_items // 8``).
    new_item_share
        Share of items created during the window ("new arrivals").
    currency
        ISO currency code of prices.
    """

    n_users: int = 2_000
    n_items: int = 500
    n_events: int = 100_000
    n_campaigns: int = 12
    days: int = 60
    seed: int = 0
    start: datetime = datetime(2025, 1, 1, tzinfo=UTC)
    type_shares: tuple[float, ...] | None = None
    impression_rate: float = 0.3
    holdout_share: float = 0.3
    pair_rate: float = 0.5
    n_pairs: int | None = None
    new_item_share: float = 0.1
    currency: str = "CNY"

    def __post_init__(self) -> None:
        for name, low in (
            ("n_users", 1),
            ("n_items", _N_SUBS),
            ("n_events", 0),
            ("n_campaigns", 0),
        ):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or value < low:
                raise ValidationError(name, f"must be an integer >= {low}", value=value)
        if not isinstance(self.days, int | np.integer) or self.days < 1:
            raise ValidationError("days", "must be an integer >= 1", value=self.days)
        if not isinstance(self.start, datetime) or self.start.tzinfo is None:
            raise ValidationError(
                "start",
                "must be a timezone-aware datetime",
                value=self.start,
                hint="pass e.g. datetime(2025, 1, 1, tzinfo=UTC)",
            )
        object.__setattr__(self, "start", self.start.astimezone(UTC))
        if self.type_shares is not None:
            shares = tuple(float(x) for x in self.type_shares)
            if len(shares) != len(SHOPPER_TYPES) or min(shares) < 0 or sum(shares) <= 0:
                raise ValidationError(
                    "type_shares",
                    f"needs {len(SHOPPER_TYPES)} non-negative shares "
                    f"(order: {', '.join(SHOPPER_TYPES)})",
                    value=self.type_shares,
                )
            object.__setattr__(self, "type_shares", shares)
        for name in ("impression_rate", "holdout_share", "pair_rate", "new_item_share"):
            value = getattr(self, name)
            if not 0.0 <= float(value) <= 1.0:
                raise ValidationError(name, "must be a probability in [0, 1]", value=value)
        if not 0.0 < self.holdout_share < 1.0 and self.n_campaigns > 0:
            raise ValidationError(
                "holdout_share",
                "must be strictly between 0 and 1 (both variants are logged)",
                value=self.holdout_share,
            )
        if self.n_pairs is not None and self.n_pairs < 0:
            raise ValidationError("n_pairs", "must be >= 0 or None", value=self.n_pairs)
        if len(self.currency) != 3:
            raise ValidationError("currency", "must be a 3-letter ISO code", value=self.currency)

    @property
    def end(self) -> datetime:
        """End of the observed window (exclusive)."""
        return self.start + timedelta(days=self.days)

    def shares(self) -> NDArray[np.float64]:
        """Normalised type shares in :data:`SHOPPER_TYPES` order."""
        raw = self.type_shares or tuple(TYPE_PARAMS[t].share for t in SHOPPER_TYPES)
        arr = np.asarray(raw, dtype=np.float64)
        return arr / arr.sum()


@dataclass(frozen=True, eq=False)
class ShopTruth:
    """What the generator planted (documented in docs/synthetic.md).

    Attributes
    ----------
    user_type
        ``user_id -> shopper type name``.
    user_taste
        ``user_id -> tuple of preferred top-level categories`` (e.g. ``("apparel", "sports")``).
    complementary_pairs
        Columns ``item_a`` (anchor), ``item_b`` (partner): buying ``item_a`` puts ``item_b`` in
        the same order with probability ``ShopConfig.pair_rate``.
    campaign_effect
        One row per (user, campaign): ``eligible`` (audience rule and marketing consent),
        ``p_click`` (banner click when shown), ``p_control`` / ``p_treated`` (probability of buying a
        covered item in an exposure session without / with the campaign) and ``uplift``.
    user_params
        Per-user latent parameters: type, activity multiplier, peak hour, active window
        (``active_from`` / ``active_to`` UTC), focus-keeping probability.
    type_params
        The behaviour table of each shopper type (one row per type).
    item_category
        ``item_id -> sub-category path`` plus ``popularity`` (the latent weight) and ``is_new``.
    transition
        The sequential process as numbers: ``p_stay`` per type; given a stay, ``p_neighbour``
        (a price-adjacent neighbour of the previous item, ``neighbour_steps`` positions away) and
        ``p_same_brand`` (an item of the previous item's brand); ``p_taste`` (a new
        sub-category comes from the user's preferred categories).
    """

    user_type: pd.Series
    user_taste: pd.Series
    complementary_pairs: pd.DataFrame
    campaign_effect: pd.DataFrame
    user_params: pd.DataFrame
    type_params: pd.DataFrame
    item_category: pd.DataFrame
    transition: Mapping[str, Any] = field(default_factory=dict)

    def frames(self) -> dict[str, pd.DataFrame]:
        """Every truth table as a DataFrame (what :func:`write_shop` saves under ``truth/``)."""
        taste = self.user_taste.map(lambda t: "|".join(t))
        return {
            "user_type": self.user_type.rename("user_type").reset_index(),
            "user_taste": taste.rename("categories").reset_index(),
            "complementary_pairs": self.complementary_pairs,
            "campaign_effect": self.campaign_effect,
            "user_params": self.user_params,
            "type_params": self.type_params,
            "item_category": self.item_category,
        }


@dataclass(frozen=True, eq=False)
class SyntheticShop:
    """A generated shop: canonical tables (see :mod:`campaignrec.data.schema`) and its truth."""

    config: ShopConfig
    users: pd.DataFrame
    items: pd.DataFrame
    campaigns: pd.DataFrame
    events: pd.DataFrame
    truth: ShopTruth


# ---- helpers ------------------------------------------------------------------------------------------
def _rng(cfg: ShopConfig, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(cfg.seed) & 0xFFFFFFFF, *key]))


def _ids(prefix: str, n: int) -> NDArray[np.object_]:
    width = max(4, len(str(max(n - 1, 0))))
    return np.array([f"{prefix}{i:0{width}d}" for i in range(n)], dtype=object)


def _segment_cdf(group: NDArray[np.int64], weight: NDArray[np.float64], n_groups: int) -> Any:
    """Keys for sampling within groups: ``searchsorted(keys, g + u)`` picks an element of group g.

    ``group`` must be sorted. Returns the key array (group index + cumulative share within group).
    """
    w = np.asarray(weight, dtype=np.float64)
    total = np.bincount(group, weights=w, minlength=n_groups)
    cum = np.cumsum(w)
    start = np.concatenate([[0.0], np.cumsum(total)])[group]
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(total[group] > 0, (cum - start) / total[group], 1.0)
    return group + np.minimum(share, 1.0)


def _pick_in_group(keys: NDArray[np.float64], g: NDArray[np.int64], u: NDArray[np.float64]) -> Any:
    idx = np.searchsorted(keys, g + u * (1.0 - 1e-12), side="right")
    return np.minimum(idx, len(keys) - 1)


def _choice_rows(probs: NDArray[np.float64], u: NDArray[np.float64]) -> Any:
    """Row-wise categorical draw: index of the first cumulative prob above u."""
    cum = np.cumsum(probs, axis=1)
    cum /= cum[:, -1:]
    return (u[:, None] > cum).sum(axis=1)


def _rank_within(session: NDArray[np.int64], key: NDArray[np.float64]) -> Any:
    """Rank (0-based) of each element's ``key`` inside its session (session-major layout)."""
    order = np.lexsort((key, session))
    first = np.searchsorted(session[order], session[order], side="left")
    rank = np.empty(len(session), dtype=np.int64)
    rank[order] = np.arange(len(session)) - first
    return rank
