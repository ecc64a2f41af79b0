"""Personal fields the engine does not need: dropped at the edge, or kept only encrypted.

A shop's files often carry names, phone numbers, e-mail and street addresses beside what the
engine uses. Unknown columns of users and items would otherwise land in their ``attributes``; the
policy of :data:`campaignrec.config.DEFAULT_PERSONAL_FIELDS` (merged with the shop's
``personal_fields`` setting, which wins) decides for each such field, whether a column or a key
of the ``attributes`` object:

* ``drop`` -- removed before validation; it reaches neither the store nor the quarantine;
* ``encrypt`` -- removed, and the values of one shopper sealed together into one token with
  Fernet (AES-128-CBC + HMAC-SHA256, from the ``cryptography`` library) under
  ``field_encryption_key``; the token is kept in the ``sealed_fields`` table only;
* ``keep`` -- left alone.

Field names are matched case-insensitively, ignoring ``-``, ``.`` and spaces (``E-Mail`` is
``e_mail``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from campaignrec.errors import ConfigError

if TYPE_CHECKING:
    from campaignrec.config import Settings

Action = Literal["drop", "encrypt", "keep"]


def normalise_name(name: str) -> str:
    """``"E-Mail"`` -> ``"e_mail"``: the form fields are matched in."""
    return re.sub(r"[\s\-.]+", "_", str(name).strip().lower())


@dataclass(frozen=True)
class FieldPolicy:
    """What to do with each personal field (normalised name -> action)."""

    actions: Mapping[str, Action]

    @classmethod
    def from_settings(cls, settings: Settings) -> FieldPolicy:
        from campaignrec.config import DEFAULT_PERSONAL_FIELDS

        merged: dict[str, Action] = {
            normalise_name(k): v for k, v in DEFAULT_PERSONAL_FIELDS.items()
        }
        merged.update({normalise_name(k): v for k, v in settings.personal_fields.items()})
        return cls(merged)

    def action(self, name: str) -> Action:
        """The action for field ``name`` (``keep`` for fields the policy does not list)."""
        return self.actions.get(normalise_name(name), "keep")

    @property
    def needs_key(self) -> bool:
        """Whether some field is kept encrypted (so a ``field_encryption_key`` is required)."""
        return any(a == "encrypt" for a in self.actions.values())


class Sealer:
    """Fernet encryption of one shopper's personal fields (a JSON object) into one token.

    Parameters
    ----------
    key : str
        A Fernet key (32 url-safe base64-encoded bytes): ``Sealer.generate_key()``.
    """

    def __init__(self, key: str) -> None:
        from cryptography.fernet import Fernet

        try:
            self._fernet = Fernet(key.encode("ascii") if isinstance(key, str) else key)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                "setting 'field_encryption_key': not a Fernet key (32 url-safe base64 bytes)",
                hint="generate one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'",
            ) from exc

    def __repr__(self) -> str:
        return "Sealer(key=***)"

    @staticmethod
    def generate_key() -> str:
        """A fresh Fernet key."""
        from cryptography.fernet import Fernet

        return Fernet.generate_key().decode("ascii")

    def seal(self, fields: Mapping[str, Any]) -> str:
        """The token of ``fields`` (JSON, keys sorted)."""
        payload = json.dumps(dict(fields), ensure_ascii=False, sort_keys=True, default=str)
        return self._fernet.encrypt(payload.encode("utf-8")).decode("ascii")

    def open(self, token: str) -> dict[str, Any]:
        """The fields sealed in ``token``; ``ConfigError`` when the key does not match."""
        from cryptography.fernet import InvalidToken

        try:
            data = self._fernet.decrypt(token.encode("ascii"))
        except InvalidToken as exc:
            raise ConfigError(
                "a sealed token does not open with this field_encryption_key",
                hint="use the key the fields were sealed with",
            ) from exc
        value = json.loads(data.decode("utf-8"))
        return dict(value) if isinstance(value, dict) else {}


def sealer_from_settings(settings: Settings, policy: FieldPolicy) -> Sealer | None:
    """The sealer of ``settings``; ``ConfigError`` when a field is to be encrypted without a key."""
    key = settings.field_encryption_key
    if key is None:
        if policy.needs_key:
            fields = sorted(n for n, a in policy.actions.items() if a == "encrypt")
            raise ConfigError(
                f"setting 'personal_fields': {', '.join(fields)} are to be kept encrypted but "
                "'field_encryption_key' is not set",
                hint="set CAMPAIGNREC_FIELD_ENCRYPTION_KEY (a Fernet key) or drop those fields",
            )
        return None
    return Sealer(key.get_secret_value())


__all__ = ["Action", "FieldPolicy", "Sealer", "normalise_name", "sealer_from_settings"]
