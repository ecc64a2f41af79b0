"""Online state shared by every API worker: recent items, frequency caps, budgets, bandit stats.

Two implementations of one protocol, :class:`OnlineState`, chosen by URL with
:func:`open_online_state`:

* ``memory://`` -- :class:`MemoryOnlineState`, in process, thread-safe (one lock); for one worker,
  tests and notebooks.
* ``redis://host:port/db`` -- :class:`RedisOnlineState`; every check-and-change is one atomic
  Redis command or Lua script, so several worker processes enforce caps and budgets together.

Keys are plain strings. Everything about one user must live under :func:`user_key` so that
:meth:`OnlineState.clear_user` can erase it (right to erasure)::

    state.incr_capped(user_key(user_id, "cap", campaign_id), cap=3, ttl_seconds=7 * 86400)

Numbers: counters are integers; budgets and hash fields are floats (Redis stores them as decimal
strings; amounts that are exact in binary, such as whole numbers and cents scaled to integers,
stay exact).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from campaignrec.errors import ConfigError, StoreError, ValidationError

USER_NAMESPACE = "user"


def user_key(user_id: str, *parts: str) -> str:
    """The key of a per-user value: ``user:<user_id>:<part>:...``.

    Parameters
    ----------
    user_id : str
        External user id.
    *parts : str
        What the value is (e.g. ``"cap", campaign_id``).

    Returns
    -------
    str
    """
    return ":".join((USER_NAMESPACE, _user_segment(user_id), *parts))


#: a shop-wide stamp the service's result cache reads with every lookup: set anew (any value
#: differs from the last) by a catalogue change, an erasure or a users import, so every worker
#: drops the lists it cached before (docs/api.md, "Result cache")
RESULTS_EPOCH_KEY = "results:epoch"


def user_version_key(user_id: str) -> str:
    """``user:<id>:ver``: a stamp set anew whenever the shopper's events are recorded, read
    by the result cache in the same round trip as the live consent (erasure removes it)."""
    return user_key(user_id, "ver")


def bump_results_epoch(online: OnlineState) -> None:
    """Invalidate every worker's cached lists at once (a new :data:`RESULTS_EPOCH_KEY`)."""
    online.set(RESULTS_EPOCH_KEY, uuid.uuid4().hex)


def _user_segment(user_id: str) -> str:
    # ':' inside an id would let user "a" erase the keys of user "a:b"; escape it (and '%')
    return str(user_id).replace("%", "%25").replace(":", "%3A")


def _check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValidationError(name, "must be positive", value=value, hint="pass a value > 0")


