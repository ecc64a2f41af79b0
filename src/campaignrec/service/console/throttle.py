"""Login rate limit: after too many failed logins from one address or for one account, the
console refuses further attempts (429) until the oldest failure leaves the window.

Failures are counted per client address and per account (a console user's name, or an API key's
lookup part, never its secret) over a sliding window: ``CAMPAIGNREC_CONSOLE_LOGIN_FAILURES``
failures (default 5) within ``CAMPAIGNREC_CONSOLE_LOGIN_WINDOW`` seconds (default 60). A refused
attempt is not checked at all, so guessing cannot go on behind the refusal; a successful login
clears its account's count (not the address's). Counts live in the worker's memory: with
several workers each keeps its own.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable

#: Tracked addresses and accounts, at most (the stalest are forgotten first).
MAX_KEYS = 10_000


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        return default
    return value if value > 0 else default


class LoginThrottle:
    """Failed logins per key over a sliding window (keys: ``ip:ADDR``, ``user:NAME``, ``key:ID``)."""

    def __init__(
        self,
        max_failures: int | None = None,
        window_seconds: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures or int(
            _env_number("CAMPAIGNREC_CONSOLE_LOGIN_FAILURES", 5)
        )
        self.window = window_seconds or _env_number("CAMPAIGNREC_CONSOLE_LOGIN_WINDOW", 60.0)
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        found = self._failures.get(key)
        if found is None:
            return deque()
        while found and now - found[0] >= self.window:
            found.popleft()
        if not found:
            del self._failures[key]
        return found

    def retry_after(self, *keys: str) -> float:
        """Seconds until an attempt for ``keys`` is allowed again (0: allowed now)."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in keys:
                recent = self._recent(key, now)
                if len(recent) >= self.max_failures:
                    wait = max(wait, recent[-self.max_failures] + self.window - now)
        return wait

    def failed(self, *keys: str) -> None:
        """Count one failed attempt against each of ``keys``."""
        now = self.clock()
        with self._lock:
            if len(self._failures) >= MAX_KEYS:
                stalest = min(self._failures, key=lambda k: self._failures[k][-1])
                del self._failures[stalest]
            for key in keys:
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, key: str) -> None:
        """Forget the failures of ``key`` (an account that logged in)."""
        with self._lock:
            self._failures.pop(key, None)


def account_key(username: str, api_key: str) -> str:
    """The throttle key of a login's account: the user's name, or the key's lookup part."""
    if username:
        return "user:" + username.strip().lower()[:64]
    lookup = api_key.strip().partition(".")[0]
    return "key:" + lookup[:64]
