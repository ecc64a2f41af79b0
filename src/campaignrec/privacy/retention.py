"""Retention: events older than the shop's ``retention_days`` are deleted.

Run ``campaignrec retention`` on a schedule (cron, a systemd timer, the orchestrator of the batch
jobs); each run deletes the events whose ``timestamp`` is older than the period, and the
quarantined rows recorded before it, then scrubs the database file as erasure does (deleted
rows leave no bytes behind). Profiles and models computed from the deleted events keep what they
learned until they are next recomputed; the retrain that follows a retention run drops it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from campaignrec.errors import ConfigError

if TYPE_CHECKING:
    from campaignrec.config import Settings
    from campaignrec.store.sql import SQLStore


@dataclass(frozen=True)
class RetentionResult:
    """What one retention run deleted."""

    days: float
    cutoff: datetime
    events_deleted: int
    quarantine_deleted: int
    scrub: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "days": self.days,
            "cutoff": self.cutoff.isoformat(),
            "events_deleted": self.events_deleted,
            "quarantine_deleted": self.quarantine_deleted,
            "scrub": dict(self.scrub),
        }


def apply_retention(
    settings: Settings,
    store: SQLStore,
    *,
    days: float | None = None,
    now: datetime | None = None,
    vacuum: bool = True,
    actor: str | None = None,
) -> RetentionResult:
    """Delete what is older than the retention period, and record the run in the audit log.

    Parameters
    ----------
    settings : Settings
        ``retention_days`` is the period unless ``days`` is given.
    store : SQLStore
    days : float, optional
        Overrides the setting.
    now : datetime, optional
        The reference time (default: now, UTC).
    vacuum : bool
        Rebuild the database file afterwards.
    actor : str, optional
        Who ran it (default ``cli:<login>``).

    Returns
    -------
    RetentionResult

    Raises
    ------
    ConfigError
        No period: neither ``days`` nor ``retention_days``.
    """
    from campaignrec.privacy.erasure import default_actor
    from campaignrec.store.privacy import PrivacyRepository

    period = days if days is not None else settings.retention_days
    if period is None or period <= 0:
        raise ConfigError(
            "no retention period: setting 'retention_days' is not set",
            hint="set retention_days in campaignrec.toml or pass --days",
        )
    at = (now or datetime.now(UTC)).astimezone(UTC)
    cutoff = at - timedelta(days=float(period))
    removed = store.delete_before(int(cutoff.timestamp() * 1_000_000))
    PrivacyRepository(store).record(
        actor or default_actor(),
        "retention",
        detail={"days": period, "cutoff": cutoff.isoformat(), **removed},
    )
    scrub = store.scrub(vacuum=vacuum)
    return RetentionResult(
        days=float(period),
        cutoff=cutoff,
        events_deleted=removed["events"],
        quarantine_deleted=removed["quarantine"],
        scrub=scrub,
    )


__all__ = ["RetentionResult", "apply_retention"]
