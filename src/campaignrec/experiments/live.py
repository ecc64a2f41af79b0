"""Experiments in the serving path: which arm a shopper gets, what it serves, what is logged.

The service keeps a :class:`LiveExperiments` (rebuilt when an experiment is created or the served
model changes, never per request): the experiments of each surface and, for the recommendations
surface, the ranker each arm serves. Per request it costs one tuple lookup for a shopper in no
experiment; a shopper an experiment covers is assigned with
:func:`campaignrec.experiments.registry.assign_user` (the same salted hash as ``campaignrec
experiments assign``), so every worker gives them the same arm.

Arms on the recommendations surface:

* a **model version** (``{"model_version": "v3"}``, optionally ``"model_name"``): that registered
  version's ranker, built like the active one;
* a **ranking setting** (``diversity``, ``max_per_brand``, ``max_per_category``, the candidate
  weights, ``exclude_seen``, ``exclude_purchased``): the arm's model with those rules;
* ``{"personalised": false}`` and the experiment's **holdout**: the non-personalised list;
* an **interleaving** experiment's two variants: every list is a team-draft merge of both rankers
  (:func:`campaignrec.experiments.interleaving.team_draft_interleave`), each position logged with
  the variant whose ranker placed it.

Every served list of an experiment is logged as one ``recommendation_impression`` event per
position (``policy`` = the experiment id, ``variant``, ``position``, ``propensity``): 1 for a
sticky (deterministic) assignment; in an interleaved list 0.5 for a position whose team a coin
chose and 1 for the pick that followed it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from campaignrec.experiments.interleaving import team_draft_interleave
from campaignrec.experiments.registry import (
    HOLDOUT,
    RANKING_SETTINGS,
    Assignment,
    Experiment,
    assign_user,
)
from campaignrec.ranking import RankedItem, RankedList, Ranker, RankingRequest

__all__ = [
    "EXPOSURE_EVENT",
    "Arm",
    "LiveExperiments",
    "ServedList",
    "build_live_experiments",
    "campaign_policy",
    "exposure_events",
    "serve_recommendations",
]

EXPOSURE_EVENT = "recommendation_impression"
#: ranking settings that change the ranker's rules (the others change the request)
_CONFIG_KEYS = tuple(k for k in RANKING_SETTINGS if k not in ("personalised", "diversity"))


@dataclass(frozen=True)
class Arm:
    """What one arm of a recommendations experiment serves."""

    ranker: Ranker
    personalise: bool = True
    diversity: float | None = None


@dataclass(frozen=True)
class LiveExperiments:
    """The stored experiments each surface serves, and the arms of the recommendation ones."""

    recommendations: tuple[Experiment, ...] = ()
    campaigns: tuple[Experiment, ...] = ()
    arms: Mapping[tuple[str, str], Arm] = field(default_factory=dict)
    #: experiments that cannot be served (a model version missing): id -> why
    skipped: Mapping[str, str] = field(default_factory=dict)

    def assignment(self, user_id: str, surface: str, at: datetime) -> Assignment | None:
        """The shopper's arm on ``surface``: the first running experiment that covers them."""
        found = self.recommendations if surface == "recommendations" else self.campaigns
        if not found:
            return None
        got = assign_user(user_id, found, at=at)
        return got[0] if got else None

    def experiment(self, experiment_id: str) -> Experiment | None:
        for exp in (*self.recommendations, *self.campaigns):
            if exp.experiment_id == experiment_id:
                return exp
        return None


def build_live_experiments(
    experiments: Sequence[Experiment],
    base: Ranker | None,
    load_version: Callable[[str, str | None], Ranker],
    *,
    now: datetime,
) -> LiveExperiments:
    """The experiments not ended at ``now``, by surface, with the ranker of every arm.

    Parameters
    ----------
    experiments : the stored experiments (creation order)
    base : the active ranker (arms that name no model version use it)
    load_version : ``(version, model_name) -> Ranker`` of a registered version (the caller
        caches them); a version it cannot load leaves the experiment out, with the reason in
        ``skipped``
    now : the moment of the refresh
    """
    recs: list[Experiment] = []
    camps: list[Experiment] = []
    arms: dict[tuple[str, str], Arm] = {}
    skipped: dict[str, str] = {}
    for exp in experiments:
        if exp.end_time is not None and exp.end_time <= now:
            continue
        if exp.surface == "campaigns":
            camps.append(exp)
            continue
        found: dict[tuple[str, str], Arm] = {}
        try:
            for v in exp.variants:
                found[(exp.experiment_id, v.name)] = _arm(v.config, base, load_version)
            if exp.holdout_share > 0 and base is not None:
                found[(exp.experiment_id, HOLDOUT)] = Arm(base, personalise=False)
        except Exception as exc:  # a missing or broken version: the experiment waits for it
            skipped[exp.experiment_id] = f"{type(exc).__name__}: {exc}"
            continue
        if found:
            recs.append(exp)
            arms.update(found)
    return LiveExperiments(tuple(recs), tuple(camps), arms, skipped)


