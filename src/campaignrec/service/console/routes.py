"""The console's pages under ``/console``: thin handlers over the API's own route functions.

Each page calls the same functions the HTTP API serves (``service.routers``) with the logged-in
admin key, so what the console shows is what the API answers: the campaigns list and writes, the
planner's preview, a shopper's profile and live recommendations, the models and their
activation. Pages are server-rendered Jinja2 templates; charts are drawn by the ``plotly``
package's own ``plotly.min.js``, served from the installed package (no CDN).
"""

from __future__ import annotations

import math

from fastapi import Request, Response
from fastapi.responses import FileResponse, RedirectResponse

from campaignrec.service.console.common import (
    PREFIX,
    _admin_key,
    _checked_form,
    _csrf_refused,
    _lang,
    _render,
    _session,
    _set_cookies,
    _state,
    _static_files,
    _users,
    router,
)
from campaignrec.service.console.i18n import translate
from campaignrec.service.console.session import (
    SESSION_COOKIE,
    Session,
    csrf_ok,
    new_session,
)
from campaignrec.service.console.throttle import LoginThrottle, account_key
from campaignrec.service.errors import ApiError

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
    return _login_page(request, session, request.query_params.get("next"))


def _throttle(request: Request) -> LoginThrottle:
    throttle: LoginThrottle | None = getattr(request.app.state, "console_throttle", None)
    if throttle is None:
        throttle = LoginThrottle()
        request.app.state.console_throttle = throttle
    return throttle


def _login_page(
    request: Request,
    session: Session,
    next_page: str | None,
    status: int = 200,
    message: str | None = None,
) -> Response:
    return _render(
        request,
        "login.html",
        session,
        title_key="login_title",
        logged_in=False,
        status_code=status,
        error=message,
        next=_safe_next(next_page),
    )


@router.post("/login")
async def login(request: Request) -> Response:
    """Log in with an admin API key or a console user's name and password. Failed attempts
    are rate limited per address and per account (:mod:`.throttle`): past the limit, 429 with
    ``Retry-After`` and the attempt is not checked."""
    session = _session(request)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    lang = _lang(request)
    if session is None or not csrf_ok(session, form.get("csrf")):
        return _csrf_refused(request, session or new_session())
    username = form.get("username", "").strip()
    keys = (
        "ip:" + (request.client.host if request.client else "unknown"),
        account_key(username, form.get("key", "")),
    )
    throttle = _throttle(request)
    wait = throttle.retry_after(*keys)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        message = translate(lang, "login_throttled").format(seconds=seconds)
        response = _login_page(request, session, form.get("next"), 429, message)
        response.headers["Retry-After"] = str(seconds)
        return response
    user_id = key_id = None
    if username:  # a console user and password
        user = _users(request).verify(username[:64], form.get("password", ""))
        request.state.audit_actor = f"console-user:{username[:64]}"  # the attempt is audited
        error, status = (None, 200) if user else (translate(lang, "login_wrong_password"), 401)
        user_id = user.id if user else None
    else:
        key = _state(request).keys.verify(form.get("key", "").strip())
        error, status = None, 200
        if key is None:
            error, status = translate(lang, "login_wrong"), 401
        else:
            request.state.audit_actor = f"api-key:{key.id}"
            if "admin" not in key.scopes:
                error, status = translate(lang, "login_not_admin"), 403
        key_id = key.id if key is not None else None
    if error is not None:
        throttle.failed(*keys)
        return _login_page(request, session, form.get("next"), status, error)
    throttle.succeeded(keys[1])
    response = RedirectResponse(_safe_next(form.get("next")), status_code=303)
    fresh = new_session(user_id=user_id) if user_id is not None else new_session(key_id)
    _set_cookies(request, response, fresh)  # a fresh token at the login
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    checked = await _checked_form(request)
    if isinstance(checked, Response):
        return checked
    response = RedirectResponse(f"{PREFIX}/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


# the pages register their routes on ``router`` when imported
from campaignrec.service.console import (  # noqa: E402
    campaign_pages,  # noqa: F401
    experiment_pages,  # noqa: F401
    overview,  # noqa: F401
    push_pages,  # noqa: F401
    shopper_pages,  # noqa: F401
)
