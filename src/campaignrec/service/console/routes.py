"""The console's pages under ``/console``: thin handlers over the API's own route functions.

Each page calls the same functions the HTTP API serves (``service.routers``) with the logged-in
admin key, so what the console shows is what the API answers: the campaigns list and writes, the
planner's preview, a shopper's profile and live recommendations, the models and their
activation. Pages are server-rendered Jinja2 templates; charts are drawn by the ``plotly``
package's own ``plotly.min.js``, served from the installed package (no CDN).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pandas as pd
from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select

from campaignrec.errors import CampaignrecError, UnknownIdError
from campaignrec.pipeline.campaigns import check_eligibility
from campaignrec.pipeline.profiles import has_saved_profiles, profiles_dir
from campaignrec.pipeline.training import active_model_row
from campaignrec.profiles.pipeline import load_profiles
from campaignrec.service.auth import ApiKey
from campaignrec.service.console import forms
from campaignrec.service.console.analytics import shop_analytics
from campaignrec.service.console.i18n import Formatter, pick_lang, translate
from campaignrec.service.console.session import (
    LANG_COOKIE,
    MAX_AGE_SECONDS,
    SESSION_COOKIE,
    Session,
    SessionCodec,
    console_secret,
    csrf_ok,
    new_session,
)
from campaignrec.service.console.users import ConsoleUsers
from campaignrec.service.deps import language
from campaignrec.service.errors import ApiError
from campaignrec.service.routers import campaigns as campaigns_api
from campaignrec.service.routers import experiments as experiments_api
from campaignrec.service.routers import models as models_api
from campaignrec.service.routers import users as users_api
from campaignrec.service.schemas import ActivateIn
from campaignrec.service.state import ServiceState

PREFIX = "/console"
HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
NAV = (
    ("nav_overview", "/overview"),
    ("nav_campaigns", "/campaigns"),
    ("nav_experiments", "/experiments"),
    ("nav_shoppers", "/shoppers"),
    ("nav_lookup", "/lookup"),
    ("nav_models", "/models"),
)
#: Profile attributes the lookup card shows: derived ones only, never raw personal fields.
PROFILE_CARD = (
    "segment",
    "rfm_segment",
    "lifecycle",
    "membership_tier",
    "region",
    "recency_days",
    "frequency",
    "monetary",
    "price_band",
    "p_purchase_30d",
    "top_categories",
    "top_brands",
)
DAY_US = 86_400_000_000
EVENT_DAYS = 90

router = APIRouter(prefix=PREFIX, include_in_schema=False)


def _static_files() -> dict[str, tuple[Path, str]]:
    import plotly

    return {
        "console.css": (HERE / "static" / "console.css", "text/css"),
        "console.js": (HERE / "static" / "console.js", "text/javascript"),
        "plotly.min.js": (
            Path(plotly.__file__).parent / "package_data" / "plotly.min.js",
            "text/javascript",
        ),
    }


# ---- session, language, rendering -----------------------------------------------------------


def _state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


def _codec(request: Request) -> SessionCodec:
    codec: SessionCodec | None = getattr(request.app.state, "console_codec", None)
    if codec is None:
        codec = SessionCodec(console_secret(_state(request).settings.home))
        request.app.state.console_codec = codec
    return codec


def _session(request: Request) -> Session | None:
    return _codec(request).loads(request.cookies.get(SESSION_COOKIE))


def _lang(request: Request) -> str:
    return (
        pick_lang(request.query_params.get("lang"))
        or pick_lang(request.cookies.get(LANG_COOKIE))
        or language(None, request.headers.get("accept-language"))
    )


def _users(request: Request) -> ConsoleUsers:
    users: ConsoleUsers | None = getattr(request.app.state, "console_users", None)
    if users is None:
        users = ConsoleUsers(_state(request).store)
        request.app.state.console_users = users
    return users


def _admin_key(request: Request, session: Session | None) -> ApiKey | None:
    """What the session acts as: its key when still valid and holding ``admin`` (a revoked key
    logs out), or, for an enabled console user, an admin key record standing for that user (a
    negative id, never a stored key)."""
    if session is None:
        return None
    if session.key_id is not None:
        for key in _state(request).keys.list():
            if key.id == session.key_id and not key.revoked and "admin" in key.scopes:
                return key
        return None
    if session.user_id is not None:
        user = _users(request).get(session.user_id)
        if user is not None and not user.disabled:
            return ApiKey(id=-user.id, scopes=("admin",), created_at=0, revoked=False)
    return None


def _set_cookies(request: Request, response: Response, session: Session | None) -> None:
    secure = request.url.scheme == "https"
    if session is not None:
        response.set_cookie(
            SESSION_COOKIE,
            _codec(request).dumps(session),
            max_age=MAX_AGE_SECONDS,
            httponly=True,
            samesite="lax",
            secure=secure,
            path=PREFIX,
        )
    chosen = pick_lang(request.query_params.get("lang"))
    if chosen:
        response.set_cookie(
            LANG_COOKIE, chosen, max_age=365 * 86400, samesite="lax", secure=secure, path=PREFIX
        )


def _render(
    request: Request,
    template: str,
    session: Session,
    *,
    title_key: str,
    active: str = "",
    status_code: int = 200,
    logged_in: bool = True,
    **context: Any,
) -> Response:
    lang = _lang(request)
    ctx = {
        "lang": lang,
        "t": lambda key: translate(lang, key),
        "fmt": Formatter(lang),
        "csrf": session.csrf,
        "prefix": PREFIX,
        "nav": NAV,
        "active": active,
        "title_key": title_key,
        "logged_in": logged_in,
        "charts": False,
        "flash": _flash(request),
        "error": None,
        **context,
    }
    response = TEMPLATES.TemplateResponse(request, template, ctx, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    _set_cookies(request, response, session)
    return response


FLASHES = ("campaign_created", "model_activated")


def _flash(request: Request) -> str | None:
    done = request.query_params.get("done")
    return done if done in FLASHES else None


def _to_login(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    response = RedirectResponse(f"{PREFIX}/login?next={quote(target, safe='')}", status_code=303)
    _set_cookies(request, response, None)
    return response


def _guard(request: Request) -> tuple[Session, ApiKey] | Response:
    """The session and its admin key, or a redirect to the login page."""
    session = _session(request)
    key = _admin_key(request, session)
    if session is None or key is None:
        return _to_login(request)
    return session, key


async def _checked_form(request: Request) -> tuple[Session, ApiKey, dict[str, str]] | Response:
    """A POSTed form from a logged-in session whose CSRF token matches, or the refusal."""
    guard = _guard(request)
    if isinstance(guard, Response):
        return guard
    session, key = guard
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    if not csrf_ok(session, form.get("csrf")):
        return _csrf_refused(request, session)
    return session, key, form


def _csrf_refused(request: Request, session: Session) -> Response:
    lang = _lang(request)
    return _render(
        request,
        "message.html",
        session,
        title_key="error",
        status_code=403,
        message=translate(lang, "csrf_failed"),
    )


def _message(error: Exception) -> str:
    if isinstance(error, ApiError):
        return error.message
    return str(error)


def _chart(data: list[dict[str, Any]], **layout: Any) -> str:
    """A plotly figure as the JSON the page's script draws."""
    base = {"margin": {"l": 48, "r": 16, "t": 16, "b": 48}, "height": 320}
    return json.dumps({"data": data, "layout": {**base, **layout}}, ensure_ascii=False)


