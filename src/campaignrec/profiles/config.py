"""Configuration of the profile computation (frozen dataclasses; every knob has a default)."""

from __future__ import annotations

from dataclasses import dataclass, field

from campaignrec.data.schema import DEFAULT_EVENT_WEIGHTS
from campaignrec.errors import ConfigError


@dataclass(frozen=True)
class LifecycleConfig:
    """Recency rules of the lifecycle stage, in whole days.

    A user first seen (signup or first event) at most ``new_days`` ago with at most one order is
    ``new``. Otherwise the days since the last purchase (or, for users who never bought, since
    the last event) decide: ``<= active_days`` active, ``<= at_risk_days`` at_risk,
    ``<= dormant_days`` dormant, else churned.
    """

    new_days: int = 30
    active_days: int = 30
    at_risk_days: int = 90
    dormant_days: int = 180

    def __post_init__(self) -> None:
        if not 0 <= self.active_days <= self.at_risk_days <= self.dormant_days:
            raise ConfigError(
                "lifecycle: need 0 <= active_days <= at_risk_days <= dormant_days, got "
                f"{self.active_days}, {self.at_risk_days}, {self.dormant_days}",
                hint="order the thresholds from the most recent to the oldest",
            )
        if self.new_days < 0:
            raise ConfigError(f"lifecycle.new_days must be >= 0, got {self.new_days}")


@dataclass(frozen=True)
class ProfileConfig:
    """How profiles are computed.

    Parameters
    ----------
    half_life_days : half-life of the exponential time decay of interest tags and of the
        decayed activity counts.
    top_n_tags : number of categories and brands kept as interest tags.
    top_n_terms : number of search terms kept.
    event_weights : weight of each event type in the interest affinities.
    timezone : time zone of the hour-of-day and weekday histograms and of day-sessions.
    lifecycle : recency rules of the lifecycle stage.
    horizon_days : horizon of the purchase-probability model.
    clv_days : horizon of the lifetime-value columns (BG/NBD purchases x Gamma-Gamma order value).
    seed : seed of the purchase model.
    """

    half_life_days: float = 30.0
    top_n_tags: int = 5
    top_n_terms: int = 3
    event_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS))
    timezone: str = "UTC"
    lifecycle: LifecycleConfig = field(default_factory=LifecycleConfig)
    horizon_days: int = 30
    clv_days: int = 90
    seed: int = 0

    def __post_init__(self) -> None:
        if not self.half_life_days > 0:
            raise ConfigError(
                f"profiles.half_life_days must be > 0, got {self.half_life_days}",
                hint="use e.g. 30",
            )
        if self.top_n_tags < 1 or self.top_n_terms < 1:
            raise ConfigError(
                f"profiles.top_n_tags/top_n_terms must be >= 1, got "
                f"{self.top_n_tags}/{self.top_n_terms}"
            )
        if self.horizon_days < 1:
            raise ConfigError(f"profiles.horizon_days must be >= 1, got {self.horizon_days}")
        if self.clv_days < 1:
            raise ConfigError(f"profiles.clv_days must be >= 1, got {self.clv_days}")
