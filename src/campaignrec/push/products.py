"""Product-recommendation pushes: each recipient's top products as the content of a push that
goes through the campaign planner (:func:`campaignrec.push.plan.plan_pushes`).

A product push is planned for one **day** (in ``push.default_timezone``, the shop's time zone)
under the campaign id ``products-<day>`` (``products-2025-01-25``), so the ledger, the caps
across campaigns, the holdout and ``push report`` treat it like a campaign. The planner sees
it as a campaign whose window is that day (:func:`product_push_campaign`); everything else is the
planner's own: consent, holdout, send time, quiet hours, caps, cool-down, channel and quotas.

For each reachable shopper (marketing consent and a consented channel):

* **content**: their top-``k`` items from the ranking path (:class:`campaignrec.ranking.Ranker`,
  the one ``campaignrec recommend`` and the API serve), named by title, with the first item's
  explanation, in their language (English or 简体中文, :func:`product_content`). A shopper who
  withheld personalisation consent gets the ranker's non-personalised items (reason
  ``non_personalised``: popular and trending, nothing of their history read) rather than being
  skipped: their marketing consent allows the message, and the non-personalised list is the one
  the shop shows them anyway;
* **value**: ``purchase probability x margin_rate x mean price of the k items``; the purchase
  probability is the shopper's share of active days with a purchase, shrunk towards the shop's
  (:func:`purchase_rates`); a shopper without personalisation consent gets the shop's rate (their
  history is not read for targeting either). An item without a price counts at the shop's mean
  price, a catalogue without prices at ``order_value`` (50, the campaign plan's default basket).

The planner turns that value into the push's ``expected_value`` (channel open rate, timing,
fatigue, cost), as for a campaign, and chooses recipients in its order; ``limit`` keeps the
``limit`` shoppers of highest value (the allocation's role for a campaign).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from campaignrec.data.schema import Campaign
from campaignrec.errors import ValidationError
from campaignrec.privacy.consent import ConsentState, personalisation_allowed
from campaignrec.push.activity import ActivityCounts
from campaignrec.push.config import PushSettings
from campaignrec.push.plan import PushPlan, plan_pushes
from campaignrec.push.shoppers import allowed_channels, language_of

#: The campaign id prefix of a product push (``products-2025-01-25``).
PRODUCT_PREFIX = "products-"
#: Extra columns of a product plan, after the planner's.
PRODUCT_COLUMNS = ("item_ids", "reasons", "purchase_probability")
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class Pick:
    """One recommended item: id, title, price (None: unknown), reason code and the explanation
    sentence in the shopper's language."""

    item_id: str
    title: str
    price: float | None
    reason: str
    text: str


#: ``(user_id, lang, k) -> picks``: the ranking path for one shopper.
RankFn = Callable[[str, str, int], Sequence[Pick]]


def parse_day(value: str | date | None, now: datetime, settings: PushSettings) -> date:
    """The push's day: ``value`` (``YYYY-MM-DD``), or the date of ``now`` in the shop's time
    zone when None."""
    if value is None:
        return now.astimezone(ZoneInfo(settings.default_timezone)).date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        if not DAY.match(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            "--day", "not a date (YYYY-MM-DD) / 不是日期", value=value, hint="e.g. 2025-01-25"
        ) from None


def product_push_id(day: date) -> str:
    """``products-<day>``."""
    return f"{PRODUCT_PREFIX}{day.isoformat()}"


def is_product_push(campaign_id: str) -> bool:
    return str(campaign_id).startswith(PRODUCT_PREFIX)


def product_push_campaign(day: date, settings: PushSettings) -> Campaign:
    """The planner's view of a product push: a campaign ``products-<day>`` whose window is
    ``day`` in the shop's time zone (so the planner's window, slots and quiet hours apply)."""
    tz = ZoneInfo(settings.default_timezone)
    start = datetime.combine(day, time(0), tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tz)
    return Campaign(
        campaign_id=product_push_id(day),
        name="Recommended for you",
        type="custom",
        start_time=start,
        end_time=end,
        title_en="Recommended for you",
        title_zh="为您推荐",
    )


