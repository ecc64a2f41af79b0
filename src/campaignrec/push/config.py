"""Push planning settings: quiet hours, caps, channels, time zones, holdout.

Every field has a default a shop need not change; a ``[push]`` section of ``campaignrec.toml``
overrides any of them (``campaignrec.config.Settings.push``). Unknown fields are rejected.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

#: The channels campaignrec knows, in the order used to break ties.
CHANNELS = ("app_push", "in_app", "email", "sms")


class ChannelSpec(BaseModel):
    """One delivery channel: how often a message is opened, what one costs, how many a day.

    ``default_consent``: whether a shopper who consented to marketing but whose attributes say
    nothing about this channel (no ``consent_<channel>`` attribute) may be reached through it.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    open_rate: float = Field(gt=0, le=1, description="expected open/click probability")
    cost: float = Field(gt=0, description="cost of one message (shop currency)")
    daily_quota: int | None = Field(default=None, ge=0, description="messages a day at most")
    default_consent: bool = True


class PushTarget(BaseModel):
    """A named destination of ``push send``: a RabbitMQ URL (``amqp://`` / ``amqps://``, with
    ``exchange`` / ``queue``) or a webhook (``http://`` / ``https://``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(min_length=1, pattern=r"^(amqps?|https?)://[^\s]+$")
    exchange: str = ""
    queue: str | None = None

    def __repr__(self) -> str:  # never the password
        from urllib.parse import urlsplit

        parts = urlsplit(self.url)
        return f"PushTarget(scheme={parts.scheme!r}, host={parts.hostname!r}, queue={self.queue!r})"

    __str__ = __repr__


def _default_channels() -> dict[str, ChannelSpec]:
    # app push is cheap, SMS costs money (and needs an explicit opt-in), e-mail is rarely opened
    return {
        "app_push": ChannelSpec(open_rate=0.08, cost=0.0005),
        "in_app": ChannelSpec(open_rate=0.04, cost=0.0005),
        "email": ChannelSpec(open_rate=0.02, cost=0.001),
        "sms": ChannelSpec(open_rate=0.30, cost=0.03, daily_quota=1000, default_consent=False),
    }


def _default_regions() -> dict[str, str]:
    return {r: "Asia/Shanghai" for r in ("north", "east", "south", "west")}


def _default_cities() -> dict[str, str]:
    return {
        "Singapore": "Asia/Singapore",
        "London": "Europe/London",
        "Sydney": "Australia/Sydney",
        "Hong Kong": "Asia/Hong_Kong",
        "Taipei": "Asia/Taipei",
        "Tokyo": "Asia/Tokyo",
        "New York": "America/New_York",
    }


def parse_clock(value: str, field: str) -> int:
    """Minutes after midnight of an ``HH:MM`` string (``24:00`` is not a clock time)."""
    try:
        hh, mm = str(value).strip().split(":")
        h, m = int(hh), int(mm)
    except ValueError:
        raise ValueError(f"{field} must be HH:MM, got {value!r}") from None
    if not (0 <= h < 24 and 0 <= m < 60):
        raise ValueError(f"{field} must be HH:MM between 00:00 and 23:59, got {value!r}")
    return h * 60 + m


def check_timezone(name: str, field: str) -> str:
    """``name`` when it is an IANA time zone (``Asia/Shanghai``), else a ValueError."""
    try:
        ZoneInfo(str(name))
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{field}: unknown time zone {name!r} (use e.g. Asia/Shanghai)") from None
    return str(name)


class PushSettings(BaseModel):
    """How ``campaignrec push plan`` schedules messages.

    Parameters
    ----------
    quiet_start, quiet_end : local clock times (``HH:MM``); nothing is sent from ``quiet_start``
        (inclusive) to ``quiet_end`` (exclusive), across midnight when ``quiet_start`` is later.
    max_per_day : pushes per shopper per local calendar day, across campaigns.
    max_per_week : pushes per shopper in any 7-day window, across campaigns.
    holdout_share : share of eligible shoppers (consented, reachable) who get nothing.
    default_timezone : the time zone of a shopper with no known ``timezone``, city or region.
    region_timezones, city_timezones : ``region`` / ``city`` attribute -> IANA time zone.
    channels : the channels, their open rates, costs, daily quotas and default consent.
    horizon_days : how far ahead a plan schedules (never past the campaign's end).
    min_lead_minutes : the earliest send is this long after the planning moment.
    prior_events : strength of the segment pattern in a shopper's hour/weekday distribution
        (a shopper with this many events weighs half their own, half the segment's).
    max_timing_lift : the send-time factor of the expected value is capped at this.
    min_expected_value : a push worth no more than this is not planned.
    segment_field : the attribute whose groups give the fallback activity pattern.
    seed : seed of the holdout draw.
    cooldown_hours : no push within this many hours after a push the shopper ignored (no open
        or click of it); 0 turns the cool-down off.
    ignored_after_hours : a sent push with no open or click this long after it counts as ignored.
    fatigue_decay : the expected response of a push is multiplied by this for each push the
        shopper got in the 7 days before it (1 = no fatigue).
    optout_per_push : the predicted opt-out probability each push in the 7 days before adds.
    optout_cost : what a shopper who opts out is worth to the shop (the pushes they would
        still have answered); ``optout_per_push * pushes * optout_cost`` is taken off a push's
        value.
    estimate_channel_rates : estimate each shopper's response rate per channel from the
        shop's logged push outcomes (:mod:`campaignrec.push.channel_rates`) for the channel
        choice; off: the channels' ``open_rate`` for everyone.
    channel_prior_pushes : the beta prior's strength (pseudo-pushes) when too few shoppers
        have a history on a channel to estimate it.
    channel_global_prior : pseudo-pushes at the configured ``open_rate`` in a channel's
        pooled (global) rate.
    purchase_prior_days : a product push's purchase probability is the shopper's share of
        active days with a purchase, shrunk towards the shop's with this many pseudo-days
        (:func:`campaignrec.push.products.purchase_rates`).
    targets : named send destinations (``[push.targets.<name>]``: ``url``, ``exchange``,
        ``queue``), so an API client names a target and never sends a broker URL or a
        password; also from ``CAMPAIGNREC_PUSH_TARGETS`` (JSON of the same shape).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    quiet_start: str = "22:00"
    quiet_end: str = "08:00"
    max_per_day: int = Field(default=1, ge=1)
    max_per_week: int = Field(default=3, ge=1)
    holdout_share: float = Field(default=0.1, ge=0, lt=1)
    default_timezone: str = "Asia/Shanghai"
    region_timezones: dict[str, str] = Field(default_factory=_default_regions)
    city_timezones: dict[str, str] = Field(default_factory=_default_cities)
    channels: dict[str, ChannelSpec] = Field(default_factory=_default_channels)
    horizon_days: int = Field(default=7, ge=1, le=60)
    min_lead_minutes: int = Field(default=30, ge=0)
    prior_events: float = Field(default=20.0, ge=0)
    max_timing_lift: float = Field(default=3.0, ge=1)
    min_expected_value: float = 0.0
    segment_field: str = "segment"
    seed: int = 0
    cooldown_hours: float = Field(default=48.0, ge=0)
    ignored_after_hours: float = Field(default=24.0, gt=0)
    fatigue_decay: float = Field(default=0.8, gt=0, le=1)
    optout_per_push: float = Field(default=0.002, ge=0, le=1)
    optout_cost: float = Field(default=2.0, ge=0)
    estimate_channel_rates: bool = True
    channel_prior_pushes: float = Field(default=10.0, gt=0)
    channel_global_prior: float = Field(default=100.0, ge=0)
    purchase_prior_days: float = Field(default=10.0, ge=0)
    targets: dict[str, PushTarget] = Field(default_factory=dict)

    @field_validator("quiet_start", "quiet_end")
    @classmethod
    def _clock(cls, v: str, info: Any) -> str:
        parse_clock(v, str(info.field_name))
        return v

    @field_validator("default_timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        return check_timezone(v, "push.default_timezone")

    @field_validator("region_timezones", "city_timezones")
    @classmethod
    def _tz_map(cls, v: dict[str, str], info: Any) -> dict[str, str]:
        for k, tz in v.items():
            check_timezone(tz, f"push.{info.field_name}.{k}")
        return v

    @model_validator(mode="after")
    def _check(self) -> PushSettings:
        if not self.channels:
            raise ValueError("push.channels needs at least one channel")
        if self.quiet_start_min == self.quiet_end_min:
            # equal bounds would be read as "quiet all day" by some and "never" by others
            raise ValueError("quiet_start and quiet_end must differ")
        return self

    @property
    def quiet_start_min(self) -> int:
        return parse_clock(self.quiet_start, "quiet_start")

    @property
    def quiet_end_min(self) -> int:
        return parse_clock(self.quiet_end, "quiet_end")

    def is_quiet(self, minute_of_day: int) -> bool:
        """Whether a local clock time (minutes after midnight) falls inside the quiet hours."""
        s, e = self.quiet_start_min, self.quiet_end_min
        if s < e:
            return s <= minute_of_day < e
        return minute_of_day >= s or minute_of_day < e


__all__ = ["CHANNELS", "ChannelSpec", "PushSettings", "PushTarget", "check_timezone", "parse_clock"]
