"""``/v1/push``: push plans made for review, approved, sent; and the report of a campaign.

``POST /v1/push/plans`` plans a campaign (as ``campaignrec push plan``: recorded in the push
ledger), or with ``products`` in place of ``campaign_id`` a product-recommendation push (as
``push plan --products``), and keeps the plan as a ``draft``; ``POST .../approve`` approves it; ``POST .../send``
sends its due rows to a configured target named in the body (RabbitMQ or a webhook: the URL
and its credentials come from the settings, never from the request) (as ``campaignrec push send``: idempotency keys and
the send log, so a repeated call sends nothing twice). Writes need the ``admin`` scope, reads
the ``read`` scope. A draft sent is 409 naming ``status``; an unknown plan 404; a broker that
cannot be reached 503.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator

from campaignrec.errors import ValidationError
from campaignrec.push.report import push_report
from campaignrec.push.reviews import (
    PlanStateError,
    approve_review,
    create_review,
    get_review,
    list_reviews,
    send_review,
)
from campaignrec.push.targets import named_target
from campaignrec.service.deps import AdminKey, ReadKey, State
from campaignrec.service.errors import ApiError

router = APIRouter(prefix="/v1/push", tags=["push"])
PlanId = Annotated[str, Path(min_length=1, max_length=64)]
CampaignId = Annotated[str, Path(min_length=1, max_length=256)]


EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def _aware(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ApiError(422, "validation_error", f"{name}: needs a timezone", field=name)
    if not EARLIEST <= value < LATEST:
        raise ApiError(
            422, "validation_error", f"{name}: must lie between 1990 and 2200", field=name
        )
    return value


class UpliftIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: str = Field(min_length=1, max_length=256)
    p_control: float = Field(ge=0, le=1)
    p_treated: float = Field(ge=0, le=1)


@contextmanager
def _api_fields() -> Iterator[None]:
    """The library names CLI flags (``--to``, ``--uplift``): over HTTP the body field."""
    try:
        yield
    except PlanStateError:
        raise
    except ValidationError as exc:
        if not exc.field.startswith("--"):
            raise
        field = exc.field.removeprefix("--").replace("-", "_")
        raise ApiError(422, "validation_error", f"{field}: {exc.reason}", field=field) from None


class ProductsIn(BaseModel):
    """A product-recommendation push: each recipient's top ``k`` items from the ranking path,
    for one day (campaign id ``products-<day>``), through the campaign planner's rules."""

    model_config = ConfigDict(extra="forbid")

    k: int = Field(default=3, ge=1, le=50, description="items per shopper")
    day: str | None = Field(
        default=None,
        pattern=r"^\d{4}-\d{2}-\d{2}$",
        description="the push's day, YYYY-MM-DD, in the shop's time zone (default: today)",
        examples=["2025-01-25"],
    )
    limit: int | None = Field(
        default=None, ge=1, le=10_000_000, description="at most this many recipients, by value"
    )
    margin_rate: float = Field(default=0.3, gt=0, le=1, description="gross margin of a sale")

    @field_validator("day")
    @classmethod
    def _real_day(cls, v: str | None) -> str | None:
        if v is not None:
            date.fromisoformat(v)  # 2025-02-30 is refused (a ValueError: 422 naming the field)
        return v


class PushPlanIn(BaseModel):
    """A campaign's push (``campaign_id``) or a product push (``products``): one of them."""

    model_config = ConfigDict(extra="forbid")

    campaign_id: str | None = Field(
        default=None, min_length=1, max_length=256, description="the campaign to push"
    )
    products: ProductsIn | None = Field(
        default=None, description="a product-recommendation push, in place of campaign_id"
    )
    at: datetime | None = Field(default=None, description="planning moment (default now)")
    uplift: list[UpliftIn] | None = Field(
        default=None,
        max_length=1_000_000,
        description="uplift estimates (default: the logged response rates per segment)",
    )


class PushSendIn(BaseModel):
    """A send names a configured target (``[push.targets.<name>]`` or
    ``CAMPAIGNREC_PUSH_TARGETS``): a broker URL or its password never travels in a body."""

    model_config = ConfigDict(extra="forbid")

    target: str = Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="the name of a configured push target",
    )
    exchange: str | None = Field(default=None, max_length=255, description="over the target's")
    queue: str | None = Field(
        default=None, min_length=1, max_length=255, description="over the target's"
    )
    now: datetime | None = Field(default=None, description="treat this moment as now")


