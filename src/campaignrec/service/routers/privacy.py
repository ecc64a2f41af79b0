"""``DELETE /v1/users/{user_id}``: erase a shopper everywhere (admin scope).

The route calls :func:`campaignrec.privacy.erasure.erase_users` with the service's own online
state (so an in-process ``memory://`` state is cleared too), then reloads the active model from
its rewritten artifact so that no request is served from the copy held before erasure.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict

from campaignrec.service.deps import AdminKey, State

router = APIRouter(prefix="/v1/users", tags=["privacy"])


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


@router.delete("/{user_id}", response_model=ErasureOut)
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
    state.version = None  # the artifact was rewritten in place: load it again
    state.refresh(force=True)
    return ErasureOut(**report.to_dict())
