"""What every stream source is: :class:`Message`, the :class:`Source` protocol, and
:func:`open_source`, which picks the implementation by the URL's scheme.

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


def open_source(
    url: str,
    name: str,
    *,
    group: str = DEFAULT_GROUP,
    consumer: str | None = None,
    batch: int = 100,
    redeliver_after_s: float = 30.0,
) -> Source:
    """Connect to the broker of ``url`` and open ``name`` (a stream, queue or subject).

    Parameters
    ----------
    url
        ``redis://...`` (Redis Streams), ``amqp://...`` (RabbitMQ) or ``nats://...`` (NATS
        JetStream).
    name
        The Redis stream, the RabbitMQ queue or the NATS subject.
    group
        Redis consumer group / NATS durable consumer (created when missing); unused on RabbitMQ,
        where the queue itself is shared.
    consumer
        This consumer's name within a Redis group (default: the host name).
    batch
        Messages per fetch; RabbitMQ's prefetch.
    redeliver_after_s
        Redis: a message pending this long with another consumer is claimed (``XAUTOCLAIM``);
        NATS: the consumer's ``ack_wait``. RabbitMQ delivers again as soon as a connection closes.

    Raises
    ------
    ConfigError
        An unknown scheme or an empty name.
    BrokerError
        The broker cannot be reached or refuses to open ``name``.
    """
    kind = broker_kind(url)
    if not name.strip():
        raise ConfigError(
            f"{TARGET_OPTION[kind]}: the name is empty", hint=f"give {TARGET_OPTION[kind]} NAME"
        )
    if batch < 1:
        raise ConfigError("--batch must be at least 1", hint="e.g. --batch 100")
    if kind == "redis":
        from campaignrec.streams.redis_streams import RedisStreamSource

        return RedisStreamSource(
            url,
            name,
            group=group,
            consumer=consumer or default_consumer(),
            claim_idle_s=redeliver_after_s,
        )
    if kind == "amqp":
        from campaignrec.streams.amqp import AmqpSource

        return AmqpSource(url, name, prefetch=batch)
    from campaignrec.streams.nats_js import NatsSource

    return NatsSource(url, name, durable=group, ack_wait_s=redeliver_after_s)


__all__ = [
    "DEFAULT_GROUP",
    "Message",
    "Source",
    "broker_kind",
    "default_consumer",
    "masked",
    "open_source",
]