# ---- static files, login, logout ------------------------------------------------------------


@router.get("/static/{name}")
def static(name: str) -> Response:
    found = _static_files().get(name)
    if found is None or not found[0].is_file():
        raise ApiError(404, "not_found", f"no console file '{name}'")
    return FileResponse(found[0], media_type=found[1], headers={"Cache-Control": "max-age=3600"})


@router.get("")
def root() -> Response:
    return RedirectResponse(f"{PREFIX}/overview", status_code=303)


def _safe_next(value: str | None) -> str:
    if value and value.startswith(PREFIX + "/") and not value.startswith("//"):
        return value
    return f"{PREFIX}/overview"


@router.get("/login")
def login_page(request: Request) -> Response:
    session = _session(request) or new_session()
    if _admin_key(request, session) is not None:
        return RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
    return _render(
        request,
        "login.html",
        session,
        title_key="login_title",
        logged_in=False,
        next=_safe_next(request.query_params.get("next")),
    )


@router.post("/login")
async def login(request: Request) -> Response:
    session = _session(request)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    lang = _lang(request)
    if session is None or not csrf_ok(session, form.get("csrf")):
        return _csrf_refused(request, session or new_session())
    username = form.get("username", "").strip()
    if username:  # a console user and password
        user = _users(request).verify(username[:64], form.get("password", ""))
        if user is not None:
            response = RedirectResponse(_safe_next(form.get("next")), status_code=303)
            _set_cookies(request, response, new_session(user_id=user.id))
            return response
        return _render(
            request,
            "login.html",
            session,
            title_key="login_title",
            logged_in=False,
            status_code=401,
            error=translate(lang, "login_wrong_password"),
            next=_safe_next(form.get("next")),
        )
    key = _state(request).keys.verify(form.get("key", "").strip())
    error = None
    if key is None:
        error, status = translate(lang, "login_wrong"), 401
    elif "admin" not in key.scopes:
        error, status = translate(lang, "login_not_admin"), 403
    if error is not None:
        return _render(
            request,
            "login.html",
            session,
            title_key="login_title",
            logged_in=False,
            status_code=status,
            error=error,
            next=_safe_next(form.get("next")),
        )
    assert key is not None
    response = RedirectResponse(_safe_next(form.get("next")), status_code=303)
    _set_cookies(request, response, new_session(key.id))  # a fresh token at the login
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    checked = await _checked_form(request)
    if isinstance(checked, Response):
        return checked
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


