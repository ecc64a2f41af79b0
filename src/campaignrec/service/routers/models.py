"""``GET /v1/models`` and ``POST /v1/models/{name}/activate``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from campaignrec.service.deps import AdminKey, ReadKey, State
from campaignrec.service.schemas import ActivateIn, ModelOut, ModelsOut

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("", response_model=ModelsOut)
def list_models(state: State, _key: ReadKey) -> ModelsOut:
    df = state.store.list_models()
    return ModelsOut(
        models=[
            ModelOut(
                name=str(r["name"]),
                version=str(r["version"]),
                active=bool(r["active"]),
                path=str(r["path"]),
            )
            for r in df.to_dict("records")
        ]
    )


@router.post("/{name}/activate", response_model=ModelsOut)
def activate(
    name: Annotated[str, Path(min_length=1, max_length=128)],
    body: ActivateIn,
    state: State,
    _key: AdminKey,
) -> ModelsOut:
    state.store.activate_model(name, body.version)
    state.refresh(force=True)
    return list_models(state, _key)