def check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= 50:
        raise ValidationError(
            "--k", "must be a whole number from 1 to 50 / 须为 1 到 50 的整数", value=k
        )
    return k


def purchase_rates(
    events: pd.DataFrame,
    personal: Mapping[str, bool],
    prior_days: float,
) -> tuple[dict[str, float], float]:
    """Each shopper's purchase probability on a day they are active, and the shop's.

    From ``events`` (``user_id, timestamp, event_type``): ``d`` the shopper's active days (UTC
    dates with any event), ``b`` those with a purchase; the shop's rate ``p0 = sum b / sum d``;
    a shopper's ``(b + prior_days * p0) / (d + prior_days)``. A shopper whose ``personal`` flag
    is false (no personalisation consent) is left out (the caller uses ``p0``)."""
    if events.empty:
        return {}, 0.0
    day = pd.to_datetime(events["timestamp"], utc=True).dt.floor("D")
    frame = pd.DataFrame(
        {
            "user_id": events["user_id"].astype(str).to_numpy(),
            "day": day.to_numpy(),
            "buy": (events["event_type"] == "purchase").to_numpy(),
        }
    )
    per_day = frame.groupby(["user_id", "day"], sort=False)["buy"].any()
    d = per_day.groupby(level=0).size()
    b = per_day.groupby(level=0).sum()
    p0 = float(b.sum() / d.sum()) if d.sum() else 0.0
    rate = (b + prior_days * p0) / (d + prior_days)
    out = {str(u): float(r) for u, r in rate.items() if personal.get(str(u), False)}
    return out, p0


def product_content(picks: Sequence[Pick], lang: str) -> str:
    """One line: the items' titles and the first item's explanation, in ``lang``."""
    zh = lang == "zh"
    if zh:
        titles = "、".join(f"「{p.title}」" for p in picks)
        head = f"为您推荐：{titles}"
    else:
        titles = ", ".join(f"\u201c{p.title}\u201d" for p in picks)
        head = f"Recommended for you: {titles}"
    why = picks[0].text.strip() if picks else ""
    return f"{head}（{why}）" if zh and why else f"{head} · {why}" if why else head


def product_recipients(
    attributes: Mapping[str, Mapping[str, Any]],
    rank: RankFn,
    rates: Mapping[str, float],
    shop_rate: float,
    settings: PushSettings,
    *,
    k: int,
    margin_rate: float,
    mean_price: float,
    state: ConsentState | None = None,
    limit: int | None = None,
) -> pd.DataFrame:
    """The recipients table of a product push: ``user_id, value, content`` and the
    :data:`PRODUCT_COLUMNS` (``item_ids`` space-separated, ``reasons`` likewise,
    ``purchase_probability``).

    Only reachable shoppers (marketing consent and a consented channel, the planner's rule) are
    ranked; the others are listed with value 0, so the planner counts them under its consent
    reasons. ``limit``: keep the ``limit`` reachable shoppers of highest value."""
    check_k(k)
    if limit is not None and limit < 1:
        raise ValidationError("--limit", "must be at least 1", value=limit)
    rows: list[dict[str, Any]] = []
    for uid in sorted(attributes):
        attrs = attributes[uid]
        if not allowed_channels(attrs, settings, state, uid):
            rows.append({"user_id": uid, "value": 0.0, "content": ""})
            continue
        lang = language_of(attrs)
        picks = list(rank(uid, lang, k))
        if not picks:
            rows.append({"user_id": uid, "value": 0.0, "content": ""})
            continue
        prices = [p.price for p in picks if p.price is not None and np.isfinite(p.price)]
        price = float(np.mean(prices)) if prices else mean_price
        personal = personalisation_allowed(attrs, state, uid)
        prob = rates.get(uid, shop_rate) if personal else shop_rate
        rows.append(
            {
                "user_id": uid,
                "value": prob * margin_rate * price,
                "content": product_content(picks, lang),
                "item_ids": " ".join(p.item_id for p in picks),
                "reasons": " ".join(p.reason for p in picks),
                "purchase_probability": round(prob, 6),
                "_reachable": True,
            }
        )
    out = pd.DataFrame(
        rows, columns=["user_id", "value", "content", *PRODUCT_COLUMNS, "_reachable"]
    )
    if limit is not None:
        reach = out["_reachable"].fillna(False).astype(bool)
        top = out[reach].sort_values(["value", "user_id"], ascending=[False, True], kind="stable")
        out = pd.concat([out[~reach], top.head(limit)], ignore_index=True)
    return out.drop(columns="_reachable").reset_index(drop=True)


