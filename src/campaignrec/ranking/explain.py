"""Explanations in English and Simplified Chinese, naming items by title.

Every served item carries a reason code, a sentence in the request's language and the evidence
(item ids). The reason codes:

=================== ===========================================================================
``because_viewed``  the model ranked it from the shopper's history; evidence: the history items
``session``         viewed with the items of this session; evidence: the session items
``similar``         similar to the item being viewed (``similar`` and context); evidence: it
``segment_popular`` popular with shoppers of the shopper's segment (cold start)
``popular``         popular in the shop
``trending``        trending in the last days
``campaign``        covered by a campaign the shopper is eligible for; evidence: the campaign
``non_personalised`` no personalisation (consent withheld): popular, trending or context items
=================== ===========================================================================
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from campaignrec.data.schema import Campaign
from campaignrec.errors import ValidationError

LANGS = ("en", "zh")

REASONS = (
    "because_viewed",
    "session",
    "similar",
    "segment_popular",
    "popular",
    "trending",
    "campaign",
    "non_personalised",
)


def check_lang(lang: str) -> str:
    """``"en"`` or ``"zh"`` (``zh-CN``, ``zh-Hans`` and ``en-GB`` style tags are accepted)."""
    base = str(lang).strip().lower().replace("_", "-").split("-")[0]
    if base not in LANGS:
        raise ValidationError("lang", "unsupported language", value=lang, hint="use 'en' or 'zh'")
    return base


def _titles(ids: Sequence[str], title: Callable[[str], str], lang: str) -> str:
    shown = [title(i) for i in ids[:2]]
    if lang == "zh":
        return "、".join(f"「{t}」" for t in shown)
    return " and ".join(f"\u201c{t}\u201d" for t in shown)


def _campaign_text(campaign: Campaign, item_title: str, lang: str, now: datetime) -> str:
    name = (campaign.title_zh if lang == "zh" else campaign.title_en) or campaign.name
    ends = campaign.end_time
    soon = ends is not None and now <= ends <= now + timedelta(days=2)
    tomorrow = ends is not None and ends.date() == (now + timedelta(days=1)).date()
    if campaign.type == "coupon":
        if lang == "zh":
            when = "明天" if tomorrow else "即将" if soon else ""
            return (
                f"您的「{item_title}」优惠券{when}到期"
                if when
                else f"「{item_title}」可用优惠券：{name}"
            )
        when = "tomorrow" if tomorrow else "soon" if soon else ""
        if when:
            return f"Your coupon for \u201c{item_title}\u201d expires {when}"
        return f"Your coupon applies to \u201c{item_title}\u201d: {name}"
    if lang == "zh":
        return f"「{item_title}」正在参加活动：{name}"
    return f"\u201c{item_title}\u201d is part of {name}"


def fair_note(text: str, group: str, lang: str) -> str:
    """``text`` with the note that the fairness step moved the item up for ``group``."""
    if lang == "zh":
        return f"{text}（为保证{group}获得公平曝光而前移）"
    return f"{text} (moved up to give {group} fair exposure)"


def explain(
    reason: str,
    evidence: Sequence[str],
    item_id: str,
    title: Callable[[str], str],
    lang: str = "en",
    *,
    campaign: Campaign | None = None,
    now: datetime | None = None,
    segment: str | None = None,
) -> str:
    """The sentence for one served item."""
    lang = check_lang(lang)
    zh = lang == "zh"
    if reason == "campaign" and campaign is not None and now is not None:
        return _campaign_text(campaign, title(item_id), lang, now)
    if reason in ("because_viewed", "session", "similar") and evidence:
        names = _titles(list(evidence), title, lang)
        if reason == "because_viewed":
            return f"因为您浏览了{names}" if zh else f"Because you viewed {names}"
        if reason == "session":
            return f"与您刚浏览的{names}常被一起浏览" if zh else f"Often viewed with {names}"
        return f"与{names}相似" if zh else f"Similar to {names}"
    if reason == "segment_popular":
        return "与您同类的顾客都喜欢" if zh else "Popular with shoppers in your segment"
    if reason == "trending":
        return "正在流行" if zh else "Trending now"
    if reason == "non_personalised":
        return "热门商品（未个性化）" if zh else "Popular in the shop (not personalised)"
    if reason == "because_viewed":
        return "为您推荐" if zh else "Picked for you"
    return "热门商品" if zh else "Popular with shoppers"
