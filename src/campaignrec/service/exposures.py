"""The decision log of served lists, written off the request path.

A list served under an experiment is logged as ``recommendation_impression`` events
(:func:`campaignrec.experiments.live.exposure_events`). The request hands them to one writer
thread and returns; ``flush`` waits for what was handed over (the results route calls it, so a
worker's own exposures are in the store before it analyses them).
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_all
from typing import Any

import pandas as pd

from campaignrec.data.validation import derive_event_ids

log = logging.getLogger("campaignrec.service")


class ExposureLog:
    """Inserts batches of decision-log events into the store on one background thread."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="campaignrec-exposures")
        self._pending: set[Future[None]] = set()
        self._lock = threading.Lock()
        self.failed = 0

    def write(self, events: list[dict[str, Any]]) -> None:
        """Queue ``events`` (store event columns) for insertion."""
        if not events:
            return
        future = self._pool.submit(self._insert, events)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)

    def _insert(self, events: list[dict[str, Any]]) -> None:
        try:
            frame = pd.DataFrame(events)
            frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
            frame["event_id"] = derive_event_ids(frame)
            self.store.insert_events(frame)
        except Exception as exc:  # the list was served; losing its log is counted, not raised
            self.failed += len(events)
            log.warning("exposure log write failed: %s", type(exc).__name__)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every queued batch is written."""
        with self._lock:
            pending = list(self._pending)
        if pending:
            wait_all(pending, timeout=timeout)

    def close(self) -> None:
        self.flush()
        self._pool.shutdown(wait=True)
