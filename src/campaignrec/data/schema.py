"""The canonical data model: users, items, campaigns and behaviour events.

Column-name constants and event types are defined here once and imported everywhere else. The
models are the one definition of every column: validation and the SQL tables are derived from
them (:data:`COLUMN_SPECS`, built by :mod:`campaignrec.data.columns`).
The pydantic models are used at the edges (API, single records, files of campaigns); bulk imports
validate column-wise with the same rules (see :mod:`campaignrec.data.validation`).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from campaignrec.data.columns import ID, KEY, NOT_NULL, FieldSpec, field_specs
from campaignrec.data.rules import parse_rule
from campaignrec.errors import ValidationError as CampaignrecValidationError

# ---- column names (external ids are strings: user_id, item_id, campaign_id) -------------------
USER_ID = "user_id"
ITEM_ID = "item_id"
CAMPAIGN_ID = "campaign_id"
EVENT_ID = "event_id"
EVENT_TYPE = "event_type"
TIMESTAMP = "timestamp"


class EventType(StrEnum):
    VIEW = "view"
    CLICK = "click"
    ADD_TO_CART = "add_to_cart"
    REMOVE_FROM_CART = "remove_from_cart"
    PURCHASE = "purchase"
    SEARCH = "search"
    FAVORITE = "favorite"
    RATING = "rating"
    CAMPAIGN_IMPRESSION = "campaign_impression"
    RECOMMENDATION_IMPRESSION = "recommendation_impression"
    CAMPAIGN_CLICK = "campaign_click"
    COUPON_CLAIM = "coupon_claim"
    COUPON_REDEEM = "coupon_redeem"
    CONSENT_MARKETING_GRANTED = "consent_marketing_granted"
    CONSENT_MARKETING_WITHDRAWN = "consent_marketing_withdrawn"
    CONSENT_PERSONALISATION_GRANTED = "consent_personalisation_granted"
    CONSENT_PERSONALISATION_WITHDRAWN = "consent_personalisation_withdrawn"


EVENT_TYPES: tuple[str, ...] = tuple(e.value for e in EventType)
ITEM_EVENT_TYPES = frozenset(
    {"view", "click", "add_to_cart", "remove_from_cart", "purchase", "favorite", "rating"}
)
#: Explicit feedback: an event of this type carries its value in the ``rating`` column.
RATING_EVENT_TYPE = "rating"
RATING = "rating"
#: The rating scale when a mapping declares none (``rating_scale = [1, 5]``), inclusive.
DEFAULT_RATING_SCALE: tuple[float, float] = (1.0, 5.0)
CAMPAIGN_EVENT_TYPES = frozenset(
    {"campaign_impression", "campaign_click", "coupon_claim", "coupon_redeem"}
)
QUERY_EVENT_TYPES = frozenset({"search"})
#: An item shown in a served list (the decision log of an experiment): no interest weight, so it
#: never enters the snapshot, the profiles or the request-time history.
EXPOSURE_EVENT_TYPES = frozenset({"recommendation_impression"})
#: A consent change as an event: event type -> (the users column it sets, the value).
CONSENT_EVENT_TYPES: dict[str, tuple[str, bool]] = {
    "consent_marketing_granted": ("consent_marketing", True),
    "consent_marketing_withdrawn": ("consent_marketing", False),
    "consent_personalisation_granted": ("consent_personalisation", True),
    "consent_personalisation_withdrawn": ("consent_personalisation", False),
}

# Implicit-feedback weight of each event type in the user x item matrix (DESIGN.md).
DEFAULT_EVENT_WEIGHTS: dict[str, float] = {
    "view": 1.0,
    "click": 2.0,
    "favorite": 3.0,
    "add_to_cart": 3.0,
    "purchase": 5.0,
    "remove_from_cart": 0.0,
    # a rating says the shopper consumed the item (like a view); its value feeds rating models
    "rating": 1.0,
}

CAMPAIGN_TYPES = (
    "coupon",
    "flash_sale",
    "member_exclusive",
    "new_arrival",
    "bundle",
    "free_shipping",
    "custom",
)
CampaignTypeT = Literal[
    "coupon", "flash_sale", "member_exclusive", "new_arrival", "bundle", "free_shipping", "custom"
]
CAMPAIGN_STATUSES = ("draft", "scheduled", "active", "paused", "ended")
GENDERS = ("female", "male", "other", "unknown")

# Timestamps outside this range are rejected as implausible.
MIN_TIMESTAMP = datetime(1990, 1, 1, tzinfo=UTC)
MAX_FUTURE_DAYS = 2


def required_field_for(event_type: str) -> str | None:
    """The field an event of this type cannot do without (besides user and timestamp)."""
    if event_type in ITEM_EVENT_TYPES or event_type in EXPOSURE_EVENT_TYPES:
        return ITEM_ID
    if event_type in CAMPAIGN_EVENT_TYPES:
        return CAMPAIGN_ID
    if event_type in QUERY_EVENT_TYPES:
        return "query"
    return None


def derive_event_id(
    user_id: str,
    event_type: str,
    timestamp: datetime | int,
    item_id: str | None = None,
    campaign_id: str | None = None,
    query: str | None = None,
    session_id: str | None = None,
    order_id: str | None = None,
) -> str:
    """A deterministic id, so that importing the same event twice stores it once."""
    ts = timestamp if isinstance(timestamp, int) else int(timestamp.timestamp() * 1_000_000)
    key = "\x1f".join(
        str(x) if x is not None else ""
        for x in (user_id, event_type, ts, item_id, campaign_id, query, session_id, order_id)
    )
    return hashlib.blake2b(key.encode("utf-8"), digest_size=12).hexdigest()


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class User(_Strict):
    user_id: Annotated[str, KEY] = Field(min_length=1, max_length=256)
    signup_time: datetime | None = None
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    age_band: str | None = None
    gender: str | None = None
    region: str | None = None
    city: str | None = None
    membership_tier: str | None = None
    consent_personalisation: bool = True
    consent_marketing: bool = True
    attributes: dict[str, Any] = Field(default_factory=dict)

    _tz = field_validator("signup_time")(_utc)


class Item(_Strict):
    item_id: Annotated[str, KEY] = Field(min_length=1, max_length=256)
    title: str | None = None
    description: str | None = None
    category: str | None = Field(default=None, description="category path, levels joined by '/'")
    brand: str | None = None
    price: float | None = Field(default=None, ge=0)
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    tags: list[str] = Field(default_factory=list)
    in_stock: bool = True
    created_time: datetime | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)
    hidden: bool = Field(default=False, description="hidden items never appear in recommendations")

    _tz = field_validator("created_time")(_utc)


class Campaign(_Strict):
    campaign_id: Annotated[str, KEY] = Field(min_length=1, max_length=256)
    name: str
    type: CampaignTypeT
    status: Literal["draft", "scheduled", "active", "paused", "ended"] = "active"
    start_time: datetime | None = None
    end_time: datetime | None = None
    discount_type: Literal["percent", "amount", "none"] = "none"
    discount_value: float = Field(default=0.0, ge=0)
    min_spend: float = Field(default=0.0, ge=0)
    item_ids: list[str] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list)
    audience: dict[str, Any] | None = Field(
        default=None, description="rule tree (see campaignrec.data.rules); None means everyone"
    )
    budget: float | None = Field(default=None, ge=0)
    inventory: int | None = Field(default=None, ge=0)
    cost_per_redemption: float = Field(default=0.0, ge=0)
    frequency_cap: int | None = Field(default=None, ge=1, description="impressions per user")
    cap_window_hours: float = Field(default=24 * 7, gt=0)
    priority: int = 0
    exclusivity_group: str | None = None
    title_en: str | None = None
    title_zh: str | None = None
    description_en: str | None = None
    description_zh: str | None = None
    protected_attributes: list[str] = Field(
        default_factory=list,
        description="protected attributes (gender, age ...) the audience may select on because "
        "the campaign is about them (a women's-wear launch); needs protected_reason",
    )
    protected_reason: str | None = Field(
        default=None,
        max_length=2000,
        validate_default=True,
        description="why the campaign selects on its protected_attributes",
    )

    _tz = field_validator("start_time", "end_time")(_utc)

    @field_validator("protected_attributes")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        names = [str(v).strip() for v in value]
        if any(not n for n in names):
            raise ValueError("attribute names must not be empty")
        return sorted(set(names))

    @field_validator("protected_reason")
    @classmethod
    def _reason_given(cls, value: str | None, info: ValidationInfo) -> str | None:
        text = (value or "").strip() or None
        if info.data.get("protected_attributes") and text is None:
            raise ValueError("required when protected_attributes are declared (say why)")
        return text

    @field_validator("audience")
    @classmethod
    def _rule_is_valid(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            try:
                parse_rule(value)
            except CampaignrecValidationError as exc:  # pydantic reports ValueErrors only
                raise ValueError(str(exc)) from exc
        return value

    @model_validator(mode="after")
    def _window_and_discount(self) -> Campaign:
        if self.start_time and self.end_time and self.end_time <= self.start_time:
            raise ValueError("end_time must be after start_time")
        if self.discount_type == "percent" and self.discount_value > 100:
            raise ValueError("a percent discount_value must be at most 100")
        return self


class Event(_Strict):
    event_id: Annotated[str | None, KEY] = None
    user_id: Annotated[str, ID, NOT_NULL] = Field(min_length=1, max_length=256)
    event_type: Annotated[str, NOT_NULL]
    timestamp: Annotated[datetime, NOT_NULL]
    item_id: Annotated[str | None, ID] = None
    campaign_id: Annotated[str | None, ID] = None
    query: str | None = None
    quantity: float | None = Field(default=None, ge=0)
    price: float | None = Field(default=None, ge=0)
    revenue: float | None = Field(default=None, ge=0)
    session_id: str | None = None
    order_id: str | None = None
    device: str | None = None
    page: str | None = None
    position: int | None = Field(default=None, ge=0)
    policy: str | None = None
    variant: str | None = None
    propensity: float | None = Field(default=None, gt=0, le=1)
    rating: float | None = Field(
        default=None, description="the value of a 'rating' event, on the shop's rating scale"
    )

    @field_validator("timestamp")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        out = _utc(value)
        assert out is not None
        return out

    @model_validator(mode="after")
    def _needs_and_id(self) -> Event:
        needed = required_field_for(self.event_type)
        if needed is not None and not getattr(self, needed):
            raise ValueError(f"an event of type '{self.event_type}' needs '{needed}'")
        low, high = DEFAULT_RATING_SCALE
        if self.event_type == RATING_EVENT_TYPE and self.rating is None:
            raise ValueError("an event of type 'rating' needs 'rating'")
        if self.rating is not None and not low <= self.rating <= high:
            raise ValueError(f"rating must lie in [{low:g}, {high:g}] (got {self.rating})")
        if self.event_id is None:
            object.__setattr__(
                self,
                "event_id",
                derive_event_id(
                    self.user_id,
                    self.event_type,
                    self.timestamp,
                    self.item_id,
                    self.campaign_id,
                    self.query,
                    self.session_id,
                    self.order_id,
                ),
            )
        return self


# ---- the columns, derived from the models (see campaignrec.data.columns) ----------------------
ENTITY_MODELS: dict[str, type[BaseModel]] = {
    "users": User,
    "items": Item,
    "campaigns": Campaign,
    "events": Event,
}
#: Every column of every entity, in field order: kind, required, default, key, SQL nullability.
COLUMN_SPECS: dict[str, tuple[FieldSpec, ...]] = {
    entity: field_specs(model) for entity, model in ENTITY_MODELS.items()
}
#: The key column of each entity (primary key in the store; later rows of a key win on import).
KEY_COLUMN: dict[str, str] = {
    entity: next(s.name for s in specs if s.key) for entity, specs in COLUMN_SPECS.items()
}

# Column order of each entity's canonical table (what a canonical CSV carries as its header).
USER_COLUMNS = tuple(User.model_fields)
ITEM_COLUMNS = tuple(Item.model_fields)
CAMPAIGN_COLUMNS = tuple(Campaign.model_fields)
EVENT_COLUMNS = tuple(Event.model_fields)
