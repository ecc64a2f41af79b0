"""Console: push plans awaiting review, one plan (recipients, channels, send times, expected
value), approving and sending it, and the report of its campaign against the holdout.

Every action calls the function the API serves under ``/v1/push`` (``create_plan``,
``list_plans``, ``read_plan``, ``approve_plan``, ``send_plan``, ``report``) with the logged-in
key, so a plan made or approved here is the plan the API shows, and a send goes through the same
send log and idempotency keys as ``campaignrec push send``.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError as PydanticValidationError

from campaignrec.errors import CampaignrecError, UnknownIdError
from campaignrec.errors import ValidationError as CampaignrecValidationError
from campaignrec.push.plan import SKIP_REASONS
from campaignrec.push.reviews import plans_dir
from campaignrec.push.send import read_plan
from campaignrec.service.auth import ApiKey
from campaignrec.service.console.common import (
    PREFIX,
    _bar,
    _chart,
    _checked_form,
    _guard,
    _lang,
    _message,
    _render,
    _state,
    router,
)
from campaignrec.service.console.forms import _time
from campaignrec.service.console.i18n import source_text, translate
from campaignrec.service.console.session import Session
from campaignrec.service.console.validation import field_errors, sentence
from campaignrec.service.errors import ApiError
from campaignrec.service.routers import push as push_api

#: Plan rows the review table shows (the histogram and totals use every row).
SHOWN_ROWS = 50


def _campaign_choices(request: Request, lang: str) -> list[tuple[str, str]]:
    found = []
    for c in _state(request).catalog.get():
        title = (c.title_zh if lang == "zh" else c.title_en) or c.name
        found.append((c.campaign_id, f"{c.campaign_id} · {title}"))
    return sorted(found)


def _refused(
    request: Request, session: Session, exc: Exception | None, status: int = 422, text: str = ""
) -> Response:
    """The message page for a refused action: the error's status and its sentence in the
    page's language (``text`` when the sentence is made already)."""
    if isinstance(exc, UnknownIdError):
        status = 404
    elif isinstance(exc, ApiError):
        status = exc.status
    lang = _lang(request)
    if exc is not None:
        text = sentence(_message(exc).split(" (hint: ")[0], lang)
    if isinstance(exc, CampaignrecValidationError):
        text = f"{exc.field}: {sentence(exc.reason, lang)}"
    return _render(
        request, "message.html", session, title_key="error", status_code=status, message=text
    )


@router.get("/push")
def push_page(request: Request) -> Response:
    guard = _guard(request)
    if isinstance(guard, Response):
        return guard
    return _list_page(request, *guard)


