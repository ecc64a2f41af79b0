"""``GET /v1/items/{id}/similar``."""

from __future__ import annotations

import functools
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request

from campaignrec.service.deps import IngestKey, ReadKey, State, language
from campaignrec.service.errors import ApiError
from campaignrec.service.routers.users import cached_answer, items_out
from campaignrec.service.rows import validate_rows
from campaignrec.service.schemas import ItemBatch, ItemsOut, SimilarOut

router = APIRouter(prefix="/v1/items", tags=["items"])


def similar(
    item_id: Annotated[str, Path(min_length=1, max_length=256)],
    state: State,
    _key: ReadKey,
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    lang: Annotated[str | None, Query(max_length=16)] = None,
    accept_language: Annotated[str | None, Header(max_length=256)] = None,
) -> SimilarOut:
    if state.ranker is None:
        raise ApiError(503, "no_model", "no trained model is active: run campaignrec train")
    ranked = state.ranker.similar(item_id, k, lang=language(lang, accept_language))
    return SimilarOut(
        item_id=item_id,
        items=items_out(ranked),
        model_name=ranked.model_name,
        model_version=ranked.model_version,
    )


@functools.wraps(similar)
async def similar_endpoint(**kwargs: Any) -> Any:
    return cached_answer(similar, "similar", kwargs)


router.add_api_route(  # on the event loop, as recommendations (see users.py)
    "/{item_id}/similar", similar_endpoint, methods=["GET"], response_model=SimilarOut
)


@router.post("", response_model=ItemsOut, responses={413: {}})
def post_items(batch: ItemBatch, request: Request, state: State, _key: IngestKey) -> ItemsOut:
    """Add or update catalogue items (validated by the importer's rules; bad rows quarantined).

    A new item gets content neighbours (title, category, brand) at once, before anyone touched
    it; a change of ``in_stock`` or ``hidden`` applies to the next requests. The served lists
    pick the change up within ``model_check_seconds``.
    """
    res, rejected = validate_rows(
        "items", batch.items, request, state.store, name="items", edge=state.edge
    )
    written = int(state.store.upsert_items(res.valid)) if len(res.valid) else 0
    if written:
        state.catalogue_changed()
    return ItemsOut(accepted=written, rejected=rejected)
