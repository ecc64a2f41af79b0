"""``POST /v1/events``: validated by the importer's rules, stored, applied to the online state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from sqlalchemy import select

from campaignrec.campaigns.eligibility import count_impression
from campaignrec.data.schema import CONSENT_EVENT_TYPES
from campaignrec.experiments.live import campaign_policy
from campaignrec.experiments.serving import (
    SERVING_POLICIES,
    arm_namespace,
    credit_reward,
    serving_policy,
)
from campaignrec.privacy.consent import apply_consent_events
from campaignrec.ranking import record_events
from campaignrec.service.deps import IngestKey, State
from campaignrec.service.rows import validate_rows
from campaignrec.service.schemas import EventBatch, EventsOut

router = APIRouter(prefix="/v1", tags=["events"])


def _stored_ids(state: State, ids: list[str]) -> set[str]:
    table = state.store.tables.events
    found: set[str] = set()
    with state.store.engine.connect() as conn:
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            found.update(
                conn.execute(select(table.c.event_id).where(table.c.event_id.in_(part))).scalars()
            )
    return found


@router.post("/events", response_model=EventsOut, responses={413: {}, 401: {}, 403: {}, 429: {}})
def post_events(batch: EventBatch, request: Request, state: State, _key: IngestKey) -> EventsOut:
    res, rejected = validate_rows(
        "events", batch.events, request, state.store, name="events", edge=state.edge
    )
    valid = res.valid
    new = valid
    if len(valid):
        known = _stored_ids(state, [str(x) for x in valid["event_id"]])
        new = valid[~valid["event_id"].isin(known)]
        written = state.store.insert_events(new) if len(new) else 0
    else:
        written = 0
    if len(new) and new["event_type"].isin(list(CONSENT_EVENT_TYPES)).any():
        # consent changes: the online state at once (every worker's next decision) and the
        # users table (batch audiences, plans and exports)
        apply_consent_events(
            state.store, new[new["event_type"].isin(list(CONSENT_EVENT_TYPES))], state.online
        )
    accepted = [_plain({str(k): v for k, v in r.items()}) for r in new.to_dict("records")]
    record_events(state.online, accepted, event_weights=state.settings.event_weights)
    _credit_bandits(state, accepted)
    catalog = None
    for event in accepted:
        if event.get("event_type") == "campaign_impression" and event.get("campaign_id"):
            catalog = catalog or {c.campaign_id: c for c in state.catalog.get()}
            campaign = catalog.get(str(event["campaign_id"]))
            if campaign is not None:
                count_impression(campaign, str(event["user_id"]), state.online)
    state.metrics.events.inc(written)
    return EventsOut(
        accepted=written, duplicates=res.duplicates + len(valid) - written, rejected=rejected
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


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if v != v else v) if isinstance(v, float) else v for k, v in record.items()}