@runtime_checkable
class OnlineState(Protocol):
    """What the service needs from the shared online state."""

    def push_recent(self, user_id: str, item_id: str, max_len: int = 50) -> None:
        """Record that ``user_id`` just interacted with ``item_id`` (keep the newest ``max_len``)."""
        ...

    def recent(self, user_id: str, n: int | None = None) -> list[str]:
        """The user's recent items, newest first (at most ``n``)."""
        ...

    def incr_capped(self, key: str, cap: int, ttl_seconds: float) -> bool:
        """Atomically add one to counter ``key`` if it is below ``cap``; True when added.

        The counter expires ``ttl_seconds`` after its first increment (a fixed window).
        """
        ...

    def get_count(self, key: str) -> int:
        """Current value of counter ``key`` (0 when absent or expired)."""
        ...

    def ttl(self, key: str) -> float | None:
        """Seconds until ``key`` expires; None when it has no expiry or does not exist."""
        ...

    def set_budget(self, key: str, amount: float) -> None:
        """Set the remaining budget or inventory of ``key``."""
        ...

    def get_budget(self, key: str) -> float | None:
        """Remaining budget of ``key``; None when never set."""
        ...

    def try_consume(self, key: str, amount: float = 1.0) -> bool:
        """Atomically take ``amount`` from budget ``key`` if that leaves it >= 0; True if taken.

        An unset budget has nothing to take (False).
        """
        ...

    def hincrbyfloat(self, key: str, field: str, amount: float) -> float:
        """Add ``amount`` to hash field ``key[field]`` and return the new value."""
        ...

    def hgetall(self, key: str) -> dict[str, float]:
        """Every field of hash ``key`` (empty when absent)."""
        ...

    def get(self, key: str) -> Any:
        """The JSON value stored under ``key``, or None."""
        ...

    def set(self, key: str, value: Any, ttl_seconds: float | None = None) -> None:
        """Store a JSON-serialisable value under ``key``, optionally expiring."""
        ...

    def delete(self, key: str) -> bool:
        """Remove ``key``; True when it existed."""
        ...

    def clear_user(self, user_id: str) -> int:
        """Erase every key under :func:`user_key` of ``user_id``; returns keys removed."""
        ...

    def get_many(self, keys: list[str]) -> list[Any]:
        """The JSON values of ``keys`` (None where absent), in one round trip."""
        ...

    def read_user(
        self, user_id: str, hash_key: str, keys: list[str]
    ) -> tuple[dict[str, float], list[str], list[Any]]:
        """One shopper's hash at ``hash_key``, :meth:`recent` items and the JSON values of
        ``keys``, in one round trip (what the ranking path reads per request)."""
        ...

    def batch(self) -> AbstractContextManager[None]:
        """Send the writes made inside the block together (one round trip for Redis).

        Writes in the block do not return their results (``hincrbyfloat`` gives 0.0), and reads
        do not see them until the block ends; the atomic counters (``incr_capped``,
        ``try_consume``) always run at once. For the memory state it changes nothing.
        """
        ...

    def close(self) -> None:
        """Release connections."""
        ...


# ---- in process -----------------------------------------------------------------------------


@dataclass
class _Entry:
    value: Any
    expires_at: float | None = None


