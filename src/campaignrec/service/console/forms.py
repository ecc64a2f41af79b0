"""The campaign form: form fields to a canonical :class:`Campaign` (errors per field) and back.

The console and its live preview read a form the same way, so what is previewed is what is saved.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from campaignrec.data.rules import OPS
from campaignrec.data.schema import CAMPAIGN_STATUSES, Campaign, CampaignTypeT

CAMPAIGN_TYPES: tuple[str, ...] = CampaignTypeT.__args__  # type: ignore[attr-defined]
DISCOUNT_TYPES = ("percent", "amount", "none")
#: Attributes offered by the form's one-condition rule builder (any attribute works in JSON).
AUDIENCE_FIELDS = (
    "segment",
    "rfm_segment",
    "lifecycle",
    "membership_tier",
    "region",
    "price_band",
    "recency_days",
    "frequency",
    "monetary",
    "p_purchase_30d",
    "bought_categories",
    "top_categories",
)
AUDIENCE_OPS = OPS
TEXT_FIELDS = (
    "campaign_id",
    "name",
    "type",
    "status",
    "discount_type",
    "exclusivity_group",
    "title_en",
    "title_zh",
    "protected_reason",
)
NUMBER_FIELDS = ("discount_value", "min_spend", "budget", "cost_per_redemption", "cap_window_hours")
INT_FIELDS = ("inventory", "frequency_cap", "priority")
LIST_FIELDS = ("categories", "item_ids", "protected_attributes")
TIME_FIELDS = ("start_time", "end_time")
FORM_FIELDS = (
    *TEXT_FIELDS,
    *NUMBER_FIELDS,
    *INT_FIELDS,
    *LIST_FIELDS,
    *TIME_FIELDS,
    "audience_field",
    "audience_op",
    "audience_value",
    "audience_json",
)


def filled(
    form: Mapping[str, str], names: tuple[str, ...], convert: Callable[[str], Any] = str
) -> dict[str, Any]:
    """The fields of ``names`` that the form filled in, stripped and converted (a value that
    does not convert stays text, for the schema to name it)."""
    out: dict[str, Any] = {}
    for name in names:
        value = form.get(name, "").strip()
        if value:
            out[name] = convert(value)
    return out


def _number(text: str) -> float | str:
    try:
        return float(text)
    except ValueError:
        return text  # pydantic names the field and says it is not a number


def _integer(text: str) -> int | str:
    try:
        return int(text)
    except ValueError:
        try:
            f = float(text)
        except ValueError:
            return text
        return int(f) if f.is_integer() else text


def _rule_value(op: str, text: str) -> Any:
    """The value of a one-condition rule: lists for in / not_in / between, numbers when numeric."""
    if op in ("exists", "missing"):
        return None
    parts = [p.strip() for p in text.split(",") if p.strip()]
    conv = [_number(p) for p in parts]
    if op in ("in", "not_in", "between"):
        return conv
    return conv[0] if len(conv) == 1 else text


def _audience(
    form: Mapping[str, str], errors: dict[str, str], lang: str = "en"
) -> dict[str, Any] | None:
    from campaignrec.service.console.validation import sentence

    raw = form.get("audience_json", "").strip()
    if raw:
        try:
            parsed = json.loads(raw)
        except json.JSONDecodeError as exc:
            errors["audience"] = sentence(f"not valid JSON: {exc.msg} (line {exc.lineno})", lang)
            return None
        if not isinstance(parsed, dict):
            errors["audience"] = sentence(
                'a rule is a JSON object, for example {"field": ..., "op": ...}', lang
            )
            return None
        return parsed
    field = form.get("audience_field", "").strip()
    if not field:
        return None
    op = form.get("audience_op", "eq").strip() or "eq"
    rule: dict[str, Any] = {"field": field, "op": op}
    value = _rule_value(op, form.get("audience_value", "").strip())
    if value is not None:
        rule["value"] = value
    return rule


def _time(text: str) -> datetime | str:
    """``datetime-local`` values are UTC (the form says so); full ISO stamps keep their zone."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return text
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def campaign_from_form(
    form: Mapping[str, str], lang: str = "en"
) -> tuple[Campaign | None, dict[str, str]]:
    """The campaign a form describes, or None and the error of each field that is wrong, said
    in ``lang`` (:mod:`campaignrec.service.console.validation`)."""
    from campaignrec.service.console.validation import field_errors

    errors: dict[str, str] = {}
    body: dict[str, Any] = {
        **filled(form, TEXT_FIELDS),
        **filled(form, NUMBER_FIELDS, _number),
        **filled(form, INT_FIELDS, _integer),
    }
    for name in LIST_FIELDS:
        body[name] = [p.strip() for p in form.get(name, "").split(",") if p.strip()]
    body.update(filled(form, TIME_FIELDS, _time))
    audience = _audience(form, errors, lang)
    if audience is not None:
        body["audience"] = audience
    try:
        campaign = Campaign.model_validate(body)
    except PydanticValidationError as exc:
        for where, msg in field_errors(exc, lang, _campaign_field).items():
            errors.setdefault(where, msg)
        return None, errors
    if errors:
        return None, errors
    return campaign, {}


def _campaign_field(loc: tuple[Any, ...], message: str) -> str:
    """The form field of a campaign error; the model's own checks name theirs in the message."""
    if loc:
        return str(loc[0])
    for name in ("end_time", "discount_value"):
        if name in message:
            return name
    return "_form"


def _local(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M") if value else ""


def form_from_campaign(c: Campaign) -> dict[str, str]:
    """The form values that show ``c`` (the audience as its JSON rule tree)."""
    out: dict[str, str] = {}
    for name in (*TEXT_FIELDS, *NUMBER_FIELDS, *INT_FIELDS):
        value = getattr(c, name)
        out[name] = "" if value is None else str(value)
    for name in LIST_FIELDS:
        out[name] = ", ".join(getattr(c, name))
    for name in TIME_FIELDS:
        out[name] = _local(getattr(c, name))
    rule = c.audience
    if rule and set(rule) <= {"field", "op", "value"} and rule.get("field") in AUDIENCE_FIELDS:
        out["audience_field"] = str(rule["field"])
        out["audience_op"] = str(rule.get("op", "eq"))
        v = rule.get("value")
        out["audience_value"] = (
            ", ".join(map(str, v)) if isinstance(v, list) else ("" if v is None else str(v))
        )
    elif rule:
        out["audience_json"] = json.dumps(rule, ensure_ascii=False)
    return out


def blank_form(now: datetime) -> dict[str, str]:
    """A new campaign's starting values: active coupon for a week from now."""
    from datetime import timedelta

    return {
        "type": "coupon",
        "status": "active",
        "discount_type": "percent",
        "discount_value": "10",
        "cap_window_hours": "168",
        "priority": "0",
        "start_time": _local(now),
        "end_time": _local(now + timedelta(days=7)),
        "audience_op": "eq",
    }


STATUSES = CAMPAIGN_STATUSES