# ---- overview ---------------------------------------------------------------------------------


def events_per_day(state: ServiceState) -> list[tuple[str, int]]:
    """Events per UTC day over the :data:`EVENT_DAYS` days up to the latest event (an imported
    history may end long before today): two SQL queries, a max and a grouped count."""
    events = state.store.tables.events
    with state.store.engine.connect() as conn:
        last = conn.execute(select(func.max(events.c.timestamp))).scalar_one()
        if last is None:
            return []
        since = (int(last) // DAY_US - EVENT_DAYS + 1) * DAY_US
        day = (events.c.timestamp // DAY_US).label("day")  # integer division on every backend
        query = (
            select(day, func.count()).where(events.c.timestamp >= since).group_by(day).order_by(day)
        )
        rows = conn.execute(query).all()
    return [
        (datetime.fromtimestamp(int(d) * 86400, UTC).date().isoformat(), int(n)) for d, n in rows
    ]


MINUTE_US = 60_000_000
LIVE_MINUTES = 60


def events_per_minute(state: ServiceState, now: datetime) -> tuple[list[str], list[int]]:
    """Events per minute over the :data:`LIVE_MINUTES` minutes up to ``now`` (zeros included)."""
    events = state.store.tables.events
    end = int(now.timestamp() * 1_000_000) // MINUTE_US
    start = end - LIVE_MINUTES + 1
    minute = (events.c.timestamp // MINUTE_US).label("minute")
    query = (
        select(minute, func.count()).where(events.c.timestamp >= start * MINUTE_US).group_by(minute)
    )
    with state.store.engine.connect() as conn:
        found = {int(m): int(n) for m, n in conn.execute(query).all()}
    minutes = list(range(start, end + 1))
    labels = [datetime.fromtimestamp(m * 60, UTC).isoformat() for m in minutes]
    return labels, [found.get(m, 0) for m in minutes]


def _live_chart(labels: list[str], counts: list[int]) -> str:
    return _chart(
        [{"type": "scatter", "mode": "lines", "fill": "tozeroy", "x": labels, "y": counts}],
        xaxis={"type": "date"},
        yaxis={"rangemode": "tozero"},
        height=220,
    )


@router.get("/api/live")
def live(request: Request) -> Response:
    """Events per minute for the Overview's live chart (polled by the page's script)."""
    if _admin_key(request, _session(request)) is None:
        return JSONResponse({"error": {"code": "unauthorized", "message": "log in"}}, 401)
    labels, counts = events_per_minute(_state(request), datetime.now(UTC))
    return JSONResponse({"x": labels, "y": counts}, headers={"Cache-Control": "no-store"})


def revenue_per_day(state: ServiceState) -> list[tuple[str, float]]:
    """Purchase revenue per UTC day over the :data:`EVENT_DAYS` days up to the latest event."""
    events = state.store.tables.events
    with state.store.engine.connect() as conn:
        last = conn.execute(select(func.max(events.c.timestamp))).scalar_one()
        if last is None:
            return []
        since = (int(last) // DAY_US - EVENT_DAYS + 1) * DAY_US
        day = (events.c.timestamp // DAY_US).label("day")
        query = (
            select(day, func.sum(events.c.revenue))
            .where(events.c.timestamp >= since, events.c.event_type == "purchase")
            .group_by(day)
            .order_by(day)
        )
        rows = conn.execute(query).all()
    return [
        (datetime.fromtimestamp(int(d) * 86400, UTC).date().isoformat(), float(v or 0.0))
        for d, v in rows
    ]


def _nan_to_none(values: Any) -> list[float | None]:
    return [None if v is None or not math.isfinite(float(v)) else float(v) for v in values]


def _as_datetime(value: Any) -> datetime | None:
    """A registry timestamp (pandas Timestamp or datetime) as a datetime, else None."""
    if isinstance(value, datetime):
        out: datetime = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
        return out
    return None


def _age(lang: str, then: datetime, now: datetime) -> str:
    from babel.dates import format_timedelta

    from campaignrec.service.console.i18n import LOCALES

    return str(
        format_timedelta(then - now, locale=LOCALES[lang], add_direction=True)
    )  # past: "ago"


@router.get("/overview")
def overview(request: Request) -> Response:
    guard = _guard(request)
    if isinstance(guard, Response):
        return guard
    session, _key = guard
    state = _state(request)
    now = datetime.now(UTC)
    live = [c for c in state.catalog.get().live(now) if c.status == "active"]
    counts = [
        ("count_users", state.store.count("users")),
        ("count_items", state.store.count("items")),
        ("count_events", state.store.count("events")),
        ("count_active_campaigns", len(live)),
    ]
    model = None
    try:
        row = active_model_row(state.store)
    except CampaignrecError:
        row = None
    if row is not None:
        created_dt = _as_datetime(row.get("created_at"))
        model = {
            "name": row["name"],
            "version": row["version"],
            "created": created_dt,
            "age": _age(_lang(request), created_dt, now) if created_dt else "",
        }
    per_day = events_per_day(state)
    chart = None
    if per_day:
        lang = _lang(request)
        chart = _chart(
            [
                {
                    "type": "bar",
                    "x": [d for d, _ in per_day],
                    "y": [n for _, n in per_day],
                    "name": translate(lang, "events_per_day"),
                    "marker": {"color": "#2f6fde"},
                }
            ],
            xaxis={"type": "date"},
        )
    lang = _lang(request)
    rates_chart = revenue_chart = None
    if per_day:
        by_day = shop_analytics(state.store, profiles_dir(state.settings.home)).by_day
        by_day = by_day[by_day["day"] >= per_day[0][0]]
        if len(by_day):
            rates_chart = _chart(
                [
                    {
                        "type": "scatter",
                        "mode": "lines+markers",
                        "x": list(by_day["day"]),
                        "y": _nan_to_none(by_day[column]),
                        "name": translate(lang, key),
                    }
                    for column, key in (("view_to_click", "ctr"), ("overall", "conversion"))
                ],
                xaxis={"type": "date"},
                yaxis={"tickformat": ".0%", "rangemode": "tozero"},
                legend={"orientation": "h", "y": -0.25},
            )
        revenue = revenue_per_day(state)
        if revenue:
            revenue_chart = _chart(
                [
                    {
                        "type": "bar",
                        "x": [d for d, _ in revenue],
                        "y": [v for _, v in revenue],
                        "marker": {"color": "#1b9e77"},
                    }
                ],
                xaxis={"type": "date"},
            )
    return _render(
        request,
        "overview.html",
        session,
        title_key="overview_title",
        active="nav_overview",
        counts=counts,
        model=model,
        events_chart=chart,
        live_chart=_live_chart(*events_per_minute(state, now)),
        rates_chart=rates_chart,
        revenue_chart=revenue_chart,
        charts=True,
    )


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


def _finite(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


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
    except CampaignrecError as exc:
        return _not_plannable(lang, getattr(exc, "field", None), str(exc))
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
            "source": out.source,
            "strategies": strategies,
        },
        headers={"Cache-Control": "no-store"},
    )


# ---- shopper lookup -----------------------------------------------------------------------------


def _card_value(fmt: Formatter, key: str, value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value[:8]) or "—"
    if key == "monetary":
        return fmt.money(value)
    if key == "p_purchase_30d":
        return fmt.percent(value)
    if isinstance(value, float):
        return fmt.number(value, 2)
    return str(value)


@router.get("/lookup")
def lookup(request: Request, user_id: str = "") -> Response:
    guard = _guard(request)
    if isinstance(guard, Response):
        return guard
    session, key = guard
    user_id = user_id.strip()[:256]
    context: dict[str, Any] = {"user_id": user_id}
    if user_id:
        state = _state(request)
        lang = _lang(request)
        fmt = Formatter(lang)
        prof = users_api.profile(user_id, state, key)
        attrs = prof.attributes
        context["known"] = prof.known
        context["recent"] = prof.recent_items
        context["profile"] = [
            (k, _card_value(fmt, k, attrs[k])) for k in PROFILE_CARD if attrs.get(k) is not None
        ]
        now = datetime.now(UTC)
        rows: list[dict[str, Any]] = []
        context["eligibility_error"] = None
        for c in state.catalog.get():
            try:
                res = check_eligibility(
                    state.store, c.campaign_id, state.stored_id(user_id), now, lambda: state.online
                )
            except UnknownIdError as exc:
                context["eligibility_error"] = str(exc)
                rows = []
                break
            rows.append(
                {
                    "campaign_id": c.campaign_id,
                    "name": (c.title_zh if lang == "zh" else c.title_en) or c.name,
                    "eligible": res.eligible,
                    "text": res.text(lang),
                }
            )
        context["eligibility"] = sorted(rows, key=lambda r: (not r["eligible"], r["campaign_id"]))
        try:
            context["recs"] = users_api.recommendations(
                user_id,
                state,
                key,
                k=10,
                context=None,
                item_id=None,
                session_id=None,
                exclude=None,
                categories=None,
                brands=None,
                price_min=None,
                price_max=None,
                diversity=None,
                lang=lang,
                accept_language=None,
            )
            context["recs_error"] = None
        except (ApiError, CampaignrecError) as exc:
            context["recs"], context["recs_error"] = None, _message(exc)
    return _render(
        request, "lookup.html", session, title_key="lookup_title", active="nav_lookup", **context
    )


# ---- shoppers and models ------------------------------------------------------------------------


def _bar(labels: list[str], values: list[int], color: str) -> str:
    return _chart(
        [{"type": "bar", "x": labels, "y": values, "marker": {"color": color}}],
        xaxis={"automargin": True},
    )


def _heatmap(
    z: list[list[float | None]], x: list[Any], y: list[str], fmt: str, **layout: Any
) -> str:
    return _chart(
        [
            {
                "type": "heatmap",
                "z": z,
                "x": x,
                "y": y,
                "colorscale": "Blues",
                "reversescale": True,
                "hoverongaps": False,
                "texttemplate": fmt if len(x) * len(y) <= 150 else "",
                "showscale": False,
            }
        ],
        **layout,
    )


def _behaviour_charts(state: ServiceState, lang: str, profiles: pd.DataFrame) -> dict[str, str]:
    """The funnel by segment, the weekday x hour heatmap, cohort retention and the RFM grid."""
    from babel.dates import get_day_names

    from campaignrec.profiles.analytics import FUNNEL_STAGES
    from campaignrec.service.console.i18n import LOCALES

    out: dict[str, str] = {}
    found = shop_analytics(state.store, profiles_dir(state.settings.home))
    if found.by_segment is not None and len(found.by_segment):
        seg = found.by_segment
        out["funnel_chart"] = _chart(
            [
                {
                    "type": "bar",
                    "name": translate(lang, f"stage_{stage}"),
                    "x": [str(v) for v in seg["segment"]],
                    "y": [int(v) for v in seg[stage]],
                }
                for stage in FUNNEL_STAGES
            ],
            barmode="group",
            yaxis={"type": "log"},
            legend={"orientation": "h", "y": -0.3},
        )
    hm = found.heatmap
    if len(hm):
        names = get_day_names("abbreviated", locale=LOCALES[lang])
        grid = hm.pivot_table(index="weekday", columns="hour", values="events", aggfunc="sum")
        grid = grid.reindex(index=range(7), columns=range(24), fill_value=0)
        out["heatmap_chart"] = _heatmap(
            [[float(v) for v in row] for row in grid.to_numpy()],
            list(range(24)),
            [str(names[d]) for d in range(7)],
            "",
            yaxis={"autorange": "reversed"},
        )
    coh = found.cohorts
    if len(coh):
        coh = coh[coh["size"] > 0].tail(12)
        months = [c for c in coh.columns if c != "size"][:12]
        out["cohort_chart"] = _heatmap(
            [_nan_to_none(list(row)) for row in coh[months].to_numpy()],
            months,
            [str(i) for i in coh.index],
            "%{z:.0%}",
            xaxis={"title": {"text": translate(lang, "months_after")}},
            yaxis={"autorange": "reversed", "type": "category"},
        )
    if {"r_score", "f_score"} <= set(profiles.columns):
        rf = profiles.dropna(subset=["r_score", "f_score"])
        if len(rf):
            grid = pd.crosstab(rf["r_score"].astype(int), rf["f_score"].astype(int))
            out["rfm_grid_chart"] = _heatmap(
                [[float(v) for v in row] for row in grid.to_numpy()],
                [int(c) for c in grid.columns],
                [str(int(i)) for i in grid.index],
                "%{z}",
                xaxis={"title": {"text": translate(lang, "f_score")}, "type": "category"},
                yaxis={"title": {"text": translate(lang, "r_score")}, "type": "category"},
            )
    return out


@router.get("/shoppers")
def shoppers(request: Request) -> Response:
    guard = _guard(request)
    if isinstance(guard, Response):
        return guard
    session, _key = guard
    state = _state(request)
    lang = _lang(request)
    directory = profiles_dir(state.settings.home)
    context: dict[str, Any] = {"segments": []}
    if has_saved_profiles(directory):
        result = load_profiles(directory)
        profiles = result.profiles
        sizes = (
            profiles["segment"].value_counts().to_dict() if "segment" in profiles.columns else {}
        )
        segments = []
        if result.segments is not None:
            table = result.segments.table()
            for row in table.to_dict("records"):
                sid = row["segment"]
                segments.append(
                    {
                        "name": row["name_zh" if lang == "zh" else "name_en"],
                        "size": int(sizes.get(sid, 0)),
                        "description": row["description_zh" if lang == "zh" else "description_en"],
                    }
                )
        context["segments"] = segments
        context["segments_chart"] = _bar(
            [s["name"] for s in segments], [s["size"] for s in segments], "#2f6fde"
        )
        for column, name, color in (
            ("rfm_segment", "rfm_chart", "#1b9e77"),
            ("lifecycle", "lifecycle_chart", "#d95f02"),
        ):
            if column in profiles.columns:
                counts = profiles[column].dropna().astype(str).value_counts()
                context[name] = _bar(list(counts.index), [int(v) for v in counts], color)
        context.update(_behaviour_charts(state, lang, profiles))
        context["charts"] = bool(segments)
    return _render(
        request,
        "shoppers.html",
        session,
        title_key="shoppers_title",
        active="nav_shoppers",
        **context,
    )


@router.get("/models")
def models_page(request: Request) -> Response:
    guard = _guard(request)
    if isinstance(guard, Response):
        return guard
    session, key = guard
    state = _state(request)
    listed = models_api.list_models(state, key).models
    registry = state.store.list_models()
    extra = {(str(r["name"]), str(r["version"])): r for r in registry.to_dict("records")}
    rows = []
    for m in listed:
        r: dict[Any, Any] = extra.get((m.name, m.version)) or {}
        meta = r.get("meta")
        metrics = meta.get("metrics") if isinstance(meta, dict) else None
        metrics = metrics if isinstance(metrics, dict) else {}
        rows.append(
            {
                "name": m.name,
                "version": m.version,
                "active": m.active,
                "created": _as_datetime(r.get("created_at")),
                "metrics": [
                    (k, v) for k, v in sorted(metrics.items()) if isinstance(v, int | float)
                ][:6],
            }
        )
    rows.sort(key=lambda r: (r["name"], r["version"]), reverse=True)
    board, board_metric, board_version = _last_leaderboard(registry)
    return _render(
        request,
        "models.html",
        session,
        title_key="models_title",
        active="nav_models",
        models=rows,
        board=board,
        board_metric=board_metric,
        board_version=board_version,
    )


def _last_leaderboard(registry: pd.DataFrame) -> tuple[list[dict[str, Any]], str, str]:
    """The validation leaderboard the newest ``campaignrec train`` chose its default from (kept
    in the trained version's ``meta.metrics.selection``): rows, metric name, version."""
    if registry.empty or "meta" not in registry.columns:
        return [], "", ""
    ordered = registry.sort_values("created_at") if "created_at" in registry else registry
    for record in reversed(ordered.to_dict("records")):
        meta = record.get("meta")
        metrics = meta.get("metrics") if isinstance(meta, dict) else None
        selection = metrics.get("selection") if isinstance(metrics, dict) else None
        board = selection.get("leaderboard") if isinstance(selection, dict) else None
        if isinstance(selection, dict) and isinstance(board, list) and board:
            validation = selection.get("validation") or {}
            rows = [
                {"rank": n, "name": str(r.get("name")), "score": _finite(r.get("score"))}
                for n, r in enumerate(board, 1)
                if isinstance(r, dict)
            ]
            return rows, str(validation.get("metric", "")), str(record.get("version"))
    return [], "", ""


@router.post("/models/activate")
async def activate_model(request: Request) -> Response:
    checked = await _checked_form(request)
    if isinstance(checked, Response):
        return checked
    session, key, form = checked
    try:
        models_api.activate(
            form.get("name", ""), ActivateIn(version=form.get("version", "")), _state(request), key
        )
    except (CampaignrecError, ValueError) as exc:
        return _render(
            request,
            "message.html",
            session,
            title_key="error",
            status_code=404,
            message=_message(exc),
        )
    return RedirectResponse(f"{PREFIX}/models?done=model_activated", status_code=303)


# ---- experiments --------------------------------------------------------------------------------


@router.get("/experiments")
def experiments_page(request: Request) -> Response:
    guard = _guard(request)
    if isinstance(guard, Response):
        return guard
    session, key = guard
    found = experiments_api.list_all(_state(request), key, layer=None).experiments
    return _render(
        request,
        "experiments.html",
        session,
        title_key="experiments_title",
        active="nav_experiments",
        experiments=found,
    )


@router.get("/experiments/{experiment_id}")
def experiment_page(request: Request, experiment_id: str) -> Response:
    guard = _guard(request)
    if isinstance(guard, Response):
        return guard
    session, key = guard
    state = _state(request)
    try:
        exp = experiments_api.read(experiment_id, state, key)
        result = experiments_api.results(experiment_id, state, key, at=None)
    except (CampaignrecError, ApiError) as exc:
        status = 404 if isinstance(exc, UnknownIdError) else 422
        return _render(
            request,
            "message.html",
            session,
            title_key="error",
            status_code=status,
            message=_message(exc),
        )
    return _render(
        request,
        "experiment.html",
        session,
        title_key="experiments_title",
        active="nav_experiments",
        exp=exp,
        result=result,
        variants=list(result.get("variants", {}).items()),
    )
