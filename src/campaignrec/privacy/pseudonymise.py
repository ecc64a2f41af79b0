"""Pseudonymisation at the edge: external user ids become a keyed hash before anything is stored.

With ``pseudonymisation_key`` configured, every user id that enters the engine (an import, an API
call) is replaced by ``HMAC-SHA256(key, id)``, written as ``ps_`` and 32 hex digits (128 bits).
The same id always gives the same pseudonym, so events, profiles and models join as before; the
mapping back is never stored anywhere, and without the key a pseudonym cannot be recomputed from a
guessed id. The shop, which holds the key, can compute the pseudonym of any of its ids (to read
the batch export, or to erase a shopper) with :func:`pseudonymise_user_id`.

A second, domain-separated HMAC (:meth:`Pseudonymiser.audit_name`) names a shopper in the audit
log, so an audit record cannot be joined to the store's rows even by someone who reads both.

Examples
--------
>>> p = Pseudonymiser(b"a key of at least sixteen bytes")
>>> p.user_id("alice") == p.user_id(" alice ")
True
>>> p.user_id("alice").startswith("ps_")
True
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from campaignrec.errors import ConfigError

if TYPE_CHECKING:
    from campaignrec.config import Settings

PSEUDONYM_PREFIX = "ps_"
MIN_KEY_BYTES = 16
#: Where a data directory keeps the key of audit names when no pseudonymisation key is set.
AUDIT_KEY_FILE = "audit.key"


def _key_bytes(key: str | bytes) -> bytes:
    raw = key.encode("utf-8") if isinstance(key, str) else bytes(key)
    if len(raw) < MIN_KEY_BYTES:
        raise ConfigError(
            f"setting 'pseudonymisation_key': too short ({len(raw)} bytes, need at least "
            f"{MIN_KEY_BYTES})",
            hint="generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'",
        )
    return raw


class Pseudonymiser:
    """Keyed hashes of user ids (the key is held, never printed).

    Parameters
    ----------
    key : str or bytes
        The secret, at least 16 bytes.
    """

    def __init__(self, key: str | bytes) -> None:
        self._key = _key_bytes(key)

    def __repr__(self) -> str:
        return "Pseudonymiser(key=***)"

    def user_id(self, user_id: str) -> str:
        """The pseudonym of one external user id (surrounding whitespace ignored)."""
        text = str(user_id).strip()
        digest = hmac.new(self._key, b"user\x00" + text.encode("utf-8"), hashlib.sha256)
        return PSEUDONYM_PREFIX + digest.hexdigest()[:32]

    def series(self, s: pl.Series) -> pl.Series:
        """Pseudonyms of a column of ids; null and blank values stay as they are (validation
        reports them as missing)."""
        text = s.cast(pl.String)
        values = text.to_list()
        cache: dict[str, str] = {}
        out: list[str | None] = []
        for v in values:
            if v is None or not v.strip():
                out.append(v)
                continue
            p = cache.get(v)
            if p is None:
                p = cache[v] = self.user_id(v)
            out.append(p)
        return pl.Series(s.name, out, dtype=pl.String)

    def audit_name(self, user_id: str) -> str:
        """The name of a shopper in the audit log: a keyed hash apart from the pseudonym."""
        text = str(user_id).strip()
        digest = hmac.new(self._key, b"audit\x00" + text.encode("utf-8"), hashlib.sha256)
        return "sh_" + digest.hexdigest()[:32]


def pseudonymiser_from_settings(settings: Settings) -> Pseudonymiser | None:
    """The pseudonymiser of ``settings`` (None when no ``pseudonymisation_key`` is set)."""
    key = settings.pseudonymisation_key
    return None if key is None else Pseudonymiser(key.get_secret_value())


def pseudonymise_user_id(settings: Settings, user_id: str) -> str:
    """The id under which the engine stores ``user_id``: its pseudonym with a key configured,
    the id itself (stripped) without one. The function the API calls on every path user id.

    Parameters
    ----------
    settings : Settings
    user_id : str
        An external user id as the shop knows it.

    Returns
    -------
    str
    """
    p = pseudonymiser_from_settings(settings)
    return str(user_id).strip() if p is None else p.user_id(user_id)


def audit_namer(settings: Settings) -> Pseudonymiser:
    """The keyed hash that names shoppers in the audit log.

    The pseudonymisation key when one is set; otherwise a random key kept in
    ``<home>/audit.key`` (created on first use, readable by its owner only).
    """
    p = pseudonymiser_from_settings(settings)
    if p is not None:
        return p
    path = Path(settings.home) / AUDIT_KEY_FILE
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32), encoding="ascii")
        path.chmod(0o600)
    return Pseudonymiser(path.read_text(encoding="ascii").strip())


__all__ = [
    "PSEUDONYM_PREFIX",
    "Pseudonymiser",
    "audit_namer",
    "pseudonymise_user_id",
    "pseudonymiser_from_settings",
]
