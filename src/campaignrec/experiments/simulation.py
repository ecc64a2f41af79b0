"""Simulated traffic for an experiment whose true effects are known (tests, docs, benchmarks).

Shoppers arrive uniformly over the experiment's first ``days``; each is assigned with
:func:`campaignrec.experiments.registry.assign_user` (so shares, layers and holdout behave as in
serving), sees one or more exposures logged with ``policy`` = the experiment id and ``variant`` =
the arm, clicks each with the arm's CTR, and buys (once, within two days) with the arm's
conversion rate, spending a gamma-distributed amount.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd

from campaignrec.errors import ValidationError
from campaignrec.experiments.registry import Experiment, assign_user

__all__ = ["ArmTruth", "simulate_experiment_events"]


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
        if rng.random() < truth.conversion:
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
