"""Column codecs of the SQL store: pandas columns to database values and back.

Timestamps are BIGINT microseconds since the epoch (UTC), list and dict fields JSON text,
nullable integers ``Int64``. No database access here: :mod:`campaignrec.store.rows` and
:mod:`campaignrec.store.reads` call these on both backends.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Table

from campaignrec.errors import StoreError, ValidationError
from campaignrec.store.migrations import key_columns

_NAT = np.iinfo(np.int64).min


def now_us() -> int:
    return time.time_ns() // 1000


# ---- DataFrame -> DB values ---------------------------------------------------------------------


def _ts_values(ser: pd.Series, name: str) -> list[Any]:
    """Microseconds since the epoch (int) or None."""
    if ser.isna().all():
        return [None] * len(ser)
    if isinstance(ser.dtype, pd.DatetimeTZDtype):
        dt = ser
    elif pd.api.types.is_datetime64_dtype(ser.dtype):
        raise ValidationError(
            name,
            "timestamps must be timezone-aware",
            value=str(ser.dtype),
            hint="localise them, e.g. series.dt.tz_localize('UTC')",
        )
    elif ser.dtype == object or pd.api.types.is_string_dtype(ser.dtype):
        if ser.dtype == object and any(
            isinstance(v, datetime) and v.tzinfo is None for v in ser.to_numpy()
        ):
            raise ValidationError(
                name,
                "timestamps must be timezone-aware",
                value="naive datetime objects",
                hint="attach a zone, e.g. value.replace(tzinfo=datetime.UTC)",
            )
        # text without an offset is read as UTC (the importer's convention)
        try:
            dt = pd.to_datetime(ser, utc=True, format="ISO8601")
        except (ValueError, TypeError) as exc:
            raise ValidationError(
                name, "not a timestamp", value=str(exc)[:80], hint="use ISO 8601 with a UTC offset"
            ) from exc
    else:
        raise ValidationError(
            name,
            "expected tz-aware datetimes",
            value=str(ser.dtype),
            hint="convert epoch numbers with pd.to_datetime(values, unit='s', utc=True)",
        )
    us = dt.dt.tz_convert("UTC").astype("datetime64[us, UTC]").array.asi8
    out: list[Any] = us.tolist()
    if (us == _NAT).any():
        for i in np.flatnonzero(us == _NAT):
            out[i] = None
    return out


def _objects(ser: pd.Series) -> np.ndarray:
    """Values as an object array with every missing value (NaN, NA, NaT) as None."""
    return ser.to_numpy(dtype=object, na_value=None)  # type: ignore[call-overload,no-any-return]


def json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _is_missing_scalar(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _json_values(ser: pd.Series, name: str) -> list[Any]:
    out: list[Any] = []
    for value in ser.to_numpy(dtype=object):
        if _is_missing_scalar(value):
            out.append(None)
            continue
        try:
            out.append(json.dumps(value, ensure_ascii=False, default=json_default))
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                name, f"not JSON serialisable ({exc})", hint="use lists, dicts, str and numbers"
            ) from exc
    return out


def _column_values(ser: pd.Series, kind: str, name: str) -> list[Any]:
    """Python values ready for the DBAPI, missing values as None."""
    if kind == "ts":
        return _ts_values(ser, name)
    if kind == "json":
        return _json_values(ser, name)
    try:
        if kind == "str":
            if not (ser.dtype == object or pd.api.types.is_string_dtype(ser.dtype)):
                ser = ser.astype("string")
            values = _objects(ser)
            if ser.dtype == object and pd.api.types.infer_dtype(values, skipna=True) not in (
                "string",
                "empty",
            ):
                # object columns may hold non-str scalars (ints from a CSV): make them text
                values = np.array(
                    [v if v is None or isinstance(v, str) else str(v) for v in values],
                    dtype=object,
                )
        elif kind == "float":
            values = _objects(pd.to_numeric(ser).astype("float64"))
        elif kind == "int":
            values = _objects(ser.astype("Int64"))
        elif kind == "bool":
            values = _objects(ser.astype("boolean"))
        else:  # pragma: no cover - the table definitions only use the kinds above
            raise StoreError(f"column '{name}' has unknown kind {kind!r}")
    except (ValueError, TypeError) as exc:
        raise ValidationError(
            name, f"cannot store as {kind} ({exc})", hint=f"convert the column to {kind}"
        ) from exc
    out: list[Any] = values.tolist()
    if kind == "float":
        # a float NaN can survive in object columns: store NULL, never NaN
        out = [None if v is not None and v != v else v for v in out]
    return out


def _check_known(table: Table, columns: list[Any]) -> None:
    """A column the table does not have is an error naming it and the known ones."""
    unknown = [c for c in columns if c not in table.c]
    if unknown:
        known = ", ".join(c.name for c in table.columns)
        raise ValidationError(
            str(unknown[0]),
            f"not a column of table '{table.name}'",
            hint=f"drop or rename it; known columns: {known}",
        )


def frame_rows(
    table: Table,
    df: pd.DataFrame,
    extra: Mapping[str, Any] | None = None,
    *,
    skip_empty: bool = False,
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and row tuples of ``df`` for ``table``; unknown columns are an error.

    With ``skip_empty``, nullable columns without a default that hold no value at all are left
    out (inserted rows get NULL there anyway, and each bound column costs time per row).
    """
    _check_known(table, list(df.columns))
    names: list[str] = []
    columns: list[list[Any]] = []
    for name in df.columns:
        col = table.c[name]
        kind = col.info.get("kind", "str")
        values = _column_values(df[name], kind, str(name))
        default = col.info.get("default")
        if skip_empty and col.nullable and default is None and values.count(None) == len(values):
            continue
        if not col.nullable and None in values:
            if default is None:
                first = values.index(None)
                raise ValidationError(
                    str(name), "must not be missing", row=first + 1, hint="fill it in"
                )
            values = [default if v is None else v for v in values]
        names.append(str(name))
        columns.append(values)
    for name, value in (extra or {}).items():
        if name not in names:
            names.append(name)
            columns.append([value] * len(df))
    return names, list(zip(*columns, strict=True))


