"""``POST /v1/events``: validated by the importer's rules, stored, applied to the online state.

The steps are the library's (:func:`campaignrec.data.records.validate_records` through
:func:`campaignrec.service.rows.validate_rows`, then :func:`campaignrec.pipeline.events.store_events`),
shared with ``campaignrec consume``.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from campaignrec.pipeline.events import store_events
from campaignrec.service.deps import IngestKey, State
from campaignrec.service.rows import validate_rows
from campaignrec.service.schemas import EventBatch, EventsOut

router = APIRouter(prefix="/v1", tags=["events"])


@router.post("/events", response_model=EventsOut, responses={413: {}, 401: {}, 403: {}, 429: {}})
def post_events(batch: EventBatch, request: Request, state: State, _key: IngestKey) -> EventsOut:
    res, rejected = validate_rows(
        "events", batch.events, request, state.store, name="events", edge=state.edge
    )
    stored = store_events(
        state.store, state.online, res.valid, settings=state.settings, catalog=state.catalog.get
    )
    state.metrics.events.inc(stored.written)
    return EventsOut(
        accepted=stored.written,
        duplicates=res.duplicates + len(res.valid) - stored.written,
        rejected=rejected,
    )
