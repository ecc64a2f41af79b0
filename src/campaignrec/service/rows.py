"""Request rows through the importer's validation: the one path of ``POST /v1/events`` and
``POST /v1/items``.

Rows become text, as a file would give them, so :func:`campaignrec.data.validation.validate_frame`
applies exactly the importer's rules; the rejected rows are quarantined (source
``api:<request id>``) and reported with their index in the request, field and reason.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import polars as pl
from fastapi import Request
from pydantic import BaseModel

from campaignrec.data.validation import ValidationResult, validate_frame
from campaignrec.service.errors import ApiError
from campaignrec.service.schemas import MAX_BATCH, Rejected


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def validate_rows(
    entity: str,
    rows: Sequence[BaseModel],
    request: Request,
    store: Any,
    *,
    name: str,
    edge: Any = None,
) -> tuple[ValidationResult, list[Rejected]]:
    """Validate ``rows`` as ``entity`` rows, quarantine the bad ones, report them.

    ``edge`` (:class:`campaignrec.privacy.edge.PrivacyEdge`) is applied first, as at import:
    user ids pseudonymised and personal fields dropped or sealed before anything is stored.

    Raises
    ------
    ApiError
        413 over :data:`MAX_BATCH` rows (``name`` is the field named in the error).
    """
    if len(rows) > MAX_BATCH:
        raise ApiError(
            413, "batch_too_large", f"at most {MAX_BATCH} {name} per request", field=name
        )
    plain = [r.model_dump(exclude_none=True) for r in rows]
    cols = sorted({k for r in plain for k in r})
    frame = pl.DataFrame(
        {c: [_text(r.get(c)) for r in plain] for c in cols}, schema={c: pl.String for c in cols}
    )
    if edge is not None:
        frame = edge.apply(entity, frame)
    rid = getattr(request.state, "request_id", "api")
    res = validate_frame(entity, frame, source=f"api:{rid}")
    if edge is not None and len(res.quarantine):
        res.quarantine = edge.redact(res.quarantine)
    rejected = [
        Rejected(
            index=int(q["line"]) - 1,
            field=str(q["field"]) or None,
            reason=str(q["reason"]),
            value=None if q["value"] is None else str(q["value"]),
        )
        for q in res.quarantine.to_dict("records")
        if q["reason"] != "duplicate"  # a repeat within the batch is counted, not an error
    ]
    if len(res.quarantine):
        store.insert_quarantine(res.quarantine)
    return res, rejected
