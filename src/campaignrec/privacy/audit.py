"""The access audit: every API and console action, with the key or console user that made it.

The service records one row per audited request into the store's ``audit_log`` (the table the
erasure, retention and DP records share): who (``api-key:<id>``, ``console-user:<name>``, or
``anonymous`` before a key was accepted; never a secret), when, the route template and method,
the status code and the target ids of the path. A shopper's id is never written: it is named by
the same keyed hash as the erasure audit (:func:`campaignrec.privacy.pseudonymise.audit_namer`),
in ``subject`` and in the targets.

What is audited (:func:`audited`): every write (POST, PUT, PATCH, DELETE) of the API and the
console, whatever its status (a refused write is worth knowing about); every read of a route
that needs the ``admin`` scope; every console page a logged-in session reads. Reads by ordinary
keys (recommendations, campaigns, profile, items) are not: they are the shop's front end asking
on every page view, thousands a second, and the request counts per route are in ``/metrics``.

Rows are written by a background thread in batches (:class:`AccessAuditor`), so a request
never waits for the audit insert; :meth:`AccessAuditor.close` writes what is left.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from campaignrec.errors import ValidationError
from campaignrec.privacy.pseudonymise import audit_namer
from campaignrec.store.privacy import PrivacyRepository

if TYPE_CHECKING:
    from campaignrec.config import Settings

log = logging.getLogger("campaignrec.audit")

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Path and query parameters that name a shopper: written as their keyed hash only.
USER_PARAMS = frozenset({"user_id"})
NAME_CACHE = 100_000
#: Query parameters kept as targets (ids of things, not of people).
TARGET_QUERY_PARAMS = ("user_id", "campaign_id", "item_id", "model", "experiment_id")


def audited(
    method: str, path: str, admin_route: bool, console_actor: bool, key_read: bool = False
) -> bool:
    """Whether a request is audited: a write, a read of an admin route, a console page read by
    a logged-in session (static files and the login page are not actions), or, with
    ``key_read`` (the ``audit_reads`` setting and a request that presented an API key), any
    read of the API."""
    if method.upper() in WRITE_METHODS:
        return True
    if admin_route:
        return True
    if key_read and path.startswith("/v1/"):
        return True
    return console_actor and not path.startswith("/console/static")


@dataclass(frozen=True)
class AccessRecord:
    """One audited request, before it is written (user ids already hashed)."""

    at_us: int
    actor: str
    method: str
    route: str
    status: int
    channel: str
    subject: str | None = None
    targets: Mapping[str, str] = field(default_factory=dict)
    request_id: str | None = None

    def row(self) -> dict[str, Any]:
        detail = {
            "method": self.method,
            "route": self.route,
            "status": self.status,
            "channel": self.channel,
            "targets": dict(self.targets),
        }
        if self.request_id:
            detail["request_id"] = self.request_id
        return {
            "at": self.at_us,
            "actor": self.actor,
            "action": f"{self.method} {self.route}",
            "subject": self.subject,
            "detail": detail,
        }


class AccessAuditor:
    """Queues access records and writes them in batches on a background thread.

    Parameters
    ----------
    store : the service's SQL store
    settings : for the keyed hash that names shoppers
    flush_seconds : how long a record may wait before it is written
    max_queued : records held while the store cannot be written; older ones beyond it are
        dropped and counted (``dropped``), so a store outage never grows the memory unbounded
    """

    def __init__(
        self,
        store: Any,
        settings: Settings,
        *,
        flush_seconds: float = 0.5,
        max_queued: int = 100_000,
    ) -> None:
        self.repo = PrivacyRepository(store)
        self._namer = audit_namer(settings)
        self._names: dict[str, str] = {}
        self._queue: deque[AccessRecord] = deque()
        self._max = max_queued
        self._flush_seconds = flush_seconds
        self._wake = threading.Event()
        self._stop = False
        self._write_lock = threading.Lock()
        self.dropped = 0
        self.written = 0
        self._thread = threading.Thread(target=self._run, name="campaignrec-audit", daemon=True)
        self._thread.start()

    def name_user(self, user_id: str) -> str:
        """The keyed hash of a shopper's id, as the erasure audit names them (the last
        ``NAME_CACHE`` names kept: a keyed read of ``audit_reads`` hashes each shopper once)."""
        name = self._names.get(user_id)
        if name is None:
            name = self._namer.audit_name(user_id)
            if len(self._names) >= NAME_CACHE:
                self._names.clear()
            self._names[user_id] = name
        return name

    def record(
        self,
        *,
        actor: str,
        method: str,
        route: str,
        status: int,
        channel: str,
        params: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> AccessRecord:
        """Queue one record; ``params`` are the request's path (and id-like query) parameters,
        a shopper's id among them replaced by its keyed hash here."""
        targets: dict[str, str] = {}
        subject = None
        for key, value in (params or {}).items():
            if value is None or value == "":
                continue
            text = str(value)[:256]
            if key in USER_PARAMS:
                text = self.name_user(text)
                subject = subject or text
            targets[str(key)] = text
        rec = AccessRecord(
            at_us=time.time_ns() // 1000,
            actor=actor or "anonymous",
            method=method.upper(),
            route=route,
            status=int(status),
            channel=channel,
            subject=subject,
            targets=targets,
            request_id=request_id,
        )
        self._queue.append(rec)
        while len(self._queue) > self._max:
            self._queue.popleft()
            self.dropped += 1
        return rec

    def flush(self) -> int:
        """Write every queued record now; returns how many were written."""
        with self._write_lock:
            batch: list[AccessRecord] = []
            while self._queue:
                batch.append(self._queue.popleft())
            if not batch:
                return 0
            try:
                self.repo.record_many([r.row() for r in batch])
            except Exception as exc:  # the store is down: keep them for the next flush
                self._queue.extendleft(reversed(batch))
                log.warning("audit write failed, %d records kept: %s", len(batch), exc)
                return 0
            self.written += len(batch)
            return len(batch)

    def _run(self) -> None:
        while not self._stop:
            self._wake.wait(self._flush_seconds)
            self._wake.clear()
            if self._queue:
                self.flush()

    def close(self) -> None:
        """Stop the thread and write what is left."""
        self._stop = True
        self._wake.set()
        self._thread.join(timeout=5)
        self.flush()


