"""Where ``campaignrec push send`` delivers a message: RabbitMQ (through ``pika``) or a webhook.

A target's :meth:`publish` returns only once the message is safely with the receiver:

* **RabbitMQ**: a persistent message (``delivery_mode=2``) published with publisher confirms
  and ``mandatory=True`` on a blocking connection, so ``publish`` returns after the broker
  confirmed it and raises when the broker nacked it or could route it to no queue;
* **webhook**: an HTTP ``POST`` of the JSON body with an ``Idempotency-Key`` header; a 2xx
  answer confirms it, a 5xx / 408 / 429 answer or a network error is retried with exponential
  backoff, any other 4xx rejects this one message (:class:`MessageRejected`).

Both carry the idempotency key (RabbitMQ: ``message_id`` and the ``Idempotency-Key`` header), so
a receiver can drop the one duplicate a kill between the confirm and the send log can cause.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from campaignrec.errors import StoreError, ValidationError
from campaignrec.push.config import PushSettings, PushTarget


class DeliveryError(StoreError):
    """The broker or the webhook could not take messages (down, refused, unroutable): the run
    stops; what was confirmed before stays recorded, so a rerun resumes."""


class MessageRejected(Exception):
    """The receiver refused this one message for good (a webhook's 4xx): it is reported and not
    recorded as sent, and the run goes on."""


class Target(Protocol):
    """A receiver of push messages."""

    @property
    def description(self) -> str: ...

    def publish(self, key: str, message: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


def _body(message: dict[str, Any]) -> bytes:
    return json.dumps(message, ensure_ascii=False, sort_keys=True).encode()


class RabbitTarget:
    """Publish to RabbitMQ: ``exchange`` (``""``: the default exchange) with routing key
    ``queue`` when one is given (the queue is declared durable, and bound to ``exchange`` when
    that is not the default), else the message's channel (``app_push``, ``sms`` ...)."""

    def __init__(self, url: str, *, exchange: str = "", queue: str | None = None) -> None:
        try:
            import pika
            import pika.exceptions
        except ImportError as exc:  # pragma: no cover - the brokers extra is missing
            raise DeliveryError(
                "RabbitMQ needs the pika package", hint="pip install 'campaignrec[brokers]'"
            ) from exc
        if not exchange and not queue:
            raise ValidationError(
                "--queue",
                "name a queue (or an --exchange) to publish to",
                hint="e.g. --queue push-messages",
            )
        self._pika = pika
        self.exchange = exchange
        self.queue = queue
        self.description = f"{_safe_url(url)} exchange={exchange or '(default)'} queue={queue}"
        try:
            params = pika.URLParameters(url)
        except (ValueError, TypeError, KeyError) as exc:
            raise ValidationError("--to", f"not a usable AMQP URL ({exc})") from None
        try:
            self._conn = pika.BlockingConnection(params)
            self._ch = self._conn.channel()
            if exchange:
                self._ch.exchange_declare(exchange=exchange, passive=True)
            if queue:
                self._ch.queue_declare(queue=queue, durable=True)
                if exchange:
                    self._ch.queue_bind(queue=queue, exchange=exchange, routing_key=queue)
            self._ch.confirm_delivery()
        except pika.exceptions.ChannelClosedByBroker as exc:
            raise DeliveryError(
                f"RabbitMQ refused the set-up: {exc.reply_text}",
                hint="check that the exchange exists and the queue's settings match",
            ) from exc
        except pika.exceptions.AMQPError as exc:
            raise DeliveryError(
                f"cannot reach RabbitMQ at {_safe_url(url)}: {type(exc).__name__}",
                hint="is the broker running, and are the user and vhost in --to right?",
            ) from exc

    def publish(self, key: str, message: dict[str, Any]) -> None:
        pika = self._pika
        props = pika.BasicProperties(
            content_type="application/json",
            delivery_mode=2,  # persistent
            message_id=key,
            headers={"Idempotency-Key": key},
        )
        routing = self.queue or str(message.get("channel", ""))
        try:
            self._ch.basic_publish(
                exchange=self.exchange,
                routing_key=routing,
                body=_body(message),
                properties=props,
                mandatory=True,
            )
        except pika.exceptions.UnroutableError as exc:
            raise DeliveryError(
                f"RabbitMQ could route the message to no queue (routing key '{routing}')",
                hint="bind a queue to the exchange, or pass --queue",
            ) from exc
        except pika.exceptions.NackError as exc:
            raise DeliveryError("RabbitMQ refused the message (nack)") from exc
        except pika.exceptions.AMQPError as exc:
            raise DeliveryError(f"lost the connection to RabbitMQ: {type(exc).__name__}") from exc

    def close(self) -> None:
        try:
            if self._conn.is_open:
                self._conn.close()
        except Exception:  # closing a broken connection must not hide the first error
            pass


@dataclass
class WebhookTarget:
    """POST each message to ``url``; retry a 5xx / 408 / 429 or a network error ``retries``
    times, waiting ``backoff * 2**attempt`` seconds (``sleep`` is replaceable for tests)."""

    url: str
    retries: int = 4
    backoff: float = 0.5
    timeout: float = 10.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    @property
    def description(self) -> str:
        return _safe_url(self.url)

    def publish(self, key: str, message: dict[str, Any]) -> None:
        req = urllib.request.Request(
            self.url,
            data=_body(message),
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": key,
                "User-Agent": "campaignrec-push",
            },
        )
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    resp.read()
                    return
            except urllib.error.HTTPError as exc:
                if exc.code >= 500 or exc.code in (408, 429):
                    last = f"HTTP {exc.code}"
                    continue
                raise MessageRejected(f"HTTP {exc.code}") from exc
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                last = type(getattr(exc, "reason", exc)).__name__
                continue
        raise DeliveryError(
            f"the webhook {_safe_url(self.url)} failed {self.retries + 1} times (last: {last})",
            hint="rerun later: messages confirmed so far are recorded and not sent again",
        )

    def close(self) -> None:
        return None


