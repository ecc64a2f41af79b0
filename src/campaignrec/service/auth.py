"""API keys: scopes ``ingest``, ``read``, ``admin``; stored as salted SHA-256, never the key.

The ``api_keys`` table is this module's own (created on first use with the store's engine), so
the key material never travels through the store's general tables.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, Integer, MetaData, Table, Text, select, update

from campaignrec.errors import UnknownIdError, ValidationError

SCOPES = ("ingest", "read", "admin")
KEY_PREFIX = "crk_"

_META = MetaData()
API_KEYS = Table(
    "api_keys",
    _META,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("lookup", Text, nullable=False, unique=True),
    Column("salt", Text, nullable=False),
    Column("digest", Text, nullable=False),
    Column("scopes", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("revoked", Boolean, nullable=False, default=False),
)


@dataclass(frozen=True)
class ApiKey:
    """A stored key (no secret): its id and scopes."""

    id: int
    scopes: tuple[str, ...]
    created_at: int
    revoked: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "scopes": list(self.scopes),
            "created_at": self.created_at,
            "revoked": self.revoked,
        }


def parse_scopes(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    parts = text.split(",") if isinstance(text, str) else list(text)
    scopes = tuple(dict.fromkeys(p.strip() for p in parts if p.strip()))
    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        raise ValidationError(
            "scopes", f"must be a non-empty subset of {', '.join(SCOPES)}", value=text
        )
    return scopes


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256((salt + secret).encode()).hexdigest()


class KeyStore:
    """Create, list, revoke and verify API keys in the store's database."""

    def __init__(self, store: Any) -> None:
        self.engine = store.engine
        _META.create_all(self.engine, checkfirst=True)
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}

    def create(self, scopes: tuple[str, ...] | str) -> tuple[str, ApiKey]:
        """A new key: returns the plain key (shown once) and its record."""
        sc = parse_scopes(scopes)
        lookup = secrets.token_hex(6)
        secret = secrets.token_urlsafe(24)
        salt = secrets.token_hex(8)
        now = time.time_ns() // 1000
        with self.engine.begin() as conn:
            res = conn.execute(
                API_KEYS.insert().values(
                    lookup=lookup,
                    salt=salt,
                    digest=_digest(salt, secret),
                    scopes=",".join(sc),
                    created_at=now,
                    revoked=False,
                )
            )
            key_id = int(res.inserted_primary_key[0])
        return f"{KEY_PREFIX}{lookup}.{secret}", ApiKey(key_id, sc, now, False)

    def list(self) -> list[ApiKey]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(API_KEYS).order_by(API_KEYS.c.id)).all()
        return [
            ApiKey(int(r.id), tuple(r.scopes.split(",")), int(r.created_at), bool(r.revoked))
            for r in rows
        ]

    def revoke(self, key_id: int) -> None:
        with self.engine.begin() as conn:
            res = conn.execute(update(API_KEYS).where(API_KEYS.c.id == key_id).values(revoked=True))
        if res.rowcount == 0:
            raise UnknownIdError("api key", key_id, hint="see: campaignrec keys list")
        self._cache.clear()

    def verify(self, key: str, ttl: float = 5.0) -> ApiKey | None:
        """The key's record when it is valid and not revoked, else None (cached ``ttl`` s)."""
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and now - hit[0] < ttl:
            return hit[1]
        found = self._lookup(key)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (now, found)
        return found

    def _lookup(self, key: str) -> ApiKey | None:
        if not key.startswith(KEY_PREFIX) or "." not in key:
            return None
        lookup, _, secret = key[len(KEY_PREFIX) :].partition(".")
        with self.engine.connect() as conn:
            row = conn.execute(select(API_KEYS).where(API_KEYS.c.lookup == lookup)).first()
        if row is None or row.revoked:
            return None
        if not hmac.compare_digest(row.digest, _digest(row.salt, secret)):
            return None
        return ApiKey(int(row.id), tuple(row.scopes.split(",")), int(row.created_at), False)


class TokenBucket:
    """Per-key token buckets: ``rate`` requests per second, bursts up to ``burst``."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._state: dict[int, tuple[float, float]] = {}

    def take(self, key_id: int) -> float:
        """0 when allowed, else the seconds to wait before retrying."""
        now = time.monotonic()
        tokens, last = self._state.get(key_id, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens >= 1.0:
            self._state[key_id] = (tokens - 1.0, now)
            return 0.0
        self._state[key_id] = (tokens, now)
        return (1.0 - tokens) / self.rate if self.rate > 0 else 60.0
