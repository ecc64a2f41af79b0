"""The push planner: for each recipient a send time, a channel and the text, within the rules.

Inputs are plain values (recipients with their campaign value, attributes, activity counts, the
pushes already planned or sent), so the rules can be checked on random shops
(``tests/push/test_plan_properties.py``). The rules, in the order they are applied:

1. **consent**: no push without marketing consent, and only through a consented channel
   (:func:`campaignrec.push.shoppers.allowed_channels`);
2. **holdout**: a share of the eligible shoppers (consented, with a channel) gets nothing; the
   draw hashes the seed, the campaign and the shopper, so re-planning keeps the same holdout;
3. **send time**: the future slot (whole local hours, never in the quiet hours, inside the
   campaign's window and the horizon) with the highest expected response from the shopper's
   shrunk hour x weekday pattern (:mod:`campaignrec.push.activity`);
4. **caps**: at most ``max_per_day`` pushes per local calendar day and ``max_per_week`` in any
   7-day window, counting every push already planned or sent (any campaign) and this plan's;
5. **cool-down**: no push within ``cooldown_hours`` after a push the shopper ignored (an
   earlier push whose ``ignored`` column is true);
6. **channel**: the consented channel with the best expected value per cost whose daily quota
   (days in ``default_timezone``, counting earlier plans) has room; when none has, the next
   best slot. A push is planned only when its expected value exceeds ``min_expected_value``.

The expected value of a push is::

    campaign_value * open_rate(channel) * timing_lift * fatigue_decay ** n
        - cost(channel) - optout_per_push * n * optout_cost

where ``campaign_value`` is the shopper's expected incremental profit of the campaign (from the
uplift allocation), ``timing_lift`` the chosen slot's relative response, capped at
``max_timing_lift``, and ``n`` the pushes the shopper got (or is planned to get) in the 7 days
before it: each one more lowers the response to the next and raises the predicted opt-out risk,
so a tired shopper's next message is worth less, and nothing when the risk outweighs it.
``open_rate(channel)`` is the channel's, or the shopper's own when ``channel_rates`` gives one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from campaignrec.data.schema import Campaign
from campaignrec.errors import ValidationError
from campaignrec.privacy.consent import ConsentState, marketing_allowed, personalisation_allowed
from campaignrec.push.activity import ActivityCounts, slot_scores, timing_model
from campaignrec.push.config import PushSettings
from campaignrec.push.content import push_content
from campaignrec.push.shoppers import allowed_channels, language_of, timezone_of

#: The columns every plan has, in this order (then the extra ones of :data:`EXTRA_COLUMNS`).
PLAN_COLUMNS = ("user_id", "campaign_id", "channel", "send_at", "content", "expected_value")
EXTRA_COLUMNS = (
    "send_at_utc",
    "timezone",
    "language",
    "campaign_value",
    "timing_lift",
    "history_events",
)
#: Why a recipient got no push (keys of :attr:`PushPlan.skipped`).
SKIP_REASONS = (
    "no_marketing_consent",
    "no_consented_channel",
    "holdout",
    "no_positive_value",
    "caps",
    "quota",
    "no_slot",
    "cooldown",
    "already_sent",
)
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Slot:
    """One possible send moment of one time zone."""

    at_utc: datetime
    local: datetime

    @property
    def key(self) -> tuple[int, int]:
        return (self.local.weekday(), self.local.hour)


@dataclass(frozen=True, eq=False)
class PushPlan:
    """A plan: one row per push (:data:`PLAN_COLUMNS` + :data:`EXTRA_COLUMNS`), the holdout
    shoppers, how many recipients were left out for each reason of :data:`SKIP_REASONS`, and
    which eligible non-holdout shoppers got no push (``left_out``)."""

    campaign_id: str
    table: pd.DataFrame
    holdout: tuple[str, ...]
    skipped: dict[str, int] = field(default_factory=dict)
    window: tuple[datetime, datetime] | None = None
    #: eligible shoppers outside the holdout whom the rules left without a push (caps, value,
    #: quota, cool-down, no slot): the treatment arm of the holdout comparison with the pushed
    left_out: tuple[str, ...] = ()

    def summary(self) -> dict[str, Any]:
        t = self.table
        return {
            "campaign_id": self.campaign_id,
            "pushes": len(t),
            "holdout": len(self.holdout),
            "by_channel": {str(k): int(v) for k, v in t["channel"].value_counts().items()},
            "expected_value": float(t["expected_value"].sum()) if len(t) else 0.0,
            "skipped": dict(self.skipped),
            "window": [w.isoformat() for w in self.window] if self.window else None,
        }


def in_holdout(campaign_id: str, user_id: str, share: float, seed: int = 0) -> bool:
    """Whether ``user_id`` is in the holdout of ``campaign_id`` (a stable hash draw)."""
    if share <= 0:
        return False
    digest = hashlib.blake2b(f"{seed}|{campaign_id}|{user_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64 < share


def push_window(
    campaign: Campaign, now: datetime, settings: PushSettings
) -> tuple[datetime, datetime]:
    """The moments a push of ``campaign`` may be sent: from ``now`` + the lead (or the start)
    to the end of the campaign or of the horizon, whichever is earlier."""
    now = _utc(now)
    start = now + timedelta(minutes=settings.min_lead_minutes)
    if campaign.start_time is not None:
        start = max(start, _utc(campaign.start_time))
    end = now + timedelta(days=settings.horizon_days)
    if campaign.end_time is not None:
        end = min(end, _utc(campaign.end_time))
    if end <= start:
        raise ValidationError(
            "campaign",
            f"'{campaign.campaign_id}' has no time left to send a push "
            f"(window {start.isoformat()} .. {end.isoformat()})",
            hint="plan a running or scheduled campaign, or pass an earlier --at",
        )
    return start, end


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t.astimezone(UTC)


def slots_for(timezone: str, start: datetime, end: datetime, settings: PushSettings) -> list[Slot]:
    """Whole local hours in ``[start, end)`` outside the quiet hours (DST gaps handled by
    checking the local time after the round trip through UTC)."""
    tz = ZoneInfo(timezone)
    day = start.astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date() + timedelta(days=1)
    out: dict[datetime, Slot] = {}
    while day <= last:
        for h in range(24):
            at = datetime(day.year, day.month, day.day, h, tzinfo=tz).astimezone(UTC)
            local = at.astimezone(tz)
            if start <= at < end and not settings.is_quiet(local.hour * 60 + local.minute):
                out.setdefault(at, Slot(at_utc=at, local=local))
        day += timedelta(days=1)
    return [out[k] for k in sorted(out)]


def caps_allow(
    taken: Iterable[datetime], at: datetime, timezone: str, settings: PushSettings
) -> bool:
    """Whether one more push at ``at`` keeps the shopper within the daily and weekly caps, given
    the pushes ``taken`` (any campaign): at most ``max_per_day`` on its local calendar day, and
    at most ``max_per_week`` in every 7-day window that holds it."""
    tz = ZoneInfo(timezone)
    times = sorted(_utc(t) for t in taken)
    day = at.astimezone(tz).date()
    if sum(t.astimezone(tz).date() == day for t in times) + 1 > settings.max_per_day:
        return False
    near = sorted([t for t in times if abs(t - at) < WEEK] + [at])
    k = settings.max_per_week
    # a window [s, s + 7 days) holding `at` with more than k pushes exists iff some k + 1
    # consecutive pushes around `at` span less than 7 days
    return all(near[i + k] - near[i] >= WEEK for i in range(len(near) - k))


def _existing_by_user(existing: pd.DataFrame | None) -> dict[str, list[datetime]]:
    out: dict[str, list[datetime]] = {}
    if existing is None or existing.empty:
        return out
    at = pd.to_datetime(existing["send_at_utc"], utc=True)
    for u, t in zip(existing["user_id"].astype(str), at, strict=True):
        if pd.notna(t):
            out.setdefault(u, []).append(t.to_pydatetime())
    return out


def _ignored_by_user(existing: pd.DataFrame | None) -> dict[str, list[datetime]]:
    """The send times of the earlier pushes each shopper ignored (``ignored`` true)."""
    if existing is None or existing.empty or "ignored" not in existing.columns:
        return {}
    flag = existing["ignored"].fillna(False).astype(bool)
    return _existing_by_user(existing[flag.to_numpy()])


def _quota_day(at: datetime, settings: PushSettings) -> date:
    return at.astimezone(ZoneInfo(settings.default_timezone)).date()


def _existing_quota(
    existing: pd.DataFrame | None, settings: PushSettings
) -> dict[tuple[str, date], int]:
    used: dict[tuple[str, date], int] = {}
    if existing is None or existing.empty:
        return used
    at = pd.to_datetime(existing["send_at_utc"], utc=True)
    for ch, t in zip(existing["channel"].astype(str), at, strict=True):
        if pd.notna(t):
            key = (ch, _quota_day(t.to_pydatetime(), settings))
            used[key] = used.get(key, 0) + 1
    return used


def plan_pushes(
    recipients: pd.DataFrame,
    attributes: Mapping[str, Mapping[str, Any]],
    activity: ActivityCounts,
    campaign: Campaign,
    settings: PushSettings,
    now: datetime,
    *,
    existing: pd.DataFrame | None = None,
    state: ConsentState | None = None,
    content: Callable[[Campaign, str], str] | None = None,
    channel_rates: Mapping[str, Mapping[str, float]] | None = None,
) -> PushPlan:
    """Plan one campaign's pushes.

    Parameters
    ----------
    recipients : DataFrame
        ``user_id`` and ``value`` (expected incremental value of the campaign for the shopper),
        e.g. the uplift allocation's selection; optionally ``content``, the shopper's own text
        in their language (a product push's top items, :mod:`campaignrec.push.products`), used
        over ``content``'s campaign text where it is a non-empty string.
    attributes : mapping
        ``user_id -> attributes`` (consent, ``consent_<channel>``, ``timezone`` / ``city`` /
        ``region``, ``language``, the segment field).
    activity : ActivityCounts
        Events by local weekday and hour of (at least) the recipients
        (:func:`campaignrec.push.activity.activity_counts`).
    campaign : Campaign
    settings : PushSettings
    now : datetime
        The planning moment (UTC).
    existing : DataFrame, optional
        Pushes already planned or sent (any campaign): ``user_id``, ``channel``,
        ``send_at_utc``, optionally ``ignored`` (sent and not answered). They count against
        the caps, the quotas and the fatigue; ignored ones start a cool-down.
    state : online state, optional
        Live consent changes over the stored attributes.
    content : callable, optional
        ``(campaign, lang) -> text``; default :func:`campaignrec.push.content.push_content`.
    channel_rates : mapping, optional
        ``user_id -> channel -> open rate``: the shopper's own estimated response per channel
        (e.g. from their past pushes), over the channel's ``open_rate``.

    Returns
    -------
    PushPlan
    """
    for col in ("user_id", "value"):
        if col not in recipients.columns:
            raise ValidationError(col, "the recipients table needs this column")
    start, end = push_window(campaign, now, settings)
    text = content or (lambda c, lang: push_content(c, lang, now))
    cid = str(campaign.campaign_id)
    skipped = dict.fromkeys(SKIP_REASONS, 0)
    holdout: list[str] = []
    treated: list[tuple[str, float, tuple[str, ...]]] = []
    rec = recipients.assign(user_id=recipients["user_id"].astype(str))
    rec = rec.drop_duplicates("user_id").sort_values(
        ["value", "user_id"], ascending=[False, True], kind="stable"
    )
    own_text: dict[str, str] = {}
    if "content" in rec.columns:
        own_text = {
            u: t
            for u, t in zip(rec["user_id"], rec["content"], strict=True)
            if isinstance(t, str) and t
        }
    for uid, value in zip(rec["user_id"], rec["value"].astype(float), strict=True):
        attrs = attributes.get(uid, {})
        channels = allowed_channels(attrs, settings, state, uid)
        if not channels:
            no_mkt = not marketing_allowed(attrs, state, uid)
            skipped["no_marketing_consent" if no_mkt else "no_consented_channel"] += 1
            continue
        if in_holdout(cid, uid, settings.holdout_share, settings.seed):
            holdout.append(uid)
            skipped["holdout"] += 1
            continue
        treated.append((uid, value, channels))

    tz_of = {u: timezone_of(attributes.get(u, {}), settings) for u, _, _ in treated}
    groups = {
        u: str(a.get(settings.segment_field))
        for u, a in attributes.items()
        if a.get(settings.segment_field) is not None and personalisation_allowed(a, state, u)
    }
    personal = {u: personalisation_allowed(attributes.get(u, {}), state, u) for u, _, _ in treated}
    # the shop-wide and segment patterns come from every shopper the activity holds
    model = timing_model(activity, groups, settings.prior_events, personal)
    slots_by_tz: dict[str, list[Slot]] = {}
    taken = _existing_by_user(existing)
    ignored = _ignored_by_user(existing)
    quota = _existing_quota(existing, settings)
    cooldown = timedelta(hours=settings.cooldown_hours)
    specs = settings.channels
    rows: list[dict[str, Any]] = []
    shop_h = np.full(24, 1 / 24)
    shop_d = np.full(7, 1 / 7)
    for uid, value, channels in treated:
        if not value > 0:
            skipped["no_positive_value"] += 1
            continue
        tz = tz_of[uid]
        slots = slots_by_tz.get(tz)
        if slots is None:
            slots = slots_by_tz[tz] = slots_for(tz, start, end, settings)
        if not slots:
            skipped["no_slot"] += 1
            continue
        hours = model.hours.get(uid, shop_h)
        days = model.weekdays.get(uid, shop_d)
        scores = slot_scores(hours, days, [s.key for s in slots])
        order = np.lexsort((np.arange(len(slots)), -scores))
        own = channel_rates.get(uid, {}) if channel_rates is not None else {}
        rate = {c: float(own.get(c, specs[c].open_rate)) for c in channels}
        ranked = sorted(channels, key=lambda c: (-rate[c] / specs[c].cost, c))
        mine = taken.get(uid, [])
        quiet_until = [t + cooldown for t in ignored.get(uid, [])] if cooldown else []
        reason = "caps"
        chosen: tuple[Slot, str, float, float] | None = None
        for j in order:
            slot = slots[int(j)]
            if not caps_allow(mine, slot.at_utc, tz, settings):
                continue
            if any(t - cooldown <= slot.at_utc < t for t in quiet_until):
                if reason == "caps":
                    reason = "cooldown"
                continue
            lift = float(min(scores[j], settings.max_timing_lift))
            day = _quota_day(slot.at_utc, settings)
            n = sum(1 for t in mine if timedelta(0) < slot.at_utc - t < WEEK)
            tired = settings.fatigue_decay**n
            risk = settings.optout_per_push * n * settings.optout_cost
            for ch in ranked:
                spec = specs[ch]
                ev = value * rate[ch] * lift * tired - spec.cost - risk
                if ev <= settings.min_expected_value:
                    if reason == "caps":
                        reason = "no_positive_value"
                    continue
                if spec.daily_quota is not None and quota.get((ch, day), 0) >= spec.daily_quota:
                    reason = "quota"
                    continue
                chosen = (slot, ch, ev, lift)
                break
            if chosen is not None:
                break
        if chosen is None:
            skipped[reason] += 1
            continue
        slot, ch, ev, lift = chosen
        day = _quota_day(slot.at_utc, settings)
        quota[(ch, day)] = quota.get((ch, day), 0) + 1
        taken.setdefault(uid, []).append(slot.at_utc)
        lang = language_of(attributes.get(uid, {}))
        rows.append(
            {
                "user_id": uid,
                "campaign_id": cid,
                "channel": ch,
                "send_at": slot.local.isoformat(),
                "content": own_text.get(uid) or text(campaign, lang),
                "expected_value": round(ev, 6),
                "send_at_utc": slot.at_utc.isoformat(),
                "timezone": tz,
                "language": lang,
                "campaign_value": round(value, 6),
                "timing_lift": round(lift, 4),
                "history_events": model.n_events.get(uid, 0),
            }
        )
    table = pd.DataFrame(rows, columns=[*PLAN_COLUMNS, *EXTRA_COLUMNS])
    if len(table):
        table = table.sort_values(["send_at_utc", "user_id"], kind="stable").reset_index(drop=True)
    return PushPlan(
        campaign_id=cid,
        table=table,
        holdout=tuple(holdout),
        left_out=tuple(sorted({u for u, _, _ in treated} - {r["user_id"] for r in rows})),
        skipped={k: v for k, v in skipped.items() if v},
        window=(start, end),
    )


__all__ = [
    "EXTRA_COLUMNS",
    "PLAN_COLUMNS",
    "SKIP_REASONS",
    "PushPlan",
    "Slot",
    "caps_allow",
    "in_holdout",
    "plan_pushes",
    "push_window",
    "slots_for",
]