def polars_rows(
    table: Table, frame: Any, *, skip_empty: bool = False
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """:func:`frame_rows` of a typed polars frame (the importer's validated rows), built in polars.

    The tuples are made by polars, not column by column in Python, which is what a bulk import
    of millions of events spends its time on otherwise. Timestamps must be tz-aware datetimes
    (or UTC-naive ones); list and dict columns are not supported here (events have none).
    """
    import polars as pl

    _check_known(table, list(frame.columns))
    exprs: list[Any] = []
    names: list[str] = []
    nulls = frame.null_count().row(0, named=True) if frame.height else {}
    for name in frame.columns:
        col = table.c[name]
        kind = col.info.get("kind", "str")
        default = col.info.get("default")
        missing = int(nulls.get(name, 0))
        if skip_empty and col.nullable and default is None and missing == frame.height:
            continue
        if not col.nullable and missing and default is None:
            first = int(frame[name].is_null().arg_true()[0])
            raise ValidationError(name, "must not be missing", row=first + 1, hint="fill it in")
        e = pl.col(name)
        if kind == "ts":
            e = e.dt.epoch("us")
        elif kind == "float":
            e = e.cast(pl.Float64).fill_nan(None)
        elif kind == "int":
            e = e.cast(pl.Int64)
        elif kind == "bool":
            e = e.cast(pl.Boolean)
        elif kind == "str":
            e = e.cast(pl.String)
        else:
            raise ValidationError(
                name, f"a {kind} column cannot be written from polars", hint="pass pandas"
            )
        if default is not None and missing:
            e = e.fill_null(default)
        exprs.append(e)
        names.append(name)
    if not exprs:
        return [], []
    return names, frame.select(exprs).rows()


def unique_rows(
    table: Table, names: list[str], rows: list[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """Rows with distinct primary keys, the first of duplicates winning, in their given order.

    The given order is kept on purpose: events come roughly in time order, which keeps the
    table and the (event_type, timestamp) index appending at their ends; sorting by the
    hashed event_id measured slower.
    """
    key = [names.index(c) for c in key_columns(table) if c in names]
    if not key:
        return rows
    first: dict[Any, tuple[Any, ...]] = {}
    if len(key) == 1:
        k = key[0]
        for row in rows:
            first.setdefault(row[k], row)
    else:
        for row in rows:
            first.setdefault(tuple(row[i] for i in key), row)
    return list(first.values())


# ---- DB values -> DataFrame ---------------------------------------------------------------------


def _decode_column(values: Sequence[Any], kind: str, nullable: bool) -> pd.Series:
    if kind == "ts":
        us = pd.array(values, dtype="Int64").to_numpy(dtype="int64", na_value=_NAT)
        return pd.Series(us.view("M8[us]")).dt.tz_localize("UTC")
    if kind == "json":
        return pd.Series([None if v is None else json.loads(v) for v in values], dtype=object)
    if kind == "float":
        return pd.Series(values, dtype="float64")
    if kind == "int":
        return pd.Series(values, dtype="Int64" if nullable else "int64")
    if kind == "bool":
        return pd.Series(values, dtype="boolean" if nullable else "bool")
    return pd.Series(values, dtype="str")


def frame(table: Table, names: Sequence[str], rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    data: dict[str, pd.Series] = {}
    cols = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    for name, values in zip(names, cols, strict=True):
        col = table.c[name]
        data[name] = _decode_column(values, col.info.get("kind", "str"), bool(col.nullable))
    return pd.DataFrame(data, columns=list(names))


def first_record(df: pd.DataFrame) -> dict[str, Any]:
    """The first row as a dict of plain Python values (Timestamps stay Timestamps)."""
    record = df.iloc[0].to_dict()
    return {
        str(k): (v.item() if isinstance(v, np.generic) else None if v is pd.NA else v)
        for k, v in record.items()
    }


# ---- the store ----------------------------------------------------------------------------------


def user_of_raw(raw: Any) -> str | None:
    if not isinstance(raw, str):
        return None
    try:
        parsed = json.loads(raw)
    except ValueError:
        return None
    if isinstance(parsed, dict):
        value = parsed.get("user_id")
        if value is not None and not _is_missing_scalar(value):
            return str(value)
    return None
