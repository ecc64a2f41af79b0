"""Experiment definitions, their layers, and sticky assignment of shoppers.

An experiment has two or more variants with traffic shares, a time window, a primary metric and
guardrail metrics, an optional holdout share (shoppers who get no personalisation on the surface,
so the incremental value of the whole system is measured) and a **layer**.

Layers make experiments on one surface mutually exclusive. Every shopper has one position in
``[0, 1)`` per layer, a salted SHA-256 hash of ``(layer, user_id)``; each experiment owns a
range of that interval (``traffic`` wide), and two experiments of one layer whose time windows
overlap get disjoint ranges, so a shopper is in at most one of them. Inside its range an
experiment hashes ``(experiment_id, user_id)`` again (an independent draw) for the holdout and
then for the variant (:func:`campaignrec.experiments.ab.assign_variant`). Every step is a pure
function of the ids and the salt: the same shopper gets the same variant on every worker and
after restarts, with nothing stored per shopper.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from campaignrec.errors import UnknownIdError, ValidationError
from campaignrec.experiments.ab import assign_variant, assignment_bucket

__all__ = [
    "CAMPAIGN_POLICIES",
    "HOLDOUT",
    "METRICS",
    "RANKING_SETTINGS",
    "Assignment",
    "Experiment",
    "ExperimentSpec",
    "VariantSpec",
    "allocate_range",
    "assign_user",
    "create_experiment",
    "get_experiment",
    "layer_position",
    "list_experiments",
]

#: The variant name of held-out shoppers (reserved: no experiment may call a variant this).
HOLDOUT = "holdout"
MetricName = Literal["conversion", "ctr", "revenue_per_user", "redemptions_per_user"]
METRICS: tuple[str, ...] = ("conversion", "ctr", "revenue_per_user", "redemptions_per_user")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
Surface = Literal["recommendations", "campaigns"]
Kind = Literal["ab", "interleaving"]
#: what a recommendation variant may set per request, beside ``model_version`` / ``model_name``:
#: the ranking path's own knobs (:class:`campaignrec.ranking.RankingConfig`), and ``personalised``
#: (false: the non-personalised list the global holdout gets)
RANKING_SETTINGS: dict[str, tuple[type, ...]] = {
    "diversity": (int, float),
    "max_per_brand": (int,),
    "max_per_category": (int,),
    "session_weight": (int, float),
    "campaign_weight": (int, float),
    "trending_weight": (int, float),
    "exclude_seen": (bool,),
    "exclude_purchased": (bool,),
    "personalised": (bool,),
}
_MODEL_KEYS = ("model_version", "model_name")
#: the campaign policies a variant serves: by priority, a bandit on the first slot, uniformly at
#: random on the first slot, or ``none`` (no campaign: the campaigns' holdout)
CAMPAIGN_POLICIES = ("priority", "bernoulli_ts", "ucb1", "epsilon_greedy", "random", "none")


def _surface_of(variants: Sequence[VariantSpec]) -> str:
    return "campaigns" if any("policy" in v.config for v in variants) else "recommendations"


def _check_config(index: int, config: dict[str, Any], surface: str) -> None:
    """Each key a variant sets exists on the surface and has a value it can serve."""
    where = f"variants.{index}.config"
    allowed = ("policy",) if surface == "campaigns" else (*_MODEL_KEYS, *RANKING_SETTINGS)
    for key, value in config.items():
        if key not in allowed:
            raise ValueError(f"{where}.{key}: not a setting of the {surface} surface "
                             f"(one of: {', '.join(allowed)})")  # fmt: skip
        if key == "policy":
            if value not in CAMPAIGN_POLICIES:
                raise ValueError(f"{where}.policy: one of {', '.join(CAMPAIGN_POLICIES)}")
        elif key in _MODEL_KEYS:
            if not isinstance(value, str) or not value:
                raise ValueError(f"{where}.{key}: a non-empty string")
        else:
            types = RANKING_SETTINGS[key]
            if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
                raise ValueError(f"{where}.{key}: must be {' or '.join(t.__name__ for t in types)}")
            if bool in types:
                continue
            value = float(cast(float, value))
            if key == "diversity" and not 0 <= value <= 1:
                raise ValueError(f"{where}.diversity: must be in [0, 1]")
            if key.startswith("max_per") and value < 1:
                raise ValueError(f"{where}.{key}: must be >= 1")
            if key.endswith("_weight") and value < 0:
                raise ValueError(f"{where}.{key}: must be >= 0")


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("needs a timezone (e.g. 2026-01-01T00:00:00Z)")
    return value.astimezone(UTC)


class VariantSpec(BaseModel):
    """One arm: its name, its share of the experiment's traffic, and what it changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=64)
    #: relative weight (normalised over the variants)
    share: float = Field(gt=0, le=1000)
    #: what the variant serves: {"model_version": "v3"}, {"diversity": 0.3}, {"policy": "uplift"}
    config: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("letters, digits, '_', '.', '-' (at most 64)")
        if value == HOLDOUT:
            raise ValueError(f"'{HOLDOUT}' is reserved for the holdout share")
        return value


