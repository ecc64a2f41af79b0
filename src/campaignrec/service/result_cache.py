"""The per-worker result cache of the list routes (``result_cache_seconds``, docs/api.md).

``GET /v1/users/{id}/recommendations`` and ``GET /v1/items/{id}/similar`` keep the JSON body
they answered, keyed by the route, the (stored) id, every request parameter, the language and
the generation of the ranker served (a model swap or a catalogue reload starts a new one and
clears the cache). Each entry carries the **stamp** it was computed under; a lookup reads the
stamp again and answers only when it is unchanged and the entry is younger than the TTL:

* the shopper's version (``user:<id>:ver``, set anew by every recorded event batch, from any
  worker or the event consumer) and their live consent (``user:<id>:consent``),
* the shop-wide results epoch (set anew by ``POST /v1/items``, an erasure),
  all three in one ``get_many`` -- one Redis round trip in production mode, a dict read embedded;
* the last import's id (a users file with changed consent, an items or campaigns file), one
  primary-key ``max`` on the store.

The stamp is read *before* a miss computes its list, so an event that arrives meanwhile makes
the entry stale at once. An in-stock or hidden change reaches a cached list no later than an
uncomputed one: the ranker is part of the key and the epoch drops everything on ``POST
/v1/items``. Requests a running experiment assigns are never answered here (their exposure is
logged by the route).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from sqlalchemy import func, select

from campaignrec.privacy.consent import consent_key
from campaignrec.store.online import RESULTS_EPOCH_KEY, user_version_key

Stamp = tuple[Any, ...]


class ResultCache:
    """``key -> (stamp, JSON body)`` for at most ``max_entries`` requests, each kept at most
    ``seconds`` (least recently used dropped first). Thread-safe."""

    def __init__(
        self,
        seconds: float,
        *,
        max_entries: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = float(seconds)
        self.max_entries = int(max_entries)
        self.clock = clock
        self._entries: OrderedDict[Hashable, tuple[float, Stamp, bytes]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.seconds > 0

    def get(self, key: Hashable, stamp: Stamp) -> bytes | None:
        """The body cached for ``key`` under the same ``stamp`` within the TTL, else None."""
        now = self.clock()
        with self._lock:
            hit = self._entries.get(key)
            if hit is None or hit[1] != stamp or now - hit[0] >= self.seconds:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return hit[2]

    def put(self, key: Hashable, stamp: Stamp, body: bytes) -> None:
        with self._lock:
            self._entries[key] = (self.clock(), stamp, body)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def last_import_id(store: Any) -> int:
    """The newest import's id (0: none): one primary-key ``max``."""
    imports = store.tables.imports
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.max(imports.c.import_id))).scalar_one() or 0)


def read_stamp(online: Any, store: Any, stored_user: str | None) -> Stamp:
    """What a cached list depends on beyond its key (see the module's docstring)."""
    keys = [RESULTS_EPOCH_KEY]
    if stored_user is not None:
        keys += [user_version_key(stored_user), consent_key(stored_user)]
    values = online.get_many(keys)
    return (last_import_id(store), *values)