@dataclass
class MemoryOnlineState:
    """In-process online state guarded by one lock (thread-safe, not shared across processes).

    Parameters
    ----------
    clock : callable, optional
        Monotonic seconds; injectable so tests can move time forward.
    """

    clock: Callable[[], float] = time.monotonic
    _data: dict[str, _Entry] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def _live(self, key: str) -> _Entry | None:
        entry = self._data.get(key)
        if entry is not None and entry.expires_at is not None and entry.expires_at <= self.clock():
            del self._data[key]
            return None
        return entry

    def _typed(self, key: str, kind: type) -> _Entry | None:
        entry = self._live(key)
        if entry is not None and not isinstance(entry.value, kind):
            raise StoreError(
                f"online key {key!r} holds a {type(entry.value).__name__}, not a {kind.__name__}",
                hint="use distinct keys for counters, budgets, hashes and lists",
            )
        return entry

    def push_recent(self, user_id: str, item_id: str, max_len: int = 50) -> None:
        _check_positive("max_len", max_len)
        key = user_key(user_id, "recent")
        with self._lock:
            entry = self._typed(key, deque)
            if entry is None:
                entry = self._data[key] = _Entry(deque())
            entry.value.appendleft(str(item_id))
            while len(entry.value) > max_len:
                entry.value.pop()

    def recent(self, user_id: str, n: int | None = None) -> list[str]:
        with self._lock:
            entry = self._typed(user_key(user_id, "recent"), deque)
            items = list(entry.value) if entry is not None else []
        return items if n is None else items[: max(n, 0)]

    def incr_capped(self, key: str, cap: int, ttl_seconds: float) -> bool:
        _check_positive("ttl_seconds", ttl_seconds)
        with self._lock:
            entry = self._typed(key, int)
            current = entry.value if entry is not None else 0
            if current >= cap:
                return False
            if entry is None:
                self._data[key] = _Entry(1, self.clock() + ttl_seconds)
            else:
                entry.value = current + 1
            return True

    def get_count(self, key: str) -> int:
        with self._lock:
            entry = self._typed(key, int)
            return int(entry.value) if entry is not None else 0

    def ttl(self, key: str) -> float | None:
        with self._lock:
            entry = self._live(key)
            if entry is None or entry.expires_at is None:
                return None
            return max(entry.expires_at - self.clock(), 0.0)

    def set_budget(self, key: str, amount: float) -> None:
        if amount < 0:
            raise ValidationError("amount", "a budget cannot be negative", value=amount)
        with self._lock:
            self._data[key] = _Entry(float(amount))

    def get_budget(self, key: str) -> float | None:
        with self._lock:
            entry = self._typed(key, float)
            return float(entry.value) if entry is not None else None

    def try_consume(self, key: str, amount: float = 1.0) -> bool:
        _check_positive("amount", amount)
        with self._lock:
            entry = self._typed(key, float)
            if entry is None or entry.value < amount:
                return False
            entry.value = entry.value - float(amount)
            return True

    def hincrbyfloat(self, key: str, field: str, amount: float) -> float:
        with self._lock:
            entry = self._typed(key, dict)
            if entry is None:
                entry = self._data[key] = _Entry({})
            value = float(entry.value.get(field, 0.0)) + float(amount)
            entry.value[field] = value
            return value

    def hgetall(self, key: str) -> dict[str, float]:
        with self._lock:
            entry = self._typed(key, dict)
            return dict(entry.value) if entry is not None else {}

    def get(self, key: str) -> Any:
        with self._lock:
            entry = self._typed(key, str)
            return json.loads(entry.value) if entry is not None else None

    def set(self, key: str, value: Any, ttl_seconds: float | None = None) -> None:
        payload = _dumps(key, value)
        if ttl_seconds is not None:
            _check_positive("ttl_seconds", ttl_seconds)
        with self._lock:
            expires = None if ttl_seconds is None else self.clock() + ttl_seconds
            self._data[key] = _Entry(payload, expires)

    def delete(self, key: str) -> bool:
        with self._lock:
            existed = self._live(key) is not None
            self._data.pop(key, None)
            return existed

    def clear_user(self, user_id: str) -> int:
        prefix = user_key(user_id) + ":"
        with self._lock:
            keys = [k for k in self._data if k.startswith(prefix)]
            live = sum(1 for k in keys if self._live(k) is not None)
            for k in keys:
                self._data.pop(k, None)
            return live

    def get_many(self, keys: list[str]) -> list[Any]:
        return [self.get(k) for k in keys]

    def read_user(
        self, user_id: str, hash_key: str, keys: list[str]
    ) -> tuple[dict[str, float], list[str], list[Any]]:
        return self.hgetall(hash_key), self.recent(user_id), self.get_many(keys)

    def batch(self) -> AbstractContextManager[None]:
        return nullcontext()

    def close(self) -> None:
        return None


def _dumps(key: str, value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            "value",
            f"not JSON serialisable ({exc})",
            hint=f"store lists, dicts, str and numbers at {key!r}",
        ) from exc


# ---- Redis ----------------------------------------------------------------------------------

