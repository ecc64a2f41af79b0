"""Differentially private aggregates for what leaves the engine (exports, console downloads).

Segment sizes, funnel and heatmap counts and campaign reports can be released with pure
ε-differential privacy: each count gets discrete Laplace noise from **OpenDP**
(``opendp.measurements.make_laplace`` over integers), with the scale ``Δ / ε`` where ``Δ`` is
the most one shopper can change the whole table (its L1 sensitivity).

Why OpenDP rather than IBM's diffprivlib: OpenDP samples the discrete Laplace exactly on integer
counts with a cryptographically secure generator (no floating-point attack on the noise), and
every measurement carries its own privacy map, so the ε a release is charged is what the library
says the measurement costs (``measurement.map(Δ)``), not a number we computed beside it. Both
are maintained; diffprivlib's strengths (DP versions of scikit-learn models) are not what is
needed here.

Contribution bounds: a segment-size table has ``Δ = 1`` (a shopper is in one segment). Event
counts (funnels, heatmaps, campaign reports) have no bound by themselves, so each shopper's
events are clipped first to the ``max_events`` earliest (:func:`clip_per_user`) and
``Δ = max_events``. The noise is unseeded on purpose: seeded noise can be replayed.

Budget: each release is charged to a *dataset* (default ``"shop"``: the shop's shoppers) in the
store's ``privacy_ledger`` (basic composition: the ε of the releases add up); a release that would
pass ``dp_epsilon_budget`` is refused with :class:`~campaignrec.errors.PrivacyBudgetError`
before any noise is drawn. Noisy counts are rounded and clipped at zero (post-processing keeps
the guarantee).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from campaignrec.errors import ConfigError, PrivacyBudgetError, ValidationError

if TYPE_CHECKING:
    from campaignrec.config import Settings

DEFAULT_DATASET = "shop"
MECHANISM = "opendp discrete Laplace (make_laplace, integers)"


def _dp() -> Any:
    try:
        import opendp.prelude as dp
    except ImportError as exc:  # pragma: no cover - the extra is installed in development
        raise ConfigError(
            "differentially private releases need OpenDP",
            hint="pip install 'campaignrec[dp]' (opendp)",
        ) from exc
    dp.enable_features("contrib")
    return dp


def laplace_measurement(sensitivity: int, epsilon: float) -> tuple[Any, float, float]:
    """The OpenDP measurement for a vector of counts, its scale and the ε it costs.

    Parameters
    ----------
    sensitivity : int
        L1 sensitivity of the vector (the most one shopper changes it).
    epsilon : float
        The ε wanted.

    Returns
    -------
    (measurement, scale, epsilon_charged)
        ``epsilon_charged`` is OpenDP's privacy map at ``sensitivity``: at most ``epsilon``.
    """
    if not epsilon > 0 or not np.isfinite(epsilon):
        raise ValidationError("epsilon", "must be a positive number", value=epsilon)
    if int(sensitivity) < 1:
        raise ValidationError("sensitivity", "must be at least 1", value=sensitivity)
    dp = _dp()
    scale = float(sensitivity) / float(epsilon)
    meas = dp.m.make_laplace(
        dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int), scale=scale
    )
    charged = float(meas.map(int(sensitivity)))
    if charged > epsilon * (1 + 1e-9):  # the library's accountant has the last word
        raise ConfigError(
            f"OpenDP charges epsilon={charged:g} for scale {scale:g}, above {epsilon:g}",
            hint="report this: the scale does not meet the requested epsilon",
        )
    return meas, scale, charged


@dataclass(frozen=True)
class DPRelease:
    """A released table of noisy counts and what it cost.

    ``values`` are the noisy counts (rounded, clipped at zero) by key, in the input's order.
    """

    dataset: str
    query: str
    epsilon: float
    delta: float
    sensitivity: int
    scale: float
    mechanism: str
    values: dict[str, int]
    spent_epsilon: float
    budget_epsilon: float

    def to_frame(self, key: str = "key", value: str = "count") -> pd.DataFrame:
        return pd.DataFrame({key: list(self.values), value: list(self.values.values())})

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "query": self.query,
            "epsilon": self.epsilon,
            "delta": self.delta,
            "sensitivity": self.sensitivity,
            "scale": self.scale,
            "mechanism": self.mechanism,
            "values": dict(self.values),
            "spent_epsilon": self.spent_epsilon,
            "budget_epsilon": self.budget_epsilon,
        }


def noisy_counts(counts: Mapping[str, int], sensitivity: int, epsilon: float) -> dict[str, int]:
    """Noisy counts without charging any budget (benchmarks and tests; releases use
    :func:`release_counts`)."""
    meas, _, _ = laplace_measurement(sensitivity, epsilon)
    keys = list(counts)
    noisy = meas([int(counts[k]) for k in keys]) if keys else []
    return {k: max(int(v), 0) for k, v in zip(keys, noisy, strict=True)}


def release_counts(
    store: Any,
    settings: Settings,
    counts: Mapping[str, int],
    *,
    epsilon: float,
    sensitivity: int,
    query: str,
    actor: str,
    dataset: str = DEFAULT_DATASET,
) -> DPRelease:
    """Release ``counts`` with ε-DP, charging the dataset's budget first.

    Parameters
    ----------
    store : SQLStore
        Holds the budget ledger (``privacy_ledger``) and the audit log.
    settings : Settings
        ``dp_epsilon_budget`` per dataset.
    counts : mapping of str to int
        The exact counts (keys are released as they are: they must not be personal).
    epsilon : float
        The ε of this release.
    sensitivity : int
        L1 sensitivity: the most one shopper changes the table (after clipping).
    query, actor : str
        What is released and who asked (ledger and audit log).
    dataset : str
        Whose budget it is charged to.

    Raises
    ------
    PrivacyBudgetError
        The release would spend more than the budget left (nothing is charged or drawn).
    """
    from campaignrec.store.privacy import PrivacyRepository

    meas, scale, charged = laplace_measurement(sensitivity, epsilon)
    repo = PrivacyRepository(store)
    after = repo.charge(
        dataset,
        charged,
        0.0,
        query=query,
        actor=actor,
        limit_epsilon=settings.dp_epsilon_budget,
        limit_delta=settings.dp_delta_budget,
    )
    if after is None:
        spent, _ = repo.spent(dataset)
        raise PrivacyBudgetError(
            f"dataset '{dataset}': this release needs epsilon={charged:g} but only "
            f"{max(settings.dp_epsilon_budget - spent, 0.0):g} of {settings.dp_epsilon_budget:g} "
            "is left",
            hint="release with a smaller epsilon, or raise dp_epsilon_budget (each release "
            "of the same shoppers adds to what an attacker can learn)",
        )
    keys = list(counts)
    noisy = meas([int(counts[k]) for k in keys]) if keys else []
    values = {k: max(int(v), 0) for k, v in zip(keys, noisy, strict=True)}
    repo.record(
        actor,
        "dp_release",
        detail={"dataset": dataset, "query": query, "epsilon": charged, "cells": len(keys)},
    )
    return DPRelease(
        dataset=dataset,
        query=query,
        epsilon=charged,
        delta=0.0,
        sensitivity=int(sensitivity),
        scale=scale,
        mechanism=MECHANISM,
        values=values,
        spent_epsilon=after[0],
        budget_epsilon=settings.dp_epsilon_budget,
    )


# ---- the aggregates that leave the engine -------------------------------------------------------


def clip_per_user(events: pd.DataFrame, max_events: int) -> pd.DataFrame:
    """Each shopper's ``max_events`` earliest events (ties by order): bounds one shopper's
    contribution to any event count at ``max_events``."""
    if max_events < 1:
        raise ValidationError("max_events", "must be at least 1", value=max_events)
    ordered = events.sort_values("timestamp", kind="stable")
    return ordered[ordered.groupby("user_id").cumcount() < max_events]


def segment_size_counts(
    profiles: pd.DataFrame, column: str = "segment_name", segments: list[str] | None = None
) -> dict[str, int]:
    """Shoppers per segment (sensitivity 1: a shopper is in one segment).

    Pass the segment model's names as ``segments`` so that empty segments are released too
    (otherwise the keys are the segments that have members)."""
    if column not in profiles:
        raise ValidationError(column, "not a column of the profiles", hint="compute profiles")
    sizes = profiles[column].fillna("(unknown)").astype(str).value_counts().sort_index()
    found = {str(k): int(v) for k, v in sizes.items()}
    if segments is None:
        return found
    return {s: found.get(s, 0) for s in segments}


def funnel_counts(events: pd.DataFrame, max_events: int) -> dict[str, int]:
    """Events per funnel stage, each shopper clipped to ``max_events`` (sensitivity
    ``max_events``)."""
    from campaignrec.profiles.analytics import FUNNEL_STAGES, funnel

    table = funnel(clip_per_user(events, max_events))
    if not len(table):
        return dict.fromkeys(FUNNEL_STAGES, 0)
    row = {str(k): v for k, v in table.iloc[0].to_dict().items()}
    return {s: int(row.get(s, 0)) for s in FUNNEL_STAGES}


def heatmap_counts(events: pd.DataFrame, max_events: int, timezone: str = "UTC") -> dict[str, int]:
    """Events per weekday x hour (keys ``"<weekday>-<hour>"``, Monday = 0), each shopper clipped
    to ``max_events`` (sensitivity ``max_events``)."""
    from campaignrec.profiles.analytics import activity_heatmap

    table = activity_heatmap(
        clip_per_user(events, max_events), segment_column=None, timezone=timezone
    )
    return {
        f"{int(w)}-{int(h)}": int(n)
        for w, h, n in zip(table["weekday"], table["hour"], table["events"], strict=True)
    }


def campaign_report_counts(
    events: pd.DataFrame, max_events: int, campaign_ids: list[str] | None = None
) -> dict[str, int]:
    """Impressions, clicks, claims and redemptions per campaign (keys
    ``"<campaign_id>:<event_type>"``), each shopper clipped to ``max_events`` of those events.

    Pass the catalogue's ``campaign_ids``: every campaign x event type is then released, zeros
    included, so the set of keys says nothing about the shoppers (without it, the keys are the
    pairs seen in ``events``).
    """
    from campaignrec.data.schema import CAMPAIGN_EVENT_TYPES

    kinds = sorted(CAMPAIGN_EVENT_TYPES)
    ev = events[events["event_type"].isin(kinds)]
    ev = clip_per_user(ev, max_events)
    sizes = ev.groupby(["campaign_id", "event_type"]).size().reset_index(name="n")
    found = {
        f"{c}:{t}": int(n)
        for c, t, n in zip(sizes["campaign_id"], sizes["event_type"], sizes["n"], strict=True)
    }
    if campaign_ids is None:
        return dict(sorted(found.items()))
    return {f"{c}:{t}": found.get(f"{c}:{t}", 0) for c in campaign_ids for t in kinds}


TABLES = ("segments", "rfm_segments", "funnel", "heatmap", "campaigns")


def exact_table(
    store: Any, table: str, *, max_events: int, profiles_dir: Any = None
) -> tuple[dict[str, int], int]:
    """The exact counts of one shareable table of a shop and their sensitivity.

    Parameters
    ----------
    store : SQLStore
    table : str
        ``segments`` / ``rfm_segments`` (shoppers per segment, from the saved profiles),
        ``funnel``, ``heatmap`` (weekday x hour, UTC) or ``campaigns`` (events per campaign and
        type, every campaign of the catalogue).
    max_events : int
        The per-shopper clip of the event tables.
    profiles_dir : path, optional
        Where the shop's profiles are kept (computed there when missing; segment tables only).

    Returns
    -------
    (counts, sensitivity)
    """
    if table not in TABLES:
        raise ValidationError("table", f"use one of {', '.join(TABLES)}", value=table)
    if table in ("segments", "rfm_segments"):
        from campaignrec.pipeline.profiles import ensure_profiles

        result = ensure_profiles(lambda: store, profiles_dir)
        column = "segment_name" if table == "segments" else "rfm_segment"
        names = None  # RFM segments: the keys are the segments that have members
        if table == "segments" and result.segments is not None:
            names = sorted({str(n) for n in result.segments.names_en_})  # empty ones too
        return segment_size_counts(result.profiles, column, names), 1
    cols = ["user_id", "event_type", "item_id", "campaign_id", "timestamp"]
    events = store.read_table("events", columns=cols)
    if table == "funnel":
        return funnel_counts(events, max_events), max_events
    if table == "heatmap":
        return heatmap_counts(events, max_events), max_events
    ids = sorted(store.read_table("campaigns", columns=["campaign_id"])["campaign_id"].astype(str))
    return campaign_report_counts(events, max_events, ids), max_events


__all__ = [
    "DEFAULT_DATASET",
    "TABLES",
    "DPRelease",
    "campaign_report_counts",
    "clip_per_user",
    "exact_table",
    "funnel_counts",
    "heatmap_counts",
    "laplace_measurement",
    "noisy_counts",
    "release_counts",
    "segment_size_counts",
]
