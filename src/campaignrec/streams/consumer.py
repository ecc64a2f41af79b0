"""The consume loop: fetch a batch, validate, quarantine, store, then acknowledge.

Per batch (:func:`process_batch`):

1. every message's body is decoded (:func:`decode_message`): one event object, a list of them, or
   ``{"events": [...]}`` (the body of ``POST /v1/events``); a body that is not JSON, or JSON that
   is not events, is quarantined whole (reason ``malformed_row``, the payload in ``raw``);
2. the events are validated by the importer's rules with the privacy edge
   (:func:`campaignrec.data.records.validate_records`); each rejected event is quarantined
   under its message (``source`` the message's origin, ``line`` its position in the message);
3. the good events go to the store and the online state
   (:func:`campaignrec.pipeline.events.store_events`, the writer of ``POST /v1/events``);
4. only then are the messages acknowledged.

A crash anywhere before step 4 leaves the messages with the broker, which delivers them again:
the store skips the events it already holds (``event_id``: the event's own or the one the
importer derives from its fields) and the quarantine keeps one row per (message, position,
field), so a kill and a restart lose and duplicate nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from campaignrec.data.records import malformed_rows, validate_records
from campaignrec.data.validation import DUPLICATE, ValidationOptions, combine_reasons
from campaignrec.pipeline.events import store_events
from campaignrec.streams.base import Message, Source

#: Longest wait of one fetch, so a stop request is seen within about this time.
MAX_WAIT_S = 1.0


@dataclass
class Decoded:
    """The events of a batch of messages, each with its origin, and the undecodable payloads."""

    records: list[dict[str, Any]] = field(default_factory=list)
    origins: list[tuple[str, int]] = field(default_factory=list)
    malformed: list[tuple[str, int, str]] = field(default_factory=list)


def decode_message(message: Message, into: Decoded) -> None:
    """Add ``message``'s events (or its malformed payload) to ``into``.

    A list element that is not an object is malformed on its own (``line`` its 1-based position);
    the other elements of the list are still events.
    """
    try:
        text = message.body.decode("utf-8")
    except UnicodeDecodeError:
        into.malformed.append((message.origin, 1, message.body.decode("utf-8", errors="replace")))
        return
    try:
        obj = json.loads(text)
    except ValueError:
        obj = None
    if isinstance(obj, dict) and set(obj) == {"events"} and isinstance(obj["events"], list):
        obj = obj["events"]
    if isinstance(obj, dict):
        into.records.append(obj)
        into.origins.append((message.origin, 1))
        return
    if not isinstance(obj, list) or not obj:
        into.malformed.append((message.origin, 1, text))
        return
    for n, element in enumerate(obj, start=1):
        if isinstance(element, dict):
            into.records.append(element)
            into.origins.append((message.origin, n))
        else:
            into.malformed.append((message.origin, n, json.dumps(element, ensure_ascii=False)))


@dataclass
class BatchResult:
    """What one batch did (see :class:`ConsumeStats` for the fields)."""

    messages: int
    events: int
    stored: int
    duplicates: int
    quarantined: int
    by_reason: dict[str, int]


def process_batch(
    messages: Sequence[Message],
    store: Any,
    online: Any,
    *,
    settings: Any,
    edge: Any = None,
    options: ValidationOptions | None = None,
) -> BatchResult:
    """Validate, quarantine and store the events of ``messages`` (steps 1-3 of the module
    docstring); the caller acknowledges the messages once this returns."""
    decoded = Decoded()
    for m in messages:
        decode_message(m, decoded)
    reasons: list[dict[str, int]] = []
    if decoded.malformed:
        bad = malformed_rows(decoded.malformed).assign(entity="events")
        if edge is not None:
            bad = edge.redact(bad)
        store.insert_quarantine(bad)
        reasons.append({"malformed_row": len(decoded.malformed)})
    stored = duplicates = rejected = 0
    if decoded.records:
        res = validate_records(
            "events",
            decoded.records,
            source="stream",
            store=store,
            edge=edge,
            origins=decoded.origins,
            options=options,
        )
        written = store_events(store, online, res.valid, settings=settings)
        stored = written.written
        duplicates = res.duplicates + written.known
        rejected = res.rejected_rows
        reasons.append({k: v for k, v in res.by_reason.items() if k != DUPLICATE})
    return BatchResult(
        messages=len(messages),
        events=len(decoded.records) + len(decoded.malformed),
        stored=stored,
        duplicates=duplicates,
        quarantined=rejected + len(decoded.malformed),
        by_reason=combine_reasons(reasons),
    )


@dataclass
class ConsumeStats:
    """What a consume run did.

    Attributes
    ----------
    messages : messages fetched and acknowledged
    events : events read (those of malformed payloads counted one per payload or list element)
    stored : events written to the store (new event ids)
    duplicates : events the store already held, or repeated within a batch
    quarantined : events (or payloads) rejected and quarantined
    by_reason : quarantined events per reason code (an event with several problems counted once
        per problem)
    batches : batches processed
    seconds : wall time of the run
    """

    messages: int = 0
    events: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    seconds: float = 0.0

    def add(self, b: BatchResult) -> None:
        self.messages += b.messages
        self.events += b.events
        self.stored += b.stored
        self.duplicates += b.duplicates
        self.quarantined += b.quarantined
        self.by_reason = combine_reasons([self.by_reason, b.by_reason])
        self.batches += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "events": self.events,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "by_reason": dict(self.by_reason),
            "batches": self.batches,
            "seconds": round(self.seconds, 3),
        }


def consume(
    source: Source,
    store: Any,
    online: Any,
    *,
    settings: Any,
    edge: Any = None,
    batch: int = 100,
    max_events: int | None = None,
    idle_exit_s: float | None = None,
    options: ValidationOptions | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_batch: Callable[[ConsumeStats], None] | None = None,
) -> ConsumeStats:
    """Read ``source`` until stopped; store its events; acknowledge what was stored.

    Parameters
    ----------
    source
        An open :class:`~campaignrec.streams.base.Source` (the caller closes it).
    store, online
        The SQL store and the online state the events go to.
    settings
        :class:`campaignrec.config.Settings` (event weights, serving policy).
    edge
        The privacy edge (:func:`campaignrec.privacy.edge.privacy_edge`).
    batch
        Messages fetched, validated and stored together.
    max_events
        Stop after the batch that brings the events read to this many (None: no limit).
    idle_exit_s
        Stop once no message came for this many seconds (None: wait for ever).
    options
        Validation options (custom event types).
    should_stop
        Polled between batches (a signal handler's flag); True stops after the current batch.
    on_batch
        Called with the running totals after each batch.

    Returns
    -------
    ConsumeStats
    """
    stats = ConsumeStats()
    started = last_message = time.monotonic()
    while not (should_stop and should_stop()):
        if max_events is not None and stats.events >= max_events:
            break
        limit = batch if max_events is None else max(1, min(batch, max_events - stats.events))
        wait = MAX_WAIT_S
        if idle_exit_s is not None:
            left = idle_exit_s - (time.monotonic() - last_message)
            if left <= 0:
                break
            wait = min(wait, left)
        messages = source.fetch(limit, wait)
        if not messages:
            continue
        result = process_batch(
            messages, store, online, settings=settings, edge=edge, options=options
        )
        source.ack(messages)  # after the store committed: a crash before this redelivers
        stats.add(result)
        last_message = time.monotonic()
        stats.seconds = last_message - started
        if on_batch is not None:
            on_batch(stats)
    stats.seconds = time.monotonic() - started
    return stats


__all__ = [
    "BatchResult",
    "ConsumeStats",
    "Decoded",
    "consume",
    "decode_message",
    "process_batch",
]
