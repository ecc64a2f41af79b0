"""The decision log of served lists, written off the request path.

A list served under an experiment is logged as ``recommendation_impression`` events
(:func:`campaignrec.experiments.live.exposure_events`). The request puts them on a queue and
returns; one writer thread per worker takes everything queued in the ``BATCH_WAIT_SECONDS`` after
a first list and inserts it as one batch, so under load the cost of an insert is shared by many
lists. ``flush`` waits until
everything queued is written (the results route calls it, so a worker's own exposures are in the
store before it analyses them).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

import pandas as pd

from campaignrec.data.validation import derive_event_ids

log = logging.getLogger("campaignrec.service")
#: at most this many lists in one insert
MAX_BATCH = 500
#: after the first list of a batch, wait this long for more: an insert costs about the same for
#: one list and for twenty (measured: 17 and 25 ms on the loaded 2-vCPU VM), so under load the
#: writer inserts at most a few times a second
BATCH_WAIT_SECONDS = 0.2


class ExposureLog:
    """Inserts queued decision-log events into the store in batches, on one background thread."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self._queue: queue.Queue[list[dict[str, Any]] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()
        self.failed = 0
        self.written = 0

    def write(self, events: list[dict[str, Any]]) -> None:
        """Queue ``events`` (store event columns) for insertion."""
        if not events:
            return
        if self._thread is None:
            with self._start:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="campaignrec-exposures", daemon=True
                    )
                    self._thread.start()
        self._queue.put(events)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                self._queue.task_done()
                return
            time.sleep(BATCH_WAIT_SECONDS)
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:  # close: write what was taken, then stop
                    self._insert(batch)
                    for _ in range(len(batch) + 1):
                        self._queue.task_done()
                    return
                batch.append(more)
            self._insert(batch)
            for _ in batch:
                self._queue.task_done()

    def _insert(self, batch: list[list[dict[str, Any]]]) -> None:
        rows = [row for events in batch for row in events]
        try:
            frame = pd.DataFrame(rows)
            frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
            frame["event_id"] = derive_event_ids(frame)
            self.store.insert_events(frame)
            self.written += len(rows)
        except Exception as exc:  # the lists were served; losing their log is counted, not raised
            self.failed += len(rows)
            log.warning("exposure log write failed: %s", type(exc).__name__)

    def flush(self) -> None:
        """Wait until every queued list is written."""
        if self._thread is not None:
            self._queue.join()

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=30)