# KEYS[1] counter; ARGV[1] cap; ARGV[2] ttl in ms. Returns 1 when incremented, 0 at the cap.
_INCR_CAPPED = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current >= tonumber(ARGV[1]) then return 0 end
local value = redis.call('INCR', KEYS[1])
if value == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1
"""

# KEYS[1] budget; ARGV[1] amount. Returns 1 when taken, 0 when too little or unset.
_TRY_CONSUME = """
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
if tonumber(current) < tonumber(ARGV[1]) then return 0 end
redis.call('INCRBYFLOAT', KEYS[1], -tonumber(ARGV[1]))
return 1
"""


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


class RedisOnlineState:
    """Online state in Redis, shared by every worker that uses the same URL and prefix.

    Parameters
    ----------
    url : str
        ``redis://[:password@]host:port/db`` (or ``rediss://`` for TLS).
    prefix : str
        Prepended to every key, so several shops or test runs can share one database.

    Raises
    ------
    StoreError
        Redis cannot be reached.
    """

    def __init__(self, url: str, *, prefix: str = "campaignrec:") -> None:
        import redis

        self.prefix = prefix
        self._redis = redis.Redis.from_url(url, decode_responses=True)
        self._errors: tuple[type[Exception], ...] = (redis.exceptions.RedisError,)
        try:
            self._redis.ping()
        except redis.exceptions.RedisError as exc:
            self._redis.close()
            raise StoreError(
                f"cannot reach the online state at {_masked_redis(url)}: {exc}",
                hint="check CAMPAIGNREC_ONLINE_URL and that Redis is running",
            ) from exc
        self._local = threading.local()  # the open batch pipeline of this thread, if any
        self._incr_capped = self._redis.register_script(_INCR_CAPPED)
        self._try_consume = self._redis.register_script(_TRY_CONSUME)

    def _k(self, key: str) -> str:
        return self.prefix + key

    def _writer(self) -> Any:
        """The open batch pipeline of this thread, or the client."""
        return getattr(self._local, "pipe", None) or self._redis

    @contextmanager
    def batch(self) -> Iterator[None]:
        if getattr(self._local, "pipe", None) is not None:  # nested: the outer batch sends
            yield
            return
        pipe = self._redis.pipeline(transaction=False)
        self._local.pipe = pipe
        try:
            yield
        finally:
            self._local.pipe = None
        pipe.execute()

    def get_many(self, keys: list[str]) -> list[Any]:
        if not keys:
            return []
        values = self._redis.mget([self._k(k) for k in keys])
        return [json.loads(v) if v is not None else None for v in values]

    def read_user(
        self, user_id: str, hash_key: str, keys: list[str]
    ) -> tuple[dict[str, float], list[str], list[Any]]:
        pipe = self._redis.pipeline(transaction=False)
        pipe.hgetall(self._k(hash_key))
        pipe.lrange(self._k(user_key(user_id, "recent")), 0, -1)
        if keys:
            pipe.mget([self._k(k) for k in keys])
        out = pipe.execute()
        values = out[2] if keys else []
        return (
            {f: float(v) for f, v in out[0].items()},
            list(out[1]),
            [json.loads(v) if v is not None else None for v in values],
        )

    def push_recent(self, user_id: str, item_id: str, max_len: int = 50) -> None:
        _check_positive("max_len", max_len)
        key = self._k(user_key(user_id, "recent"))
        batch = getattr(self._local, "pipe", None)
        if batch is not None:
            batch.lpush(key, str(item_id))
            batch.ltrim(key, 0, max_len - 1)
            return
        with self._redis.pipeline(transaction=True) as pipe:
            pipe.lpush(key, str(item_id))
            pipe.ltrim(key, 0, max_len - 1)
            pipe.execute()

    def recent(self, user_id: str, n: int | None = None) -> list[str]:
        if n is not None and n <= 0:
            return []
        end = -1 if n is None else n - 1
        return list(self._redis.lrange(self._k(user_key(user_id, "recent")), 0, end))

    def incr_capped(self, key: str, cap: int, ttl_seconds: float) -> bool:
        _check_positive("ttl_seconds", ttl_seconds)
        ttl_ms = max(round(ttl_seconds * 1000), 1)
        return bool(self._incr_capped(keys=[self._k(key)], args=[int(cap), ttl_ms]))

    def get_count(self, key: str) -> int:
        value = self._redis.get(self._k(key))
        return int(value) if value is not None else 0

    def ttl(self, key: str) -> float | None:
        ms = int(self._redis.pttl(self._k(key)))
        return None if ms < 0 else ms / 1000.0

    def set_budget(self, key: str, amount: float) -> None:
        if amount < 0:
            raise ValidationError("amount", "a budget cannot be negative", value=amount)
        self._redis.set(self._k(key), repr(float(amount)))

    def get_budget(self, key: str) -> float | None:
        value = self._redis.get(self._k(key))
        return float(value) if value is not None else None

    def try_consume(self, key: str, amount: float = 1.0) -> bool:
        _check_positive("amount", amount)
        return bool(self._try_consume(keys=[self._k(key)], args=[repr(float(amount))]))

    def hincrbyfloat(self, key: str, field: str, amount: float) -> float:
        batch = getattr(self._local, "pipe", None)
        if batch is not None:
            batch.hincrbyfloat(self._k(key), field, float(amount))
            return 0.0
        return float(self._redis.hincrbyfloat(self._k(key), field, float(amount)))

    def hgetall(self, key: str) -> dict[str, float]:
        raw: dict[str, str] = self._redis.hgetall(self._k(key))
        return {f: float(v) for f, v in raw.items()}

    def get(self, key: str) -> Any:
        value = self._redis.get(self._k(key))
        return json.loads(value) if value is not None else None

    def set(self, key: str, value: Any, ttl_seconds: float | None = None) -> None:
        payload = _dumps(key, value)
        writer = self._writer()
        if ttl_seconds is None:
            writer.set(self._k(key), payload)
        else:
            _check_positive("ttl_seconds", ttl_seconds)
            writer.set(self._k(key), payload, px=max(round(ttl_seconds * 1000), 1))

    def delete(self, key: str) -> bool:
        return bool(self._redis.delete(self._k(key)))

    def clear_user(self, user_id: str) -> int:
        pattern = _glob_escape(self._k(user_key(user_id) + ":")) + "*"
        removed = 0
        batch: list[str] = []
        for key in self._redis.scan_iter(match=pattern, count=500):
            batch.append(key)
            if len(batch) >= 500:
                removed += int(self._redis.delete(*batch))
                batch.clear()
        if batch:
            removed += int(self._redis.delete(*batch))
        return removed

    def clear_prefix(self) -> int:
        """Delete every key under this state's prefix (tests and resets); returns keys removed."""
        removed = 0
        for key in self._redis.scan_iter(match=_glob_escape(self.prefix) + "*", count=1000):
            removed += int(self._redis.delete(key))
        return removed

    def close(self) -> None:
        self._redis.close()


