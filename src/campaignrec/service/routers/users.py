"""Per-user routes: recommendations, campaigns and profile."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Header, Path, Query

from campaignrec.campaigns.catalog import load_campaigns
from campaignrec.campaigns.eligibility import CampaignServer
from campaignrec.data.validation import derive_event_ids
from campaignrec.service.deps import ReadKey, State, language
from campaignrec.service.errors import ApiError
from campaignrec.service.ranking_adapter import Ranked
from campaignrec.service.schemas import (
    CampaignOut,
    CampaignsOut,
    ItemOut,
    ProfileOut,
    RecommendationsOut,
)

router = APIRouter(prefix="/v1/users", tags=["users"])
UserId = Annotated[str, Path(min_length=1, max_length=256)]
K = Annotated[int, Query(ge=1, le=100)]
Lang = Annotated[str | None, Query(max_length=16)]
AcceptLanguage = Annotated[str | None, Header(max_length=256)]


def items_out(ranked: Ranked) -> list[ItemOut]:
    return [
        ItemOut(
            item_id=i.item_id,
            score=i.score,
            rank=i.rank,
            reason=i.reason,
            text=i.text,
            evidence=i.evidence,
        )
        for i in ranked.items
    ]


@router.get("/{user_id}/recommendations", response_model=RecommendationsOut)
def recommendations(
    user_id: UserId,
    state: State,
    _key: ReadKey,
    k: K = 10,
    context: Annotated[str | None, Query(max_length=256)] = None,
    lang: Lang = None,
    accept_language: AcceptLanguage = None,
) -> RecommendationsOut:
    if state.ranker is None:
        raise ApiError(503, "no_model", "no trained model is active: run campaignrec train")
    ranked = state.ranker.recommend(user_id, k, language(lang, accept_language))
    return RecommendationsOut(
        user_id=user_id,
        items=items_out(ranked),
        model_name=ranked.model_name,
        model_version=ranked.model_version,
        personalised=ranked.personalised,
    )


def _user_attrs(state: State, user_id: str) -> dict[str, Any] | None:
    users = state.store.read_table("users")
    if users.empty:
        return None
    row = users[users["user_id"] == user_id]
    if row.empty:
        return None
    rec = {str(k): v for k, v in row.iloc[0].to_dict().items()}
    attrs = rec.pop("attributes", None)
    if isinstance(attrs, dict):
        rec.update(attrs)
    return {k: v for k, v in rec.items() if v is not None}


@router.get("/{user_id}/campaigns", response_model=CampaignsOut)
def campaigns(user_id: UserId, state: State, _key: ReadKey, k: K = 3) -> CampaignsOut:
    catalog = load_campaigns(state.store.read_table("campaigns"))
    server = CampaignServer(catalog, state.online)
    attrs = _user_attrs(state, user_id) or {"user_id": user_id}
    decision = server.serve(user_id, attrs, k, datetime.now(UTC))
    for reason in decision.skipped.values():
        state.metrics.refusals.labels(reason).inc()
    events = decision.to_events()
    if events:
        frame = pd.DataFrame(events)
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
        frame["event_id"] = derive_event_ids(frame)
        state.store.insert_events(frame)
    by_id = {c.campaign_id: c for c in catalog}
    out = []
    for s in decision.served:
        c = by_id[s.campaign_id]
        offer = None
        if c.type == "coupon":
            offer = {
                "discount_type": c.discount_type,
                "discount_value": c.discount_value,
                "min_spend": c.min_spend,
                "end_time": c.end_time.isoformat() if c.end_time else None,
            }
        out.append(
            CampaignOut(
                campaign_id=c.campaign_id,
                name=c.name,
                type=str(c.type),
                position=s.position,
                value=s.value,
                propensity=s.propensity,
                reason="eligible",
                offer=offer,
            )
        )
    return CampaignsOut(
        user_id=user_id, policy=decision.policy, campaigns=out, skipped=dict(decision.skipped)
    )


@router.get("/{user_id}/profile", response_model=ProfileOut)
def profile(user_id: UserId, state: State, _key: ReadKey) -> ProfileOut:
    attrs = _user_attrs(state, user_id)
    clean = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in (attrs or {}).items()}
    clean = {
        k: v for k, v in clean.items() if isinstance(v, str | int | float | bool | list | dict)
    }
    return ProfileOut(
        user_id=user_id,
        known=attrs is not None,
        attributes=clean,
        recent_items=state.online.recent(user_id, 20),
    )
