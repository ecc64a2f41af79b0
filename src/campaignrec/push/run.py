"""Plan a campaign's pushes over a shop's store: the step ``campaignrec push plan`` calls.

Recipients and their expected incremental value come from the campaign plan
(:func:`campaignrec.pipeline.campaigns.plan_for`: the uplift allocation under the budget, with
uplift estimates from a file or the logged-response fallback); their attributes from the same
call; their activity by local hour and weekday from the events table; the pushes already planned
from the ledger (:mod:`campaignrec.push.ledger`). Nothing here prints.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from campaignrec.data.schema import Campaign
from campaignrec.errors import ValidationError
from campaignrec.pipeline.campaigns import plan_for
from campaignrec.privacy.consent import ConsentState, personalisation_allowed
from campaignrec.push.activity import activity_counts
from campaignrec.push.channel_rates import estimate_channel_rates, push_outcomes
from campaignrec.push.config import PushSettings
from campaignrec.push.ledger import pushes_counted, read_ledger, record_plan
from campaignrec.push.plan import PushPlan, plan_pushes, push_window
from campaignrec.push.send import SendResult
from campaignrec.push.shoppers import timezone_of


@dataclass(frozen=True, eq=False)
class PushPlanResult:
    """A planned campaign: the plan, where the value estimates came from, how many shoppers the
    allocation selected, and the ledger it was recorded in (None when not recorded)."""

    plan: PushPlan
    source: str
    selected: int
    ledger: Path | None

    def summary(self) -> dict[str, Any]:
        out = self.plan.summary()
        out["selected_by_allocation"] = self.selected
        out["value_source"] = self.source
        out["ledger"] = str(self.ledger) if self.ledger else None
        return out


def mark_ignored(
    pushes: pd.DataFrame, events: pd.DataFrame, now: datetime, after_hours: float
) -> pd.DataFrame:
    """``pushes`` with an ``ignored`` column: a ``sent`` push at least ``after_hours`` old
    that its shopper neither opened nor clicked (no ``campaign_impression`` / ``campaign_click``
    of its campaign by them after it was sent, up to ``now``)."""
    if pushes.empty:
        return pushes.assign(ignored=pd.Series(dtype=bool))
    at = pd.to_datetime(pushes["send_at_utc"], utc=True)
    old = (pushes["status"] == "sent") & (at + pd.Timedelta(hours=after_hours) <= pd.Timestamp(now))
    answered = pd.Series(False, index=pushes.index)
    if old.any() and len(events):
        kinds = events["event_type"].isin(("campaign_impression", "campaign_click"))
        ev = events.loc[kinds.to_numpy(), ["user_id", "campaign_id", "timestamp"]].copy()
        ev["user_id"] = ev["user_id"].astype(str)
        ev["campaign_id"] = ev["campaign_id"].astype(str)
        ev["ts"] = pd.to_datetime(ev["timestamp"], utc=True)
        cand = pushes.loc[old, ["user_id", "campaign_id"]].astype(str).assign(sent=at[old])
        cand["_row"] = cand.index
        joined = cand.merge(ev, on=["user_id", "campaign_id"], how="inner")
        hit = joined.loc[joined["ts"] >= joined["sent"], "_row"].unique()
        answered.loc[hit] = True
    return pushes.assign(ignored=(old & ~answered).to_numpy())


def _reached(held: pd.DataFrame, cid: str) -> set[str]:
    """The shoppers a campaign's sent pushes already reached (an earlier plan of it, partly
    sent): they get no second push of it when it is planned again."""
    if not len(held):
        return set()
    mine = held[
        (held["campaign_id"].astype(str) == cid)
        & (held["group"] == "push")
        & (held["status"] == "sent")
    ]
    return set(mine["user_id"].astype(str))


def _events_until(store: Any, now: datetime) -> pd.DataFrame:
    events = store.read_table(
        "events", columns=["user_id", "timestamp", "event_type", "campaign_id"]
    )
    return events[pd.to_datetime(events["timestamp"], utc=True) <= pd.Timestamp(now)]


def _plan_over_store(
    store: Any,
    recipients: pd.DataFrame,
    attrs: dict[str, dict[str, Any]],
    campaign: Campaign,
    held: pd.DataFrame,
    *,
    now: datetime,
    settings: PushSettings,
    state: ConsentState | None,
    events: pd.DataFrame | None = None,
    planner: Callable[..., PushPlan] = plan_pushes,
) -> PushPlan:
    """:func:`plan_pushes` over the store's events and the ledger ``held``: activity by local
    hour, the pushes counted against the caps (ignored ones marked), the channel rates."""
    cid = str(campaign.campaign_id)
    users = recipients["user_id"].astype(str).tolist()
    tz = {u: timezone_of(attrs.get(u, {}), settings) for u in users}
    # every shopper's activity feeds the segment patterns; recipients get their own on top
    for u, a in attrs.items():
        tz.setdefault(u, timezone_of(a, settings))
    if events is None:
        events = _events_until(store, now)
    activity = activity_counts(events, tz, settings.default_timezone)
    existing = pushes_counted(held, cid)
    rates = None
    plan_settings = settings
    if settings.estimate_channel_rates:
        # each shopper's answers to earlier sent pushes, per channel, shrunk towards the
        # channel's pooled rate (a shop without sent pushes plans with the configured rates)
        outcomes = push_outcomes(held, events, now, settings.ignored_after_hours)
        if len(outcomes):
            est = estimate_channel_rates(outcomes, settings)
            plan_settings = est.settings_with_global(settings)
            rates = est.rates_for(settings)
    return planner(
        recipients,
        attrs,
        activity,
        campaign,
        plan_settings,
        now,
        existing=mark_ignored(existing, events, now, settings.ignored_after_hours),
        state=state,
        channel_rates=rates,
    )


def plan_push(
    store: Any,
    campaign_id: str,
    *,
    now: datetime,
    settings: PushSettings,
    ledger: Path,
    uplift: Path | None = None,
    state: ConsentState | None = None,
    record: bool = True,
) -> PushPlanResult:
    """Plan the pushes of ``campaign_id`` at ``now``.

    Parameters
    ----------
    store : the shop's SQL store.
    campaign_id : the campaign.
    now : planning moment (UTC).
    settings : push settings (``Settings.push``).
    ledger : the push ledger file; its pushes count against caps and quotas.
    uplift : optional CSV/Parquet of uplift estimates (see ``campaigns plan --uplift``).
    state : online state, for live consent changes.
    record : write the plan and its holdout into the ledger.
    """
    result = plan_for(store, campaign_id, now=now, uplift=uplift)
    recipients = result.recipients
    if recipients is None:
        recipients = pd.DataFrame(columns=["user_id", "value"])
    held = read_ledger(ledger)
    again = recipients["user_id"].astype(str).isin(_reached(held, str(result.campaign.campaign_id)))
    recipients = recipients[~again.to_numpy()]
    plan = _plan_over_store(
        store,
        recipients,
        result.attributes or {},
        result.campaign,
        held,
        now=now,
        settings=settings,
        state=state,
    )
    if again.any():
        plan.skipped["already_sent"] = int(again.sum())
    if record:
        record_plan(ledger, plan, now)
    return PushPlanResult(
        plan=plan, source=result.source, selected=len(recipients), ledger=ledger if record else None
    )


def plan_product_push(
    store: Any,
    ranker: Any,
    *,
    now: datetime,
    settings: PushSettings,
    ledger: Path,
    k: int = 3,
    day: str | date | None = None,
    limit: int | None = None,
    margin_rate: float = 0.3,
    state: ConsentState | None = None,
    record: bool = True,
) -> PushPlanResult:
    """Plan a product-recommendation push (:mod:`campaignrec.push.products`) for ``day`` (the
    shop's date of ``now`` when None) at ``now``: campaign id ``products-<day>``, each
    recipient's top ``k`` items from ``ranker`` (a :class:`campaignrec.ranking.Ranker`; its
    clock is set to ``now`` for the plan), through the campaign planner's rules.

    ``limit``: at most this many recipients (those of highest value); ``margin_rate``: the
    gross margin share of a sale."""
    from campaignrec.pipeline.profiles import all_attributes
    from campaignrec.push.products import (
        catalogue_mean_price,
        check_k,
        parse_day,
        plan_product_pushes,
        product_push_campaign,
        product_recipients,
        purchase_rates,
        ranker_picks,
        source_label,
    )

    check_k(k)
    if not 0 < margin_rate <= 1:
        raise ValidationError("--margin-rate", "must be in (0, 1]", value=margin_rate)
    the_day = parse_day(day, now, settings)
    campaign = product_push_campaign(the_day, settings)
    try:  # a day with no time left is refused before anything is ranked
        push_window(campaign, now, settings)
    except ValidationError:
        raise ValidationError(
            "--day",
            f"no time left to send a push on {the_day.isoformat()} / 该日已无可发送时间",
            value=the_day.isoformat(),
            hint="plan today or a later day (days in push.default_timezone)",
        ) from None
    attrs = all_attributes(store, now)
    events = _events_until(store, now)
    personal = {u: personalisation_allowed(a, state, u) for u, a in attrs.items()}
    rates, shop_rate = purchase_rates(events, personal, settings.purchase_prior_days)
    ranked = ranker.at_clock(lambda: now.timestamp())  # the plan's moment, not the wall's
    recipients = product_recipients(
        attrs,
        ranker_picks(ranked),
        rates,
        shop_rate,
        settings,
        k=k,
        margin_rate=margin_rate,
        mean_price=catalogue_mean_price(ranker.catalogue),
        state=state,
        limit=limit,
    )
    held = read_ledger(ledger)
    cid = str(campaign.campaign_id)
    again = recipients["user_id"].astype(str).isin(_reached(held, cid))
    recipients = recipients[~again.to_numpy()]
    plan = _plan_over_store(
        store,
        recipients,
        attrs,
        campaign,
        held,
        now=now,
        settings=settings,
        state=state,
        events=events,
        planner=plan_product_pushes,
    )
    if again.any():
        plan.skipped["already_sent"] = int(again.sum())
    if record:
        record_plan(ledger, plan, now)
    reachable = int(recipients["content"].astype(bool).sum())
    return PushPlanResult(
        plan=plan,
        source=source_label(
            k, str(getattr(ranker, "served", "the ranker")), shop_rate, margin_rate
        ),
        selected=reachable,
        ledger=ledger if record else None,
    )


def demo_push(
    store: Any, settings: PushSettings, ledger: Path, *, uplift: Path | None = None
) -> tuple[PushPlanResult, datetime] | None:
    """The demo's push plan: the first campaign (by start time) that has pushes worth sending
    one day into its window (or half-way through a shorter one), planned at that moment and
    recorded in ``ledger``; None when no campaign has any (every coupon loses money).
    ``uplift``: the estimates to use (the demo passes the synthetic shop's planted effects)."""
    from campaignrec.errors import CampaignrecError
    from campaignrec.pipeline.campaigns import load_catalog
    from campaignrec.push.ledger import record_plan

    timed = [c for c in load_catalog(store) if c.start_time is not None and c.end_time]
    for c in sorted(timed, key=lambda c: (c.start_time, c.campaign_id)):
        assert c.start_time is not None and c.end_time is not None
        at = c.start_time + min(timedelta(days=1), (c.end_time - c.start_time) / 2)
        try:
            result = plan_push(
                store,
                c.campaign_id,
                now=at,
                settings=settings,
                ledger=ledger,
                uplift=uplift,
                record=False,
            )
        except CampaignrecError:
            continue  # nobody in the audience, no logged exposures: try the next campaign
        if len(result.plan.table):
            record_plan(ledger, result.plan, at)
            recorded = PushPlanResult(result.plan, result.source, result.selected, ledger)
            return recorded, at
    return None


def send_push(
    home: Path,
    plan: pd.DataFrame,
    to: str | None,
    *,
    exchange: str = "",
    queue: str | None = None,
    now: datetime | None = None,
    wait_seconds: float = 0.0,
    dry_run: bool = False,
    target: Any = None,
) -> SendResult:
    """Send the due rows of ``plan`` (:func:`campaignrec.push.send.read_plan`) to ``to``.

    Holds the data directory's send lock, brings the ledger up to date with the send log (a
    killed run's confirmed messages), sends, and marks what was sent in the ledger, also when
    the run stops on an error. ``target``: an already opened target (tests, the service).
    """
    from campaignrec.push.ledger import ledger_path, mark_sent
    from campaignrec.push.send import SendLog, send_lock, send_log_path, send_plan
    from campaignrec.push.targets import target_for

    log = SendLog(send_log_path(home))
    ledger = ledger_path(home)
    if dry_run:
        return send_plan(plan, None, log, now=now, dry_run=True)
    with send_lock(home):
        mark_sent(ledger, log.records())
        opened = (
            target
            if target is not None
            else (target_for(to, exchange=exchange, queue=queue) if to else None)
        )
        if opened is None:
            raise ValidationError("--to", "name the broker or webhook to send to")
        try:
            return send_plan(plan, opened, log, now=now, wait_seconds=wait_seconds)
        finally:
            if target is None:
                opened.close()
            mark_sent(ledger, log.records())


__all__ = [
    "PushPlanResult",
    "demo_push",
    "mark_ignored",
    "plan_product_push",
    "plan_push",
    "send_push",
]
