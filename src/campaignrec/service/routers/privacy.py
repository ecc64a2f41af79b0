"""``DELETE /v1/users/{user_id}``: erase a shopper everywhere; ``GET /v1/audit``: the audit log
(both admin scope).

The route calls :func:`campaignrec.privacy.erasure.erase_users` with the service's own online
state (so an in-process ``memory://`` state is cleared too), then reloads the active model from
its rewritten artifact so that no request is served from the copy held before erasure.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict

from campaignrec.service.deps import AdminKey, State

router = APIRouter(tags=["privacy"])


class ErasureOut(BaseModel):
    """What was removed (the shopper named by a keyed hash only) and the check afterwards."""

    model_config = ConfigDict(extra="forbid")

    subjects: list[str]
    actor: str
    removed: dict[str, Any]
    online_note: str | None = None
    retrain_required: list[str]
    scrub: dict[str, Any]
    verified: bool
    remaining: dict[str, Any]
    audit_ids: list[int]


class AuditRecordOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    audit_id: int
    at: str
    actor: str
    action: str
    subject: str | None = None
    detail: dict[str, Any]


class AuditOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    records: list[AuditRecordOut]


@router.get("/v1/audit", response_model=AuditOut)
def audit_log(
    state: State,
    _key: AdminKey,
    since: Annotated[
        datetime | None, Query(description="only records at or after (ISO 8601)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000, description="the newest N")] = 1000,
) -> AuditOut:
    """Who did what and when: access records of the API and console, erasures, retention runs
    and DP releases, oldest first. Shoppers appear only as keyed hashes."""
    from campaignrec.privacy.audit import read_audit

    state.audit.flush()  # what was queued before this request is shown
    return AuditOut(
        records=[AuditRecordOut(**r) for r in read_audit(state.store, since=since, limit=limit)]
    )


@router.delete("/v1/users/{user_id}", response_model=ErasureOut)
def erase_user(
    user_id: Annotated[str, Path(min_length=1, max_length=256)],
    state: State,
    key: AdminKey,
) -> ErasureOut:
    from campaignrec.privacy.erasure import erase_users

    report = erase_users(
        state.settings,
        state.store,
        [user_id],
        actor=f"api-key:{key.id}",
        online=state.online,
    )
    state.results.clear()  # other workers: the results epoch erase_users set anew
    state.version = None  # the artifact was rewritten in place: load it again
    state.refresh(force=True)
    return ErasureOut(**report.to_dict())