def _safe_url(url: str) -> str:
    """``url`` without its password or query string (a webhook's token): never printed or
    logged."""
    try:
        parts = urlsplit(url)
        if parts.query:
            parts = parts._replace(query="(hidden)")
        if parts.password is None:
            return parts.geturl()
        port = parts.port
    except ValueError:
        return "(an unreadable URL)"
    host = parts.hostname or ""
    if port:
        host = f"{host}:{port}"
    user = f"{parts.username}@" if parts.username else ""
    return parts._replace(netloc=f"{user}{host}").geturl()


def target_for(
    to: str, *, exchange: str = "", queue: str | None = None, retries: int = 4
) -> Target:
    """The target of ``--to``: ``amqp://`` / ``amqps://`` (RabbitMQ) or ``http://`` /
    ``https://`` (webhook)."""
    try:
        parts = urlsplit(to)
        host = parts.hostname
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ValidationError("--to", "not a valid URL", value=_safe_url(to)) from None
    scheme = parts.scheme.lower()
    if scheme in ("amqp", "amqps", "http", "https") and not host:
        raise ValidationError("--to", "names no host", value=_safe_url(to))
    if scheme in ("amqp", "amqps"):
        return RabbitTarget(to, exchange=exchange, queue=queue)
    if scheme in ("http", "https"):
        if exchange or queue:
            raise ValidationError(
                "--queue" if queue else "--exchange", "only for an amqp:// target", value=to
            )
        return WebhookTarget(to, retries=retries)
    raise ValidationError(
        "--to",
        "must be an amqp://, amqps://, http:// or https:// URL",
        value=_safe_url(to),
        hint="e.g. amqp://guest:guest@127.0.0.1:5672/%2F or https://example.com/push",
    )


#: a JSON object ``{"name": {"url": ..., "exchange": ..., "queue": ...}}`` of named targets,
#: over the ``[push.targets]`` entries of the settings (a secret store can set it)
TARGETS_ENV = "CAMPAIGNREC_PUSH_TARGETS"


def configured_targets(settings: PushSettings) -> dict[str, PushTarget]:
    """The named send targets: ``[push.targets.<name>]`` of the settings, with those of the
    ``CAMPAIGNREC_PUSH_TARGETS`` environment variable over them (an unreadable variable is a
    :class:`ValidationError` that names it, never its value, which may hold a password)."""
    import os

    from pydantic import ValidationError as PydanticError

    out = dict(settings.targets)
    raw = os.environ.get(TARGETS_ENV)
    if raw and raw.strip():
        try:
            data = json.loads(raw)
            if not isinstance(data, dict):
                raise ValueError
            for name, spec in data.items():
                out[str(name)] = (
                    PushTarget(url=spec) if isinstance(spec, str) else PushTarget(**spec)
                )
        except (ValueError, TypeError, PydanticError):
            raise ValidationError(
                TARGETS_ENV,
                'must be a JSON object {"name": {"url": "amqp://...", "queue": "..."}}',
                hint="each target needs an amqp(s):// or http(s):// url",
            ) from None
    return out


def named_target(name: str, settings: PushSettings) -> PushTarget:
    """The configured target ``name`` (a :class:`ValidationError` naming ``target`` when
    there is none of that name)."""
    targets = configured_targets(settings)
    if name not in targets:
        known = ", ".join(sorted(targets)) or "none configured"
        raise ValidationError(
            "--target",
            f"no push target of this name (known: {known})",
            value=name,
            hint=f"add [push.targets.{name}] to campaignrec.toml or set {TARGETS_ENV}",
        )
    return targets[name]


__all__ = [
    "TARGETS_ENV",
    "DeliveryError",
    "MessageRejected",
    "RabbitTarget",
    "Target",
    "WebhookTarget",
    "configured_targets",
    "named_target",
    "target_for",
]
