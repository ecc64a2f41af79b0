"""Per-user routes: recommendations, campaigns and profile."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Response

from campaignrec.errors import ValidationError
from campaignrec.experiments.live import (
    LiveExperiments,
    campaign_policy,
    exposure_events,
    serve_recommendations,
)
from campaignrec.ranking import RankedList, RankingRequest
from campaignrec.service.campaigns import serve_user_campaigns, user_attributes
from campaignrec.service.deps import ReadKey, State, language
from campaignrec.service.errors import ApiError
from campaignrec.service.result_cache import read_stamp
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


def items_out(ranked: RankedList, teams: Sequence[str] | None = None) -> list[ItemOut]:
    return [
        ItemOut(
            item_id=i.item_id,
            score=i.score,
            rank=i.rank,
            reason=i.reason,
            text=i.text,
            evidence=list(i.evidence),
            fair_boost=i.fair_boost,
            variant=None if teams is None else teams[n],
        )
        for n, i in enumerate(ranked.items)
    ]


Short = Annotated[str | None, Query(max_length=256)]
Many = Annotated[list[str] | None, Query(max_length=100)]
Price = Annotated[float | None, Query(ge=0, allow_inf_nan=False)]
CONTEXT_KEYS = ("item_id", "session_id", "region", "device", "page")


def parse_context(raw: str | None) -> dict[str, str]:
    """``context=item_id:SKU1,session_id:S9`` (a bare value is the item being viewed)."""
    out: dict[str, str] = {}
    for part in (raw or "").split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition(":")
        if not sep:
            key, value = "item_id", part
        key, value = key.strip(), value.strip()
        if key not in CONTEXT_KEYS:
            raise ValidationError(
                "context",
                f"unknown key {key!r}",
                value=raw,
                hint="keys: " + ", ".join(CONTEXT_KEYS) + " (for example item_id:SKU1)",
            )
        if value:
            out[key] = value
    return out


def recommendations(
    user_id: UserId,
    state: State,
    _key: ReadKey,
    k: K = 10,
    context: Annotated[
        str | None,
        Query(
            max_length=512,
            description="page context, key:value pairs: item_id (the item being viewed), "
            "session_id, region, device, page; a bare value is an item id",
        ),
    ] = None,
    item_id: Annotated[str | None, Query(max_length=256, description="item viewed")] = None,
    session_id: Short = None,
    exclude: Many = None,
    categories: Many = None,
    brands: Many = None,
    price_min: Price = None,
    price_max: Price = None,
    diversity: Annotated[float | None, Query(ge=0, le=1)] = None,
    fair_strength: Annotated[
        float | None,
        Query(ge=0, lt=1, description="FA*IR strength for this request (0 = off)"),
    ] = None,
    lang: Lang = None,
    accept_language: AcceptLanguage = None,
) -> RecommendationsOut:
    if state.ranker is None:
        raise ApiError(503, "no_model", "no trained model is active: run campaignrec train")
    ctx = parse_context(context)
    if item_id:
        ctx["item_id"] = item_id
    if session_id:
        ctx["session_id"] = session_id
    ranker = state.ranker  # one read: a model swap mid-request does not mix versions
    stored = state.stored_id(user_id)
    request = RankingRequest(
        user_id=stored,
        k=k,
        context=ctx,
        exclude=tuple(exclude or ()),
        categories=tuple(categories or ()),
        brands=tuple(brands or ()),
        price_min=price_min,
        price_max=price_max,
        lang=language(lang, accept_language),
        diversity=diversity,
        fair_strength=fair_strength,
    )
    live = state.live  # one read; an empty tuple for most shops: no hashing, no SQL
    if live.recommendations:
        out = _in_experiment(state, live, stored, user_id, request)
        if out is not None:
            return out
    ranked = ranker.recommend(request)
    return RecommendationsOut(
        user_id=user_id,
        items=items_out(ranked),
        model_name=ranked.model_name,
        model_version=ranked.model_version,
        personalised=ranked.personalised,
    )


def _in_experiment(
    state: State, live: LiveExperiments, stored: str, user_id: str, request: RankingRequest
) -> RecommendationsOut | None:
    """The list of the shopper's arm, logged (None: no running experiment covers them)."""
    now = datetime.now(UTC)
    assigned = live.assignment(stored, "recommendations", now)
    served = None if assigned is None else serve_recommendations(live, assigned, request, state.rng)
    if assigned is None or served is None:
        return None
    state.exposures.write(exposure_events(stored, assigned.experiment_id, served, now))
    interleaved = served.interleaved
    ranked = served.ranked
    return RecommendationsOut(
        user_id=user_id,
        items=items_out(ranked, served.variants if interleaved else None),
        model_name=ranked.model_name,
        model_version=ranked.model_version,
        personalised=ranked.personalised,
        experiment=assigned.experiment_id,
        variant="interleaved" if interleaved else assigned.variant,
    )


