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
    cat_of = [view.top_category(int(i)) for i in candidates]
    brand_of = [None if view.brand[int(i)] is None else str(view.brand[int(i)]) for i in candidates]
    open_ = list(range(len(candidates)))

    def allowed(j: int) -> bool:
        b, c = brand_of[j], cat_of[j]
        if max_per_brand is not None and b is not None and brands[b] >= max_per_brand:
            return False
        return not (max_per_category is not None and c is not None and cats[c] >= max_per_category)

    while len(picked) < k and open_:
        best, best_val = -1, -np.inf
        for j in open_:
            if not allowed(j):
                continue
            if diversity <= 0:
                best = j
                break
            sim = 0.0
            c, b = cat_of[j], brand_of[j]
            if c is not None and cats[c] > 0:
                sim = 1.0
            elif b is not None and brands[b] > 0:
                sim = 0.5
            val = (1.0 - diversity) * float(relevance[j]) - diversity * sim
            if val > best_val:
                best, best_val = j, val
        if best < 0:
            break
        picked.append(best)
        open_.remove(best)
        if brand_of[best] is not None:
            brands[str(brand_of[best])] += 1
        if cat_of[best] is not None:
            cats[str(cat_of[best])] += 1
    return picked
