"""NATS JetStream through nats-py: a durable pull consumer, acknowledged after the store.

The subject must be captured by a JetStream stream (the publisher's side creates it, as it must
for its own publish acknowledgements). The durable consumer, named by the group, keeps the
group's position in the stream across restarts; a message fetched and not acknowledged within
``ack_wait_s`` is delivered again (each start sets the durable's ack wait to this run's value). A message is named by its stream and stream sequence number.

nats-py is asyncio-only; the source runs its own event loop and each call runs to completion on
it, so the consumer stays one plain loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

from campaignrec.errors import BrokerError, ConfigError
from campaignrec.streams.base import Message, masked, missing_client

T = TypeVar("T")
#: Seconds a connection attempt may take in all.
CONNECT_TIMEOUT_S = 15.0


class NatsSource:
    """One subject read through a durable JetStream pull consumer.

    Parameters
    ----------
    url : nats://host:4222
    subject : the subject (a JetStream stream must capture it)
    durable : the durable consumer's name (created when missing)
    ack_wait_s : seconds before an unacknowledged message is delivered again
    """

    kind = "nats"

    def __init__(self, url: str, subject: str, *, durable: str, ack_wait_s: float = 30.0) -> None:
        if not durable or any(c in durable for c in ".*> \t"):
            raise ConfigError(
                f"--group: {durable!r} cannot name a NATS durable consumer",
                hint="use letters, digits, - and _ (no '.', '*', '>' or spaces)",
            )
        self.name = subject
        self.durable = durable
        self.stream = ""
        self._url = masked(url)
        try:
            import nats  # noqa: F401  (the client's presence, before connecting)
        except ImportError as exc:
            raise missing_client("nats", exc) from exc
        self._loop = asyncio.new_event_loop()
        self._nc: Any = None
        self._sub: Any = None
        try:
            self._run(self._connect(url, ack_wait_s))
        except (BrokerError, ConfigError):
            self.close()
            raise
        except Exception as exc:
            self.close()
            raise self._error("connecting", exc) from exc

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self._loop.run_until_complete(coro)

    def _error(self, what: str, exc: BaseException) -> BrokerError:
        return BrokerError(
            f"nats subject {self.name!r} at {self._url}: {what} failed: {exc!r}",
            hint="check that nats-server runs with JetStream (-js) and the URL is right; "
            "unacknowledged messages are delivered again",
        )

    async def _connect(self, url: str, ack_wait_s: float) -> None:
        import nats
        from nats.js.api import AckPolicy, ConsumerConfig
        from nats.js.errors import NotFoundError

        async def _quiet(_exc: Exception) -> None:  # errors surface as exceptions of our calls
            return None

        # max_reconnect_attempts=1: nats-py retries a refused first connect for ever at 0
        self._nc = await asyncio.wait_for(
            nats.connect(
                url,
                connect_timeout=5,
                allow_reconnect=False,
                max_reconnect_attempts=1,
                reconnect_time_wait=0.5,
                error_cb=_quiet,
            ),
            timeout=CONNECT_TIMEOUT_S,
        )
        js = self._nc.jetstream()
        try:
            self.stream = await js.find_stream_name_by_subject(self.name)
        except NotFoundError as exc:
            raise BrokerError(
                f"nats: no JetStream stream captures subject {self.name!r} at {self._url}",
                hint=f"create one first, e.g. nats stream add EVENTS --subjects {self.name!r}",
            ) from exc
        config = ConsumerConfig(
            durable_name=self.durable,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=float(ack_wait_s),
            filter_subject=self.name,
        )
        # create the durable, or update the ack wait of the one a previous run created
        await js.add_consumer(self.stream, config)
        self._sub = await js.pull_subscribe(self.name, durable=self.durable, stream=self.stream)

    async def _fetch(self, limit: int, wait_s: float) -> list[Any]:
        try:
            return list(await self._sub.fetch(limit, timeout=max(wait_s, 0.05)))
        except TimeoutError:  # nats.errors.TimeoutError is one too
            return []

    def fetch(self, limit: int, wait_s: float) -> list[Message]:
        try:
            msgs = self._run(self._fetch(limit, wait_s))
        except Exception as exc:
            raise self._error("reading", exc) from exc
        out = []
        for m in msgs:
            seq = m.metadata.sequence.stream
            out.append(Message(f"nats:{self.stream}:{seq}", bytes(m.data), m))
        return out

    async def _ack(self, messages: Sequence[Message]) -> None:
        for m in messages:
            await m.token.ack()
        await self._nc.flush()

    def ack(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        try:
            self._run(self._ack(messages))
        except Exception as exc:
            raise self._error("acknowledging", exc) from exc

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            if self._nc is not None and not self._nc.is_closed:
                self._run(self._nc.close())
        except Exception:  # closing: unacknowledged messages come back after ack_wait anyway
            pass
        finally:
            self._loop.close()


__all__ = ["NatsSource"]
