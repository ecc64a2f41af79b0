"""Shared by the console's pages: the router, session and language, rendering, charts."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.templating import Jinja2Templates

from campaignrec.service.auth import ApiKey
from campaignrec.service.console.i18n import Formatter, pick_lang, translate
from campaignrec.service.console.session import (
    LANG_COOKIE,
    MAX_AGE_SECONDS,
    SESSION_COOKIE,
    Session,
    SessionCodec,
    console_secret,
    csrf_ok,
)
from campaignrec.service.console.users import ConsoleUsers
from campaignrec.service.deps import language
from campaignrec.service.errors import ApiError
from campaignrec.service.state import ServiceState

PREFIX = "/console"
HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=str(HERE / "templates"))
NAV = (
    ("nav_overview", "/overview"),
    ("nav_campaigns", "/campaigns"),
    ("nav_experiments", "/experiments"),
    ("nav_push", "/push"),
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
                request.state.audit_actor = f"api-key:{key.id}"  # who the access audit names
                return key
        return None
    if session.user_id is not None:
        user = _users(request).get(session.user_id)
        if user is not None and not user.disabled:
            request.state.audit_actor = f"console-user:{user.username}"
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


FLASHES = (
    "campaign_created",
    "model_activated",
    "experiment_created",
    "push_planned",
    "push_approved",
    "push_sent",
    "push_sending",
)


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


def _date_axis(days: list[str]) -> dict[str, Any]:
    """An x axis of ISO days; a single day is shown with a day either side (plotly would
    otherwise zoom to milliseconds around it)."""
    axis: dict[str, Any] = {"type": "date"}
    if len(set(days)) == 1:
        from datetime import date, timedelta

        day = date.fromisoformat(str(days[0])[:10])
        axis["range"] = [str(day - timedelta(days=1)), str(day + timedelta(days=1))]
        axis["dtick"] = 86_400_000
    return axis


def _bar(
    labels: list[Any], values: list[Any], color: str, *, name: str = "", dates: bool = False
) -> str:
    """A one-series bar chart (days along x when ``dates``)."""
    trace: dict[str, Any] = {"type": "bar", "x": labels, "y": values, "marker": {"color": color}}
    if name:
        trace["name"] = name
    return _chart([trace], xaxis=_date_axis(labels) if dates else {"automargin": True})


def _as_datetime(value: Any) -> datetime | None:
    """A registry timestamp (pandas Timestamp or datetime) as a datetime, else None."""
    if isinstance(value, datetime):
        out: datetime = value.to_pydatetime() if hasattr(value, "to_pydatetime") else value
        return out
    return None


def _nan_to_none(values: Any) -> list[float | None]:
    return [None if v is None or not math.isfinite(float(v)) else float(v) for v in values]


def _finite(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None
