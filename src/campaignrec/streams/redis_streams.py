"""Redis Streams with a consumer group: ``XREADGROUP``, ``XACK``, ``XAUTOCLAIM``.

Each fetch takes, in this order:

1. this consumer's own pending entries (read before a crash, never acknowledged), once after
   start-up (``XREADGROUP ... 0``);
2. entries another consumer of the group left pending for longer than ``claim_idle_s``
   (``XAUTOCLAIM``: a consumer that died and does not come back);
3. new entries (``XREADGROUP ... >``, blocking up to the wait).

An entry's payload is its ``data`` field (JSON text); an entry without one is read as a flat
event, its fields the event's fields. Entries trimmed from the stream while pending have no
payload left: they are acknowledged and counted (:attr:`RedisStreamSource.vanished`).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from typing import Any

from campaignrec.errors import BrokerError
from campaignrec.streams.base import Message, masked

log = logging.getLogger("campaignrec.streams")

#: The field of an entry that holds the JSON payload.
PAYLOAD_FIELD = b"data"


def _text(v: Any) -> str:
    return v.decode("utf-8", errors="replace") if isinstance(v, bytes) else str(v)


class RedisStreamSource:
    """One stream read through a consumer group (created, with the stream, when missing).

    Parameters
    ----------
    url : redis://host:port/db
    stream : the stream's key
    group : the consumer group (its cursor is shared by every consumer of the group)
    consumer : this consumer's name in the group
    claim_idle_s : how long another consumer's pending entry waits before this one claims it
    """

    kind = "redis"

    def __init__(
        self, url: str, stream: str, *, group: str, consumer: str, claim_idle_s: float = 30.0
    ) -> None:
        import redis

        self.name = stream
        self.group = group
        self.consumer = consumer
        self.claim_idle_ms = max(int(claim_idle_s * 1000), 1)
        self.vanished = 0
        self._redis_errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        self._own_cursor: bytes | str | None = "0"  # None once the own backlog is read
        self._claim_cursor: bytes | str = "0-0"
        self._next_claim = 0.0
        self._url = masked(url)
        try:
            self.client = redis.Redis.from_url(url, socket_connect_timeout=5)
            self.client.xgroup_create(stream, group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise self._error("creating the consumer group", exc) from exc
        except self._redis_errors as exc:
            raise self._error("connecting", exc) from exc

    def _error(self, what: str, exc: BaseException) -> BrokerError:
        return BrokerError(
            f"redis stream {self.name!r} at {self._url}: {what} failed: {exc}",
            hint="check that Redis runs and the URL is right; unacknowledged messages stay pending",
        )

    def _gone(self, ids: Sequence[Any]) -> None:
        self.client.xack(self.name, self.group, *ids)
        self.vanished += len(ids)
        log.warning(
            "redis stream %s: %d pending entries were trimmed before they were stored "
            "(nothing left to read); acknowledged",
            self.name,
            len(ids),
            extra={"stream": self.name, "group": self.group, "entries": len(ids)},
        )

    def _messages(self, entries: Sequence[Any]) -> list[Message]:
        out: list[Message] = []
        gone: list[Any] = []
        for entry_id, fields in entries:
            if not fields:  # trimmed while pending: nothing left to store
                gone.append(entry_id)
                continue
            if PAYLOAD_FIELD in fields:
                body = fields[PAYLOAD_FIELD]
                body = body if isinstance(body, bytes) else str(body).encode()
            else:
                flat = {_text(k): _text(v) for k, v in fields.items()}
                body = json.dumps(flat, ensure_ascii=False).encode()
            out.append(Message(f"redis:{self.name}:{_text(entry_id)}", body, entry_id))
        if gone:
            self._gone(gone)
        return out

    def fetch(self, limit: int, wait_s: float) -> list[Message]:
        try:
            return self._fetch(limit, wait_s)
        except self._redis_errors as exc:
            raise self._error("reading", exc) from exc

    def _fetch(self, limit: int, wait_s: float) -> list[Message]:
        while self._own_cursor is not None:
            got = self.client.xreadgroup(
                self.group, self.consumer, {self.name: self._own_cursor}, count=limit
            )
            entries = got[0][1] if got else []
            if not entries:
                self._own_cursor = None
                break
            self._own_cursor = entries[-1][0]
            found = self._messages(entries)
            if found:
                return found
        now = time.monotonic()
        if now >= self._next_claim:
            _next, claimed, deleted = self._autoclaim(limit)
            if deleted:
                self._gone(deleted)
            if _next in (b"0-0", "0-0"):  # scanned the whole pending list: rest a while
                self._next_claim = now + min(self.claim_idle_ms / 1000.0, 5.0)
            self._claim_cursor = _next
            found = self._messages(claimed)
            if found:
                return found
        got = self.client.xreadgroup(
            self.group,
            self.consumer,
            {self.name: ">"},
            count=limit,
            block=max(int(wait_s * 1000), 1),
        )
        return self._messages(got[0][1]) if got else []

    def _autoclaim(self, limit: int) -> tuple[Any, list[Any], list[Any]]:
        reply = self.client.xautoclaim(
            self.name,
            self.group,
            self.consumer,
            min_idle_time=self.claim_idle_ms,
            start_id=self._claim_cursor,
            count=limit,
        )
        nxt, claimed = reply[0], list(reply[1])
        deleted = list(reply[2]) if len(reply) > 2 else []
        return nxt, claimed, deleted

    def ack(self, messages: Sequence[Message]) -> None:
        if not messages:
            return
        try:
            self.client.xack(self.name, self.group, *[m.token for m in messages])
        except self._redis_errors as exc:
            raise self._error("acknowledging", exc) from exc

    def pending(self) -> int:
        """Entries of the group delivered and not yet acknowledged (``XPENDING``)."""
        info = self.client.xpending(self.name, self.group)
        return int(info["pending"])

    def close(self) -> None:
        self.client.close()


__all__ = ["PAYLOAD_FIELD", "RedisStreamSource"]
