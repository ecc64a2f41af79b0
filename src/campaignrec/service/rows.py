"""Request rows through the importer's validation: the one path of ``POST /v1/events`` and
``POST /v1/items``.

The rows go through :func:`campaignrec.data.records.validate_records` (the importer's rules, the
privacy edge, the quarantine, shared with ``campaignrec consume``); the rejected rows are
quarantined (source ``api:<request id>``) and reported with their index in the request, field and
reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request
from pydantic import BaseModel

from campaignrec.data.records import validate_records
from campaignrec.data.validation import ValidationResult
from campaignrec.service.errors import ApiError
from campaignrec.service.schemas import MAX_BATCH, Rejected


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
    rid = getattr(request.state, "request_id", "api")
    res = validate_records(entity, plain, source=f"api:{rid}", store=store, edge=edge)
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
    return res, rejected
