"""The text of a push: the campaign's title and offer in the shopper's language (EN / 简体中文)."""

from __future__ import annotations

from datetime import datetime

from campaignrec.data.schema import Campaign


def _offer(campaign: Campaign, lang: str) -> str:
    v = campaign.discount_value
    if campaign.discount_type == "percent" and v > 0:
        off = f"{v:g}% off" if lang == "en" else f"立减{v:g}%"
    elif campaign.discount_type == "amount" and v > 0:
        off = f"{v:g} off" if lang == "en" else f"立减{v:g}元"
    else:
        return ""
    if campaign.min_spend > 0:
        off += (
            f" on orders over {campaign.min_spend:g}"
            if lang == "en"
            else f"(满{campaign.min_spend:g}元可用)"
        )
    return off


def push_content(campaign: Campaign, lang: str, now: datetime | None = None) -> str:
    """One line for the shopper: title, offer and (when set) the end date, in ``lang``."""
    zh = lang == "zh"
    title = (campaign.title_zh if zh else campaign.title_en) or campaign.name
    parts = [title]
    offer = _offer(campaign, "zh" if zh else "en")
    if offer:
        parts.append(offer)
    desc = campaign.description_zh if zh else campaign.description_en
    if desc and desc.strip():
        parts.append(desc.strip().rstrip("。.!！ "))
    if campaign.end_time is not None and (now is None or campaign.end_time > now):
        end = campaign.end_time.strftime("%Y-%m-%d")
        parts.append(f"截止{end}" if zh else f"until {end}")
    return ("，" if zh else " · ").join(parts)


__all__ = ["push_content"]
