"""``/healthz`` (alive) and ``/readyz`` (store, online state and a model)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from campaignrec.service.deps import State
from campaignrec.service.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
def readyz(state: State) -> JSONResponse:
    checks = {"store": False, "online": False, "model": state.ranker is not None}
    try:
        state.store.count("models")
        checks["store"] = True
    except Exception:  # a down store is the answer here, not an error
        pass
    try:
        state.online.get("readyz")
        checks["online"] = True
    except Exception:
        pass
    ok = all(checks.values())
    body = Health(status="ready" if ok else "not_ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
