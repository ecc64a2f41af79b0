"""Test brokers: a unique Redis stream, RabbitMQ queue or NATS subject per test, cleaned up after.

Each runs when its URL variable is set (``CAMPAIGNREC_TEST_REDIS_URL``,
``CAMPAIGNREC_TEST_RABBITMQ_URL``, ``CAMPAIGNREC_TEST_NATS_URL``) and is skipped with the
variable's name otherwise; a set variable whose server cannot be reached fails the test.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Sequence
from typing import Any

import pytest

ENV = {
    "redis": "CAMPAIGNREC_TEST_REDIS_URL",
    "amqp": "CAMPAIGNREC_TEST_RABBITMQ_URL",
    "nats": "CAMPAIGNREC_TEST_NATS_URL",
}
PREFIX = "crtest-consume-"


def broker_url(kind: str) -> str:
    url = os.environ.get(ENV[kind], "").strip()
    if not url:
        pytest.skip(f"{ENV[kind]} is not set; set it to run this test against a real server")
    return url


class Broker:
    """One broker's test target: ``publish`` payloads, the CLI option naming it, ``cleanup``."""

    kind: str
    url: str
    name: str
    option: str

    def publish(self, bodies: Sequence[bytes]) -> None:
        raise NotImplementedError

    def cleanup(self) -> None:
        raise NotImplementedError


class RedisBroker(Broker):
    kind, option = "redis", "--stream"

    def __init__(self, url: str) -> None:
        import redis

        self.url, self.name = url, PREFIX + uuid.uuid4().hex[:10]
        self.client = redis.Redis.from_url(url, socket_connect_timeout=5)
        self.client.ping()

    def publish(self, bodies: Sequence[bytes]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for b in bodies:
            pipe.xadd(self.name, {"data": b})
        pipe.execute()

    def cleanup(self) -> None:
        # the stream, and any keys a test filed under "<stream>:" (an online-state prefix)
        keys = [self.name, *self.client.scan_iter(match=f"{self.name}:*")]
        self.client.delete(*keys)
        self.client.close()


class AmqpBroker(Broker):
    kind, option = "amqp", "--queue"

    def __init__(self, url: str) -> None:
        import pika

        self.url, self.name = url, PREFIX + uuid.uuid4().hex[:10]
        self.connection = pika.BlockingConnection(pika.URLParameters(url))
        self.channel = self.connection.channel()
        self.channel.queue_declare(self.name, durable=True)

    def publish(self, bodies: Sequence[bytes]) -> None:
        import pika

        props = pika.BasicProperties(delivery_mode=2, content_type="application/json")
        for b in bodies:
            self.channel.basic_publish("", self.name, b, props)

    def cleanup(self) -> None:
        self.channel.queue_delete(self.name)
        self.connection.close()


class NatsBroker(Broker):
    kind, option = "nats", "--subject"

    def __init__(self, url: str) -> None:
        self.url = url
        self.stream = PREFIX + uuid.uuid4().hex[:10]
        self.name = self.stream + ".events"
        self.loop = asyncio.new_event_loop()
        self.nc: Any = self.loop.run_until_complete(self._connect())

    async def _connect(self) -> Any:
        import nats

        nc = await nats.connect(self.url, connect_timeout=5, allow_reconnect=False)
        await nc.jetstream().add_stream(name=self.stream, subjects=[self.name])
        return nc

    async def _publish(self, bodies: Sequence[bytes]) -> None:
        js = self.nc.jetstream()
        futures = [await js.publish_async(self.name, b) for b in bodies]
        await asyncio.gather(*futures)

    def publish(self, bodies: Sequence[bytes]) -> None:
        self.loop.run_until_complete(self._publish(bodies))

    async def _cleanup(self) -> None:
        await self.nc.jetstream().delete_stream(self.stream)
        await self.nc.close()

    def cleanup(self) -> None:
        try:
            self.loop.run_until_complete(self._cleanup())
        finally:
            self.loop.close()


def open_broker(kind: str) -> Broker:
    url = broker_url(kind)
    return {"redis": RedisBroker, "amqp": AmqpBroker, "nats": NatsBroker}[kind](url)
