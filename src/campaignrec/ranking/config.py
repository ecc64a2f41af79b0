"""The knobs of the ranking path (one frozen dataclass; every field has a safe default)."""

from __future__ import annotations

from dataclasses import dataclass, field

from campaignrec.data.schema import DEFAULT_EVENT_WEIGHTS
from campaignrec.errors import ConfigError


@dataclass(frozen=True)
class RankingConfig:
    """How candidates are gathered, which rules apply and how the list is re-ranked.

    Attributes
    ----------
    n_candidates : model items considered per request before rules and re-ranking.
    exclude_seen : drop items the shopper already interacted with (as ``model.recommend`` does).
    exclude_purchased : drop items the shopper bought, except in ``repeat_categories``.
    repeat_categories : categories (paths or prefixes) bought again and again (groceries): a
        purchased item of one is never dropped by ``exclude_seen`` / ``exclude_purchased``.
    max_per_brand, max_per_category : caps on one brand / one top-level category in a list
        (None = no cap).
    diversity : MMR weight in [0, 1] (0 = pure relevance); a request may override it.
    session_weight : how much session co-views add to the model's (normalised) score.
    campaign_weight : how much being covered by an eligible campaign adds.
    trending_weight : how much trending adds for personalised lists (0 keeps the model's order).
    segment_columns : user attributes whose value picks a segment popularity for cold shoppers.
    segment_shrinkage : pseudo-count pulling small segments towards global popularity.
    event_weights : weight of each fresh event type in the request-time history.
    trending_cache_seconds : how long trending counts read from the online state are reused.
    recent_len : how many recent items per shopper the online state keeps.
    fairness_protected_group : the protected item group of the fairness step
        (:class:`campaignrec.ranking.fairness.ProtectedGroup`: ``new_items``, ``long_tail``,
        ``brand:A|B``, ``category:C|D``); None = no fairness step.
    fairness_strength : FA*IR target share ``p`` of the protected group in [0, 1) (0 = off); a
        request may override it (``fair_strength``).
    fairness_alpha : FA*IR significance of the per-prefix minimum.
    fairness_new_item_days : an item created this recently is a new item.
    """

    n_candidates: int = 200
    exclude_seen: bool = True
    exclude_purchased: bool = True
    repeat_categories: tuple[str, ...] = ()
    max_per_brand: int | None = None
    max_per_category: int | None = None
    diversity: float = 0.0
    session_weight: float = 0.5
    campaign_weight: float = 0.3
    trending_weight: float = 0.0
    segment_columns: tuple[str, ...] = ("segment", "region", "age_band", "membership_tier")
    segment_shrinkage: float = 10.0
    event_weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS))
    trending_cache_seconds: float = 30.0
    recent_len: int = 50
    fairness_protected_group: str | None = None
    fairness_strength: float = 0.0
    fairness_alpha: float = 0.1
    fairness_new_item_days: float = 30.0

    def __post_init__(self) -> None:
        if self.n_candidates < 1:
            raise ConfigError(f"ranking: n_candidates must be >= 1, got {self.n_candidates}")
        if not 0.0 <= self.diversity <= 1.0:
            raise ConfigError(
                f"ranking: diversity must be in [0, 1], got {self.diversity}", hint="e.g. 0.3"
            )
        if not 0.0 <= self.fairness_strength < 1.0:
            raise ConfigError(
                f"ranking: fairness_strength must be in [0, 1), got {self.fairness_strength}",
                hint="e.g. 0.3 (the least share of the protected group in every prefix)",
            )
        if self.fairness_strength > 0 and not self.fairness_protected_group:
            raise ConfigError(
                "ranking: fairness_strength is set but fairness_protected_group is not",
                hint="fairness_protected_group = 'new_items' (or long_tail, brand:A|B)",
            )
        if not 0.0 < self.fairness_alpha < 1.0:
            raise ConfigError(
                f"ranking: fairness_alpha must be in (0, 1), got {self.fairness_alpha}"
            )
        for name in ("max_per_brand", "max_per_category"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ConfigError(f"ranking: {name} must be >= 1 or None, got {value}")
