"""``GET /v1/items/{id}/similar``."""

from __future__ import annotations

import json
from typing import Annotated, Any

import polars as pl
from fastapi import APIRouter, Header, Path, Query, Request

from campaignrec.data.validation import validate_frame
from campaignrec.service.deps import IngestKey, ReadKey, State, language
from campaignrec.service.errors import ApiError
from campaignrec.service.routers.users import items_out
from campaignrec.service.schemas import MAX_BATCH, ItemBatch, ItemsOut, Rejected, SimilarOut

router = APIRouter(prefix="/v1/items", tags=["items"])


@router.get("/{item_id}/similar", response_model=SimilarOut)
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


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


@router.post("", response_model=ItemsOut, responses={413: {}})
def post_items(batch: ItemBatch, request: Request, state: State, _key: IngestKey) -> ItemsOut:
    """Add or update catalogue items (validated by the importer's rules; bad rows quarantined).

    A new item gets content neighbours (title, category, brand) at once, before anyone touched
    it; a change of ``in_stock`` or ``hidden`` applies to the next requests. The served lists
    pick the change up within ``model_check_seconds``.
    """
    if len(batch.items) > MAX_BATCH:
        raise ApiError(
            413, "batch_too_large", f"at most {MAX_BATCH} items per request", field="items"
        )
    rows = [i.model_dump(exclude_none=True) for i in batch.items]
    cols = sorted({k for r in rows for k in r})
    frame = pl.DataFrame(
        {c: [_text(r.get(c)) for r in rows] for c in cols}, schema={c: pl.String for c in cols}
    )
    rid = getattr(request.state, "request_id", "api")
    res = validate_frame("items", frame, source=f"api:{rid}")
    rejected = [
        Rejected(
            index=int(q["line"]) - 1,
            field=str(q["field"]) or None,
            reason=str(q["reason"]),
            value=None if q["value"] is None else str(q["value"]),
        )
        for q in res.quarantine.to_dict("records")
    ]
    if len(res.quarantine):
        state.store.insert_quarantine(res.quarantine)
    written = int(state.store.upsert_items(res.valid)) if len(res.valid) else 0
    if written:
        state.catalogue_changed()
    return ItemsOut(accepted=written, rejected=rejected)
