"""Relevance: how much a user would care about a campaign's items.

Two signals, both optional:

* **product model scores**: any object with ``score(user_ids, item_ids) -> ndarray`` over aligned
  (user, item) pairs (the :class:`campaignrec.models.base.Recommender` protocol). A campaign's
  score for a user aggregates the user's scores over the items it covers (its ``item_ids`` and
  the items of its ``categories``): the maximum, or the mean of the top ``m``.
* **profile category affinities**: ``user_id -> {category: weight}`` (interest tags of the
  profile). A campaign's affinity is the largest weight of a category it covers; a profile
  category matches a covered category equal to it, above it or below it in the path.

Model scores are put on a common scale per user (rank percentile among the campaigns scored for
that user, in [0, 1]) before they are blended with the affinity, so the blend does not depend on
a model's score units.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from campaignrec.campaigns.catalog import covered_items
from campaignrec.data.schema import Campaign
from campaignrec.errors import ValidationError


class PairScorer(Protocol):
    """Anything that scores aligned (user, item) pairs (NaN for an unknown item)."""

    def score(self, user_ids: Any, item_ids: Any) -> NDArray[np.floating]: ...


def _aggregate(scores: NDArray[np.float64], how: str, m: int) -> float:
    s = scores[np.isfinite(scores)]
    if len(s) == 0:
        return float("nan")
    if how == "max":
        return float(s.max())
    if how == "mean_top_m":
        k = min(m, len(s))
        return float(np.partition(s, len(s) - k)[len(s) - k :].mean())
    if how == "mean":
        return float(s.mean())
    raise ValidationError("agg", "unknown aggregation", value=how, hint="max, mean_top_m or mean")


def model_campaign_scores(
    model: PairScorer,
    user_ids: Sequence[str],
    campaigns: Sequence[Campaign],
    items: pd.DataFrame | None = None,
    *,
    agg: Literal["max", "mean_top_m", "mean"] = "max",
    m: int = 5,
    max_items: int | None = 500,
) -> NDArray[np.float64]:
    """Aggregate a product model's scores over each campaign's covered items.

    Parameters
    ----------
    model : PairScorer
        ``score(user_ids, item_ids)`` over aligned pairs.
    user_ids : sequence of str
    campaigns : sequence of Campaign
    items : DataFrame, optional
        Items table (``item_id``, ``category``) to expand covered categories.
    agg : {"max", "mean_top_m", "mean"}
        How a user's item scores become one campaign score.
    m : int
        Items in the top-m mean.
    max_items : int, optional
        Cap on covered items scored per campaign (the first ones in catalog order), to bound
        the cost of storewide campaigns.

    Returns
    -------
    ndarray (n_users, n_campaigns)
        NaN where the campaign covers no item the model knows.
    """
    users = [str(u) for u in user_ids]
    out = np.full((len(users), len(campaigns)), np.nan)
    for j, c in enumerate(campaigns):
        cov = covered_items(c, items)
        if max_items is not None:
            cov = cov[:max_items]
        if not cov or not users:
            continue
        uu = np.repeat(np.asarray(users, dtype=object), len(cov))
        ii = np.tile(np.asarray(cov, dtype=object), len(users))
        s = np.asarray(model.score(list(uu), list(ii)), dtype=np.float64).reshape(len(users), -1)
        for r in range(len(users)):
            out[r, j] = _aggregate(s[r], agg, m)
    return out


def _cat_matches(profile_cat: str, covered: str) -> bool:
    return (
        profile_cat == covered
        or profile_cat.startswith(covered + "/")
        or covered.startswith(profile_cat + "/")
    )


def campaign_categories(campaign: Campaign, items: pd.DataFrame | None = None) -> list[str]:
    """Categories a campaign covers: its ``categories`` plus those of its ``item_ids``."""
    cats = list(campaign.categories)
    if campaign.item_ids and items is not None and "category" in items.columns:
        sub = items[items["item_id"].astype(str).isin(campaign.item_ids)]
        cats.extend(str(c) for c in sub["category"].dropna().unique())
    return list(dict.fromkeys(cats))


def affinity_campaign_scores(
    affinities: Mapping[str, Mapping[str, float]],
    user_ids: Sequence[str],
    campaigns: Sequence[Campaign],
    items: pd.DataFrame | None = None,
) -> NDArray[np.float64]:
    """The user's largest category affinity among each campaign's covered categories.

    Parameters
    ----------
    affinities : Mapping
        ``user_id -> {category path: weight}`` (profile interest tags); a missing user has none.
    user_ids, campaigns, items : as in :func:`model_campaign_scores`

    Returns
    -------
    ndarray (n_users, n_campaigns)
        0 where the user has no affinity for the campaign's categories.
    """
    cats = [campaign_categories(c, items) for c in campaigns]
    out = np.zeros((len(user_ids), len(campaigns)))
    for r, u in enumerate(user_ids):
        aff = affinities.get(str(u)) or {}
        for j, covered in enumerate(cats):
            best = 0.0
            for pc, w in aff.items():
                if any(_cat_matches(str(pc), cc) for cc in covered):
                    best = max(best, float(w))
            out[r, j] = best
    return out


def _row_percentile(x: NDArray[np.float64]) -> NDArray[np.float64]:
    out = np.full(x.shape, np.nan)
    for r in range(x.shape[0]):
        ok = np.isfinite(x[r])
        n = int(ok.sum())
        if n == 0:
            continue
        if n == 1:
            out[r, ok] = 1.0
            continue
        ranks = pd.Series(x[r, ok]).rank(method="average").to_numpy()
        out[r, ok] = (ranks - 1) / (n - 1)
    return out


def campaign_relevance(
    user_ids: Sequence[str],
    campaigns: Sequence[Campaign],
    *,
    model: PairScorer | None = None,
    affinities: Mapping[str, Mapping[str, float]] | None = None,
    items: pd.DataFrame | None = None,
    agg: Literal["max", "mean_top_m", "mean"] = "max",
    m: int = 5,
    model_weight: float = 0.5,
) -> pd.DataFrame:
    """Relevance of each campaign to each user, in [0, 1].

    ``model_weight * percentile(model score) + (1 - model_weight) * affinity``, where the affinity
    is scaled by the user's largest affinity (so the user's favourite category scores 1). With
    only one signal available, that signal alone is used.

    Parameters
    ----------
    user_ids : sequence of str
    campaigns : sequence of Campaign
    model : PairScorer, optional
    affinities : Mapping, optional
        ``user_id -> {category: weight}``.
    items : DataFrame, optional
        Items table, to expand categories.
    agg, m : see :func:`model_campaign_scores`
    model_weight : float
        Weight of the model signal in [0, 1].

    Returns
    -------
    DataFrame
        Index ``user_id``, one column per ``campaign_id``.

    Examples
    --------
    >>> c = Campaign(campaign_id="c1", name="Home", type="coupon", categories=["home"])
    >>> campaign_relevance(["u1"], [c], affinities={"u1": {"home/kitchen": 0.8}}).loc["u1", "c1"]
    1.0
    """
    if model is None and affinities is None:
        raise ValidationError(
            "model",
            "needs a product model or profile affinities",
            hint="pass model= or affinities=",
        )
    if not 0.0 <= model_weight <= 1.0:
        raise ValidationError("model_weight", "must be in [0, 1]", value=model_weight)
    n_u, n_c = len(user_ids), len(campaigns)
    parts: list[tuple[float, NDArray[np.float64]]] = []
    if model is not None:
        ms = _row_percentile(model_campaign_scores(model, user_ids, campaigns, items, agg=agg, m=m))
        parts.append((model_weight if affinities is not None else 1.0, np.nan_to_num(ms)))
    if affinities is not None:
        aff = affinity_campaign_scores(affinities, user_ids, campaigns, items)
        top = np.array(
            [max((affinities.get(str(u)) or {}).values(), default=0.0) for u in user_ids],
            dtype=np.float64,
        )
        scaled = np.divide(aff, top[:, None], out=np.zeros((n_u, n_c)), where=top[:, None] > 0)
        parts.append((1.0 - model_weight if model is not None else 1.0, np.clip(scaled, 0, 1)))
    total = sum(w * p for w, p in parts)
    return pd.DataFrame(
        np.asarray(total, dtype=float),
        index=pd.Index([str(u) for u in user_ids], name="user_id"),
        columns=[c.campaign_id for c in campaigns],
    )


def relevance_value_fn(table: pd.DataFrame, default: float = 0.0) -> Any:
    """A ``value_fn`` for :class:`campaignrec.campaigns.eligibility.CampaignServer` from a table.

    Parameters
    ----------
    table : DataFrame
        Index ``user_id``, one column per ``campaign_id`` (e.g. :func:`campaign_relevance`).
    default : float
        Value of a (user, campaign) pair the table does not have.

    Returns
    -------
    callable
        ``value_fn(user_id, attrs, campaign) -> float``.
    """
    values = table.to_numpy(dtype=float)
    lookup: dict[tuple[str, str], float] = {}
    for r, u in enumerate(table.index):
        for j, c in enumerate(table.columns):
            if np.isfinite(values[r, j]):
                lookup[(str(u), str(c))] = float(values[r, j])

    def value_fn(user_id: str, attrs: Mapping[str, Any], campaign: Campaign) -> float:
        return lookup.get((str(user_id), campaign.campaign_id), default)

    return value_fn
