"""Console: the campaigns list, the create / edit form and its live preview."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from fastapi import Request, Response
from fastapi.responses import JSONResponse, RedirectResponse

from campaignrec.errors import CampaignrecError, UnknownIdError
from campaignrec.pipeline.profiles import profiles_dir
from campaignrec.service.auth import ApiKey
from campaignrec.service.console import forms
from campaignrec.service.console.analytics import shop_analytics
from campaignrec.service.console.common import (
    PREFIX,
    _admin_key,
    _checked_form,
    _finite,
    _guard,
    _lang,
    _render,
    _session,
    _state,
    router,
)
from campaignrec.service.console.i18n import Formatter, source_text, translate
from campaignrec.service.console.session import (
    Session,
    csrf_ok,
)
from campaignrec.service.errors import ApiError
from campaignrec.service.routers import campaigns as campaigns_api
from campaignrec.service.state import ServiceState

# ---- campaigns ----------------------------------------------------------------------------------


def _rule_text(rule: dict[str, Any] | None, lang: str) -> str:
    if not rule:
        return translate(lang, "audience_everyone")
    return json.dumps(rule, ensure_ascii=False)


@router.get("/campaigns")
def campaigns_page(request: Request) -> Response:
    guard = _guard(request)
    if isinstance(guard, Response):
        return guard
    session, key = guard
    lang = _lang(request)
    state = _state(request)
    found = campaigns_api.list_campaigns(state, key, status=None).campaigns
    perf = shop_analytics(state.store, profiles_dir(state.settings.home)).by_campaign
    by_id = {str(r["campaign"]): r for r in perf.to_dict("records")}
    rows = [
        {
            "campaign_id": c.campaign_id,
            "title": (c.title_zh if lang == "zh" else c.title_en) or c.name,
            "type": c.type,
            "status": c.status,
            "start_time": c.start_time,
            "end_time": c.end_time,
            "budget": c.budget,
            "audience": _rule_text(c.audience, lang),
            "shown": by_id.get(c.campaign_id, {}).get("campaign_impression", 0),
            "clicked": by_id.get(c.campaign_id, {}).get("campaign_click", 0),
            "purchased": by_id.get(c.campaign_id, {}).get("purchase", 0),
        }
        for c in found
    ]
    return _render(
        request,
        "campaigns.html",
        session,
        title_key="campaigns_title",
        active="nav_campaigns",
        campaigns=rows,
    )


def _form_page(
    request: Request,
    session: Session,
    values: dict[str, str],
    *,
    editing: bool,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    lang = _lang(request)
    return _render(
        request,
        "campaign_form.html",
        session,
        timing=_flash_sale_windows(_state(request), lang),
        title_key="campaign_edit" if editing else "campaign_new",
        active="nav_campaigns",
        status_code=status_code,
        values=values,
        errors=errors or {},
        editing=editing,
        types=[(t, t) for t in forms.CAMPAIGN_TYPES],
        statuses=[(s, translate(lang, s)) for s in forms.STATUSES],
        discount_types=[(d, d) for d in forms.DISCOUNT_TYPES],
        audience_fields=forms.AUDIENCE_FIELDS,
        audience_ops=forms.AUDIENCE_OPS,
    )


def _flash_sale_windows(state: ServiceState, lang: str) -> list[dict[str, Any]]:
    """The planner's flash-sale timing suggestion for the whole shop: the busiest windows of the
    week (UTC) from the activity heatmap, each with its next start and end."""
    from babel.dates import get_day_names

    from campaignrec.campaigns.timing import recommend_flash_sale_windows
    from campaignrec.service.console.i18n import LOCALES

    heat = shop_analytics(state.store, profiles_dir(state.settings.home)).heatmap
    if heat.empty or float(heat["events"].sum()) <= 0:
        return []
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    found = recommend_flash_sale_windows(heat, top=3, start=now)
    names = get_day_names("wide", locale=LOCALES[lang])
    out = []
    for row in found.to_dict("records"):
        begin = pd.Timestamp(row["next_start"]).to_pydatetime()
        end = begin + timedelta(hours=int(row["duration_hours"]))
        out.append(
            {
                "weekday": str(names[int(row["weekday"])]),
                "start_hour": int(row["start_hour"]),
                "duration": int(row["duration_hours"]),
                "concentration": float(row["concentration"]),
                "share": float(row["activity_share"]),
                "next_start": begin,
                "start_value": begin.strftime("%Y-%m-%dT%H:%M"),
                "end_value": end.strftime("%Y-%m-%dT%H:%M"),
            }
        )
    return out


@router.get("/campaigns/new")
def new_campaign(request: Request) -> Response:
    guard = _guard(request)
    if isinstance(guard, Response):
        return guard
    return _form_page(request, guard[0], forms.blank_form(datetime.now(UTC)), editing=False)


@router.get("/campaigns/{campaign_id}/edit")
def edit_campaign(request: Request, campaign_id: str) -> Response:
    guard = _guard(request)
    if isinstance(guard, Response):
        return guard
    session, key = guard
    try:
        found = campaigns_api.get_campaign(campaign_id, _state(request), key)
    except UnknownIdError as exc:
        return _render(
            request, "message.html", session, title_key="error", status_code=404, message=str(exc)
        )
    return _form_page(request, session, forms.form_from_campaign(found), editing=True)


def _save(
    request: Request, session: Session, key: ApiKey, form: dict[str, str], editing: str | None
) -> Response:
    if editing is not None:
        form = {**form, "campaign_id": editing}
    values = {k: form.get(k, "") for k in forms.FORM_FIELDS}
    campaign, errors = forms.campaign_from_form(form, _lang(request))
    if campaign is None:
        return _form_page(
            request, session, values, editing=editing is not None, errors=errors, status_code=422
        )
    state = _state(request)
    try:
        if editing is None:
            campaigns_api.create_campaign(campaign, state, key)
        else:
            campaigns_api.replace_campaign(editing, campaign, state, key)
    except ApiError as exc:  # 409: the id exists
        lang = _lang(request)
        field = exc.field or "_form"
        msg = translate(lang, "campaign_exists") if exc.status == 409 else exc.message
        return _form_page(
            request,
            session,
            values,
            editing=editing is not None,
            errors={field: msg},
            status_code=exc.status,
        )
    except CampaignrecError as exc:
        field = getattr(exc, "field", None) or "_form"
        return _form_page(
            request,
            session,
            values,
            editing=editing is not None,
            errors={field: str(exc)},
            status_code=422,
        )
    return RedirectResponse(f"{PREFIX}/campaigns?done=campaign_created", status_code=303)


@router.post("/campaigns")
async def create_campaign(request: Request) -> Response:
    checked = await _checked_form(request)
    if isinstance(checked, Response):
        return checked
    return _save(request, *checked, editing=None)


@router.post("/campaigns/{campaign_id}")
async def update_campaign(request: Request, campaign_id: str) -> Response:
    checked = await _checked_form(request)
    if isinstance(checked, Response):
        return checked
    session, key = checked[0], checked[1]
    try:
        campaigns_api.get_campaign(campaign_id, _state(request), key)
    except UnknownIdError as exc:
        return _render(
            request, "message.html", session, title_key="error", status_code=404, message=str(exc)
        )
    return _save(request, *checked, editing=campaign_id)


def _not_plannable(lang: str, field: str | None, message: str) -> Response:
    """A draft the planner cannot plan yet (a field still wrong, an audience of nobody): an
    answer of the preview (200, ``ok: false``), since a half-filled form is no failed request.
    The message starts with the field's label in the page's language."""
    label = translate(lang, f"f_{field}") if field else ""
    message = message.removeprefix(f"field '{field}': ")  # our errors name the field already
    shown = f"{label}: {message}" if field and label != f"f_{field}" else message
    return JSONResponse(
        {"ok": False, "error": {"code": "validation_error", "field": field, "message": shown}},
        headers={"Cache-Control": "no-store"},
    )


@router.post("/api/campaigns/preview")
async def preview(request: Request) -> Response:
    """The live preview: the form as it stands, planned by ``POST /v1/campaigns/preview``.

    The browser holds no API key, so the page posts its form here (session cookie and
    ``X-CSRF-Token``) and the console calls the API's own preview function with the session's
    key; the figures come back formatted for the page's locale.
    """
    session = _session(request)
    key = _admin_key(request, session)
    if session is None or key is None:
        return JSONResponse({"error": {"code": "unauthorized", "message": "log in"}}, 401)
    if not csrf_ok(session, request.headers.get("x-csrf-token")):
        return JSONResponse({"error": {"code": "forbidden", "message": "CSRF token"}}, 403)
    lang = _lang(request)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    campaign, errors = forms.campaign_from_form(form, lang)
    if campaign is None:
        field, msg = next(iter(errors.items()))
        return _not_plannable(lang, field, msg)
    try:
        out = campaigns_api.preview_draft(
            campaign, _state(request), key, Response(), order_value=50.0, margin_rate=0.3
        )
    except CampaignrecError as exc:  # the library's English, said in the page's language
        from campaignrec.service.console.validation import sentence

        where: str | None = getattr(exc, "field", None)
        text = str(exc).removeprefix(f"field '{where}': ")
        return _not_plannable(
            lang, where, sentence(text.split(" (hint: ")[0], lang) if lang == "zh" else text
        )
    fmt = Formatter(lang)
    plan = out.plan
    strategies = []
    for row in plan.get("strategies", []):
        name = str(row.get("strategy"))
        label = translate(lang, f"strategy_{name}")
        roi = _finite(row.get("roi"))
        strategies.append(
            {
                "strategy": name,
                "label": name if label == f"strategy_{name}" else label,
                "reach": fmt.number(row.get("reach")),
                "expected_cost": fmt.money(_finite(row.get("expected_cost"))),
                "incremental_conversions": fmt.number(
                    _finite(row.get("incremental_conversions")), 1
                ),
                "roi": fmt.percent(roi) if roi is not None else "—",
            }
        )
    return JSONResponse(
        {
            "ok": True,
            "campaign_id": out.campaign_id,
            "audience_size": out.audience_size,
            "audience_size_text": fmt.number(out.audience_size),
            "source": source_text(out.source, lang),
            "strategies": strategies,
        },
        headers={"Cache-Control": "no-store"},
    )
