"""Business rules as one boolean mask over the catalogue (True = may be shown).

Applied to the whole score vector before candidates are cut, so a filter never empties a list
that the catalogue could fill. Caps on one brand or category are applied while the list is
picked (:mod:`campaignrec.ranking.rerank`), because they depend on what is already in it.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from numpy.typing import NDArray

from campaignrec.errors import ValidationError
from campaignrec.ranking.catalogue import CatalogueView
from campaignrec.ranking.config import RankingConfig


def always_hidden(view: CatalogueView) -> NDArray[np.bool_]:
    """Items that never appear: out of stock or hidden."""
    return ~view.in_stock | view.hidden


def request_filters(
    view: CatalogueView,
    *,
    exclude: Iterable[int] = (),
    categories: tuple[str, ...] = (),
    brands: tuple[str, ...] = (),
    price_min: float | None = None,
    price_max: float | None = None,
    at: NDArray[np.int64] | None = None,
) -> NDArray[np.bool_]:
    """The per-request allow-list: categories, brands, price band, minus ``exclude``.

    ``at``: the answer for those item indices only (aligned with ``at``), so a large catalogue's
    request pays for its candidates, not for every item.
    """
    if price_min is not None and price_max is not None and price_min > price_max:
        raise ValidationError(
            "price_min", f"is above price_max ({price_max})", value=price_min, hint="swap them"
        )
    ok = np.ones(len(view) if at is None else len(at), dtype=bool)
    if categories:
        ok &= view.in_category(categories, at)
    if brands:
        ok &= view.in_brands(brands, at)
    price = view.price if at is None else view.price[at]
    if price_min is not None:
        ok &= price >= price_min  # unknown price (NaN) fails a price filter
    if price_max is not None:
        ok &= price <= price_max
    ex = np.asarray(list(exclude), dtype=np.int64)
    ex = ex[ex >= 0]
    if len(ex):
        if at is None:
            ok[ex] = False
        else:
            ok[np.isin(at, ex)] = False
    return ok


def history_exclusions(
    view: CatalogueView,
    config: RankingConfig,
    *,
    seen: NDArray[np.int64],
    purchased: NDArray[np.int64],
    at: NDArray[np.int64] | None = None,
) -> NDArray[np.bool_]:
    """Items to drop because of the shopper's history (True = drop).

    Seen items go when ``exclude_seen``; purchased items when ``exclude_purchased``; a purchased
    item of a repeat-purchase category (groceries) stays either way. ``at``: the answer for
    those item indices only (aligned with ``at``).
    """
    if at is None:
        drop = np.zeros(len(view), dtype=bool)
        if config.exclude_seen and len(seen):
            drop[seen] = True
        if config.exclude_purchased and len(purchased):
            drop[purchased] = True
        if config.repeat_categories and len(purchased):
            repeat = view.in_category(config.repeat_categories)
            keep = purchased[repeat[purchased]]
            drop[keep] = False
        return drop
    drop = np.zeros(len(at), dtype=bool)
    if config.exclude_seen and len(seen):
        drop |= np.isin(at, seen)
    if config.exclude_purchased and len(purchased):
        drop |= np.isin(at, purchased)
    if config.repeat_categories and len(purchased):
        keep = purchased[view.in_category(config.repeat_categories, purchased)]
        drop[np.isin(at, keep)] = False
    return drop
