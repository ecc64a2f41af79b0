"""The access-audit middleware: hands every audited request to the service's
:class:`campaignrec.privacy.audit.AccessAuditor` after its response is sent.

Pure ASGI (no per-request task). Who acted comes from the request's state: ``audit_actor``
(set by the console for its session's key or user) or ``key_id`` (set by the API's key check),
else ``anonymous``; whether the route needs ``admin`` from ``required_scope`` (set by the same
check). Which requests are audited: :func:`campaignrec.privacy.audit.audited`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from campaignrec.privacy.audit import TARGET_QUERY_PARAMS, audited


def _actor(state: dict[str, Any]) -> str:
    if state.get("audit_actor"):
        return str(state["audit_actor"])
    if state.get("key_id") is not None:
        return f"api-key:{state['key_id']}"
    return "anonymous"


class AuditMiddleware:
    """Records audited requests (writes, admin reads, console pages) with who made them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            self._record(scope, status)

    @staticmethod
    def _record(scope: Scope, status: int) -> None:
        service = getattr(getattr(scope.get("app"), "state", None), "service", None)
        auditor = getattr(service, "audit", None)
        if auditor is None:
            return
        state: dict[str, Any] = scope.get("state") or {}
        path = str(scope.get("path", ""))
        console = path.startswith("/console")
        method = str(scope.get("method", "GET"))
        admin_route = state.get("required_scope") == "admin"
        settings = getattr(service, "settings", None)
        key_read = bool(getattr(settings, "audit_reads", False)) and state.get("key_id") is not None
        if not audited(
            method, path, admin_route, console and bool(state.get("audit_actor")), key_read
        ):
            return
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        params: dict[str, Any] = dict(scope.get("path_params") or {})
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        for key in TARGET_QUERY_PARAMS:
            if key in query and key not in params:
                params[key] = query[key]
        auditor.record(
            actor=_actor(state),
            method=method,
            route=str(route),
            status=status,
            channel="console" if console else "api",
            params=params,
            request_id=state.get("request_id"),
        )