class ExperimentSpec(BaseModel):
    """What a marketing team defines (the API body and the CLI's JSON/TOML file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    experiment_id: str = Field(min_length=1, max_length=64)
    name: str | None = Field(default=None, max_length=200)
    layer: str = Field(default="default", min_length=1, max_length=64)
    #: what the experiment changes: served lists or campaign decisions (default: from the variants'
    #: settings, ``policy`` meaning campaigns)
    surface: Surface | None = None
    #: ``ab`` (a split of shoppers) or ``interleaving`` (two rankers merged in every list)
    kind: Kind = "ab"
    variants: list[VariantSpec] = Field(min_length=2, max_length=20)
    #: the control variant (default: the first)
    control: str | None = None
    #: share of the layer's shoppers in the experiment
    traffic: float = Field(default=1.0, gt=0, le=1)
    #: share of the experiment's shoppers held out (no personalisation), before the variants
    holdout_share: float = Field(default=0.0, ge=0, lt=1)
    start_time: datetime | None = None
    end_time: datetime | None = None
    primary_metric: MetricName = "conversion"
    guardrail_metrics: list[MetricName] = Field(default_factory=list)
    #: a conversion counts for the exposure it follows within this many hours
    conversion_window_hours: float = Field(default=168.0, gt=0, le=24 * 90)
    #: days before the start whose behaviour is each shopper's CUPED covariate (0: no CUPED)
    pre_period_days: float = Field(default=28.0, ge=0, le=365)
    #: the smallest relative change worth detecting (sizing and the sequential test's prior)
    minimum_detectable_effect: float = Field(default=0.05, gt=0, le=10)
    alpha: float = Field(default=0.05, gt=0, lt=0.5)
    power: float = Field(default=0.8, gt=0.5, lt=1)
    salt: str = Field(default="", max_length=128)

    @field_validator("experiment_id", "layer")
    @classmethod
    def _ids(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("letters, digits, '_', '.', '-' (at most 64)")
        return value

    @field_validator("variants")
    @classmethod
    def _settings(cls, value: list[VariantSpec], info: ValidationInfo) -> list[VariantSpec]:
        surface = info.data.get("surface") or _surface_of(value)
        for i, v in enumerate(value):
            _check_config(i, v.config, surface)
        if info.data.get("kind") == "interleaving" and (
            surface != "recommendations" or len(value) != 2
        ):
            raise ValueError("an interleaving experiment compares two rankers on the "
                             "recommendations surface (two variants)")  # fmt: skip
        return value

    @field_validator("holdout_share")
    @classmethod
    def _no_holdout_interleaved(cls, value: float, info: ValidationInfo) -> float:
        if value > 0 and info.data.get("kind") == "interleaving":
            raise ValueError("an interleaving experiment has no holdout (every shopper sees both)")
        return value

    @field_validator("start_time", "end_time")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return _utc(value)

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentSpec:
        names = [v.name for v in self.variants]
        if len(set(names)) != len(names):
            raise ValueError(f"variant names must be unique (got {names})")
        if self.control is not None and self.control not in names:
            raise ValueError(f"control {self.control!r} is not a variant ({names})")
        if self.start_time and self.end_time and self.end_time <= self.start_time:
            raise ValueError("end_time must be after start_time")
        if self.primary_metric in self.guardrail_metrics:
            raise ValueError("the primary metric cannot also be a guardrail")
        if self.surface is None:  # inferred by the variants' validator
            object.__setattr__(self, "surface", _surface_of(self.variants))
        return self

    @property
    def control_name(self) -> str:
        """The control variant's name."""
        return self.control or self.variants[0].name