def parse_since(text: str | None, now: datetime | None = None) -> datetime | None:
    """``--since``: an ISO 8601 moment (naive = UTC) or an age such as ``7d``, ``12h``, ``30m``."""
    if text is None or not text.strip():
        return None
    raw = text.strip()
    units = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
    if raw[-1:].lower() in units and raw[:-1].replace(".", "", 1).isdigit():
        at = now or datetime.now(UTC)
        return at - timedelta(seconds=float(raw[:-1]) * units[raw[-1].lower()])
    try:
        found = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError(
            "--since", "not a moment or an age", value=text, hint="e.g. 2025-06-01T00:00 or 7d"
        ) from None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def read_audit(
    store: Any, since: datetime | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Audit records (every kind: access, erasure, retention, DP), oldest first, as plain dicts
    with ``at`` in ISO 8601 UTC; ``since`` keeps those at or after it, ``limit`` the newest."""
    frame = PrivacyRepository(store).audit_records(since=since, limit=limit)
    out: list[dict[str, Any]] = []
    for rec in frame.to_dict("records"):
        row = {str(k): v for k, v in rec.items()}
        row["at"] = row["at"].isoformat()
        row["audit_id"] = int(row["audit_id"])
        row["subject"] = row["subject"] if isinstance(row["subject"], str) else None
        out.append(row)
    return out


__all__ = ["AccessAuditor", "AccessRecord", "audited", "parse_since", "read_audit"]
