"""Dependencies of the routes, as ``Annotated`` aliases."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from campaignrec.service.auth import ApiKey
from campaignrec.service.errors import ApiError
from campaignrec.service.state import ServiceState


async def get_state(request: Request) -> ServiceState:
    """The service's state (async: cheap dependencies run on the event loop, not a thread)."""
    state: ServiceState = request.app.state.service
    return state


State = Annotated[ServiceState, Depends(get_state)]


def require(scope: str) -> Callable[..., Awaitable[ApiKey]]:
    """A dependency: a valid ``Authorization: Bearer`` key holding ``scope`` (admin holds all)."""

    async def check(request: Request, state: State) -> ApiKey:
        request.state.required_scope = scope  # the access audit records admin reads
        header = request.headers.get("authorization", "")
        kind, _, token = header.partition(" ")
        if kind.lower() != "bearer" or not token:
            raise ApiError(401, "unauthorized", "missing API key: send Authorization: Bearer KEY")
        key = state.keys.verify(token.strip())
        if key is None:
            raise ApiError(401, "unauthorized", "unknown or revoked API key")
        request.state.key_id = key.id  # before the scope check: a refused key is named too
        if scope not in key.scopes and "admin" not in key.scopes:
            raise ApiError(403, "forbidden", f"this key lacks the '{scope}' scope")
        wait = state.bucket.take(key.id)
        if wait > 0:
            raise ApiError(
                429,
                "rate_limited",
                "too many requests for this key",
                headers={"Retry-After": str(max(1, int(wait + 0.999)))},
            )
        return key

    return check


ReadKey = Annotated[ApiKey, Depends(require("read"))]
IngestKey = Annotated[ApiKey, Depends(require("ingest"))]
AdminKey = Annotated[ApiKey, Depends(require("admin"))]


def language(lang: str | None, accept: str | None) -> str:
    """``zh`` for zh / zh-CN (query first, then Accept-Language), else ``en``."""
    for raw in (lang, accept):
        if raw:
            first = raw.split(",")[0].split(";")[0].strip().lower()
            return "zh" if first.startswith("zh") else "en"
    return "en"


def on_event_loop(fn: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    """An ``async`` route endpoint that runs the plain function ``fn`` on the event loop.

    For CPU work of a few milliseconds under the GIL (ranking), which a thread-pool handler
    serves more slowly under concurrency; ``fn`` stays callable as a plain function (the console
    calls it). FastAPI reads the parameters from ``fn``'s signature.
    """

    @functools.wraps(fn)
    async def endpoint(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return endpoint
