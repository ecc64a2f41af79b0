"""Fairness metrics of recommendation lists: exposure of item groups against their relevance,
and quality by shopper group.

Exposure follows the position-based attention of DCG: the item at rank ``r`` of a list gets
``1 / log2(r + 1)``. A group's **exposure share** is its part of all the attention the lists
hand out; its **relevance share** is its part of the relevant (test) items; their ratio is 1 when
a group is shown in proportion to how often it is what shoppers want, below 1 when it is
under-exposed (Singh & Joachims' disparate exposure, in its simplest form).

Groups are integer codes per item (``item_group``) or per evaluated user (``user_group``) with
their names; :func:`new_item_groups` and :func:`popularity_groups` build the usual item groups
from a train snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from campaignrec.data.interactions import Interactions
from campaignrec.errors import ValidationError
from campaignrec.evaluation.metrics import ranking_metrics


def position_weights(k: int) -> NDArray[np.float64]:
    """Attention of ranks 1..k: ``1 / log2(rank + 1)``."""
    return 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))


def exposure_shares(
    recs: NDArray[np.integer], item_group: NDArray[np.integer], n_groups: int, k: int
) -> NDArray[np.float64]:
    """Each group's share of the position-weighted exposure of the top-``k`` of ``recs``."""
    top = np.asarray(recs, dtype=np.int64)[:, :k]
    w = np.broadcast_to(position_weights(top.shape[1]), top.shape)
    valid = top >= 0
    groups = np.asarray(item_group, dtype=np.int64)[top[valid]]
    totals = np.bincount(groups, weights=w[valid], minlength=n_groups).astype(np.float64)
    s = totals.sum()
    return totals / s if s > 0 else totals


def relevance_shares(
    truth: sp.csr_matrix, item_group: NDArray[np.integer], n_groups: int
) -> NDArray[np.float64]:
    """Each group's share of the relevant (user, item) pairs of ``truth``."""
    groups = np.asarray(item_group, dtype=np.int64)[truth.indices]
    totals = np.bincount(groups, minlength=n_groups).astype(np.float64)
    s = totals.sum()
    return totals / s if s > 0 else totals


def exposure_report(
    recs: NDArray[np.integer],
    truth: sp.csr_matrix,
    item_group: NDArray[np.integer],
    group_names: Sequence[str],
    k: int = 10,
) -> pd.DataFrame:
    """Per item group: catalogue share, exposure share at ``k``, relevance share, their ratio."""
    n = len(group_names)
    codes = np.asarray(item_group, dtype=np.int64)
    if codes.min(initial=0) < 0 or codes.max(initial=0) >= n:
        raise ValidationError("item_group", "codes must index group_names", value=int(codes.max()))
    exposure = exposure_shares(recs, codes, n, k)
    relevance = relevance_shares(truth, codes, n)
    catalogue = np.bincount(codes, minlength=n) / max(len(codes), 1)
    ratio = np.divide(exposure, relevance, out=np.full(n, np.nan), where=relevance > 0)
    return pd.DataFrame(
        {
            "group": list(group_names),
            "catalogue_share": catalogue,
            f"exposure_share@{k}": exposure,
            "relevance_share": relevance,
            "exposure_to_relevance": ratio,
        }
    )


def quality_by_user_group(
    recs: NDArray[np.integer],
    truth: sp.csr_matrix,
    user_group: NDArray[np.integer],
    group_names: Sequence[str],
    n_items: int,
    k: int = 10,
) -> pd.DataFrame:
    """Per shopper group: users, NDCG@k, recall@k and catalogue coverage of their lists."""
    m = ranking_metrics(recs, truth, ks=[k], metrics=("ndcg", "recall"))
    codes = np.asarray(user_group, dtype=np.int64)
    rows = []
    for g, name in enumerate(group_names):
        sel = codes == g
        top = np.asarray(recs)[sel, :k]
        shown = np.unique(top[top >= 0])
        rows.append(
            {
                "group": name,
                "users": int(sel.sum()),
                f"ndcg@{k}": float(m[f"ndcg@{k}"][sel].mean()) if sel.any() else np.nan,
                f"recall@{k}": float(m[f"recall@{k}"][sel].mean()) if sel.any() else np.nan,
                f"coverage@{k}": len(shown) / max(n_items, 1),
            }
        )
    return pd.DataFrame(rows)


def new_item_groups(train: Interactions, recent_fraction: float = 0.2) -> NDArray[np.int64]:
    """1 for items first seen among the last ``recent_fraction`` of the train events by time
    ("new"; a quantile, so a stray timestamp far in the past does not make every item new),
    0 for established ones; items never seen in train count as new."""
    first = np.full(train.n_items, np.inf)
    ts = train.timestamp.astype(np.float64)
    np.minimum.at(first, train.item_idx, ts)
    cut = float(np.quantile(ts, 1.0 - recent_fraction)) if len(ts) else np.inf
    return (first >= cut).astype(np.int64)


def popularity_groups(train: Interactions, head_share: float = 0.2) -> NDArray[np.int64]:
    """1 for long-tail items (outside the ``head_share`` most popular of the catalogue in train),
    0 for head items."""
    pop = np.asarray(train.item_popularity, dtype=np.float64)
    n_head = max(round(head_share * len(pop)), 1)
    order = np.argsort(-pop, kind="stable")
    out = np.ones(len(pop), dtype=np.int64)
    out[order[:n_head]] = 0
    return out


__all__ = [
    "exposure_report",
    "exposure_shares",
    "new_item_groups",
    "popularity_groups",
    "position_weights",
    "quality_by_user_group",
    "relevance_shares",
]
