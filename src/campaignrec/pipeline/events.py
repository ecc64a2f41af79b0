"""Validated events into the store and the online state: the one writer behind ``POST /v1/events``
and ``campaignrec consume``.

:func:`store_events` takes the good rows of :func:`campaignrec.data.records.validate_records`
and, in this order,

1. drops the events whose ``event_id`` the store already holds (a request sent again, a message
   delivered twice) and inserts the others (``insert_events``, one transaction, idempotent);
2. applies consent changes to the users table and the online state;
3. records the new events in the online state (:func:`campaignrec.ranking.record_events`);
4. credits the serving bandit's rewards and counts campaign impressions against their caps.

Only events new to the store reach steps 2-4, so a repeat changes nothing. A caller that
acknowledges a message after this returns has stored it; a crash between steps 1 and 3 leaves the
store right and the online state short of those events (never counted twice).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import select

from campaignrec.campaigns.catalog import Catalog, load_campaigns
from campaignrec.campaigns.eligibility import count_impression
from campaignrec.data.schema import CONSENT_EVENT_TYPES
from campaignrec.experiments.serving import credit_reward, serving_policy
from campaignrec.privacy.consent import apply_consent_events
from campaignrec.ranking.history import record_events

#: Event ids asked of the store per query.
ID_QUERY_CHUNK = 500


@dataclass
class StoredEvents:
    """What :func:`store_events` did: events written, events the store already had, and the
    written events as plain records (what the online state received)."""

    written: int
    known: int
    accepted: list[dict[str, Any]] = field(default_factory=list)


def stored_event_ids(store: Any, ids: Iterable[str]) -> set[str]:
    """The ids among ``ids`` that the store's events table already holds."""
    table = store.tables.events
    values = [str(x) for x in ids]
    found: set[str] = set()
    with store.engine.connect() as conn:
        for start in range(0, len(values), ID_QUERY_CHUNK):
            part = values[start : start + ID_QUERY_CHUNK]
            found.update(
                conn.execute(select(table.c.event_id).where(table.c.event_id.in_(part))).scalars()
            )
    return found


def store_events(
    store: Any,
    online: Any,
    valid: pd.DataFrame,
    *,
    settings: Any,
    catalog: Callable[[], Catalog] | None = None,
    credit: Callable[[list[dict[str, Any]]], None] | None = None,
) -> StoredEvents:
    """Write validated events to the store, then the online state (see the module docstring).

    Parameters
    ----------
    store
        The SQL store.
    online
        The online state (memory or Redis).
    valid
        Good event rows in canonical layout with their ``event_id`` (``ValidationResult.valid``).
    settings
        :class:`campaignrec.config.Settings`: ``event_weights``, ``campaign_policy`` and
        ``bandit_reward_event`` are read.
    catalog
        Returns the campaign catalogue (impressions count against its caps); default: read from
        the store when an impression arrives.
    credit
        Credits the bandit rewards among the written events (the service's, which knows the
        experiment arm that served each shopper); default: the ``campaign_policy`` bandit.

    Returns
    -------
    StoredEvents
    """
    if not len(valid):
        return StoredEvents(written=0, known=0)
    known = stored_event_ids(store, valid["event_id"])
    new = valid[~valid["event_id"].isin(known)]
    written = store.insert_events(new) if len(new) else 0
    if len(new) and new["event_type"].isin(list(CONSENT_EVENT_TYPES)).any():
        # consent changes: the online state at once (every worker's next decision) and the
        # users table (batch audiences, plans and exports)
        apply_consent_events(store, new[new["event_type"].isin(list(CONSENT_EVENT_TYPES))], online)
    accepted = [_plain({str(k): v for k, v in r.items()}) for r in new.to_dict("records")]
    record_events(online, accepted, event_weights=settings.event_weights)
    policy = settings.campaign_policy
    if credit is not None:
        credit(accepted)
    elif policy != "priority":  # rewards of the bandit serving the first campaign slot
        bandit = serving_policy(policy, online)
        for event in accepted:
            if event.get("event_type") == settings.bandit_reward_event and event.get("campaign_id"):
                credit_reward(bandit, str(event["campaign_id"]))
    campaigns: dict[str, Any] | None = None
    for event in accepted:
        if event.get("event_type") == "campaign_impression" and event.get("campaign_id"):
            if campaigns is None:
                cat = (
                    catalog()
                    if catalog is not None
                    else load_campaigns(store.read_table("campaigns"))
                )
                campaigns = {c.campaign_id: c for c in cat}
            campaign = campaigns.get(str(event["campaign_id"]))
            if campaign is not None:
                count_impression(campaign, str(event["user_id"]), online)
    return StoredEvents(written=written, known=len(valid) - len(new), accepted=accepted)


def _plain(record: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if v != v else v) if isinstance(v, float) else v for k, v in record.items()}


__all__ = ["StoredEvents", "store_events", "stored_event_ids"]
