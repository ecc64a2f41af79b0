"""Behaviour events in from a message broker: ``campaignrec consume``.

One :class:`~campaignrec.streams.base.Source` protocol and three implementations, picked by the
URL's scheme (:func:`~campaignrec.streams.connect.open_source`):
:class:`~campaignrec.streams.redis_streams.RedisStreamSource` (Redis Streams, a consumer group),
:class:`~campaignrec.streams.amqp.AmqpSource` (RabbitMQ through pika) and
:class:`~campaignrec.streams.nats_js.NatsSource` (NATS JetStream, a durable pull consumer).
:func:`~campaignrec.streams.consumer.consume` reads one, validates the events by the importer's
rules, quarantines the bad ones, stores the good ones with the writer of ``POST /v1/events``, and
acknowledges only what was stored.
"""

from campaignrec.streams.base import Message, Source, broker_kind
from campaignrec.streams.connect import open_source
from campaignrec.streams.consumer import ConsumeStats, consume, process_batch

__all__ = [
    "ConsumeStats",
    "Message",
    "Source",
    "broker_kind",
    "consume",
    "open_source",
    "process_batch",
]
