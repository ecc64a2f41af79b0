"""Request and response models of the API (pydantic, ``extra="forbid"``, bounded strings).

Event rows are only shape-checked here; their rules live in :mod:`campaignrec.data.validation`,
the importer's one definition, which the events route applies.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from campaignrec.data.schema import Campaign

Id = Annotated[str, Field(min_length=1, max_length=256)]
Text = Annotated[str, Field(max_length=256)]
Number = Annotated[float, Field(allow_inf_nan=False)]
MAX_BATCH = 1000


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EventIn(_Model):
    event_id: Text | None = None
    user_id: Text | None = None
    event_type: Text | None = None
    timestamp: Annotated[str, Field(max_length=64)] | Number | None = None
    item_id: Text | None = None
    campaign_id: Text | None = None
    query: Text | None = None
    quantity: Number | None = None
    price: Number | None = None
    revenue: Number | None = None
    session_id: Text | None = None
    order_id: Text | None = None
    device: Text | None = None
    page: Text | None = None
    position: int | None = None
    policy: Text | None = None
    variant: Text | None = None
    propensity: Number | None = None
    rating: Number | None = None


class ItemIn(_Model):
    item_id: Id
    title: Annotated[str, Field(max_length=1000)] | None = None
    description: Annotated[str, Field(max_length=10_000)] | None = None
    category: Text | None = None
    brand: Text | None = None
    price: Number | None = None
    currency: Annotated[str, Field(max_length=8)] | None = None
    tags: Annotated[list[Text], Field(max_length=100)] | None = None
    in_stock: bool | None = None
    created_time: Annotated[str, Field(max_length=64)] | None = None
    attributes: dict[str, Any] | None = None
    hidden: bool | None = None


class ItemBatch(_Model):
    items: list[ItemIn] = Field(min_length=1)


class ItemsOut(_Model):
    accepted: int
    rejected: list[Rejected]


class EventBatch(_Model):
    events: list[EventIn] = Field(min_length=1)


class Rejected(_Model):
    index: int
    field: str | None
    reason: str
    value: str | None = None


class EventsOut(_Model):
    accepted: int
    duplicates: int
    rejected: list[Rejected]


class ItemOut(_Model):
    item_id: str
    score: float
    rank: int
    reason: str
    text: str
    evidence: list[str] = Field(
        default_factory=list, description="ids behind the reason (items viewed, campaign)"
    )
    fair_boost: bool = Field(
        default=False, description="moved up by the fairness step (the text says so)"
    )
    variant: str | None = Field(
        default=None, description="in an interleaved list: the variant whose ranker placed it"
    )


class RecommendationsOut(_Model):
    user_id: str | None
    items: list[ItemOut]
    model_name: str | None
    model_version: str | None
    personalised: bool = Field(
        description="false when the shopper withheld consent (reason non_personalised)"
    )
    experiment: str | None = Field(
        default=None, description="the experiment this list was served under (logged)"
    )
    variant: str | None = Field(
        default=None, description="the shopper's arm (an interleaving experiment: interleaved)"
    )


class SimilarOut(_Model):
    item_id: str
    items: list[ItemOut]
    model_name: str | None
    model_version: str | None


class CampaignOut(_Model):
    campaign_id: str
    name: str
    type: str
    position: int
    value: float
    propensity: float
    reason: str
    offer: dict[str, Any] | None = None


class CampaignsOut(_Model):
    user_id: str
    policy: str
    campaigns: list[CampaignOut]
    skipped: dict[str, str]
    experiment: str | None = None
    variant: str | None = None


class ModelOut(_Model):
    name: str
    version: str
    active: bool
    path: str


class ModelsOut(_Model):
    models: list[ModelOut]


class ActivateIn(_Model):
    version: Id


class ProfileOut(_Model):
    user_id: str
    known: bool
    attributes: dict[str, Any]
    recent_items: list[str]


class Health(_Model):
    status: str
    checks: dict[str, bool] = Field(default_factory=dict)


class CampaignListOut(_Model):
    campaigns: list[Campaign]


class CampaignPreviewOut(_Model):
    campaign_id: str
    audience_size: int = Field(description="shoppers the audience rule reaches now")
    source: str = Field(description="where the response estimates come from")
    plan: dict[str, Any] = Field(
        description="per targeting strategy: reach, expected cost, redemptions, incremental "
        "conversions, revenue, profit and ROI"
    )


class SearchHit(_Model):
    item_id: str
    score: float = Field(description="match of the item's text with the query (higher is better)")
    rank: int
    title: str | None = None
    text: str = Field(description="why it is listed, in the requested language")


class SearchOut(_Model):
    q: str
    items: list[SearchHit]
    model_name: str
    model_version: str | None
