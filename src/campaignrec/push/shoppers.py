"""Who a push may reach and how: a shopper's time zone, language and consented channels.

Consent rules (one definition, used by every plan):

* no push at all without marketing consent (:func:`campaignrec.privacy.consent.marketing_allowed`,
  live consent from the online state over the stored one);
* a channel ``c`` is allowed when the attribute ``consent_<c>`` (``consent_sms``,
  ``consent_email`` ...; from the users table's ``attributes``) is true; when it is absent, the
  channel's ``default_consent`` decides (true for app push, in-app and e-mail, false for SMS,
  which needs an explicit opt-in); a value that is not clearly true or false counts as absent.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from campaignrec.privacy.consent import ConsentState, marketing_allowed
from campaignrec.push.config import PushSettings

_TRUE = frozenset({"true", "1", "yes", "y", "on"})
_FALSE = frozenset({"false", "0", "no", "n", "off"})


def consent_attribute(channel: str) -> str:
    """``consent_<channel>``: the attribute holding a shopper's consent for one channel."""
    return f"consent_{channel}"


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        v = value.strip().lower()
        if v in _TRUE:
            return True
        if v in _FALSE:
            return False
    return None


def allowed_channels(
    attrs: Mapping[str, Any],
    settings: PushSettings,
    state: ConsentState | None = None,
    user_id: str | None = None,
) -> tuple[str, ...]:
    """The channels this shopper may be sent a push through (empty without marketing consent)."""
    if not marketing_allowed(attrs, state, user_id):
        return ()
    out: list[str] = []
    for name, spec in settings.channels.items():
        flag = _flag(attrs.get(consent_attribute(name)))
        if (spec.default_consent if flag is None else flag) is True:
            out.append(name)
    return tuple(out)


@lru_cache(maxsize=512)
def _valid_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def timezone_of(attrs: Mapping[str, Any], settings: PushSettings) -> str:
    """The shopper's IANA time zone: their ``timezone`` attribute, else their city's, else their
    region's, else ``settings.default_timezone`` (an unknown zone name is skipped)."""
    own = attrs.get("timezone")
    if isinstance(own, str) and own and _valid_zone(own):
        return own
    city = attrs.get("city")
    if isinstance(city, str) and city in settings.city_timezones:
        return settings.city_timezones[city]
    region = attrs.get("region")
    if isinstance(region, str) and region in settings.region_timezones:
        return settings.region_timezones[region]
    return settings.default_timezone


def language_of(attrs: Mapping[str, Any]) -> str:
    """``zh`` for a shopper whose ``language`` attribute is Chinese, else ``en``."""
    lang = attrs.get("language")
    if isinstance(lang, str) and lang.strip().lower().replace("_", "-").split("-")[0] == "zh":
        return "zh"
    return "en"


__all__ = ["allowed_channels", "consent_attribute", "language_of", "timezone_of"]