def _arm(
    config: Mapping[str, Any],
    base: Ranker | None,
    load_version: Callable[[str, str | None], Ranker],
) -> Arm:
    ranker = base
    if "model_version" in config:
        ranker = load_version(str(config["model_version"]), config.get("model_name"))
    if ranker is None:
        raise LookupError("no active model to serve the arm")
    changes = {k: config[k] for k in _CONFIG_KEYS if k in config}
    if changes:
        ranker = ranker.with_config(dataclasses.replace(ranker.config, **changes))
    diversity = config.get("diversity")
    return Arm(
        ranker,
        personalise=bool(config.get("personalised", True)),
        diversity=None if diversity is None else float(diversity),
    )


@dataclass(frozen=True)
class ServedList:
    """A list served under an experiment: the items, and per position the arm and propensity."""

    ranked: RankedList
    variants: tuple[str, ...]
    propensities: tuple[float, ...]
    interleaved: bool = False


def serve_recommendations(
    live: LiveExperiments,
    assignment: Assignment,
    request: RankingRequest,
    rng: np.random.Generator,
) -> ServedList | None:
    """The list of ``assignment``'s arm for ``request`` (None: the arm is not served here)."""
    exp = live.experiment(assignment.experiment_id)
    if exp is None:
        return None
    if exp.kind == "interleaving":
        a, b = (v.name for v in exp.variants)
        arm_a, arm_b = live.arms.get((exp.experiment_id, a)), live.arms.get((exp.experiment_id, b))
        if arm_a is None or arm_b is None:
            return None
        first = arm_a.ranker.recommend(_for_arm(request, arm_a))
        second = arm_b.ranker.recommend(_for_arm(request, arm_b))
        return _interleaved(first, second, (a, b), request.k, rng)
    arm = live.arms.get((exp.experiment_id, assignment.variant))
    if arm is None:
        return None
    ranked = arm.ranker.recommend(_for_arm(request, arm))
    n = len(ranked.items)
    return ServedList(ranked, (assignment.variant,) * n, (1.0,) * n)


def _for_arm(request: RankingRequest, arm: Arm) -> RankingRequest:
    changes: dict[str, Any] = {}
    if not arm.personalise:
        changes["personalise"] = False
    if arm.diversity is not None:  # the arm's setting is what the experiment measures
        changes["diversity"] = arm.diversity
    return dataclasses.replace(request, **changes) if changes else request


def _interleaved(
    first: RankedList,
    second: RankedList,
    names: tuple[str, str],
    k: int,
    rng: np.random.Generator,
) -> ServedList:
    by_id: dict[str, RankedItem] = {i.item_id: i for i in second.items}
    by_id.update({i.item_id: i for i in first.items})
    merged = team_draft_interleave(
        [i.item_id for i in first.items], [i.item_id for i in second.items], k, rng
    )
    items = tuple(
        dataclasses.replace(by_id[item_id], rank=rank)
        for rank, item_id in enumerate(merged.items, start=1)
    )
    ranked = RankedList(
        first.user_id,
        items,
        first.model_name,
        first.model_version,
        first.personalised or second.personalised,
    )
    return ServedList(
        ranked, tuple(names[t] for t in merged.teams), tuple(merged.propensities), True
    )


def exposure_events(
    user_id: str, experiment_id: str, served: ServedList, now: datetime
) -> list[dict[str, Any]]:
    """The decision log of a served list: one ``recommendation_impression`` per position."""
    return [
        {
            "user_id": user_id,
            "event_type": EXPOSURE_EVENT,
            "timestamp": now,
            "item_id": item.item_id,
            "position": pos,
            "policy": experiment_id,
            "variant": variant,
            "propensity": propensity,
        }
        for pos, (item, variant, propensity) in enumerate(
            zip(served.ranked.items, served.variants, served.propensities, strict=True)
        )
    ]


def campaign_policy(exp: Experiment, variant: str) -> str:
    """The campaign policy an arm of a campaigns experiment serves (the holdout: ``none``)."""
    if variant == HOLDOUT:
        return "none"
    for v in exp.variants:
        if v.name == variant:
            return str(v.config.get("policy", "priority"))
    return "priority"
