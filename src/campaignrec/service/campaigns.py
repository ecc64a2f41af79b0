"""Serve one user's campaigns: the library's :class:`CampaignServer` plus the decision log.

Shared by ``GET /v1/users/{id}/campaigns`` and ``campaignrec campaigns for USER``.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import pandas as pd

from campaignrec.campaigns.catalog import Catalog, load_campaigns
from campaignrec.campaigns.eligibility import CampaignDecision, CampaignServer
from campaignrec.data.validation import derive_event_ids


def user_attributes(store: Any, user_id: str, now: datetime | None = None) -> dict[str, Any] | None:
    """The shopper's audience attributes by primary key (None for an unknown user): the stored
    profile over the users-table row (:func:`campaignrec.pipeline.profiles.profile_attributes_for`)."""
    from campaignrec.pipeline.profiles import profile_attributes_for

    found = profile_attributes_for(store, str(user_id), now=now)
    return None if found is None else {k: v for k, v in found.items() if v is not None}


class CatalogCache:
    """The campaigns table as a :class:`Catalog`, re-read at most every ``ttl_seconds``.

    A write through the API calls :meth:`invalidate`; other workers see it within the TTL.
    """

    def __init__(self, store: Any, ttl_seconds: float = 2.0) -> None:
        self.store = store
        self.ttl = ttl_seconds
        self._at = -1e18
        self._catalog: Catalog | None = None

    def get(self) -> Catalog:
        now = time.monotonic()
        if self._catalog is None or now - self._at >= self.ttl:
            self._catalog = load_campaigns(self.store.read_table("campaigns"))
            self._at = now
        return self._catalog

    def invalidate(self) -> None:
        self._catalog = None


def serve_user_campaigns(
    store: Any,
    online: Any,
    user_id: str,
    k: int,
    now: datetime,
    *,
    catalog: Catalog | None = None,
    policy: str = "priority",
    experiment: Any = None,
) -> dict[str, Any]:
    """Serve up to ``k`` campaigns (atomic consumption) and log each as an impression event.

    ``catalog``: the campaigns (default: read from ``store``; the service passes its cache).
    ``policy``: ``priority``, or a bandit of :data:`campaignrec.experiments.serving.SERVING_POLICIES`
    for the first slot (``settings.campaign_policy``), or ``none`` (an experiment's holdout).
    ``experiment``: the shopper's :class:`~campaignrec.experiments.registry.Assignment` on the
    campaigns surface; its arm's decisions are logged with ``policy`` = the experiment id and
    ``variant`` = the arm, its bandits learn under ``bandit:<experiment>:<variant>``, and a
    ``none`` arm serves nothing but logs, as ``campaign_impression`` events of that arm, the
    campaigns priority would have shown (caps and budgets untouched): the holdout's exposures.
    """
    if catalog is None:
        catalog = load_campaigns(store.read_table("campaigns"))
    server: CampaignServer
    if policy in ("priority", "none"):
        server = CampaignServer(catalog, online)
    else:
        from campaignrec.experiments.serving import NAMESPACE, BanditCampaignServer, arm_namespace

        namespace = NAMESPACE
        if experiment is not None:
            namespace = arm_namespace(experiment.experiment_id, experiment.variant)
        server = BanditCampaignServer(catalog, online, policy_name=policy, namespace=namespace)
    attrs = user_attributes(store, user_id, now) or {"user_id": user_id}
    if policy == "none":
        shadow = [c.campaign_id for c, _ in server.candidates(user_id, attrs, now)[: max(k, 0)]]
        decision = CampaignDecision(str(user_id), now, "none", (), tuple(shadow), {})
        events = [
            {"user_id": user_id, "event_type": "campaign_impression", "timestamp": now,
             "campaign_id": cid, "position": pos, "policy": "none", "propensity": 1.0}
            for pos, cid in enumerate(shadow)
        ]  # fmt: skip
    else:
        decision = server.serve(user_id, attrs, k, now)
        events = decision.to_events()
    if experiment is not None:
        for event in events:
            event["policy"] = experiment.experiment_id
            event["variant"] = experiment.variant
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
