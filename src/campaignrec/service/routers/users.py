"""Per-user routes: recommendations, campaigns and profile."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query

from campaignrec.service.campaigns import serve_user_campaigns, user_attributes
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


@router.get("/{user_id}/campaigns", response_model=CampaignsOut)
def campaigns(user_id: UserId, state: State, _key: ReadKey, k: K = 3) -> CampaignsOut:
    out = serve_user_campaigns(state.store, state.online, user_id, k, datetime.now(UTC))
    for reason in out["skipped"].values():
        state.metrics.refusals.labels(reason).inc()
    return CampaignsOut(
        user_id=user_id,
        policy=out["policy"],
        campaigns=[CampaignOut(**c) for c in out["campaigns"]],
        skipped=out["skipped"],
    )


@router.get("/{user_id}/profile", response_model=ProfileOut)
def profile(user_id: UserId, state: State, _key: ReadKey) -> ProfileOut:
    attrs = user_attributes(state.store, user_id)
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
