"""Open the source a broker URL names: :func:`open_source` picks the implementation by scheme."""

from __future__ import annotations

from campaignrec.errors import ConfigError
from campaignrec.streams.base import (
    DEFAULT_GROUP,
    TARGET_OPTION,
    Source,
    broker_kind,
    default_consumer,
)


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


__all__ = ["open_source"]
