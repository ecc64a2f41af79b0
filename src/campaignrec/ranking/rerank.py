"""Picking the list: MMR diversity by category under per-brand and per-category caps.

Maximal marginal relevance (Carbonell & Goldstein, 1998) with a category kernel: each step takes
the candidate maximising ``(1 - w) * relevance - w * max_similarity_to_the_list``, similarity
being 1 for the same top-level category, 0.5 for the same brand, 0 otherwise. ``w = 0`` is pure
relevance (the model's order).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from numpy.typing import NDArray

from campaignrec.ranking.catalogue import CatalogueView


def select(
    candidates: NDArray[np.int64],
    relevance: NDArray[np.float64],
    view: CatalogueView,
    k: int,
    *,
    diversity: float = 0.0,
    max_per_brand: int | None = None,
    max_per_category: int | None = None,
) -> list[int]:
    """Positions into ``candidates`` of the picked list, in order.

    ``candidates`` must be sorted by relevance (best first); ``relevance`` is in [0, 1].
    """
    picked: list[int] = []
    brands: Counter[str] = Counter()
    cats: Counter[str] = Counter()
    top = view.top_categories[candidates].tolist()  # str or None, as view.top_category gives
    raw = view.brand[candidates].tolist()

    def allowed(j: int) -> bool:
        b, c = brand_of[j], top[j]
        if max_per_brand is not None and b is not None and brands[b] >= max_per_brand:
            return False
        return not (max_per_category is not None and c is not None and cats[c] >= max_per_category)

    def take(j: int) -> None:
        picked.append(j)
        if brand_of[j] is not None:
            brands[str(brand_of[j])] += 1
        if top[j] is not None:
            cats[str(top[j])] += 1

    brand_of = [None if b is None else str(b) for b in raw]
    if diversity <= 0:
        # pure relevance: the first allowed candidate each step; a cap only ever closes, so a
        # candidate passed over once stays closed and one pass gives the same list
        for j in range(len(candidates)):
            if len(picked) >= k:
                break
            if allowed(j):
                take(j)
        return picked
    open_ = list(range(len(candidates)))
    while len(picked) < k and open_:
        best, best_val = -1, -np.inf
        for j in open_:
            if not allowed(j):
                continue
            sim = 0.0
            c, b = top[j], brand_of[j]
            if c is not None and cats[c] > 0:
                sim = 1.0
            elif b is not None and brands[b] > 0:
                sim = 0.5
            val = (1.0 - diversity) * float(relevance[j]) - diversity * sim
            if val > best_val:
                best, best_val = j, val
        if best < 0:
            break
        take(best)
        open_.remove(best)
    return picked
