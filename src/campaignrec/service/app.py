"""The FastAPI application: ``create_app(settings)``.

The lifespan opens the store, the online state, the key store and the ranker once. Every request
gets an ``X-Request-ID``; bodies over ``api_max_body_bytes`` are refused with 413; request counts
and latencies go to a per-app Prometheus registry served at ``/metrics``. The active model is
re-checked at most every ``model_check_seconds``, so an activation swaps it without a restart.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from campaignrec.config import Settings, load_settings
from campaignrec.service.access import AuditMiddleware
from campaignrec.service.console import router as console_router
from campaignrec.service.deps import AdminKey
from campaignrec.service.errors import error_response, install_error_handlers
from campaignrec.service.routers import (
    campaigns,
    events,
    health,
    items,
    models,
    privacy,
    search,
    users,
)
from campaignrec.service.routers import experiments as experiments_router
from campaignrec.service.routers import push as push_router
from campaignrec.service.state import ServiceState

log = logging.getLogger("campaignrec.service")


def _route_template(request: Request) -> str:
    found = request.scope.get("route")
    if found is not None and getattr(found, "path", None):
        return str(found.path)
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match == Match.FULL:
            return str(getattr(route, "path", "unmatched"))
    return "unmatched"


class FrameMiddleware:
    """Pure ASGI middleware around every HTTP request (no per-request task or stream).

    Gives each request an ``X-Request-ID``, refuses a declared body over ``api_max_body_bytes``
    with 413, lets the service check for a newly activated model, and records the request count
    and latency by route template and status (never ids of users or keys) in the metrics and log.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.limit = settings.api_max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter()
        status = 500
        rid_header = (b"x-request-id", rid.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message = {**message, "headers": [*message.get("headers", []), rid_header]}
            await send(message)

        request = Request(scope)
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            response = error_response(
                request, 413, "body_too_large", f"request body over {self.limit} bytes", None
            )
            await response(scope, receive, send_with_id)
        else:
            service: ServiceState | None = getattr(request.app.state, "service", None)
            if service is not None:
                service.refresh()
            await self.app(scope, receive, send_with_id)
        service = getattr(request.app.state, "service", None)
        route = _route_template(request)
        if service is not None:
            service.metrics.requests.labels(route, request.method, str(status)).inc()
            service.metrics.latency.labels(route, request.method).observe(
                time.perf_counter() - started
            )
        log.info("request", extra={"route": route, "status": status, "request_id": rid})


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service for ``settings`` (default: :func:`campaignrec.config.load_settings`)."""
    cfg = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.service = ServiceState(cfg)
        try:
            yield
        finally:
            app.state.service.close()

    app = FastAPI(title="campaignrec", version="1", lifespan=lifespan)
    install_error_handlers(app)
    if cfg.api_cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=cfg.api_cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
        )

    app.add_middleware(FrameMiddleware, settings=cfg)
    app.add_middleware(AuditMiddleware)  # outermost: a write the frame refuses (413) is audited

    @app.get("/metrics", include_in_schema=False)
    def metrics(request: Request, _key: AdminKey) -> Response:
        state: ServiceState = request.app.state.service
        return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    routers = (health, events, users, items, search, models, campaigns, privacy, experiments_router)
    for module in (*routers, push_router):
        app.include_router(module.router)
    app.include_router(console_router)
    return app


def create_app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` (several workers): settings from the environment."""
    return create_app(load_settings())
