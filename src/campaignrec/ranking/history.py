"""The shopper's history at request time: the snapshot's row plus what the online state recorded.

:func:`record_event` is the one writer (the service calls it for every accepted event);
:func:`fresh_history` and :func:`history_for` are the readers. Layout in the online state, all
per-user values under :func:`campaignrec.store.online.user_key` (so erasure removes them):

* ``user:<id>:recent`` -- recent item ids, newest first (``push_recent``);
* ``user:<id>:fresh`` -- hash ``"<event_type>:<item_id>" -> count`` of events since the snapshot
  (weights are applied when read, so ``settings.event_weights`` stay the one definition);
* ``user:<id>:session:<session_id>`` -- the session's item ids in order (expires after
  ``session_ttl_seconds``); ``user:<id>:last_session`` names the latest session;
* ``user:<id>:ver`` -- set anew by every recorded batch that touches the shopper (the service's
  result cache compares it, :func:`campaignrec.store.online.user_version_key`);
* ``trending:<YYYYMMDD>`` -- a shop-wide hash ``item_id -> weighted events`` per UTC day.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from campaignrec.data.schema import DEFAULT_EVENT_WEIGHTS, ITEM_EVENT_TYPES
from campaignrec.errors import ValidationError
from campaignrec.ranking.catalogue import CatalogueView
from campaignrec.store.online import OnlineState, user_key, user_version_key

TRENDING_PREFIX = "trending:"
SESSION_MAX_ITEMS = 50


def _day(timestamp: Any) -> str:
    if isinstance(timestamp, datetime):
        ts = timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=UTC)
    elif isinstance(timestamp, int | float):
        ts = datetime.fromtimestamp(float(timestamp), UTC)
    else:
        ts = datetime.fromisoformat(str(timestamp).replace("Z", "+00:00"))
        ts = ts if ts.tzinfo else ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).strftime("%Y%m%d")


def positions(idmap: Any, ids: Any) -> NDArray[np.int64]:
    """Indices of ``ids`` in ``idmap`` (-1 where unknown); an empty list costs nothing."""
    values = list(ids)
    if not values:
        return np.zeros(0, dtype=np.int64)
    return np.asarray(idmap.index(values, missing="ignore"), dtype=np.int64)


def trending_key(day: str) -> str:
    """The shop-wide trending hash of one UTC day (``YYYYMMDD``)."""
    return TRENDING_PREFIX + day


def record_event(
    online: OnlineState,
    event: Mapping[str, Any],
    *,
    session_ttl_seconds: float = 1800,
    recent_len: int = 50,
    event_weights: Mapping[str, float] | None = None,
) -> None:
    """Apply one validated canonical event to the online state (see :func:`record_events`)."""
    record_events(
        online,
        [event],
        session_ttl_seconds=session_ttl_seconds,
        recent_len=recent_len,
        event_weights=event_weights,
    )


def record_events(
    online: OnlineState,
    events: Iterable[Mapping[str, Any]],
    *,
    session_ttl_seconds: float = 1800,
    recent_len: int = 50,
    event_weights: Mapping[str, float] | None = None,
) -> int:
    """Apply validated canonical events, in order, to the online state; returns how many were
    interest events (an item and a positive weight).

    The same result as one :func:`record_event` per event, in a few round trips: the session
    lists of the batch are read at once (``get_many``), and every write goes in one
    ``batch()`` (one pipeline on Redis). Events without an item (searches, campaign events)
    change nothing here.

    Parameters
    ----------
    online : the shared online state
    events : mappings with ``user_id``, ``item_id``, ``event_type``, ``timestamp`` and optionally
        ``session_id`` (already validated by the importer's rules)
    session_ttl_seconds : how long a session's item list lives after its last event
    recent_len : recent items kept per shopper
    event_weights : interest weight per event type (default: the schema's)

    Raises
    ------
    ValidationError
        An event has no ``user_id`` (nothing of the batch is written then).
    """
    weights = DEFAULT_EVENT_WEIGHTS if event_weights is None else event_weights
    rows = list(events)
    for n, event in enumerate(rows):
        if not event.get("user_id"):
            raise ValidationError(
                "user_id", "an event needs a user", value=event.get("user_id"), row=n
            )
    fresh: dict[tuple[str, str], float] = {}
    recent: list[tuple[str, str]] = []
    trending: dict[tuple[str, str], float] = {}
    sessions: list[tuple[str, str, str]] = []  # (uid, session, item) in order
    for event in rows:
        item_id = event.get("item_id")
        event_type = str(event.get("event_type", ""))
        if not item_id or event_type not in ITEM_EVENT_TYPES:
            continue
        uid, iid = str(event["user_id"]), str(item_id)
        field = (uid, f"{event_type}:{iid}")
        fresh[field] = fresh.get(field, 0.0) + 1.0
        weight = float(weights.get(event_type, 0.0))
        if weight <= 0:  # remove_from_cart: counted, but no interest signal
            continue
        recent.append((uid, iid))
        day = _day(event.get("timestamp", datetime.now(UTC)))
        trending[(day, iid)] = trending.get((day, iid), 0.0) + weight
        if event.get("session_id"):
            sessions.append((uid, str(event["session_id"]), iid))
    if not fresh:
        return 0
    keys = list(dict.fromkeys(user_key(u, "session", sid) for u, sid, _ in sessions))
    lists = {k: list(v or []) for k, v in zip(keys, online.get_many(keys), strict=True)}
    last: dict[str, str] = {}
    for uid, sid, iid in sessions:
        items = lists[user_key(uid, "session", sid)]
        if not items or items[-1] != iid:
            items.append(iid)
        last[uid] = sid
    with online.batch():
        for (uid, fld), count in fresh.items():
            online.hincrbyfloat(user_key(uid, "fresh"), fld, count)
        for uid, iid in recent:
            online.push_recent(uid, iid, max_len=recent_len)
        for (day, iid), weight in trending.items():
            online.hincrbyfloat(trending_key(day), iid, weight)
        for key, items in lists.items():
            online.set(key, items[-SESSION_MAX_ITEMS:], ttl_seconds=session_ttl_seconds)
        for uid, sid in last.items():
            online.set(user_key(uid, "last_session"), sid, ttl_seconds=session_ttl_seconds)
        stamp = uuid.uuid4().hex  # the result cache's per-shopper version (any worker sees it)
        for uid in dict.fromkeys(u for u, _ in fresh):
            online.set(user_version_key(uid), stamp)
    return len(recent)


@dataclass(frozen=True)
class FreshHistory:
    """What the online state holds about one shopper since the snapshot."""

    weights: dict[str, float]  # item_id -> weighted events
    purchased: frozenset[str]
    recent: tuple[str, ...]  # newest first
    session: tuple[str, ...]  # this session's items, in order

    @property
    def empty(self) -> bool:
        return not self.weights and not self.recent


class PrefetchedUser:
    """The online reads one ranking request makes of its shopper's history, in one round trip.

    The first history read (:meth:`hgetall` of the fresh-events hash, :meth:`recent`, or the
    last session id) fetches the fresh events, the recent items, the last session id and (when
    the request names it) that session's items with one
    :meth:`~campaignrec.store.online.OnlineState.read_user`; later reads answer from it. Every
    other call goes to the online state itself, and nothing is fetched before the ranking path
    asks for history: a shopper who withheld consent has only their consent read. With Redis a
    request makes two round trips instead of five (docs/benchmarks/serving.md).
    """

    def __init__(self, online: OnlineState, user_id: str, session_id: str | None = None) -> None:
        self.online = online
        self.user_id = str(user_id)
        self._hash_key = user_key(self.user_id, "fresh")
        self._keys = [user_key(self.user_id, "last_session")]
        if session_id:
            self._keys.append(user_key(self.user_id, "session", str(session_id)))
        self._fresh: dict[str, float] | None = None
        self._recent: list[str] = []
        self._values: dict[str, Any] = {}

    def _fetch(self) -> dict[str, float]:
        if self._fresh is None:
            fresh, self._recent, values = self.online.read_user(
                self.user_id, self._hash_key, self._keys
            )
            self._values = dict(zip(self._keys, values, strict=True))
            self._fresh = fresh
        return self._fresh

    def get(self, key: str) -> Any:
        if key in self._keys:
            self._fetch()
            return self._values[key]
        return self.online.get(key)

    def hgetall(self, key: str) -> dict[str, float]:
        return dict(self._fetch()) if key == self._hash_key else self.online.hgetall(key)

    def recent(self, user_id: str, n: int | None = None) -> list[str]:
        if str(user_id) != self.user_id:
            return self.online.recent(user_id, n)
        self._fetch()
        return list(self._recent) if n is None else self._recent[: max(n, 0)]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.online, name)


def fresh_history(
    user_id: str,
    online: OnlineState,
    *,
    session_id: str | None = None,
    event_weights: Mapping[str, float] | None = None,
) -> FreshHistory:
    """Read the shopper's fresh events (weighted by ``event_weights``) and session items."""
    weights = DEFAULT_EVENT_WEIGHTS if event_weights is None else event_weights
    per_item: dict[str, float] = {}
    purchased: set[str] = set()
    for fld, count in online.hgetall(user_key(user_id, "fresh")).items():
        event_type, _, item_id = fld.partition(":")
        w = float(weights.get(event_type, 0.0)) * float(count)
        if w > 0:
            per_item[item_id] = per_item.get(item_id, 0.0) + w
        if event_type == "purchase":
            purchased.add(item_id)
    sid = session_id or online.get(user_key(user_id, "last_session"))
    session = tuple(online.get(user_key(user_id, "session", str(sid))) or []) if sid else ()
    recent = tuple(online.recent(user_id))
    return FreshHistory(per_item, frozenset(purchased), recent, session)


def history_row(
    user_idx: int,
    model: Any,
    fresh: FreshHistory,
    catalogue: CatalogueView | None = None,
    *,
    snapshot: sp.csr_matrix | None = None,
) -> tuple[sp.csr_matrix, NDArray[np.int64]]:
    """The (1, n_items) history row aligned with ``model.items_`` and its time-ordered sequence.

    The snapshot part is ``snapshot[user_idx]`` (summed event weights) when given, else the
    model's 0/1 ``seen_`` row; fresh events add their weights. The sequence holds the fresh
    items, oldest first (snapshot items count as older, the protocol's convention).
    """
    n_items = len(model.items_)
    row = sp.csr_matrix((1, n_items), dtype=np.float32)
    if user_idx >= 0:
        base = snapshot if snapshot is not None else model.seen_
        row = sp.csr_matrix(base[user_idx], dtype=np.float32)
    if fresh.weights:
        ids = list(fresh.weights)
        idx = model.items_.index(ids, missing="ignore")
        vals = np.asarray([fresh.weights[i] for i in ids], dtype=np.float32)
        ok = idx >= 0
        if catalogue is not None and catalogue.known.any():
            ok &= catalogue.known[np.maximum(idx, 0)]
        add = sp.csr_matrix(
            (vals[ok], (np.zeros(int(ok.sum()), dtype=np.int64), idx[ok])), shape=(1, n_items)
        )
        row = (row + add).tocsr()
    seq = positions(model.items_, reversed(fresh.recent))
    return row, seq[seq >= 0].astype(np.int64)


def history_for(
    user_id: str,
    model: Any,
    online: OnlineState,
    catalogue: CatalogueView | None = None,
    *,
    event_weights: Mapping[str, float] | None = None,
    snapshot: sp.csr_matrix | None = None,
) -> tuple[sp.csr_matrix, NDArray[np.int64]]:
    """The shopper's history now: the snapshot's row (known users) plus the fresh events.

    Returns a (1, n_items) CSR row aligned with ``model.items_`` and the item indices of the
    fresh events in time order (``score_history``'s ``sequences`` entry). ``catalogue`` drops
    fresh items the shop no longer lists.
    """
    uidx = int(model.users_.index([user_id], missing="ignore")[0])
    fresh = fresh_history(user_id, online, event_weights=event_weights)
    return history_row(uidx, model, fresh, catalogue, snapshot=snapshot)
