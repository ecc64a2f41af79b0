"""Candidate sources, each a dense score vector over the model's items (0 = not a candidate).

* :func:`model_scores` -- the active model on the request-time history;
* :func:`session_coviews` -- items bought or viewed together with this session's items;
* :func:`trending_scores` -- what the shop's shoppers touched in the last days (online state);
* :func:`segment_popularity` -- popularity among shoppers of one segment (cold start);
* :func:`campaign_items` -- the items of campaigns the shopper is eligible for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from campaignrec.campaigns.catalog import Catalog, covered_items
from campaignrec.campaigns.eligibility import explain_eligibility
from campaignrec.data.schema import Campaign
from campaignrec.errors import CampaignrecError
from campaignrec.ranking.history import trending_key
from campaignrec.store.online import OnlineState

log = logging.getLogger(__name__)


def model_scores(
    model: Any,
    user_idx: int,
    history: sp.csr_matrix,
    sequence: NDArray[np.int64],
    *,
    has_fresh: bool,
) -> tuple[NDArray[np.float32], str]:
    """The model's scores for one shopper and how they were obtained.

    A snapshot user without fresh events is scored exactly as ``model.recommend`` scores them
    (``score_matrix``), so the CLI and the API agree. With fresh events the history vector goes
    through ``model.score_history``. FALLBACK: a model without ``score_history`` (or one that
    refuses fresh histories: hybrid, rerank) scores its snapshot row, or gives popularity.

    Returns
    -------
    (scores, how) with ``how`` one of ``"snapshot"``, ``"history"``, ``"fallback"``.
    """
    if user_idx >= 0 and not has_fresh:
        return np.asarray(model.score_matrix([user_idx])[0], dtype=np.float32), "snapshot"
    if hasattr(model, "score_history"):
        try:
            out = model.score_history(history, sequences=[sequence])
            return np.asarray(out[0], dtype=np.float32), "history"
        except CampaignrecError as exc:
            log.debug("score_history refused (%s); falling back", exc.message)
    if user_idx >= 0:  # fallback: the snapshot row, blind to the fresh events
        return np.asarray(model.score_matrix([user_idx])[0], dtype=np.float32), "fallback"
    return np.asarray(model.popularity_, dtype=np.float32).copy(), "fallback"


def session_coviews(seen_csc: sp.csc_matrix, seen: sp.csr_matrix, items: Iterable[int]) -> Any:
    """Co-occurrence of every item with ``items``: how many shoppers touched both (dense)."""
    idx = np.asarray(list(items), dtype=np.int64)
    n_items = seen.shape[1]
    if len(idx) == 0:
        return np.zeros(n_items, dtype=np.float32)
    users = np.asarray(seen_csc[:, idx].sum(axis=1)).ravel()
    co = np.asarray(seen.T @ users, dtype=np.float32).ravel()
    co[idx] = 0.0
    return co


def trending_scores(
    online: OnlineState, item_index: pd.Index, now: datetime, *, days: int = 2
) -> NDArray[np.float32]:
    """Weighted events per item over the last ``days`` UTC days (older days count half)."""
    out = np.zeros(len(item_index), dtype=np.float32)
    for back in range(days):
        day = (now - timedelta(days=back)).astimezone(UTC).strftime("%Y%m%d")
        counts = online.hgetall(trending_key(day))
        if not counts:
            continue
        pos = item_index.get_indexer(pd.Index(list(counts), dtype=object))
        vals = np.asarray(list(counts.values()), dtype=np.float32) * (0.5**back)
        ok = pos >= 0
        np.add.at(out, pos[ok], vals[ok])
    return out


def segment_popularity(
    seen: sp.csr_matrix,
    user_mask: NDArray[np.bool_],
    global_pop: NDArray[np.float32],
    shrinkage: float,
) -> NDArray[np.float32]:
    """Share of the segment's shoppers per item, shrunk towards the global share."""
    counts = np.asarray(seen[np.flatnonzero(user_mask)].sum(axis=0)).ravel()
    total = float(global_pop.sum()) or 1.0
    prior = global_pop / total
    return ((counts + shrinkage * prior) / (counts.sum() + shrinkage)).astype(np.float32)


def campaign_items(
    campaigns: Catalog | None,
    attrs: Mapping[str, Any],
    user_id: str,
    now: datetime,
    items_table: pd.DataFrame | None,
    is_open: Callable[[Campaign], bool] | None = None,
) -> dict[str, Campaign]:
    """``item_id -> campaign`` for the campaigns this shopper is eligible for now.

    The shopper's part (status, window, marketing consent, audience rule) is checked here; the
    campaign-wide part (inventory and budget left) by ``is_open``, which the ranker caches for a
    moment across requests. Per-shopper caps are enforced where the campaign itself is served
    (``GET /v1/users/{id}/campaigns``), not for this boost of its items.
    """
    out: dict[str, Campaign] = {}
    if campaigns is None:
        return out
    user_attrs = {"user_id": user_id, **attrs}
    ordered = sorted(campaigns, key=lambda c: -c.priority)
    for c in ordered:
        if not explain_eligibility(user_attrs, c, now, None, user_id=user_id).eligible:
            continue
        if is_open is not None and not is_open(c):
            continue
        for item_id in covered_items(c, items_table):
            out.setdefault(str(item_id), c)
    return out