def plan_product_pushes(
    recipients: pd.DataFrame,
    attributes: Mapping[str, Mapping[str, Any]],
    activity: ActivityCounts,
    campaign: Campaign,
    settings: PushSettings,
    now: datetime,
    *,
    existing: pd.DataFrame | None = None,
    state: ConsentState | None = None,
    channel_rates: Mapping[str, Mapping[str, float]] | None = None,
) -> PushPlan:
    """The campaign planner (:func:`campaignrec.push.plan.plan_pushes`, same arguments) on a
    product push's recipients (:func:`product_recipients`) and its campaign
    (:func:`product_push_campaign`): the recipients' own content, and the
    :data:`PRODUCT_COLUMNS` after the planner's columns."""
    if not is_product_push(campaign.campaign_id):
        raise ValidationError(
            "campaign_id",
            f"a product push's id starts with {PRODUCT_PREFIX!r}",
            value=campaign.campaign_id,
        )
    plan = plan_pushes(
        recipients,
        attributes,
        activity,
        campaign,
        settings,
        now,
        existing=existing,
        state=state,
        channel_rates=channel_rates,
    )
    have = [c for c in PRODUCT_COLUMNS if c in recipients.columns]
    extra = recipients.assign(user_id=recipients["user_id"].astype(str)).drop_duplicates("user_id")
    table = plan.table.join(extra.set_index("user_id")[have], on="user_id")
    return replace(plan, table=table.reindex(columns=[*plan.table.columns, *PRODUCT_COLUMNS]))


def ranker_picks(ranker: Any) -> RankFn:
    """The ranking path as a :data:`RankFn`: :meth:`Ranker.recommend` for the shopper (their
    consent decides personalised or not), titles and prices from its catalogue."""
    from campaignrec.ranking import RankingRequest

    cat = ranker.catalogue
    price: dict[str, float] = {}
    if "price" in cat.columns:
        p = pd.to_numeric(cat["price"], errors="coerce")
        price = {str(i): float(v) for i, v in zip(cat["item_id"], p, strict=True) if pd.notna(v)}

    def rank(user_id: str, lang: str, k: int) -> list[Pick]:
        ranked = ranker.recommend(RankingRequest(user_id=user_id, k=k, lang=lang))
        return [
            Pick(
                it.item_id, ranker.view.title(it.item_id), price.get(it.item_id), it.reason, it.text
            )
            for it in ranked.items
        ]

    return rank


def source_label(k: int, served: str, shop_rate: float, margin_rate: float) -> str:
    """Where a product push's values come from (the summary's ``value_source``; the console
    says it in Chinese, :func:`campaignrec.service.console.i18n.source_text`)."""
    return (
        f"top-{k} items of {served}; purchase rate shrunk to the shop's ({shop_rate:.4f}) "
        f"x margin {margin_rate:g} x mean price"
    )


def catalogue_mean_price(catalogue: pd.DataFrame, order_value: float = 50.0) -> float:
    """The mean known price of the catalogue, else ``order_value``."""
    if "price" not in catalogue.columns:
        return order_value
    p = pd.to_numeric(catalogue["price"], errors="coerce").dropna()
    return float(p.mean()) if len(p) else order_value


__all__ = [
    "PRODUCT_COLUMNS",
    "PRODUCT_PREFIX",
    "Pick",
    "RankFn",
    "catalogue_mean_price",
    "check_k",
    "is_product_push",
    "parse_day",
    "plan_product_pushes",
    "product_content",
    "product_push_campaign",
    "product_push_id",
    "product_recipients",
    "purchase_rates",
    "ranker_picks",
    "source_label",
]
