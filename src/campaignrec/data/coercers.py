"""Coercers: turn one column of text or loosely typed values into its kind, flagging bad values.

One concern: the per-kind parsing used by :func:`campaignrec.data.validation.validate_frame`.
Each coercer takes the column's name, the polars series and the :class:`CoerceOptions`, and returns
the typed values (a polars series, or a list of Python objects for lists and dicts) and a mask of
the values that were given but do not parse (``None``: no value can be bad). The validator looks
a coercer up by the column's kind in its ``COERCERS`` table and names the reason code.

The accepted spellings follow pydantic's (booleans, integers), so that a bulk import and the
models in :mod:`campaignrec.data.schema` agree.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from campaignrec.data.columns import ID_MAX_LEN

# the strings pydantic accepts as booleans
TRUE_STRINGS = ("true", "t", "yes", "y", "on", "1")
FALSE_STRINGS = ("false", "f", "no", "n", "off", "0")
INT_TEXT = r"^[+-]?\d+(\.0*)?$"  # like pydantic: "12" and "12.0", not "1e3"


def _is_text(dtype: pl.DataType) -> bool:
    return dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Categorical | pl.Enum)


def as_text(s: pl.Series) -> pl.Series:
    """Text of a value as it would appear in a file: stripped, empty -> null."""
    if _is_text(s.dtype):
        t = s.cast(pl.String).str.strip_chars()
    elif s.dtype == pl.Object or isinstance(s.dtype, pl.List | pl.Struct | pl.Array):
        t = pl.Series(s.name, [_json_text(v) for v in s.to_list()], dtype=pl.String)
    else:
        t = s.cast(pl.String)
    return t.replace("", None)


def _json_text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v
    return json.dumps(v, default=str, ensure_ascii=False)


def _present(s: pl.Series) -> pl.Series:
    """Whether each value counts as given (not null, not an empty/blank string, not NaN)."""
    if _is_text(s.dtype):
        return s.cast(pl.String).str.strip_chars().fill_null("") != ""
    if s.dtype.is_float():
        return s.is_not_null() & ~s.is_nan()
    return s.is_not_null()


def _to_float(s: pl.Series) -> tuple[pl.Series, pl.Series]:
    """(values, bad mask) for a float column."""
    present = _present(s)
    if s.dtype.is_numeric() or s.dtype == pl.Boolean:
        out = s.cast(pl.Float64)
    else:
        out = as_text(s).cast(pl.Float64, strict=False)
    finite = out.is_finite().fill_null(False)
    bad = present & ~finite
    return out.set(~finite, None), bad


INT_LIMIT = float(2**53)


def _to_int(s: pl.Series) -> tuple[pl.Series, pl.Series]:
    f, bad = _to_float(s)
    integral = (f.round(0) == f).fill_null(True)
    # beyond +-2**53 a float no longer holds every integer, and past 2**63 no Int64 exists
    in_range = (f.abs() <= INT_LIMIT).fill_null(True)
    bad = bad | ~integral | ~in_range
    if _is_text(s.dtype):
        text = as_text(s)
        bad = bad | (text.is_not_null() & ~text.str.contains(INT_TEXT).fill_null(False))
    return f.set(bad | f.is_null(), None).cast(pl.Int64), bad


def _to_bool(s: pl.Series) -> tuple[pl.Series, pl.Series]:
    present = _present(s)
    if s.dtype == pl.Boolean:
        return s, pl.Series([False] * len(s))
    if s.dtype.is_numeric():
        out = pl.Series(s.name, [None if v is None else bool(v) for v in s.to_list()], pl.Boolean)
        bad = present & ~s.is_in([0, 1]).fill_null(False)
        return out.set(bad, None), bad
    t = as_text(s).str.to_lowercase()
    is_true = t.is_in(list(TRUE_STRINGS)).fill_null(False)
    is_false = t.is_in(list(FALSE_STRINGS)).fill_null(False)
    out = pl.Series(s.name, [None] * len(s), pl.Boolean).set(is_true, True).set(is_false, False)
    bad = present & ~is_true & ~is_false
    return out, bad


_EPOCH_UNITS = {"s": 1_000_000, "ms": 1_000, "us": 1, "ns": 0}


def _epoch_to_dt(nums: pl.Series, unit: str) -> pl.Series:
    """Numeric epoch values (any unit) to Datetime[us, UTC]."""
    f = nums.cast(pl.Float64).fill_nan(0.0)
    if unit == "ns":
        micros = (f / 1_000).round(0)
    else:
        micros = (f * _EPOCH_UNITS[unit]).round(0)
    # keep out-of-range values representable; the range check rejects them afterwards
    micros = micros.clip(-(2**62), 2**62)
    return micros.cast(pl.Int64).cast(pl.Datetime("us")).dt.replace_time_zone("UTC")


def _to_datetime(
    s: pl.Series, *, fmt: str | None, unit: str | None, timezone: str
) -> tuple[pl.Series, pl.Series]:
    """(Datetime[us, UTC] values, bad mask). Accepts datetimes, epoch numbers and text."""
    present = _present(s)
    if isinstance(s.dtype, pl.Datetime):
        out = s.cast(pl.Datetime("us", s.dtype.time_zone))
        if s.dtype.time_zone is None:
            out = out.dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
        out = out.dt.convert_time_zone("UTC")
        return out, present & out.is_null()
    if s.dtype == pl.Date:
        out = s.cast(pl.Datetime("us")).dt.replace_time_zone(timezone, non_existent="null")
        out = out.dt.convert_time_zone("UTC")
        return out, present & out.is_null()
    if s.dtype.is_numeric():
        out = _epoch_to_dt(s, unit or "s").set(~present, None)
        return out, present & out.is_null()
    text = as_text(s)
    if fmt is not None:
        parsed = text.str.strptime(pl.Datetime("us"), fmt, strict=False)
        if isinstance(parsed.dtype, pl.Datetime) and parsed.dtype.time_zone is not None:
            out = parsed.dt.convert_time_zone("UTC")
        else:
            out = parsed.dt.replace_time_zone(timezone, non_existent="null")
            out = out.dt.convert_time_zone("UTC")
        return out, present & out.is_null()
    nums = text.cast(pl.Float64, strict=False)
    is_num = nums.is_finite().fill_null(False)
    out = pl.Series(s.name, [None] * len(s), pl.Datetime("us", "UTC"))
    if is_num.any():
        out = out.zip_with(~is_num, _epoch_to_dt(nums.fill_null(0.0), unit or "s"))
    rest = present & ~is_num
    if rest.any():
        sub = text.filter(rest)
        try:
            parsed = sub.str.to_datetime(strict=False, time_unit="us")
        except pl.exceptions.PolarsError:
            parsed = pl.Series([None] * len(sub), dtype=pl.Datetime("us"))
        if isinstance(parsed.dtype, pl.Datetime) and parsed.dtype.time_zone is not None:
            parsed = parsed.dt.convert_time_zone("UTC")
        else:
            parsed = parsed.dt.replace_time_zone(timezone, non_existent="null")
            parsed = parsed.dt.convert_time_zone("UTC")
        if parsed.null_count():  # mixed formats: the slow, exact path for what polars missed
            vals = parsed.to_list()
            raw = sub.to_list()
            vals = [
                v if v is not None else _parse_iso(r, timezone)
                for v, r in zip(vals, raw, strict=True)
            ]
            parsed = pl.Series(vals, dtype=pl.Datetime("us", "UTC"))
        idx = np.flatnonzero(rest.to_numpy())
        out = out.scatter(idx, parsed)
    return out, present & out.is_null()


def _parse_iso(text: str | None, timezone: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(timezone))
    return value.astimezone(UTC)


def _to_list(s: pl.Series, sep: str) -> tuple[list[list[Any]], pl.Series]:
    bad = [False] * len(s)
    out: list[list[Any]] = []
    for i, v in enumerate(s.to_list()):
        if v is None:
            out.append([])
        elif isinstance(v, list | tuple | np.ndarray):
            out.append([str(x) for x in v])
        elif isinstance(v, str):
            t = v.strip()
            if not t:
                out.append([])
            elif t.startswith("["):
                try:
                    parsed = json.loads(t)
                except json.JSONDecodeError:
                    parsed = None
                if isinstance(parsed, list):
                    out.append([str(x) for x in parsed])
                else:
                    out.append([])
                    bad[i] = True
            else:
                out.append([p.strip() for p in t.split(sep) if p.strip()])
        else:
            out.append([])
            bad[i] = True
    return out, pl.Series(bad, dtype=pl.Boolean)


def _to_dict(s: pl.Series, *, nullable: bool) -> tuple[list[Any], pl.Series]:
    bad = [False] * len(s)
    out: list[Any] = []
    for i, v in enumerate(s.to_list()):
        if v is None or (isinstance(v, str) and not v.strip()):
            out.append(None if nullable else {})
        elif isinstance(v, dict):
            out.append(v)
        elif isinstance(v, str):
            try:
                parsed = json.loads(v)
            except json.JSONDecodeError:
                parsed = None
            if isinstance(parsed, dict):
                out.append(parsed)
            else:
                out.append(None if nullable else {})
                bad[i] = True
        else:
            out.append(None if nullable else {})
            bad[i] = True
    return out, pl.Series(bad, dtype=pl.Boolean)


# ---- the coercers by kind -----------------------------------------------------------------------
@dataclass(frozen=True)
class CoerceOptions:
    """The parts of :class:`campaignrec.data.validation.ValidationOptions` that parsing needs."""

    list_separator: str = "|"
    timestamp_format: str | None = None
    timestamp_unit: Literal["s", "ms", "us", "ns"] | None = None
    timezone: str = "UTC"


#: (typed values, mask of given values that do not parse, or None when none can be bad)
Coerced = tuple[pl.Series | list[Any], pl.Series | None]
Coercer = Callable[[str, pl.Series, CoerceOptions], Coerced]


def coerce_id(name: str, s: pl.Series, opts: CoerceOptions) -> Coerced:
    """External ids: stripped text; longer than ``ID_MAX_LEN`` characters is bad."""
    t = as_text(s)
    return t, t.str.len_chars() > ID_MAX_LEN


def coerce_str(name: str, s: pl.Series, opts: CoerceOptions) -> Coerced:
    """Free text: stripped, empty -> null; never bad."""
    return as_text(s), None


def coerce_float(name: str, s: pl.Series, opts: CoerceOptions) -> Coerced:
    return _to_float(s)


def coerce_int(name: str, s: pl.Series, opts: CoerceOptions) -> Coerced:
    return _to_int(s)


def coerce_bool(name: str, s: pl.Series, opts: CoerceOptions) -> Coerced:
    return _to_bool(s)


def coerce_datetime(name: str, s: pl.Series, opts: CoerceOptions) -> Coerced:
    """Datetimes, epoch numbers or text to UTC; the format and unit options apply to ``timestamp``."""
    is_ts = name == "timestamp"
    return _to_datetime(
        s,
        fmt=opts.timestamp_format if is_ts else None,
        unit=opts.timestamp_unit if is_ts else None,
        timezone=opts.timezone,
    )


def coerce_list(name: str, s: pl.Series, opts: CoerceOptions) -> Coerced:
    return _to_list(s, opts.list_separator)


def coerce_dict(name: str, s: pl.Series, opts: CoerceOptions) -> Coerced:
    """JSON objects; an empty ``audience`` stays None (everyone), other dicts default to {}."""
    return _to_dict(s, nullable=name == "audience")
