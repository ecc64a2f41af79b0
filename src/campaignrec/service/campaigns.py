"""Serve one user's campaigns: the library's :class:`CampaignServer` plus the decision log.

Shared by ``GET /v1/users/{id}/campaigns`` and ``campaignrec campaigns for USER``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd

from campaignrec.campaigns.catalog import load_campaigns
from campaignrec.campaigns.eligibility import CampaignServer
from campaignrec.data.validation import derive_event_ids


def user_attributes(store: Any, user_id: str) -> dict[str, Any] | None:
    """The stored user's columns and attributes, flat (None for an unknown user)."""
    users = store.read_table("users")
    if users.empty:
        return None
    row = users[users["user_id"] == user_id]
    if row.empty:
        return None
    rec = {str(k): v for k, v in row.iloc[0].to_dict().items()}
    attrs = rec.pop("attributes", None)
    if isinstance(attrs, dict):
        rec.update(attrs)
    return {k: v for k, v in rec.items() if v is not None}


def serve_user_campaigns(
    store: Any, online: Any, user_id: str, k: int, now: datetime
) -> dict[str, Any]:
    """Serve up to ``k`` campaigns (atomic consumption) and log each as an impression event."""
    catalog = load_campaigns(store.read_table("campaigns"))
    server = CampaignServer(catalog, online)
    attrs = user_attributes(store, user_id) or {"user_id": user_id}
    decision = server.serve(user_id, attrs, k, now)
    events = decision.to_events()
    if events:
        frame = pd.DataFrame(events)
        frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
        frame["event_id"] = derive_event_ids(frame)
        store.insert_events(frame)
    by_id = {c.campaign_id: c for c in catalog}
    out = []
    for s in decision.served:
        c = by_id[s.campaign_id]
        offer = None
        if c.type == "coupon":
            offer = {
                "discount_type": c.discount_type,
                "discount_value": c.discount_value,
                "min_spend": c.min_spend,
                "end_time": c.end_time.isoformat() if c.end_time else None,
            }
        out.append(
            {
                "campaign_id": c.campaign_id,
                "name": c.name,
                "type": str(c.type),
                "position": s.position,
                "value": s.value,
                "propensity": s.propensity,
                "reason": "eligible",
                "offer": offer,
            }
        )
    return {
        "user_id": user_id,
        "policy": decision.policy,
        "campaigns": out,
        "skipped": dict(decision.skipped),
    }