def _masked_redis(url: str) -> str:
    if "@" in url:
        scheme, _, rest = url.partition("://")
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def open_online_state(url: str = "memory://", *, prefix: str | None = None) -> OnlineState:
    """The online state named by ``url`` (``CAMPAIGNREC_ONLINE_URL``).

    Parameters
    ----------
    url : str
        ``memory://`` or ``redis://host:port/db`` / ``rediss://...``.
    prefix : str, optional
        Key prefix for Redis (default ``campaignrec:``); ignored by the memory state.

    Returns
    -------
    OnlineState

    Raises
    ------
    ConfigError
        Unknown URL scheme.
    StoreError
        Redis cannot be reached.
    """
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "memory":
        return MemoryOnlineState()
    if scheme in ("redis", "rediss", "unix"):
        return RedisOnlineState(url, prefix="campaignrec:" if prefix is None else prefix)
    raise ConfigError(
        f"setting 'online_url': unsupported URL {_masked_redis(url)!r}",
        hint="use memory:// or redis://host:6379/0",
    )


def random_prefix() -> str:
    """A fresh key prefix (``campaignrec-<hex>:``), e.g. for an isolated test run."""
    return f"campaignrec-{uuid.uuid4().hex[:12]}:"


def online_for(settings: Any) -> OnlineState:
    """The online state of a :class:`campaignrec.config.Settings` (its URL and key prefix)."""
    return open_online_state(settings.online_url, prefix=settings.online_prefix)
