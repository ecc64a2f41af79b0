"""Our errors mapped once to HTTP: JSON ``{"error": {code, message, field, request_id}}``.

ValidationError -> 422, UnknownIdError -> 404, ConfigError -> 400, StoreError -> 503; FastAPI's
own request validation -> 422 with the field path. Nothing a caller sends becomes a 500.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from campaignrec.errors import (
    CampaignrecError,
    ConfigError,
    StoreError,
    UnknownIdError,
    ValidationError,
)


class ApiError(Exception):
    """An error with its HTTP status and code, raised by the service's own checks."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}


def error_body(request: Request, code: str, message: str, field: str | None) -> dict[str, Any]:
    rid = getattr(request.state, "request_id", None)
    return {"error": {"code": code, "message": message, "field": field, "request_id": rid}}


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        error_body(request, code, message, field), status_code=status, headers=headers
    )


def _status_of(exc: CampaignrecError) -> tuple[int, str, str | None]:
    if isinstance(exc, ValidationError):
        return 422, "validation_error", exc.field
    if isinstance(exc, UnknownIdError):
        return 404, "not_found", exc.kind
    if isinstance(exc, ConfigError):
        return 400, "bad_request", None
    if isinstance(exc, StoreError):
        return 503, "store_unavailable", None
    return 400, "bad_request", None


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every error into the one JSON shape."""

    async def on_api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(request, exc.status, exc.code, exc.message, exc.field, exc.headers)

    async def on_ours(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, CampaignrecError)
        status, code, field = _status_of(exc)
        return error_response(request, status, code, str(exc), field)

    async def on_request_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        loc = [str(p) for p in first.get("loc", ())]
        field = ".".join(loc[1:] if loc and loc[0] in ("body", "query", "path", "header") else loc)
        return error_response(
            request, 422, "validation_error", f"{field or 'request'}: {first['msg']}", field or None
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(request, exc.status_code, code, str(exc.detail), None)

    app.add_exception_handler(ApiError, on_api_error)
    app.add_exception_handler(CampaignrecError, on_ours)
    app.add_exception_handler(RequestValidationError, on_request_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