class Experiment(ExperimentSpec):
    """A stored experiment: the definition and the range of its layer it owns."""

    range_low: float = Field(ge=0, le=1)
    range_high: float = Field(ge=0, le=1)
    created_at: datetime | None = None

    def active_at(self, moment: datetime) -> bool:
        """Whether ``moment`` is inside the experiment's window."""
        if self.start_time is not None and moment < self.start_time:
            return False
        return self.end_time is None or moment < self.end_time

    def expected_shares(self) -> dict[str, float]:
        """The intended share of each arm among the experiment's shoppers (holdout included)."""
        total = sum(v.share for v in self.variants)
        out = {v.name: (1 - self.holdout_share) * v.share / total for v in self.variants}
        if self.holdout_share > 0:
            out[HOLDOUT] = self.holdout_share
        return out


def _windows_overlap(a: ExperimentSpec, b: ExperimentSpec) -> bool:
    a0 = a.start_time or datetime.min.replace(tzinfo=UTC)
    b0 = b.start_time or datetime.min.replace(tzinfo=UTC)
    a1 = a.end_time or datetime.max.replace(tzinfo=UTC)
    b1 = b.end_time or datetime.max.replace(tzinfo=UTC)
    return a0 < b1 and b0 < a1


def allocate_range(spec: ExperimentSpec, existing: Iterable[Experiment]) -> tuple[float, float]:
    """The lowest free range of ``spec.traffic`` in its layer among time-overlapping experiments.

    Raises
    ------
    ValidationError
        When the layer has no free range that wide during the experiment's window.
    """
    taken = sorted(
        (e.range_low, e.range_high)
        for e in existing
        if e.layer == spec.layer and _windows_overlap(spec, e)
    )
    cursor, free = 0.0, 0.0
    eps = 1e-12
    for low, high in [*taken, (1.0, 1.0)]:
        gap = low - cursor
        free = max(free, gap)
        if gap + eps >= spec.traffic:
            return cursor, min(1.0, cursor + spec.traffic)
        cursor = max(cursor, high)
    raise ValidationError(
        "traffic",
        f"layer {spec.layer!r} has at most {free:.0%} of its shoppers free during this window",
        value=spec.traffic,
        hint="lower traffic, choose another layer, or move the window after the running ones",
    )


def layer_position(user_id: str, layer: str, *, salt: str = "") -> float:
    """The shopper's fixed position in ``[0, 1)`` of ``layer``."""
    return assignment_bucket(str(user_id), f"layer\x1f{layer}", salt=salt)


