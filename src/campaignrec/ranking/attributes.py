"""One shopper's stored attributes for the ranking path: a primary-key read, optionally cached.

The service reads a shopper's users row on every request (consent, region, segment). On
PostgreSQL that read was the largest share of a request's wall time (docs/benchmarks/serving.md),
so a worker may keep what it read for a few seconds (``attribute_cache_seconds``; off by
default). The live consent of consent events is read from the online state on every request
regardless (:func:`campaignrec.privacy.consent.with_live_consent`), so such a change still takes
effect at once; but a users file imported with changed consent columns reaches a worker only when
its copy expires, which is why the cache is off unless a shop turns it on. An erasure through the
API rebuilds the ranker (and its cache) in the worker that served it; the other workers' copies
expire within the cache time.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any


class AttributeLookup:
    """``user_id -> attributes`` (None for a shopper the store does not know): the users row by
    primary key with its ``attributes`` mapping merged in, kept ``cache_seconds`` per worker
    (0: read every time) for at most ``max_entries`` shoppers."""

    def __init__(
        self,
        store: Any,
        *,
        cache_seconds: float = 0.0,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.cache_seconds = float(cache_seconds)
        self.max_entries = int(max_entries)
        self.clock = clock
        self._cache: OrderedDict[str, tuple[float, Mapping[str, Any] | None]] = OrderedDict()
        self._lock = threading.Lock()

    def _read(self, user_id: str) -> Mapping[str, Any] | None:
        from campaignrec.store.profiles import user_record

        record = user_record(self.store, user_id)
        if record is None:
            return None
        extra = record.pop("attributes", None)
        if isinstance(extra, dict):
            record = {**extra, **{k: v for k, v in record.items() if v is not None}}
        return record

    def __call__(self, user_id: str) -> Mapping[str, Any] | None:
        uid = str(user_id)
        if self.cache_seconds <= 0:
            return self._read(uid)
        now = self.clock()
        with self._lock:
            hit = self._cache.get(uid)
            if hit is not None and now - hit[0] < self.cache_seconds:
                self._cache.move_to_end(uid)
                return hit[1]
        found = self._read(uid)
        with self._lock:
            self._cache[uid] = (now, found)
            self._cache.move_to_end(uid)
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)
        return found

    def evict(self, user_id: str | None = None) -> None:
        """Forget one shopper (after an erasure or an attribute change), or everyone."""
        with self._lock:
            if user_id is None:
                self._cache.clear()
            else:
                self._cache.pop(str(user_id), None)


def store_attribute_lookup(store: Any, *, cache_seconds: float = 0.0) -> AttributeLookup:
    """``user_id -> attributes`` from ``store`` (see :class:`AttributeLookup`)."""
    return AttributeLookup(store, cache_seconds=cache_seconds)