def _list_page(
    request: Request,
    session: Session,
    key: ApiKey,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    """The plans awaiting review and the form that plans another (with its errors: 422)."""
    plans = push_api.list_plans(_state(request), key, campaign_id=None).plans
    return _render(
        request,
        "push.html",
        session,
        title_key="push_title",
        active="nav_push",
        status_code=422 if errors else 200,
        plans=[_plan_row(p) for p in plans],
        campaigns=_campaign_choices(request, _lang(request)),
        kinds=[(k, translate(_lang(request), f"push_kind_{k}")) for k in ("campaign", "products")],
        errors=errors or {},
        values={"k": "3", **(values or {})},
    )


def _plan_row(meta: dict[str, Any]) -> dict[str, Any]:
    summary = meta.get("summary") or {}
    return {
        "plan_id": meta.get("plan_id"),
        "campaign_id": meta.get("campaign_id"),
        "status": meta.get("status"),
        "planned_at": _when(meta.get("planned_at")),
        "pushes": int(summary.get("pushes", 0)),
        "holdout": int(summary.get("holdout", 0)),
        "channels": summary.get("by_channel") or {},
        "expected_value": summary.get("expected_value"),
    }


def _when(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


@router.post("/push/plans")
async def create_plan(request: Request) -> Response:
    """Plan a campaign for push (``POST /v1/push/plans``); the new plan is a draft."""
    checked = await _checked_form(request)
    if isinstance(checked, Response):
        return checked
    session, key, form = checked
    lang = _lang(request)
    kind = form.get("push_kind", "campaign").strip() or "campaign"
    campaign_id = form.get("campaign_id", "").strip()
    at = form.get("at", "").strip()
    k, day = form.get("k", "").strip(), form.get("day", "").strip()
    values = {"push_kind": kind, "campaign_id": campaign_id, "at": at, "k": k, "day": day}
    if kind not in ("campaign", "products"):
        errors = {"push_kind": sentence("must be campaign or products", lang)}
        return _list_page(request, session, key, errors, values)
    raw: dict[str, Any] = {"at": _time(at) if at else None}
    if kind == "products":
        raw["products"] = {"k": k or 3, **({"day": day} if day else {})}
    else:
        raw["campaign_id"] = campaign_id
    try:
        body = push_api.PushPlanIn.model_validate(raw)
        meta = push_api.create_plan(body, _state(request), key)
    except PydanticValidationError as exc:
        errors = field_errors(exc, lang, _form_field)
    except UnknownIdError:
        errors = {"campaign_id": translate(lang, "push_unknown_campaign")}
    except CampaignrecValidationError as exc:
        field = exc.field if exc.field == "campaign_id" else "_form"
        errors = {field: sentence(exc.reason, lang)}
    except ApiError as exc:  # e.g. a planning moment outside 1990..2200, a day with no time left
        field = exc.field.removeprefix("products.") if exc.field else "_form"
        errors = {field if field in values else "_form": exc.message}
    except CampaignrecError as exc:
        if kind == "products" and "no trained model" in str(exc):
            errors = {"_form": translate(lang, "push_products_no_model")}
        else:
            errors = {"_form": sentence(_message(exc).split(" (hint: ")[0], lang)}
    else:
        target = f"{PREFIX}/push/{meta['plan_id']}?done=push_planned"
        return RedirectResponse(target, status_code=303)
    return _list_page(request, session, key, errors, values)


def _form_field(loc: tuple[Any, ...], english: str) -> str:
    """The form field of a body error: ``products.k`` is the form's ``k``."""
    parts = [str(p) for p in loc]
    if parts[:1] == ["products"] and len(parts) > 1:
        return parts[1]
    return parts[0] if parts else "_form"


def _hour_histogram(hours: list[int], lang: str) -> str:
    counts = Counter(hours)
    return _chart(
        [
            {
                "type": "bar",
                "x": list(range(24)),
                "y": [counts.get(h, 0) for h in range(24)],
                "name": translate(lang, "push_sends"),
                "marker": {"color": "#7570b3"},
            }
        ],
        xaxis={"title": {"text": translate(lang, "push_local_hour")}, "dtick": 2},
        yaxis={"title": {"text": translate(lang, "push_sends")}, "rangemode": "tozero"},
        height=260,
    )


@router.get("/push/{plan_id}")
def plan_page(request: Request, plan_id: str) -> Response:
    guard = _guard(request)
    if isinstance(guard, Response):
        return guard
    session, key = guard
    state = _state(request)
    lang = _lang(request)
    try:
        meta = push_api.read_plan(plan_id, state, key, rows=SHOWN_ROWS)
        table = read_plan(plans_dir(state.settings.home) / plan_id / "plan.parquet")
    except (CampaignrecError, ApiError) as exc:
        return _refused(request, session, exc)
    summary = dict(meta.get("summary") or {})
    summary["value_source"] = source_text(summary.get("value_source"), lang)
    meta = {**meta, "summary": summary}
    hours = [datetime.fromisoformat(str(v)).hour for v in table["send_at"]]
    channels = summary.get("by_channel") or {}
    skipped = summary.get("skipped") or {}
    report, report_error = None, None
    try:
        report = push_api.report(str(meta["campaign_id"]), state, key, window_days=7.0, at=None)
    except (CampaignrecError, ApiError) as exc:
        report_error = sentence(getattr(exc, "reason", _message(exc)), lang)
    return _render(
        request,
        "push_plan.html",
        session,
        title_key="push_title",
        active="nav_push",
        plan=meta,
        row=_plan_row(meta),
        rows=meta.get("rows", []),
        sends=[{**s, "at": _when(s.get("at"))} for s in meta.get("sends", [])],
        total_rows=len(table),
        hours_chart=_hour_histogram(hours, lang) if hours else None,
        channel_chart=_bar(list(channels), list(channels.values()), "#1b9e77")
        if channels
        else None,
        skipped=[(r, int(skipped.get(r, 0))) for r in SKIP_REASONS if skipped.get(r)],
        report=report,
        report_error=report_error,
        charts=True,
    )


@router.post("/push/{plan_id}/approve")
async def approve(request: Request, plan_id: str) -> Response:
    checked = await _checked_form(request)
    if isinstance(checked, Response):
        return checked
    session, key, _form = checked
    try:
        push_api.approve_plan(plan_id, _state(request), key)
    except (CampaignrecError, ApiError) as exc:
        return _refused(request, session, exc)
    return RedirectResponse(f"{PREFIX}/push/{plan_id}?done=push_approved", status_code=303)


@router.post("/push/{plan_id}/send")
async def send(request: Request, plan_id: str) -> Response:
    """Send an approved plan's due rows to the configured target the form names."""
    checked = await _checked_form(request)
    if isinstance(checked, Response):
        return checked
    session, key, form = checked
    lang = _lang(request)
    try:
        body = push_api.PushSendIn(
            target=form.get("target", "").strip(), queue=form.get("queue", "").strip() or None
        )
        out = push_api.send_plan(plan_id, body, _state(request), key)
    except PydanticValidationError as exc:
        field, msg = next(iter(field_errors(exc, lang).items()))
        return _refused(request, session, None, 422, f"{field}: {msg}")
    except (CampaignrecError, ApiError) as exc:
        return _refused(request, session, exc)
    done = "push_sent" if out.get("status") == "sent" else "push_sending"
    return RedirectResponse(f"{PREFIX}/push/{plan_id}?done={done}", status_code=303)
