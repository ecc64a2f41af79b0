"""``/v1/campaigns``: list, read, create, replace, change, end, and the audience preview.

A campaign body is the canonical :class:`campaignrec.data.schema.Campaign` (the importer's one
definition of the fields and their rules). Writes need the ``admin`` scope; a write is
idempotent (``PUT`` replaces, ``POST`` of an existing id is 409). A saved campaign whose audience reads a protected attribute (gender,
age: the ``protected_attributes`` setting) must declare it in its ``protected_attributes``, with
a ``protected_reason``; otherwise the write is a 422 naming ``audience``. Campaigns are never deleted:
``DELETE`` ends one (status ``ended``), because the decision log refers to it. The preview is
the planner's answer before launch: audience size, expected cost, redemptions, incremental
conversions and ROI per targeting strategy.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Body, Path, Query, Response

from campaignrec.campaigns.catalog import Catalog
from campaignrec.campaigns.fairness import check_protected_use
from campaignrec.data.schema import Campaign
from campaignrec.errors import UnknownIdError, ValidationError
from campaignrec.pipeline.campaigns import load_catalog, plan_for
from campaignrec.pipeline.uplift import campaign_models_dir
from campaignrec.service.deps import AdminKey, ReadKey, State
from campaignrec.service.schemas import CampaignListOut, CampaignPreviewOut

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])
CampaignId = Annotated[str, Path(min_length=1, max_length=256)]
Status = Annotated[
    str | None, Query(pattern="^(draft|scheduled|active|paused|ended)$", description="filter")
]


def _catalog(state: State) -> Catalog:
    return load_catalog(state.store)


def _find(state: State, campaign_id: str) -> Campaign:
    for c in _catalog(state):
        if c.campaign_id == campaign_id:
            return c
    raise UnknownIdError("campaign", campaign_id, hint="GET /v1/campaigns lists them")


def _checked(state: State, campaign: Campaign) -> Campaign:
    """A campaign about to be saved: its audience reads no protected attribute it does not
    declare (422 naming ``audience``)."""
    check_protected_use(campaign, protected=state.settings.protected_attributes)
    return campaign


def _store(state: State, campaign: Campaign) -> Campaign:
    row = campaign.model_dump()
    state.store.upsert_campaigns(pd.DataFrame([row]))
    state.catalog.invalidate()
    return _find(state, campaign.campaign_id)


@router.get("", response_model=CampaignListOut)
def list_campaigns(state: State, _key: ReadKey, status: Status = None) -> CampaignListOut:
    found = [c for c in _catalog(state) if status is None or c.status == status]
    return CampaignListOut(campaigns=found)


@router.get("/{campaign_id}", response_model=Campaign)
def get_campaign(campaign_id: CampaignId, state: State, _key: ReadKey) -> Campaign:
    return _find(state, campaign_id)


@router.post("", response_model=Campaign, status_code=201, responses={409: {}})
def create_campaign(campaign: Campaign, state: State, _key: AdminKey) -> Campaign:
    from campaignrec.service.errors import ApiError

    if campaign.campaign_id in _catalog(state):
        raise ApiError(
            409,
            "conflict",
            f"campaign '{campaign.campaign_id}' exists: PUT /v1/campaigns/{{id}} replaces it",
            field="campaign_id",
        )
    return _store(state, _checked(state, campaign))


@router.put("/{campaign_id}", response_model=Campaign)
def replace_campaign(
    campaign_id: CampaignId, campaign: Campaign, state: State, _key: AdminKey
) -> Campaign:
    if campaign.campaign_id != campaign_id:
        raise ValidationError(
            "campaign_id", f"differs from the path ({campaign_id})", value=campaign.campaign_id
        )
    return _store(state, _checked(state, campaign))


@router.patch("/{campaign_id}", response_model=Campaign)
def change_campaign(
    campaign_id: CampaignId,
    state: State,
    _key: AdminKey,
    changes: Annotated[
        dict[str, Any],
        Body(description='fields to change, for example {"status": "paused"}', max_length=64),
    ],
) -> Campaign:
    if "campaign_id" in changes and changes["campaign_id"] != campaign_id:
        raise ValidationError("campaign_id", "cannot be changed", value=changes["campaign_id"])
    merged = {**_find(state, campaign_id).model_dump(), **changes}
    try:
        campaign = Campaign.model_validate(merged)
    except Exception as exc:  # pydantic's error: name the first field it names
        errors: list[Any] = list(getattr(exc, "errors", lambda: [])())
        where = ".".join(str(x) for x in errors[0]["loc"]) if errors else "body"
        why = errors[0]["msg"] if errors else str(exc)
        raise ValidationError(where or "body", why) from None
    return _store(state, _checked(state, campaign))


@router.delete("/{campaign_id}", response_model=Campaign)
def end_campaign(campaign_id: CampaignId, state: State, _key: AdminKey) -> Campaign:
    campaign = _find(state, campaign_id).model_copy(update={"status": "ended"})
    return _store(state, campaign)


def _preview(state: State, campaign_id: str, draft: Campaign | None, **kw: Any) -> Any:
    models = campaign_models_dir(state.settings.home)  # fitted by uplift --from-store / retrain
    result = plan_for(
        state.store, campaign_id, now=datetime.now(UTC), draft=draft, models_dir=models, **kw
    )
    return CampaignPreviewOut(
        campaign_id=result.campaign.campaign_id,
        audience_size=result.audience_size,
        source=result.source,
        plan=result.plan,
    )


OrderValue = Annotated[float, Query(gt=0, le=1e9, description="average order value")]
Margin = Annotated[float, Query(gt=0, le=1, description="margin rate")]


@router.get("/{campaign_id}/preview", response_model=CampaignPreviewOut)
def preview_campaign(
    campaign_id: CampaignId,
    state: State,
    _key: ReadKey,
    order_value: OrderValue = 50.0,
    margin_rate: Margin = 0.3,
) -> Any:
    _find(state, campaign_id)
    return _preview(state, campaign_id, None, order_value=order_value, margin_rate=margin_rate)


@router.post("/preview", response_model=CampaignPreviewOut)
def preview_draft(
    campaign: Campaign,
    state: State,
    _key: ReadKey,
    response: Response,
    order_value: OrderValue = 50.0,
    margin_rate: Margin = 0.3,
) -> Any:
    """Plan a campaign that is not stored (or a change to one) without saving it."""
    response.headers["Cache-Control"] = "no-store"
    return _preview(
        state, campaign.campaign_id, campaign, order_value=order_value, margin_rate=margin_rate
    )
