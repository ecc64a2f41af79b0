"""What every stream source is: :class:`Message` and the :class:`Source` protocol (the
implementations are picked by the URL's scheme in :func:`campaignrec.streams.connect.open_source`).

A source hands out messages in batches and takes back acknowledgements. Between the two the
consumer (:mod:`campaignrec.streams.consumer`) validates and stores what the messages hold, so a
message is acknowledged only once its events are in the store; whatever a crash leaves
unacknowledged the broker delivers again, and the store's ``event_id`` keeps a second delivery
from counting twice.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from campaignrec.errors import ConfigError

#: URL schemes of each broker, and the option that names what to read there.
SCHEMES: dict[str, tuple[str, ...]] = {
    "redis": ("redis", "rediss", "unix"),
    "amqp": ("amqp", "amqps"),
    "nats": ("nats", "tls"),
}
TARGET_OPTION = {"redis": "--stream", "amqp": "--queue", "nats": "--subject"}
DEFAULT_GROUP = "campaignrec"


@dataclass(frozen=True)
class Message:
    """One message as delivered.

    Attributes
    ----------
    origin
        Names the message the same way on every delivery (``redis:<stream>:<entry id>``,
        ``amqp:<queue>:<message id or body digest>``, ``nats:<stream>:<sequence>``); the
        quarantine files the message's problems under it.
    body
        The payload: JSON text of one event, a list of events, or ``{"events": [...]}``.
    token
        What the source needs to acknowledge the message (opaque to the consumer).
    """

    origin: str
    body: bytes
    token: Any = None


class Source(Protocol):
    """A broker's stream, queue or subject, read with acknowledgements.

    ``fetch`` returns at most ``limit`` messages, waiting up to ``wait_s`` seconds for the first
    one (an empty list when none came); ``ack`` acknowledges messages ``fetch`` returned, after
    they were stored; a message fetched and never acknowledged is delivered again (to this
    consumer after a restart, or to another one of its group).
    """

    kind: str
    name: str

    def fetch(self, limit: int, wait_s: float) -> list[Message]: ...

    def ack(self, messages: Sequence[Message]) -> None: ...

    def close(self) -> None: ...


def missing_client(kind: str, exc: ImportError) -> ConfigError:
    """The error of a broker whose Python client is not installed."""
    client = {"amqp": "pika", "nats": "nats-py"}.get(kind, "redis")
    return ConfigError(
        f"--from {kind}://: the {client} package is not installed ({exc})",
        hint="pip install 'campaignrec[brokers]'",
    )


def broker_kind(url: str) -> str:
    """``redis``, ``amqp`` or ``nats`` from the URL's scheme.

    Raises
    ------
    ConfigError
        Another scheme.
    """
    scheme = urlsplit(url).scheme.lower()
    for kind, schemes in SCHEMES.items():
        if scheme in schemes:
            return kind
    raise ConfigError(
        f"--from: unsupported broker URL scheme {scheme or '(none)'!r}",
        hint="use redis://host:6379/0, amqp://user:pass@host:5672/%2F or nats://host:4222",
    )


def masked(url: str) -> str:
    """The URL without its password (for messages and logs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def default_consumer() -> str:
    """This host's name: the same consumer after a restart picks up its own pending messages."""
    return socket.gethostname() or "campaignrec"


__all__ = [
    "DEFAULT_GROUP",
    "Message",
    "Source",
    "broker_kind",
    "default_consumer",
    "masked",
    "missing_client",
]
