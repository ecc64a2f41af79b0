"""Bundles: complementary items from co-purchases (and optionally item embeddings), priced to keep margin.

**Baskets.** A basket is the set of distinct items bought in one order: events of type
``purchase`` grouped by ``order_id`` (or by ``session_id``, or by user and timestamp when the data
has neither).

**Rules.** For items ``a`` and ``b`` over ``N`` baskets: ``support(a, b) = n_ab / N``,
``confidence(a -> b) = n_ab / n_a`` (how often a basket with ``a`` also has ``b``) and
``lift(a -> b) = confidence / (n_b / N) = n_ab * N / (n_a * n_b)`` (> 1: bought together more
than by chance). The functions here take any rules table with the columns ``antecedent,
consequent, confidence, lift``. Baskets and rules are defined once, in :mod:`campaignrec.profiles.analytics`
(:func:`order_baskets` is re-exported from there); :func:`association_rules` computes the rules from
a basket table, which is what a held-out evaluation needs (baskets split before the rules are
learned), and ``campaignrec.profiles.analytics.association_rules`` (from events) works as well.

**Complements.** For each anchor ``a``, partners ``b`` ranked by confidence among rules with at least
``min_count`` co-purchases and lift above ``min_lift``; optionally blended with the cosine
similarity of item embeddings, which lets items too new for rules get partners.

**Price.** A bundle's discount is the largest share up to ``max_discount`` that keeps the bundle's
gross margin at least ``min_margin`` of its price.

**Evaluation.** On held-out baskets: for each basket and each item ``a`` in it that has a
complement, a hit when the complement is among the basket's other items; compared with the most
popular other item (the popularity baseline) on the same (basket, item) pairs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from campaignrec.errors import ValidationError
from campaignrec.profiles.analytics import order_baskets as order_baskets  # re-exported
from campaignrec.profiles.analytics import rules_from_baskets


def association_rules(
    baskets: pd.DataFrame,
    *,
    min_count: int = 2,
    min_confidence: float = 0.0,
    min_lift: float = 0.0,
) -> pd.DataFrame:
    """Pairwise co-purchase rules ``a -> b`` from baskets.

    :func:`campaignrec.profiles.analytics.rules_from_baskets` on ``basket_id`` with the bundles'
    defaults: at least 2 co-purchases and rows by antecedent, then confidence.

    Parameters
    ----------
    baskets : DataFrame
        ``basket_id, item_id`` rows (see :func:`order_baskets`).
    min_count : int
        Baskets that must contain both items.
    min_confidence, min_lift : float
        Filters on the rule.

    Returns
    -------
    DataFrame
        ``antecedent, consequent, count, support, confidence, lift``, by antecedent then
        confidence.
    """
    return rules_from_baskets(
        baskets,
        basket_column="basket_id",
        # bundles has always taken min_count <= 0 as 1 (pairs are counted from 1 anyway)
        min_count=max(min_count, 1),
        min_confidence=min_confidence,
        min_lift=min_lift,
        order="antecedent",
    )


@dataclass(frozen=True)
class ItemEmbeddings:
    """Item vectors aligned with ``item_ids`` (e.g. a model's item factors)."""

    item_ids: Sequence[str]
    vectors: NDArray[np.floating]

    def cosine(self, a: str, candidates: Sequence[str]) -> NDArray[np.float64]:
        """Cosine similarity of ``a`` with each candidate (0 for unknown ids)."""
        index = {str(i): k for k, i in enumerate(self.item_ids)}
        v = np.asarray(self.vectors, dtype=np.float64)
        out = np.zeros(len(candidates))
        if a not in index:
            return out
        va = v[index[a]]
        na = np.linalg.norm(va)
        for j, c in enumerate(candidates):
            k = index.get(str(c))
            if k is None:
                continue
            nb = np.linalg.norm(v[k])
            if na > 0 and nb > 0:
                out[j] = float(va @ v[k] / (na * nb))
        return out


def complementary_items(
    rules: pd.DataFrame,
    *,
    k: int = 3,
    min_lift: float = 1.0,
    embeddings: ItemEmbeddings | None = None,
    embedding_weight: float = 0.0,
    candidates: Sequence[str] | None = None,
) -> dict[str, list[tuple[str, float]]]:
    """Top-``k`` partners of each anchor item, best first.

    Score = ``(1 - embedding_weight) * confidence + embedding_weight * max(cosine, 0)``. With
    embeddings and ``candidates`` (item ids), anchors without rules also get partners by
    similarity alone.

    Returns
    -------
    dict
        ``item_id -> [(partner_id, score), ...]``.
    """
    if not 0.0 <= embedding_weight <= 1.0:
        raise ValidationError("embedding_weight", "must be in [0, 1]", value=embedding_weight)
    r = rules[rules["lift"] > min_lift] if len(rules) else rules
    out: dict[str, list[tuple[str, float]]] = {}
    for a, grp in r.groupby("antecedent", sort=False) if len(r) else []:
        partners = grp["consequent"].astype(str).tolist()
        score = (1.0 - embedding_weight) * grp["confidence"].to_numpy(float)
        if embeddings is not None and embedding_weight > 0:
            score = score + embedding_weight * np.maximum(embeddings.cosine(str(a), partners), 0)
        order = np.lexsort((np.asarray(partners, dtype=object).astype(str), -score))[:k]
        out[str(a)] = [(partners[t], float(score[t])) for t in order]
    if embeddings is not None and embedding_weight > 0 and candidates is not None:
        pool = [str(c) for c in candidates]
        for a in pool:
            if a in out:
                continue
            others = [c for c in pool if c != a]
            sim = embedding_weight * np.maximum(embeddings.cosine(a, others), 0)
            order = np.argsort(-sim, kind="stable")[:k]
            picked = [(others[t], float(sim[t])) for t in order if sim[t] > 0]
            if picked:
                out[a] = picked
    return out


def price_bundle(
    prices: Sequence[float],
    unit_costs: Sequence[float],
    *,
    max_discount: float = 0.2,
    min_margin: float = 0.15,
) -> dict[str, float]:
    """The bundle discount that keeps at least ``min_margin`` of the bundle price as margin.

    ``discount = min(max_discount, 1 - cost / (price * (1 - min_margin)))``, floored at 0.

    Parameters
    ----------
    prices, unit_costs : sequence of float
        Regular price and unit cost of each item in the bundle.
    max_discount : float
        Largest share off the summed price.
    min_margin : float
        Smallest gross margin share of the bundle price.

    Returns
    -------
    dict
        ``price`` (sum of regular prices), ``discount`` (share), ``bundle_price``,
        ``margin`` (share of the bundle price).
    """
    if not 0 <= max_discount < 1:
        raise ValidationError("max_discount", "must be in [0, 1)", value=max_discount)
    if not 0 <= min_margin < 1:
        raise ValidationError("min_margin", "must be in [0, 1)", value=min_margin)
    price = float(sum(prices))
    cost = float(sum(unit_costs))
    if price <= 0:
        raise ValidationError("prices", "a bundle needs a positive price", value=list(prices))
    room = 1.0 - cost / (price * (1.0 - min_margin))
    discount = max(0.0, min(max_discount, room))
    # round up to the cent: rounding down could push the margin under the floor
    bundle_price = math.ceil(price * (1.0 - discount) * 100 - 1e-6) / 100
    discount = 1.0 - bundle_price / price
    return {
        "price": price,
        "discount": discount,
        "bundle_price": bundle_price,
        "margin": (bundle_price - cost) / bundle_price if bundle_price > 0 else 0.0,
    }


def recommend_bundles(
    complements: Mapping[str, list[tuple[str, float]]],
    items: pd.DataFrame,
    *,
    per_item: int = 1,
    margin_rate: float = 0.4,
    max_discount: float = 0.2,
    min_margin: float = 0.15,
) -> pd.DataFrame:
    """Priced two-item bundles from complements.

    Parameters
    ----------
    complements : Mapping
        Output of :func:`complementary_items`.
    items : DataFrame
        ``item_id``, ``price`` and optionally ``unit_cost`` (else ``price * (1 - margin_rate)``).
    per_item : int
        Bundles per anchor item.
    margin_rate, max_discount, min_margin : float
        See :func:`price_bundle`.

    Returns
    -------
    DataFrame
        ``item_a, item_b, score, price, discount, bundle_price, margin``, best score first; pairs
        with an unknown price are skipped and each unordered pair appears once.
    """
    it = items.assign(item_id=items["item_id"].astype(str)).set_index("item_id")
    price = pd.to_numeric(it["price"], errors="coerce")
    cost = (
        pd.to_numeric(it["unit_cost"], errors="coerce").fillna(price * (1 - margin_rate))
        if "unit_cost" in it.columns
        else price * (1 - margin_rate)
    )
    rows: list[dict[str, Any]] = []
    seen: set[frozenset[str]] = set()
    for a, partners in complements.items():
        for b, score in partners[:per_item]:
            key = frozenset((a, b))
            if key in seen or a not in price.index or b not in price.index:
                continue
            pa, pb = price.get(a), price.get(b)
            if pd.isna(pa) or pd.isna(pb):
                continue
            seen.add(key)
            priced = price_bundle(
                [float(pa), float(pb)],
                [float(cost[a]), float(cost[b])],
                max_discount=max_discount,
                min_margin=min_margin,
            )
            rows.append({"item_a": a, "item_b": b, "score": score, **priced})
    cols = ["item_a", "item_b", "score", "price", "discount", "bundle_price", "margin"]
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values(["score", "item_a"], ascending=[False, True]).reset_index(drop=True)


def evaluate_bundles(
    train_baskets: pd.DataFrame,
    test_baskets: pd.DataFrame,
    complements: Mapping[str, list[tuple[str, float]]],
    *,
    k: int = 1,
) -> dict[str, float]:
    """Hit rate of complements on held-out baskets, against the popularity baseline.

    For every held-out basket with at least two items and every item ``a`` in it that has a
    complement, a hit when one of ``a``'s top-``k`` complements is among the basket's other items;
    the baseline proposes the ``k`` most popular training items other than ``a``.

    Returns
    -------
    dict
        ``cases`` (basket, item) pairs evaluated, ``coverage`` (share of eligible pairs whose
        anchor has a complement), ``hit_rate``, ``popularity_hit_rate`` and ``lift_over_popularity``.
    """
    pop = train_baskets["item_id"].astype(str).value_counts()
    top_pop = pop.index.tolist()[: k + 1]
    cases = hits = pop_hits = eligible = 0
    for _, grp in test_baskets.groupby("basket_id", sort=False):
        basket = set(grp["item_id"].astype(str))
        if len(basket) < 2:
            continue
        for a in basket:
            eligible += 1
            partners = complements.get(a)
            if not partners:
                continue
            cases += 1
            others = basket - {a}
            if any(b in others for b, _ in partners[:k]):
                hits += 1
            if any(b in others for b in [p for p in top_pop if p != a][:k]):
                pop_hits += 1
    hit = hits / cases if cases else float("nan")
    pop_rate = pop_hits / cases if cases else float("nan")
    return {
        "cases": float(cases),
        "coverage": cases / eligible if eligible else float("nan"),
        "hit_rate": hit,
        "popularity_hit_rate": pop_rate,
        "lift_over_popularity": hit / pop_rate if pop_rate and pop_rate > 0 else float("nan"),
    }


def split_baskets(
    baskets: pd.DataFrame, *, test_share: float = 0.2, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Random split of whole baskets into train and held-out sets (seeded)."""
    if not 0 < test_share < 1:
        raise ValidationError("test_share", "must be in (0, 1)", value=test_share)
    ids = baskets["basket_id"].unique()
    rng = np.random.default_rng(seed)
    test_ids = set(ids[rng.random(len(ids)) < test_share])
    mask = baskets["basket_id"].isin(test_ids)
    return baskets[~mask].reset_index(drop=True), baskets[mask].reset_index(drop=True)