class PushPlanListOut(BaseModel):
    plans: list[dict[str, Any]]


@router.post("/plans", status_code=201)
def create_plan(body: PushPlanIn, state: State, _key: AdminKey) -> dict[str, Any]:
    at = _aware(body.at, "at")
    if (body.campaign_id is None) == (body.products is None):
        field = "campaign_id" if body.products is None else "products"
        raise ApiError(
            422,
            "validation_error",
            f"{field}: give campaign_id or products, one of them",
            field=field,
        )
    if body.products is not None:
        if body.uplift is not None:
            raise ApiError(
                422, "validation_error", "uplift: only for a campaign push", field="uplift"
            )
        return _create_product_plan(body.products, at, state)
    uplift = None
    if body.uplift is not None:
        uplift = pd.DataFrame([r.model_dump() for r in body.uplift])
        if uplift.empty:
            raise ApiError(422, "validation_error", "uplift: is empty", field="uplift")
    with _api_fields():
        return create_review(
            state.store,
            state.settings.home,
            body.campaign_id,
            settings=state.settings.push,
            now=at,
            state=state.online,
            uplift=uplift,
        )


def _create_product_plan(products: ProductsIn, at: datetime | None, state: Any) -> dict[str, Any]:
    from campaignrec.ranking import Ranker

    spec = products.model_dump()
    with _api_fields():
        ranker = Ranker.from_store(state.store, state.settings, state.online)
        try:
            return create_review(
                state.store,
                state.settings.home,
                None,
                settings=state.settings.push,
                now=at,
                state=state.online,
                products=spec,
                ranker=ranker,
            )
        except ValidationError as exc:
            if exc.field.removeprefix("--") in spec:  # the library names the CLI flag
                name = "products." + exc.field.removeprefix("--").replace("-", "_")
                raise ApiError(
                    422, "validation_error", f"{name}: {exc.reason}", field=name
                ) from None
            raise


@router.get("/plans", response_model=PushPlanListOut)
def list_plans(
    state: State,
    _key: ReadKey,
    campaign_id: Annotated[str | None, Query(max_length=256, description="only this one")] = None,
) -> PushPlanListOut:
    return PushPlanListOut(plans=list_reviews(state.settings.home, campaign_id))


@router.get("/plans/{plan_id}")
def read_plan(
    plan_id: PlanId,
    state: State,
    _key: ReadKey,
    rows: Annotated[int, Query(ge=0, le=1000, description="plan rows to include")] = 50,
) -> dict[str, Any]:
    return get_review(state.settings.home, plan_id, rows=rows)


@router.post("/plans/{plan_id}/approve")
def approve_plan(plan_id: PlanId, state: State, key: AdminKey) -> dict[str, Any]:
    return approve_review(state.settings.home, plan_id, by=f"key {key.id}")


@router.post("/plans/{plan_id}/send", responses={409: {}, 503: {}})
def send_plan(plan_id: PlanId, body: PushSendIn, state: State, _key: AdminKey) -> dict[str, Any]:
    now = _aware(body.now, "now")
    with _api_fields():
        target = named_target(body.target, state.settings.push)
    exchange = target.exchange if body.exchange is None else body.exchange
    queue = target.queue if body.queue is None else body.queue
    if target.url.lower().startswith("http") and (body.exchange or body.queue):
        field = "queue" if body.queue else "exchange"
        raise ApiError(422, "validation_error", f"{field}: only for an amqp:// target", field=field)
    try:
        with _api_fields():
            return send_review(
                state.settings.home, plan_id, target.url, exchange=exchange, queue=queue, now=now
            )
    except PlanStateError as exc:
        raise ApiError(409, "conflict", str(exc), field=exc.field) from None


@router.get("/reports/{campaign_id}")
def report(
    campaign_id: CampaignId,
    state: State,
    _key: ReadKey,
    window_days: Annotated[float, Query(gt=0, le=90, description="days after send_at")] = 7.0,
    at: Annotated[datetime | None, Query(description="report as of (default now)")] = None,
) -> dict[str, Any]:
    with _api_fields():
        return push_report(
            state.store,
            state.settings.home / "push" / "ledger.parquet",
            campaign_id,
            window_days=window_days,
            now=_aware(at, "at"),
        )
