"""Simulated traffic for an experiment whose true effects are known (tests, docs, benchmarks).

Shoppers arrive uniformly over the experiment's first ``days``; each is assigned with
:func:`campaignrec.experiments.registry.assign_user` (so shares, layers and holdout behave as in
serving), sees one or more exposures logged with ``policy`` = the experiment id and ``variant`` =
the arm, clicks each with the arm's CTR, and buys (once, within two days) with the arm's
conversion rate, spending a gamma-distributed amount.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd

from campaignrec.errors import ValidationError
from campaignrec.experiments.registry import Experiment, assign_user

__all__ = ["ArmTruth", "TwoRankerShop", "simulate_experiment_events", "taste_clicks"]


@dataclass(frozen=True)
class ArmTruth:
    """The true behaviour of one arm's shoppers."""

    conversion: float = 0.05
    ctr: float = 0.1
    mean_order_value: float = 50.0
    exposures_mean: float = 2.0


def simulate_experiment_events(
    exp: Experiment,
    truths: Mapping[str, ArmTruth],
    *,
    n_users: int,
    days: float,
    seed: int = 0,
    drop_share: Mapping[str, float] | None = None,
    heterogeneity: float = 0.0,
    pre_purchases: float = 1.0,
) -> pd.DataFrame:
    """Events (the store's event columns) of ``n_users`` shoppers in ``exp``.

    Parameters
    ----------
    exp : Experiment
        Needs a ``start_time``.
    truths : mapping arm -> ArmTruth
        Every arm shoppers can land in (the holdout included when it has a share).
    n_users, days : int, float
        Shoppers and the span of their arrivals.
    seed : int
    drop_share : mapping arm -> share, optional
        Lose this share of an arm's exposure logs (a broken split, for the SRM check).
    heterogeneity : float
        Variance of each shopper's gamma-distributed propensity (mean 1) that multiplies their
        conversion rate, in the experiment and before it; 0: every shopper alike. With it, each
        shopper also buys ``Poisson(propensity x pre_purchases)`` times in the
        ``pre_period_days`` before the start, unaffected by the arm (the CUPED covariate).
    pre_purchases : float
        Mean pre-period purchases of a shopper of propensity 1.

    Returns
    -------
    DataFrame
        ``user_id, event_type, timestamp (UTC), item_id, revenue, price, quantity, policy,
        variant, propensity``.
    """
    if exp.start_time is None:
        raise ValidationError("start_time", "the simulated experiment needs a start")
    rng = np.random.default_rng(seed)
    start = exp.start_time
    rows: list[dict[str, object]] = []
    shares = exp.expected_shares()
    for i in range(n_users):
        uid = f"sim-{seed}-{i}"
        arrive = start + timedelta(days=float(rng.uniform(0, days)))
        got = assign_user(uid, [exp], at=arrive)
        if not got:
            continue
        arm = got[0].variant
        if arm not in truths:
            raise ValidationError("truths", "no truth for an arm", value=arm)
        truth = truths[arm]
        if drop_share and rng.random() < drop_share.get(arm, 0.0):
            continue
        lam = 1.0
        if heterogeneity > 0:
            lam = float(rng.gamma(1 / heterogeneity, heterogeneity))
            for _ in range(int(rng.poisson(lam * pre_purchases))):
                value = float(rng.gamma(2.0, truth.mean_order_value / 2.0))
                ago = float(rng.uniform(0, exp.pre_period_days or 28.0))
                rows.append(
                    {"user_id": uid, "event_type": "purchase", "item_id": "i1", "revenue": value,
                     "price": value, "quantity": 1.0, "timestamp": start - timedelta(days=ago)}
                )  # fmt: skip
        n_exp = 1 + int(rng.poisson(max(truth.exposures_mean - 1, 0.0)))
        t = arrive
        for _ in range(n_exp):
            rows.append(
                {"user_id": uid, "event_type": "view", "timestamp": t, "item_id": "shelf",
                 "policy": exp.experiment_id, "variant": arm, "propensity": shares[arm]}
            )  # fmt: skip
            if rng.random() < truth.ctr:
                rows.append(
                    {"user_id": uid, "event_type": "click", "item_id": "i1",
                     "timestamp": t + timedelta(minutes=float(rng.uniform(0.1, 5)))}
                )  # fmt: skip
            t = t + timedelta(hours=float(rng.exponential(6)))
        if rng.random() < min(1.0, truth.conversion * lam):
            value = float(rng.gamma(2.0, truth.mean_order_value / 2.0))
            rows.append(
                {"user_id": uid, "event_type": "purchase", "item_id": "i1", "revenue": value,
                 "price": value, "quantity": 1.0,
                 "timestamp": arrive + timedelta(hours=float(rng.uniform(0.1, 48)))}
            )  # fmt: skip
    cols = ["user_id", "event_type", "timestamp", "item_id", "revenue", "price", "quantity",
            "policy", "variant", "propensity"]  # fmt: skip
    df = pd.DataFrame(rows, columns=cols)
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    return df.sort_values("timestamp", kind="stable").reset_index(drop=True)


