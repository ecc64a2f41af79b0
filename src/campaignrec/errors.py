"""Exception types shared by every stage.

Messages name the field, the value and the fix; the CLI turns each into one line and an exit code.
"""

from __future__ import annotations

from typing import Any

# Exit codes used by the CLI (documented in docs/cli.md).
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_VALIDATION = 3
EXIT_NOT_FOUND = 4
EXIT_REJECTIONS = 5
EXIT_STORE = 6


class CampaignrecError(Exception):
    """Base class of every error campaignrec raises on purpose."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} (hint: {self.hint})"


class ValidationError(CampaignrecError):
    """A value broke the schema: names the field, the offending value, the row and the reason."""

    exit_code = EXIT_VALIDATION

    def __init__(
        self,
        field: str,
        reason: str,
        *,
        value: Any = None,
        row: int | None = None,
        hint: str | None = None,
    ) -> None:
        where = f"row {row}: " if row is not None else ""
        shown = "" if value is None else f" (got {value!r})"
        super().__init__(f"{where}field '{field}': {reason}{shown}", hint=hint)
        self.field = field
        self.reason = reason
        self.value = value
        self.row = row


class ConfigError(CampaignrecError):
    """A setting or mapping file is wrong."""

    exit_code = EXIT_USAGE


class UnknownIdError(CampaignrecError, KeyError):
    """An external id is not known to the snapshot or the store."""

    exit_code = EXIT_NOT_FOUND

    def __init__(self, kind: str, value: Any, *, hint: str | None = None) -> None:
        super().__init__(f"unknown {kind} id {value!r}", hint=hint)
        self.kind = kind
        self.value = value

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return CampaignrecError.__str__(self)


class NotFittedError(CampaignrecError):
    """A model or learner was used before `fit`."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is not fitted yet", hint="call fit() first")


class StoreError(CampaignrecError):
    """The store is unreachable or in an unexpected state."""

    exit_code = EXIT_STORE


class BrokerError(CampaignrecError):
    """A message broker (Redis Streams, RabbitMQ, NATS JetStream) is unreachable or refused an
    operation; what was not acknowledged stays with the broker."""

    exit_code = EXIT_STORE


class TooManyRejectionsError(CampaignrecError):
    """An import rejected more rows than its threshold allows.

    The good rows and the quarantine are stored before it is raised; ``summary`` holds the
    import's summary (``summaries``: one per table, for a whole data set).
    """

    exit_code = EXIT_REJECTIONS
    summary: Any = None
    summaries: Any = None


class PrivacyBudgetError(CampaignrecError):
    """A differentially private release would spend more than the dataset's privacy budget."""