@dataclass(frozen=True)
class Assignment:
    """A shopper's arm in one experiment (``variant`` is :data:`HOLDOUT` for held-out ones)."""

    experiment_id: str
    layer: str
    variant: str
    #: the probability the shopper had of this arm, given they are in the experiment
    propensity: float = 1.0

    def as_dict(self) -> dict[str, str | float]:
        return {"experiment_id": self.experiment_id, "layer": self.layer, "variant": self.variant,
                "propensity": self.propensity}  # fmt: skip

    def log_fields(self) -> dict[str, str | float]:
        """The event fields that log a served list or decision as an exposure of this arm."""
        return {"policy": self.experiment_id, "variant": self.variant,
                "propensity": self.propensity}  # fmt: skip


def assign_user(
    user_id: str,
    experiments: Sequence[Experiment],
    *,
    at: datetime | None = None,
    layer_salt: str = "",
) -> list[Assignment]:
    """The arms of ``user_id`` in the running ``experiments``: at most one per layer.

    Parameters
    ----------
    user_id : str
        External user id.
    experiments : sequence of Experiment
        Stored experiments (those not running at ``at`` are skipped).
    at : datetime, optional
        The moment of the request (now by default).
    layer_salt : str
        Salt of the layer positions (one per installation).

    Returns
    -------
    list of Assignment
    """
    moment = _utc(at) if at is not None else datetime.now(UTC)
    assert moment is not None
    out: list[Assignment] = []
    seen_layers: set[str] = set()
    for exp in experiments:
        if exp.layer in seen_layers or not exp.active_at(moment):
            continue
        pos = layer_position(user_id, exp.layer, salt=layer_salt)
        if not exp.range_low <= pos < exp.range_high:
            continue
        seen_layers.add(exp.layer)
        hold = assignment_bucket(str(user_id), f"{exp.experiment_id}\x1fholdout", salt=exp.salt)
        if hold < exp.holdout_share:
            variant = HOLDOUT
        else:
            variant = assign_variant(
                str(user_id),
                exp.experiment_id,
                {v.name: v.share for v in exp.variants},
                salt=exp.salt,
            )
        share = exp.expected_shares()[variant]
        out.append(Assignment(exp.experiment_id, exp.layer, variant, share))
    return out


# ---- the store ---------------------------------------------------------------------------------


def _parse(raw: dict[str, Any]) -> Experiment:
    return Experiment.model_validate(raw)


def list_experiments(store: Any, *, layer: str | None = None) -> list[Experiment]:
    """Every stored experiment (of one layer), in creation order."""
    from campaignrec.store.experiments import ExperimentRepository

    return [_parse(raw) for raw in ExperimentRepository(store).all(layer)]


def get_experiment(store: Any, experiment_id: str) -> Experiment:
    """One stored experiment; an unknown id is an :class:`UnknownIdError`."""
    from campaignrec.store.experiments import ExperimentRepository

    raw = ExperimentRepository(store).get(experiment_id)
    if raw is None:
        raise UnknownIdError("experiment", experiment_id, hint="list them: experiments list")
    return _parse(raw)


def create_experiment(store: Any, spec: ExperimentSpec | dict[str, Any]) -> Experiment:
    """Validate ``spec``, give it a free range of its layer and store it.

    Raises
    ------
    ValidationError
        A wrong field (named), an existing id, or a layer without room in the window.
    """
    from pydantic import ValidationError as PydanticError

    from campaignrec.store.experiments import ExperimentRepository

    if not isinstance(spec, ExperimentSpec):
        try:
            spec = ExperimentSpec.model_validate(spec)
        except PydanticError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first.get("loc", ())) or "experiment"
            raise ValidationError(field, str(first.get("msg", "invalid"))) from None
    repo = ExperimentRepository(store)
    if repo.get(spec.experiment_id) is not None:
        raise ValidationError(
            "experiment_id", "an experiment with this id exists", value=spec.experiment_id
        )
    low, high = allocate_range(spec, list_experiments(store, layer=spec.layer))
    exp = Experiment(
        **spec.model_dump(), range_low=low, range_high=high, created_at=datetime.now(UTC)
    )
    repo.insert(exp.experiment_id, exp.layer, exp.model_dump(mode="json"))
    return exp
