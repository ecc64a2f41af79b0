"""Consent on every path: marketing consent gates campaigns and push, personalisation consent
gates personalised ranking; a change arrives as an event and takes effect at once.

A shopper's consent lives in the users table (``consent_marketing``,
``consent_personalisation``; both default to true). A change arrives as an event of one of the
types of :data:`campaignrec.data.schema.CONSENT_EVENT_TYPES` (``consent_marketing_withdrawn``
...), through ``POST /v1/events`` or an import, and

* :func:`record_consent` writes it into the online state at once, under the shopper's
  :func:`~campaignrec.store.online.user_key` (so erasure removes it): every worker's next
  decision sees it, before any batch job runs;
* :func:`apply_consent_events` writes the latest change per shopper into the users table, so
  batch paths (audiences, plans, exports) see it too.

:func:`with_live_consent` is what a decision reads: the stored attributes with the live change
over them (a change newer than the stored row wins). The campaign eligibility check
(:func:`campaignrec.campaigns.eligibility.explain_eligibility`) and campaign serving use it;
:func:`marketing_allowed` is the gate for push and any other contact, and
:func:`personalisation_allowed` the one for personalised recommendations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import pandas as pd

from campaignrec.data.schema import CONSENT_EVENT_TYPES
from campaignrec.errors import StoreError
from campaignrec.store.online import user_key

CONSENT_FIELDS = ("consent_marketing", "consent_personalisation")
#: Set in the attributes :func:`with_live_consent` returned (they already hold the live consent).
LIVE_MARK = "_live_consent"


class ConsentState(Protocol):
    """The part of the online state consent needs."""

    def get(self, key: str) -> Any: ...
    def set(self, key: str, value: Any, ttl_seconds: float | None = None) -> None: ...


def consent_key(user_id: str) -> str:
    """``user:<id>:consent``: the live consent of one shopper in the online state."""
    return user_key(str(user_id), "consent")


def _moment(value: Any) -> float:
    if value is None:
        return datetime.now(UTC).timestamp()
    if isinstance(value, int | float):
        return float(value)
    ts = pd.Timestamp(value)
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return float(ts.timestamp())


def record_consent(state: ConsentState, event: Mapping[str, Any]) -> bool:
    """Apply one consent event to the online state; False for any other event.

    Parameters
    ----------
    state : online state
    event : mapping
        ``user_id``, ``event_type`` and (optionally) ``timestamp``.

    Returns
    -------
    bool
        Whether the event was a consent change (an older change than the one held is ignored).
    """
    change = CONSENT_EVENT_TYPES.get(str(event.get("event_type", "")))
    user_id = event.get("user_id")
    if change is None or not user_id:
        return False
    field, value = change
    at = _moment(event.get("timestamp"))
    key = consent_key(str(user_id))
    held = dict(state.get(key) or {})
    if float(held.get(f"{field}_at", float("-inf"))) > at:
        return True
    held[field] = value
    held[f"{field}_at"] = at
    state.set(key, held)
    return True


def latest_consent(events: pd.DataFrame) -> pd.DataFrame:
    """The latest consent change per shopper and field of ``events``: ``user_id`` plus the
    consent columns that changed (missing where a shopper changed only the other one)."""
    if events.empty or "event_type" not in events:
        return pd.DataFrame(columns=["user_id", *CONSENT_FIELDS])
    ev = events[events["event_type"].isin(list(CONSENT_EVENT_TYPES))]
    if ev.empty:
        return pd.DataFrame(columns=["user_id", *CONSENT_FIELDS])
    ev = ev.assign(
        _field=[CONSENT_EVENT_TYPES[t][0] for t in ev["event_type"]],
        _value=[CONSENT_EVENT_TYPES[t][1] for t in ev["event_type"]],
        _at=pd.to_datetime(ev["timestamp"], utc=True),
    )
    last = ev.sort_values("_at", kind="stable").groupby(["user_id", "_field"]).tail(1)
    wide = last.pivot(index="user_id", columns="_field", values="_value").reset_index()
    wide.columns.name = None
    return wide


def apply_consent_events(
    store: Any, events: pd.DataFrame, state: ConsentState | None = None
) -> int:
    """Write the consent changes of ``events`` into the users table (and the online state).

    Returns the number of shoppers whose stored consent was written. Each field is written
    only for shoppers who changed it, so a marketing change leaves personalisation alone.
    """
    if state is not None:
        for rec in events.to_dict("records"):
            record_consent(state, {str(k): v for k, v in rec.items()})
    wide = latest_consent(events)
    written = 0
    for field in CONSENT_FIELDS:
        if field not in wide:
            continue
        part = wide.loc[wide[field].notna(), ["user_id", field]]
        if len(part):
            part = part.assign(**{field: part[field].astype(bool)})
            store.upsert_users(part)
            written += len(part)
    return written


def sync_consent_from_store(store: Any) -> int:
    """Bring the users table up to date with every consent event the store holds (after an
    import of events); returns shoppers written."""
    frames = [
        c[c["event_type"].isin(list(CONSENT_EVENT_TYPES))]
        for c in store.iter_table("events", columns=["user_id", "event_type", "timestamp"])
    ]
    frames = [f for f in frames if len(f)]
    if not frames:
        return 0
    return apply_consent_events(store, pd.concat(frames, ignore_index=True))


def with_live_consent(
    attrs: Mapping[str, Any], state: ConsentState | None, user_id: str | None
) -> Mapping[str, Any]:
    """``attrs`` with the live consent of the online state over the stored one.

    The result carries :data:`LIVE_MARK`, so a second call on it (a serving loop that checks
    each campaign) reads the online state once, not once per campaign.
    """
    if state is None or not user_id or LIVE_MARK in attrs:
        return attrs
    try:
        held = state.get(consent_key(user_id))
    except (StoreError, TypeError, ValueError, AttributeError):
        held = None  # a stand-in state without JSON values holds no live consent
    out = dict(attrs)
    out[LIVE_MARK] = True
    for field in CONSENT_FIELDS:
        if held and field in held:
            out[field] = bool(held[field])
    return out


def marketing_allowed(
    attrs: Mapping[str, Any], state: ConsentState | None = None, user_id: str | None = None
) -> bool:
    """Whether this shopper may be sent campaigns or push (``consent_marketing`` not false)."""
    return with_live_consent(attrs, state, user_id).get("consent_marketing") is not False


def personalisation_allowed(
    attrs: Mapping[str, Any], state: ConsentState | None = None, user_id: str | None = None
) -> bool:
    """Whether this shopper may get personalised recommendations and profile-based targeting."""
    return with_live_consent(attrs, state, user_id).get("consent_personalisation") is not False


def contactable(
    recipients: Iterable[str],
    attributes: Mapping[str, Mapping[str, Any]],
    state: ConsentState | None = None,
) -> list[str]:
    """The recipients of a push or campaign send who consented to marketing (in order)."""
    return [u for u in recipients if marketing_allowed(attributes.get(u, {}), state, user_id=u)]


def exportable_profiles(profiles: pd.DataFrame, users: pd.DataFrame) -> pd.DataFrame:
    """``profiles`` without the shoppers who withheld personalisation consent (``users``: the
    users table's ``user_id`` and ``consent_personalisation``): a profile export is profiling."""
    if "consent_personalisation" not in users or users.empty:
        return profiles
    withheld = set(
        users.loc[users["consent_personalisation"].eq(False), "user_id"].astype(str).tolist()
    )
    if not withheld:
        return profiles
    return profiles[~profiles["user_id"].astype(str).isin(withheld)].reset_index(drop=True)


__all__ = [
    "CONSENT_FIELDS",
    "apply_consent_events",
    "consent_key",
    "contactable",
    "exportable_profiles",
    "latest_consent",
    "marketing_allowed",
    "personalisation_allowed",
    "record_consent",
    "sync_consent_from_store",
    "with_live_consent",
]