def taste_clicks(
    items: Sequence[str],
    liked: Collection[str],
    category_of: Mapping[str, str],
    rng: np.random.Generator,
    *,
    p_taste: float = 0.25,
    p_other: float = 0.02,
    decay: float = 0.9,
) -> list[str]:
    """The items of a served list a shopper of the synthetic shop clicks, from its planted taste.

    The item at position ``i`` (0-based) is clicked with probability ``p_taste x decay^i`` when
    its top-level category (``category_of``) is one of the shopper's preferred ones (``liked``,
    :attr:`campaignrec.data.synthetic.ShopTruth.user_taste`), else ``p_other x decay^i``.
    """
    out = []
    for pos, item in enumerate(items):
        p = (p_taste if category_of.get(item) in liked else p_other) * decay**pos
        if rng.random() < p:
            out.append(item)
    return out


# ---- two rankers on one shop: A/B against interleaving --------------------------------------


@dataclass(frozen=True)
class TwoRankerShop:
    """A shop where ranker A is truly better than ranker B (B's scores are noisier).

    Shoppers have a taste vector; an item's true appeal to a shopper is the dot product with the
    item's vector. Ranker X scores ``appeal + noise_x * N(0, 1)``. A shopper clicks the item at
    position ``i`` (0-based) with probability ``activity * sigmoid(2 appeal + click_bias) * decay^i``,
    where ``activity`` is log-normal: shoppers differ much more in how much they click than the
    rankers differ, as in real shops.
    """

    n_items: int = 300
    dim: int = 8
    k: int = 10
    noise_a: float = 0.5
    noise_b: float = 0.8
    activity_sigma: float = 1.0
    decay: float = 0.85
    #: the intercept of the click probability: -3 gives about 2.5 clicks per list of 10, -5 about 0.5
    click_bias: float = -3.0
    seed: int = 0

    def _draw(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        items = np.random.default_rng(self.seed).normal(size=(self.n_items, self.dim))
        users = rng.normal(size=(n, self.dim))
        appeal = users @ items.T / np.sqrt(self.dim)
        activity = rng.lognormal(-0.5 * self.activity_sigma**2, self.activity_sigma, size=(n, 1))
        p = np.clip(activity / (1 + np.exp(-(2 * appeal + self.click_bias))), 0, 1)
        score_a = appeal + self.noise_a * rng.normal(size=appeal.shape)
        score_b = appeal + self.noise_b * rng.normal(size=appeal.shape)
        depth = 2 * self.k
        top_a = np.argsort(-score_a, axis=1)[:, :depth]
        top_b = np.argsort(-score_b, axis=1)[:, :depth]
        return p, top_a, top_b

    def ab_clicks(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Clicks per shopper of ``n`` shoppers shown A's list and ``n`` others shown B's."""
        rng = np.random.default_rng(seed)
        out = []
        for arm in (1, 2):
            p, top_a, top_b = self._draw(n, rng)
            top = (top_a if arm == 1 else top_b)[:, : self.k]
            pos = self.decay ** np.arange(self.k)
            probs = np.take_along_axis(p, top, axis=1) * pos
            out.append((rng.random(probs.shape) < probs).sum(axis=1).astype(np.float64))
        return out[0], out[1]

    def ab_moments(self, n: int, seed: int) -> dict[str, float]:
        """Exact per-shopper mean and variance of clicks under A's and B's lists.

        Each of ``n`` drawn shoppers contributes the expected clicks of both lists (a paired,
        noise-free estimate of the A/B effect) and the Bernoulli variance of their clicks; the
        variance of clicks is ``var(expected) + mean(Bernoulli variance)``.
        """
        rng = np.random.default_rng(seed)
        p, top_a, top_b = self._draw(n, rng)
        pos = self.decay ** np.arange(self.k)
        out: dict[str, float] = {}
        expected: dict[str, np.ndarray] = {}
        for name, top in (("a", top_a), ("b", top_b)):
            q = np.take_along_axis(p, top[:, : self.k], axis=1) * pos
            expected[name] = q.sum(axis=1)
            out[f"mean_{name}"] = float(expected[name].mean())
            out[f"var_{name}"] = float(expected[name].var() + (q * (1 - q)).sum(axis=1).mean())
        diff = expected["a"] - expected["b"]
        out["difference"] = float(diff.mean())
        out["difference_se"] = float(diff.std(ddof=1) / np.sqrt(n))
        return out

    def interleaved_credits(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Credits of A and B of ``n`` shoppers each shown one team-draft interleaved list."""
        from campaignrec.experiments.interleaving import credit_clicks, team_draft_interleave

        rng = np.random.default_rng(seed)
        p, top_a, top_b = self._draw(n, rng)
        pos = self.decay ** np.arange(self.k)
        credit = np.zeros((n, 2))
        for u in range(n):
            merged = team_draft_interleave(
                [str(i) for i in top_a[u]], [str(i) for i in top_b[u]], self.k, rng
            )
            idx = np.array([int(i) for i in merged.items])
            probs = p[u, idx] * pos[: idx.size]
            clicked = rng.random(idx.size) < probs
            credit[u] = credit_clicks(merged.teams, clicked)
        return credit[:, 0], credit[:, 1]
