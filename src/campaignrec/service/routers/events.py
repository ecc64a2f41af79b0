"""``POST /v1/events``: validated by the importer's rules, stored, applied to the online state.

The steps are the library's (:func:`campaignrec.data.records.validate_records` through
:func:`campaignrec.service.rows.validate_rows`, then :func:`campaignrec.pipeline.events.store_events`),
shared with ``campaignrec consume``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request

from campaignrec.experiments.live import campaign_policy
from campaignrec.experiments.serving import (
    SERVING_POLICIES,
    arm_namespace,
    credit_reward,
    serving_policy,
)
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
        state.store,
        state.online,
        res.valid,
        settings=state.settings,
        catalog=state.catalog.get,
        credit=lambda accepted: _credit_bandits(state, accepted),
    )
    state.metrics.events.inc(stored.written)
    return EventsOut(
        accepted=stored.written,
        duplicates=res.duplicates + len(res.valid) - stored.written,
        rejected=rejected,
    )


def _credit_bandits(state: State, accepted: list[dict[str, Any]]) -> None:
    """Rewards of the bandit that served the first campaign slot: the shopper's arm's bandit
    when a campaigns experiment covers them, else the service's ``campaign_policy``."""
    rewards = [
        e for e in accepted
        if e.get("event_type") == state.settings.bandit_reward_event and e.get("campaign_id")
    ]  # fmt: skip
    if not rewards:
        return
    policy = state.settings.campaign_policy
    live, now = state.live, datetime.now(UTC)
    for event in rewards:
        assigned = (
            live.assignment(str(event["user_id"]), "campaigns", now) if live.campaigns else None
        )
        exp = None if assigned is None else live.experiment(assigned.experiment_id)
        if assigned is not None and exp is not None:
            arm = campaign_policy(exp, assigned.variant)
            if arm in SERVING_POLICIES:
                namespace = arm_namespace(assigned.experiment_id, assigned.variant)
                credit_reward(serving_policy(arm, state.online, namespace=namespace),
                              str(event["campaign_id"]))  # fmt: skip
        elif policy != "priority":
            credit_reward(serving_policy(policy, state.online), str(event["campaign_id"]))
