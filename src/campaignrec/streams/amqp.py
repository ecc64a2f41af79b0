"""RabbitMQ (AMQP 0-9-1) through pika: manual acknowledgements and a prefetch window.

The queue is declared durable when it does not exist yet (an existing queue is used as it is).
The broker sends at most ``prefetch`` unacknowledged messages; each is acknowledged once its
events are stored, and whatever this consumer held when its connection dropped (a crash, a kill)
goes back to the queue for the next consumer.

A message is named by its ``message_id`` property when the publisher set one, else by the digest
of its body, so a redelivered message files its problems under the same quarantine key.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from typing import Any

from campaignrec.errors import BrokerError
from campaignrec.streams.base import Message, masked, missing_client

#: Seconds one pass of pika's I/O loop may wait while a fetch is still filling its batch.
TOP_UP_S = 0.01


class AmqpSource:
    """One RabbitMQ queue consumed with manual acknowledgements.

    Parameters
    ----------
    url : amqp://user:password@host:5672/vhost (``%2F`` is the default vhost)
    queue : the queue's name
    prefetch : unacknowledged messages the broker may send ahead (``basic.qos``)
    """

    kind = "amqp"

    def __init__(self, url: str, queue: str, *, prefetch: int = 100) -> None:
        try:
            import pika
            import pika.exceptions
        except ImportError as exc:
            raise missing_client("amqp", exc) from exc

        self.name = queue
        self._url = masked(url)
        self._errors: tuple[type[BaseException], ...] = (pika.exceptions.AMQPError, OSError)
        self._buffer: list[tuple[int, Any, bytes]] = []
        try:
            params = pika.URLParameters(url)
            params.socket_timeout = 5
            params.blocked_connection_timeout = 30
            self.connection = pika.BlockingConnection(params)
            self.channel = self.connection.channel()
            try:
                self.channel.queue_declare(queue, passive=True)
            except pika.exceptions.ChannelClosedByBroker as exc:
                if exc.reply_code != 404:
                    raise
                self.channel = self.connection.channel()
                self.channel.queue_declare(queue, durable=True)
            self.channel.basic_qos(prefetch_count=prefetch)
            self.channel.basic_consume(queue, self._on_message, auto_ack=False)
        except self._errors as exc:
            raise self._error("connecting", exc) from exc

    def _error(self, what: str, exc: BaseException) -> BrokerError:
        return BrokerError(
            f"rabbitmq queue {self.name!r} at {self._url}: {what} failed: {exc!r}",
            hint="check that RabbitMQ runs and the URL is right; unacknowledged messages are "
            "delivered again",
        )

    def _on_message(self, _channel: Any, method: Any, properties: Any, body: bytes) -> None:
        self._buffer.append((int(method.delivery_tag), properties, bytes(body)))

    def _origin(self, properties: Any, body: bytes) -> str:
        mid = getattr(properties, "message_id", None)
        if mid:
            return f"amqp:{self.name}:{mid}"
        return f"amqp:{self.name}:sha256:{hashlib.sha256(body).hexdigest()[:32]}"

    def fetch(self, limit: int, wait_s: float) -> list[Message]:
        deadline = time.monotonic() + max(wait_s, 0.0)
        try:
            while len(self._buffer) < limit:
                left = deadline - time.monotonic()
                if self._buffer:  # something came: take what else is already here, then go
                    before = len(self._buffer)
                    self.connection.process_data_events(time_limit=TOP_UP_S)
                    if len(self._buffer) == before:
                        break
                elif left <= 0:
                    break
                else:
                    self.connection.process_data_events(time_limit=min(left, 0.25))
        except self._errors as exc:
            raise self._error("reading", exc) from exc
        taken, self._buffer = self._buffer[:limit], self._buffer[limit:]
        return [Message(self._origin(props, body), body, tag) for tag, props, body in taken]

    def ack(self, messages: Sequence[Message]) -> None:
        try:
            for m in messages:  # each ack is written to the socket before basic_ack returns
                self.channel.basic_ack(delivery_tag=m.token)
        except self._errors as exc:
            raise self._error("acknowledging", exc) from exc

    def close(self) -> None:
        try:
            if self.connection.is_open:
                self.connection.close()
        except self._errors:
            pass  # closing: the broker requeues what was not acknowledged either way


__all__ = ["AmqpSource"]
