"""Validation messages of the console's forms in the page's language.

The canonical models (:class:`~campaignrec.data.schema.Campaign`,
:class:`~campaignrec.experiments.registry.ExperimentSpec`) say what is wrong in pydantic's
English; :func:`field_errors` turns each error into a sentence of the page's language by its
*type* (``greater_than_equal``, ``float_parsing``...) and limits, and the model's own
``value_error`` sentences by a table of known ones. A sentence the table does not know is shown
after a translated lead-in, never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError as PydanticValidationError

#: pydantic error type -> (English, 简体中文) with ``{limit}`` / ``{expected}`` from its context.
BY_TYPE: dict[str, tuple[str, str]] = {
    "missing": ("required", "必填"),
    "greater_than_equal": ("must be at least {limit}", "不能小于 {limit}"),
    "greater_than": ("must be greater than {limit}", "必须大于 {limit}"),
    "less_than_equal": ("must be at most {limit}", "不能大于 {limit}"),
    "less_than": ("must be less than {limit}", "必须小于 {limit}"),
    "float_parsing": ("must be a number", "必须是数字"),
    "float_type": ("must be a number", "必须是数字"),
    "int_parsing": ("must be a whole number", "必须是整数"),
    "int_type": ("must be a whole number", "必须是整数"),
    "int_from_float": ("must be a whole number", "必须是整数"),
    "string_too_short": ("needs at least {limit} characters", "至少需要 {limit} 个字符"),
    "string_too_long": ("at most {limit} characters", "最多 {limit} 个字符"),
    "too_short": ("needs at least {limit} entries", "至少需要 {limit} 项"),
    "too_long": ("at most {limit} entries", "最多 {limit} 项"),
    "literal_error": ("must be one of {expected}", "必须是以下之一：{expected}"),
    "datetime_parsing": ("is not a date and time", "不是有效的日期时间"),
    "datetime_from_date_parsing": ("is not a date and time", "不是有效的日期时间"),
    "datetime_type": ("is not a date and time", "不是有效的日期时间"),
    "extra_forbidden": ("is not a known field", "不是可识别的字段"),
    "bool_parsing": ("must be yes or no", "必须为是或否"),
    "dict_type": ("must be an object", "必须是对象"),
    "list_type": ("must be a list", "必须是列表"),
    "string_pattern_mismatch": ("is not in the expected form", "格式不正确"),
}
_LIMIT_KEYS = ("ge", "gt", "le", "lt", "min_length", "max_length")

#: The models' own sentences (a regular expression over the English) -> 简体中文.
KNOWN: tuple[tuple[str, str], ...] = (
    (r"end_time must be after start_time", "结束时间必须晚于开始时间"),
    (r"a percent discount_value must be at most 100", "百分比优惠额度不能超过 100"),
    (
        r"letters, digits, '_', '\.', '-' \(at most 64\)",
        "只能使用字母、数字、'_'、'.'、'-'（最多 64 个字符）",
    ),
    (r"'holdout' is reserved for the holdout share", "'holdout' 是留出组的保留名称"),
    (r"variant names must be unique", "实验组名称不能重复"),
    (r"control .* is not a variant", "对照组必须是其中一个实验组"),
    (r"the primary metric cannot also be a guardrail", "主要指标不能同时作为护栏指标"),
    (r"needs a timezone", "需要带时区"),
    (
        r"layer .* has at most (?P<free>\d+%) of its shoppers free during this window",
        "该实验层在此时间段内最多只剩 {free} 的用户可用",
    ),
    (r"not valid JSON: .*\(line (?P<line>\d+)\)", "不是有效的 JSON（第 {line} 行）"),
    (r"a rule is a JSON object", '规则必须是 JSON 对象，例如 {{"field": ..., "op": ...}}'),
    (r"not a JSON object", "不是 JSON 对象"),
    (r"campaign '(?P<id>[^']*)' reaches nobody", "活动 '{id}' 的目标人群为空：没有用户符合规则"),
    (
        r"no logged exposures with both shown and held-out",
        "日志中还没有同时包含曝光组和对照（留出）组的活动曝光，无法估计效果",
    ),
    (r"the push ledger holds no pushes of this campaign", "推送台账中还没有该活动的推送"),
    (r"the plan is a draft: approve it before sending", "该计划仍是草稿：请先批准再发送"),
    (r"unknown push plan id (?P<id>'[^']*')", "未知的推送计划 ID {id}"),
    (r"unknown campaign id (?P<id>'[^']*')", "未知的活动 ID {id}"),
)
UNKNOWN_ZH = "取值无效：{msg}"


def _limit(ctx: Mapping[str, Any] | None) -> str:
    if not ctx:
        return ""
    for key in _LIMIT_KEYS:
        if key in ctx:
            v = ctx[key]
            return f"{v:g}" if isinstance(v, float) else str(v)
    return ""


def sentence(message: str, lang: str) -> str:
    """One of the models' own English sentences in ``lang`` (the English itself for ``en``)."""
    message = message.removeprefix("Value error, ")
    if lang != "zh":
        return message
    for pattern, zh in KNOWN:
        found = re.search(pattern, message)
        if found:
            return zh.format(**found.groupdict())
    return UNKNOWN_ZH.format(msg=message)


def message(error: Mapping[str, Any], lang: str) -> str:
    """One pydantic error (an item of ``exc.errors()``) as a sentence of ``lang``."""
    kind = str(error.get("type", ""))
    ctx = error.get("ctx")
    if kind in BY_TYPE:
        en, zh = BY_TYPE[kind]
        text = zh if lang == "zh" else en
        expected = str(ctx.get("expected", "")) if isinstance(ctx, Mapping) else ""
        return text.format(limit=_limit(ctx), expected=expected)
    return sentence(str(error.get("msg", "")), lang)


def field_errors(
    exc: PydanticValidationError,
    lang: str,
    locate: Callable[[tuple[Any, ...], str], str] | None = None,
) -> dict[str, str]:
    """``field -> sentence`` for every error of ``exc`` (the first per field).

    ``locate(loc, english_message)`` names the form field of an error; by default the first
    element of its location, or ``_form`` for the model's own checks."""
    out: dict[str, str] = {}
    for err in exc.errors():
        loc = tuple(err["loc"])
        english = str(err["msg"]).removeprefix("Value error, ")
        where = locate(loc, english) if locate else (str(loc[0]) if loc else "_form")
        out.setdefault(where, message(err, lang))
    return out