_NOT_PARAMS = frozenset({"state", "_key", "lang", "accept_language"})


def cached_answer(
    fn: Callable[..., Any], route: str, kwargs: dict[str, Any], user_id: str | None = None
) -> Any:
    """``fn(**kwargs)`` through the worker's result cache (:mod:`campaignrec.service.result_cache`).

    The key: the route, the ranker's generation, the language and every other parameter; the
    stamp (read before computing): the shopper's version and consent, the results epoch and the
    last import. A shopper a running experiment assigns is served by ``fn`` alone (its exposure
    logged), and so is every request when the cache is off. The body goes out as the JSON bytes
    kept, hit or miss.
    """
    state = kwargs["state"]
    cache = state.results
    if not cache.enabled or state.ranker is None:
        return fn(**kwargs)
    stored = None
    if user_id is not None:
        stored = state.stored_id(user_id)
        live = state.live
        if live.recommendations and live.assignment(stored, route, datetime.now(UTC)):
            return fn(**kwargs)
    params = tuple(
        sorted(
            (name, tuple(value) if isinstance(value, list) else value)
            for name, value in kwargs.items()
            if name not in _NOT_PARAMS
        )
    )
    lang = language(kwargs.get("lang"), kwargs.get("accept_language"))
    key = (route, state.generation, lang, params)
    stamp = read_stamp(state.online, state.store, stored)
    body = cache.get(key, stamp)
    if body is None:
        out = fn(**kwargs)
        body = out.model_dump_json().encode()
        if getattr(out, "experiment", None) is None:
            cache.put(key, stamp, body)
    return Response(body, media_type="application/json")


@functools.wraps(recommendations)
async def recommendations_endpoint(**kwargs: Any) -> Any:
    return cached_answer(recommendations, "recommendations", kwargs, user_id=kwargs["user_id"])


# Ranking is CPU work of a millisecond or a few under the GIL: run on the event loop, it serves
# 1.8x the requests of a thread-pool handler at 16 concurrent clients (docs/benchmarks/serving.md).
router.add_api_route(
    "/{user_id}/recommendations",
    recommendations_endpoint,
    methods=["GET"],
    response_model=RecommendationsOut,
)


@router.get("/{user_id}/campaigns", response_model=CampaignsOut)
def campaigns(user_id: UserId, state: State, _key: ReadKey, k: K = 3) -> CampaignsOut:
    stored, now = state.stored_id(user_id), datetime.now(UTC)
    policy: str = state.settings.campaign_policy
    live = state.live
    assigned = live.assignment(stored, "campaigns", now) if live.campaigns else None
    exp = None if assigned is None else live.experiment(assigned.experiment_id)
    if assigned is not None and exp is not None:
        policy = campaign_policy(exp, assigned.variant)
    out = serve_user_campaigns(
        state.store,
        state.online,
        stored,
        k,
        now,
        catalog=state.catalog.get(),
        policy=policy,
        experiment=assigned,
    )
    for reason in out["skipped"].values():
        state.metrics.refusals.labels(reason).inc()
    return CampaignsOut(
        user_id=user_id,
        policy=out["policy"],
        campaigns=[CampaignOut(**c) for c in out["campaigns"]],
        skipped=out["skipped"],
        experiment=None if assigned is None else assigned.experiment_id,
        variant=None if assigned is None else assigned.variant,
    )


@router.get("/{user_id}/profile", response_model=ProfileOut)
def profile(user_id: UserId, state: State, _key: ReadKey) -> ProfileOut:
    stored = state.stored_id(user_id)
    attrs = user_attributes(state.store, stored)
    clean = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in (attrs or {}).items()}
    clean = {
        k: v for k, v in clean.items() if isinstance(v, str | int | float | bool | list | dict)
    }
    return ProfileOut(
        user_id=user_id,
        known=attrs is not None,
        attributes=clean,
        recent_items=state.online.recent(stored, 20),
    )
