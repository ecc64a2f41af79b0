"""Column-wise validation of users, items, campaigns and events, with a quarantine of bad rows.

Bulk imports cannot afford one pydantic model per row, so every rule of the models in
:mod:`campaignrec.data.schema` is restated here as a vectorised check on a polars frame. A frame
comes in with canonical column names (after a mapping has been applied) and values that are either
strings (as read from a text file) or already typed (Parquet, DataFrames). Out come the good rows as
a typed pandas frame in the layout the store expects, and one quarantine row per problem found:
``source, line, entity, field, value, reason, raw``.

Reason codes (``REASONS``):

``missing_field``       a required value is empty (user_id of an event, item_id of a view, ...)
``bad_value``           a value does not parse as its type, or is not one of the allowed values
``bad_timestamp``       a timestamp does not parse, or lies outside MIN_TIMESTAMP .. now + 2 days
``negative_value``      a price, quantity, revenue, budget ... below zero
``out_of_range``        a value outside its bounds (propensity not in (0, 1], birth_year, ...)
``unknown_event_type``  not a standard event type nor a declared custom one
``bad_rule``            a campaign audience rule that :func:`campaignrec.data.rules.parse_rule` rejects
``protected_attribute`` a campaign audience selects on a protected attribute (gender, age ...) the
                        campaign does not list in ``protected_attributes``
``duplicate``           the same event_id appeared earlier in the same file
``unknown_user`` / ``unknown_item``  with strict reference checks, an id the store does not know

The pydantic models stay the definition: the kinds, required fields, defaults, allowed values and
non-negative bounds below are derived from them (:data:`campaignrec.data.schema.COLUMN_SPECS`),
the per-kind parsing lives in :mod:`campaignrec.data.coercers`, and
``tests/data/test_validation.py`` checks that both agree on single records.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import numpy as np
import pandas as pd
import polars as pl
from numpy.typing import NDArray

from campaignrec.data.coercers import (
    CoerceOptions,
    Coercer,
    as_text,
    coerce_bool,
    coerce_datetime,
    coerce_dict,
    coerce_float,
    coerce_id,
    coerce_int,
    coerce_list,
    coerce_str,
)
from campaignrec.data.columns import QUARANTINE_COLUMNS, QUARANTINE_KEY, Kind
from campaignrec.data.rules import PROTECTED_ATTRIBUTES, parse_rule, undeclared_protected
from campaignrec.data.schema import (
    CAMPAIGN_EVENT_TYPES,
    COLUMN_SPECS,
    DEFAULT_RATING_SCALE,
    EVENT_TYPES,
    EXPOSURE_EVENT_TYPES,
    ITEM_EVENT_TYPES,
    KEY_COLUMN,
    MAX_FUTURE_DAYS,
    MIN_TIMESTAMP,
    QUERY_EVENT_TYPES,
    RATING_EVENT_TYPE,
)
from campaignrec.errors import ConfigError

Entity = Literal["users", "items", "campaigns", "events"]
ENTITIES: tuple[str, ...] = tuple(COLUMN_SPECS)

MISSING_FIELD = "missing_field"
BAD_VALUE = "bad_value"
BAD_TIMESTAMP = "bad_timestamp"
NEGATIVE_VALUE = "negative_value"
OUT_OF_RANGE = "out_of_range"
UNKNOWN_EVENT_TYPE = "unknown_event_type"
BAD_RULE = "bad_rule"
PROTECTED_ATTRIBUTE = "protected_attribute"
DUPLICATE = "duplicate"
UNKNOWN_USER = "unknown_user"
UNKNOWN_ITEM = "unknown_item"
REASONS = (
    MISSING_FIELD,
    BAD_VALUE,
    BAD_TIMESTAMP,
    NEGATIVE_VALUE,
    OUT_OF_RANGE,
    UNKNOWN_EVENT_TYPE,
    BAD_RULE,
    PROTECTED_ATTRIBUTE,
    DUPLICATE,
    UNKNOWN_USER,
    UNKNOWN_ITEM,
)

LINE = "__line"  # private column carrying the 1-based line number of each row

# ---- the column tables of each entity, derived from schema.py's pydantic models ----------------
COLUMN_KINDS: dict[str, dict[str, Kind]] = {
    entity: {spec.name: spec.kind for spec in specs} for entity, specs in COLUMN_SPECS.items()
}
CANONICAL_COLUMNS: dict[str, tuple[str, ...]] = {
    entity: tuple(spec.name for spec in specs) for entity, specs in COLUMN_SPECS.items()
}
REQUIRED: dict[str, tuple[str, ...]] = {
    entity: tuple(spec.name for spec in specs if spec.required)
    for entity, specs in COLUMN_SPECS.items()
}
# Defaults of the pydantic models, filled where a column is absent or empty.
DEFAULTS: dict[str, dict[str, Any]] = {
    entity: {spec.name: spec.default for spec in specs if spec.default is not None}
    for entity, specs in COLUMN_SPECS.items()
}
# Values of the Literal fields.
ALLOWED: dict[str, dict[str, tuple[str, ...]]] = {
    entity: {spec.name: spec.allowed for spec in specs if spec.allowed}
    for entity, specs in COLUMN_SPECS.items()
}
# Fields bounded by ge=0 (a value below zero is a negative_value).
NON_NEGATIVE: dict[str, tuple[str, ...]] = {
    entity: tuple(spec.name for spec in specs if spec.non_negative)
    for entity, specs in COLUMN_SPECS.items()
}

# The coercer of each kind, and the reason code of a value it cannot parse.
COERCERS: dict[Kind, tuple[Coercer, str]] = {
    "id": (coerce_id, BAD_VALUE),
    "str": (coerce_str, BAD_VALUE),
    "float": (coerce_float, BAD_VALUE),
    "int": (coerce_int, BAD_VALUE),
    "bool": (coerce_bool, BAD_VALUE),
    "datetime": (coerce_datetime, BAD_TIMESTAMP),
    "list": (coerce_list, BAD_VALUE),
    "dict": (coerce_dict, BAD_VALUE),
}


@dataclass(frozen=True)
class ValidationOptions:
    """Knobs of a validation run.

    Parameters
    ----------
    custom_event_types
        Event types accepted besides :data:`campaignrec.data.schema.EVENT_TYPES`.
    list_separator
        Separator of list values given as text (``"a|b"``); a value starting with ``[`` is JSON.
    timestamp_format
        strptime format of the ``timestamp`` column when given as text (``None``: ISO 8601).
    timestamp_unit
        Unit of numeric epoch timestamps (``s``, ``ms``, ``us``, ``ns``); numbers default to seconds.
    timezone
        Time zone of naive timestamps (converted to UTC).
    now
        "Now" for the future-timestamp check (default: the current time).
    known_user_ids, known_item_ids
        With strict reference checks, the ids the store knows; events naming others are rejected.
    rating_scale
        Lowest and highest value of the ``rating`` column, inclusive (a mapping's
        ``rating_scale``); a rating outside it is ``out_of_range``.
    protected_attributes
        User attributes a campaign audience may read only when the campaign declares them.
    """

    custom_event_types: tuple[str, ...] = ()
    list_separator: str = "|"
    timestamp_format: str | None = None
    timestamp_unit: Literal["s", "ms", "us", "ns"] | None = None
    timezone: str = "UTC"
    now: datetime | None = None
    known_user_ids: frozenset[str] | None = None
    known_item_ids: frozenset[str] | None = None
    rating_scale: tuple[float, float] = DEFAULT_RATING_SCALE
    protected_attributes: tuple[str, ...] = PROTECTED_ATTRIBUTES


@dataclass
class ValidationResult:
    """Good rows (typed, canonical columns) and the quarantine of the bad ones.

    ``valid_frame`` holds the good rows as polars (what the store's fast event path writes);
    ``valid`` is the same rows as typed pandas, made on first use.
    """

    valid_frame: pl.DataFrame
    entity: str
    quarantine: pd.DataFrame
    rejected_rows: int
    duplicates: int = 0
    ignored_columns: tuple[str, ...] = ()
    by_reason: dict[str, int] = field(default_factory=dict)
    _valid: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    @property
    def valid(self) -> pd.DataFrame:
        """The good rows as typed pandas in canonical column order, defaults filled in."""
        if self._valid is None:
            self._valid = _to_pandas(self.entity, self.valid_frame)
        return self._valid


# ---- event ids --------------------------------------------------------------------------------
_ID_KEY_COLUMNS = (
    "user_id",
    "event_type",
    "timestamp",
    "item_id",
    "campaign_id",
    "query",
    "session_id",
    "order_id",
)


def derive_event_ids(df: pl.DataFrame | pd.DataFrame) -> NDArray[np.object_]:
    """Event ids of many rows at once, equal to :func:`campaignrec.data.schema.derive_event_id`.

    The key is built column-wise; only the BLAKE2b digest runs per row (hashlib has no batch API).

    Parameters
    ----------
    df
        Canonical events with string ids and a tz-aware (or UTC) ``timestamp`` column.

    Returns
    -------
    numpy.ndarray
        One 24-character hex id per row.
    """
    frame = df if isinstance(df, pl.DataFrame) else pl.from_pandas(df)
    ts = frame["timestamp"]
    if ts.dtype == pl.Datetime and getattr(ts.dtype, "time_zone", None) is None:
        ts = ts.dt.replace_time_zone("UTC")
    micros = ts.dt.epoch("us").to_numpy().astype(np.float64)
    # datetime.timestamp() is an exact-microsecond float; derive_event_id multiplies it back and
    # truncates, which is not always the identity, so replicate the float arithmetic exactly.
    ts_key = np.trunc((micros / 1e6) * 1_000_000.0).astype(np.int64)
    parts: list[pl.Expr] = []
    for name in _ID_KEY_COLUMNS:
        if name == "timestamp":
            parts.append(pl.lit(pl.Series("ts", ts_key)).cast(pl.String))
        elif name in frame.columns:
            parts.append(pl.col(name).cast(pl.String).fill_null(""))
        else:
            parts.append(pl.lit(""))
    keys = frame.select(pl.concat_str(parts, separator="\x1f").cast(pl.Binary).alias("k"))["k"]
    blake = hashlib.blake2b
    return np.array([blake(k, digest_size=12).hexdigest() for k in keys.to_list()], dtype=object)


class SeenIds:
    """Event ids seen so far in one import, as sorted 64-bit hashes (8 bytes per id).

    Memory-bounded enough for 10M-row files (80 MB) where a Python set of strings would not be.
    """

    def __init__(self) -> None:
        self._hashes = np.empty(0, dtype=np.uint64)

    def __len__(self) -> int:
        return int(self._hashes.size)

    def check_and_add(self, ids: pl.Series) -> NDArray[np.bool_]:
        """True for each id seen before (earlier in ``ids`` or in an earlier call); adds them all."""
        h = ids.cast(pl.String).hash(seed=0).to_numpy().astype(np.uint64)
        seen = np.zeros(h.size, dtype=bool)
        if self._hashes.size:
            # sorted needles keep the binary searches cache-friendly (5x faster at 10M ids)
            order = np.argsort(h, kind="stable")
            hs = h[order]
            pos = np.minimum(np.searchsorted(self._hashes, hs), self._hashes.size - 1)
            seen[order] = self._hashes[pos] == hs
        seen |= ~pl.Series(h).is_first_distinct().to_numpy()
        new = np.sort(h[~seen])  # unique already: first copies of ids not seen before
        if new.size:
            pos = np.searchsorted(self._hashes, new)
            self._hashes = np.insert(self._hashes, pos, new)
        return seen


# ---- coercion helpers -------------------------------------------------------------------------
# ---- the validator ----------------------------------------------------------------------------
class _Problems:
    """Accumulates (row mask, field, reason) triples of one chunk."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.items: list[tuple[NDArray[np.bool_], str, str]] = []
        self.values: dict[tuple[str, str], NDArray[np.object_]] = {}

    def add(
        self,
        mask: pl.Series | NDArray[np.bool_],
        field_name: str,
        reason: str,
        values: NDArray[np.object_] | None = None,
    ) -> None:
        arr = mask.fill_null(False).to_numpy() if isinstance(mask, pl.Series) else mask
        arr = np.asarray(arr, dtype=bool)
        if arr.any():
            self.items.append((arr, field_name, reason))
            if values is not None:
                self.values[(field_name, reason)] = values

    def rejected(self) -> NDArray[np.bool_]:
        out = np.zeros(self.n, dtype=bool)
        for mask, _, reason in self.items:
            if reason == DUPLICATE:
                continue
            out |= mask
        return out


def validate_frame(
    entity: str,
    df: pl.DataFrame,
    *,
    source: str,
    lines: Sequence[int] | NDArray[np.int64] | None = None,
    options: ValidationOptions | None = None,
    seen: SeenIds | None = None,
) -> ValidationResult:
    """Validate one chunk of an entity's rows column-wise.

    Parameters
    ----------
    entity
        ``users``, ``items``, ``campaigns`` or ``events``.
    df
        Rows with canonical column names; values as text or already typed. Columns unknown to the
        entity go into ``attributes`` (users, items) or are ignored (listed in the result).
    source
        Name of the file or frame, written into the quarantine.
    lines
        1-based line number of each row in its file (default: 1..n).
    options
        See :class:`ValidationOptions`.
    seen
        Event ids seen earlier in the same import; later copies are duplicates.

    Returns
    -------
    ValidationResult
        ``valid`` holds the good rows in canonical layout (events carry their ``event_id``),
        ``quarantine`` one row per problem (a row can have several).

    Examples
    --------
    >>> import polars as pl
    >>> frame = pl.DataFrame({"user_id": ["u1", ""], "event_type": ["view", "view"],
    ...                       "timestamp": ["2024-01-01T00:00:00Z"] * 2, "item_id": ["i1", "i1"]})
    >>> res = validate_frame("events", frame, source="demo.csv")
    >>> len(res.valid), res.quarantine["reason"].tolist()
    (1, ['missing_field'])
    """
    if entity not in ENTITIES:
        raise ConfigError(
            f"entity {entity!r} is not one of {', '.join(ENTITIES)}",
            hint="import users, items, campaigns or events",
        )
    opts = options or ValidationOptions()
    n = df.height
    line_arr = (
        np.arange(1, n + 1, dtype=np.int64) if lines is None else np.asarray(lines, dtype=np.int64)
    )
    kinds = COLUMN_KINDS[entity]
    raw = df
    extra = [c for c in df.columns if c not in kinds and c != LINE]
    problems = _Problems(n)
    cols: dict[str, Any] = {}

    coerce_opts = CoerceOptions(
        list_separator=opts.list_separator,
        timestamp_format=opts.timestamp_format,
        timestamp_unit=opts.timestamp_unit,
        timezone=opts.timezone,
    )
    for name, kind in kinds.items():
        if name not in df.columns:
            continue
        coerce, reason = COERCERS[kind]
        cols[name], bad = coerce(name, df[name], coerce_opts)
        if bad is not None:
            problems.add(bad, name, reason)

    # extra columns become attributes of users and items
    if extra and entity in ("users", "items"):
        extra_text = {c: as_text(df[c]).to_list() for c in extra}
        base = cols.get("attributes") or [{} for _ in range(n)]
        merged = []
        for i in range(n):
            d = dict(base[i]) if base[i] else {}
            for c in extra:
                v = extra_text[c][i]
                if v is not None and c not in d:
                    d[c] = v
            merged.append(d)
        cols["attributes"] = merged
        ignored: tuple[str, ...] = ()
    else:
        ignored = tuple(extra)

    # required fields
    for name in REQUIRED[entity]:
        if name in cols and isinstance(cols[name], pl.Series):
            problems.add(
                cols[name].is_null().to_numpy() & ~_bad_mask(problems, name, n), name, MISSING_FIELD
            )
        else:
            problems.add(np.ones(n, dtype=bool), name, MISSING_FIELD)

    # enumerations
    for name, allowed in ALLOWED[entity].items():
        if name in cols:
            t = cols[name]
            problems.add(t.is_not_null() & ~t.is_in(list(allowed)), name, BAD_VALUE)

    # signs and bounds
    for name in NON_NEGATIVE[entity]:
        if name in cols:
            problems.add(cols[name] < 0, name, NEGATIVE_VALUE)
    _entity_rules(entity, cols, problems, opts, n)

    rejected = problems.rejected()
    frame = _assemble(entity, cols, n)
    duplicates = 0
    dup_mask = np.zeros(n, dtype=bool)
    if entity == "events":
        ok = ~rejected
        ids = frame["event_id"] if "event_id" in frame.columns else None
        need = np.ones(n, dtype=bool) if ids is None else ids.is_null().to_numpy()
        need &= ok
        event_ids = np.empty(n, dtype=object)
        if ids is not None:
            event_ids[:] = ids.to_numpy()
        if need.any():
            event_ids[need] = derive_event_ids(frame.filter(pl.Series(need)))
        frame = frame.with_columns(pl.Series("event_id", event_ids.tolist(), dtype=pl.String))
        tracker = seen if seen is not None else SeenIds()
        if ok.any():
            dup_mask[ok] = tracker.check_and_add(frame["event_id"].filter(pl.Series(ok)))
        duplicates = int(dup_mask.sum())
        problems.add(dup_mask, "event_id", DUPLICATE, values=event_ids)
    else:
        key = KEY_COLUMN[entity]
        ok = ~rejected
        if key in frame.columns and ok.any():
            keys = frame[key].filter(pl.Series(ok))
            # within a file the last row of an id wins, as a later upsert would
            last = keys.is_last_distinct().to_numpy()
            dup_mask[np.flatnonzero(ok)[~last]] = True
            duplicates = int(dup_mask.sum())

    keep = ~rejected & ~dup_mask
    valid = frame.filter(pl.Series(keep)) if not keep.all() else frame
    quarantine = _quarantine_frame(entity, raw, problems, line_arr, source)
    by_reason: dict[str, int] = {}
    if len(quarantine):
        by_reason = {str(k): int(v) for k, v in quarantine["reason"].value_counts().items()}
    return ValidationResult(
        valid_frame=valid,
        entity=entity,
        quarantine=quarantine,
        rejected_rows=int(rejected.sum()),
        duplicates=duplicates,
        ignored_columns=ignored,
        by_reason=by_reason,
    )


def _bad_mask(problems: _Problems, name: str, n: int) -> NDArray[np.bool_]:
    """Rows already flagged on this field (a value that failed to parse is not also 'missing')."""
    out = np.zeros(n, dtype=bool)
    for mask, f, _ in problems.items:
        if f == name:
            out |= mask
    return out


def _entity_rules(
    entity: str, cols: dict[str, Any], problems: _Problems, opts: ValidationOptions, n: int
) -> None:
    if entity == "users":
        if "birth_year" in cols:
            by = cols["birth_year"]
            problems.add((by < 1900) | (by > 2100), "birth_year", OUT_OF_RANGE)
    elif entity == "items":
        if "currency" in cols:
            c = cols["currency"]
            problems.add(c.is_not_null() & (c.str.len_chars() != 3), "currency", BAD_VALUE)
    elif entity == "campaigns":
        if "frequency_cap" in cols:
            problems.add(cols["frequency_cap"] < 1, "frequency_cap", OUT_OF_RANGE)
        if "cap_window_hours" in cols:
            problems.add(cols["cap_window_hours"] <= 0, "cap_window_hours", OUT_OF_RANGE)
        if "start_time" in cols and "end_time" in cols:
            problems.add(cols["end_time"] <= cols["start_time"], "end_time", OUT_OF_RANGE)
        if "discount_type" in cols and "discount_value" in cols:
            pct = (cols["discount_type"] == "percent") & (cols["discount_value"] > 100)
            problems.add(pct, "discount_value", OUT_OF_RANGE)
        if "audience" in cols:
            bad = np.zeros(n, dtype=bool)
            for i, rule in enumerate(cols["audience"]):
                if rule is not None:
                    try:
                        parse_rule(rule)
                    except Exception:
                        bad[i] = True
            problems.add(bad, "audience", BAD_RULE)
            _protected_rules(cols, problems, opts, n, bad)
    elif entity == "events":
        _event_rules(cols, problems, opts, n)


def _protected_rules(
    cols: dict[str, Any],
    problems: _Problems,
    opts: ValidationOptions,
    n: int,
    bad_rule: NDArray[np.bool_],
) -> None:
    """An audience reading a protected attribute the row does not declare; a declaration
    without its reason."""
    declared = cols.get("protected_attributes")
    reasons = cols.get("protected_reason")
    undeclared = np.zeros(n, dtype=bool)
    no_reason = np.zeros(n, dtype=bool)
    for i, rule in enumerate(cols["audience"]):
        names = list(declared[i] or ()) if declared is not None else []
        if rule is not None and not bad_rule[i]:
            undeclared[i] = bool(undeclared_protected(rule, names, opts.protected_attributes))
        reason = reasons[i] if reasons is not None else None
        no_reason[i] = bool(names) and not (isinstance(reason, str) and reason.strip())
    problems.add(undeclared, "audience", PROTECTED_ATTRIBUTE)
    problems.add(no_reason, "protected_reason", MISSING_FIELD)


def _event_rules(
    cols: dict[str, Any], problems: _Problems, opts: ValidationOptions, n: int
) -> None:
    if "timestamp" in cols:
        ts = cols["timestamp"]
        now = opts.now or datetime.now(UTC)
        hi = now + timedelta(days=MAX_FUTURE_DAYS)
        problems.add((ts < MIN_TIMESTAMP) | (ts > hi), "timestamp", BAD_TIMESTAMP)
    if "propensity" in cols:
        p = cols["propensity"]
        problems.add((p <= 0) | (p > 1), "propensity", OUT_OF_RANGE)
    if "rating" in cols:
        r = cols["rating"]
        low, high = opts.rating_scale
        problems.add(r.is_not_null() & ~r.is_between(low, high), "rating", OUT_OF_RANGE)
    et = cols.get("event_type")
    if et is None:
        return
    known = list(EVENT_TYPES) + list(opts.custom_event_types)
    problems.add(et.is_not_null() & ~et.is_in(known), "event_type", UNKNOWN_EVENT_TYPE)
    for types, needed in (
        (ITEM_EVENT_TYPES | EXPOSURE_EVENT_TYPES, "item_id"),
        (CAMPAIGN_EVENT_TYPES, "campaign_id"),
        (QUERY_EVENT_TYPES, "query"),
        (frozenset({RATING_EVENT_TYPE}), "rating"),
    ):
        needs = et.is_in(list(types))
        value = cols.get(needed)
        missing = needs if value is None else needs & value.is_null()
        problems.add(missing, needed, MISSING_FIELD)
    if opts.known_user_ids is not None and "user_id" in cols:
        u = cols["user_id"]
        known_u = pl.Series(list(opts.known_user_ids), dtype=pl.String)
        problems.add(u.is_not_null() & ~u.is_in(known_u), "user_id", UNKNOWN_USER)
    if opts.known_item_ids is not None and "item_id" in cols:
        it = cols["item_id"]
        known_i = pl.Series(list(opts.known_item_ids), dtype=pl.String)
        problems.add(it.is_not_null() & ~it.is_in(known_i), "item_id", UNKNOWN_ITEM)


def _assemble(entity: str, cols: dict[str, Any], n: int) -> pl.DataFrame:
    """A polars frame of the typed columns (lists and dicts kept as Python objects)."""
    series = []
    for name in CANONICAL_COLUMNS[entity]:
        if name in cols:
            v = cols[name]
            if isinstance(v, pl.Series):
                series.append(v.alias(name))
            else:
                series.append(pl.Series(name, v, dtype=pl.Object))
    if series:
        return pl.DataFrame(series)
    # no canonical column at all (every row failed a required field): keep the height n
    return pl.DataFrame({"__n": pl.Series([None] * n, dtype=pl.Null)}).drop("__n")


def _to_pandas(entity: str, frame: pl.DataFrame) -> pd.DataFrame:
    """Typed pandas frame in canonical column order with the models' defaults filled in."""
    data: dict[str, Any] = {}
    n = frame.height
    for name in CANONICAL_COLUMNS[entity]:
        kind = COLUMN_KINDS[entity][name]
        default = DEFAULTS[entity].get(name)
        if name in frame.columns:
            s = frame[name]
            if s.dtype == pl.Object:
                data[name] = pd.Series(s.to_list(), dtype=object)
                continue
            if kind in ("id", "str") and default is None:
                # Arrow-backed strings: no Python object per value (memory of 10M-row imports)
                data[name] = pd.Series(
                    pd.arrays.ArrowStringArray(s.cast(pl.String).to_arrow().cast("large_string")),
                    name=name,
                )
                continue
            ps = s.to_pandas(use_pyarrow_extension_array=False)
            if default is not None:
                ps = ps.astype(object).where(ps.notna(), default)
        elif default is not None:
            ps = pd.Series([default] * n, dtype=object)
        elif kind in ("list",):
            ps = pd.Series([[] for _ in range(n)], dtype=object)
        elif kind == "dict" and name != "audience":
            ps = pd.Series([{} for _ in range(n)], dtype=object)
        else:
            continue
        data[name] = _cast_kind(ps.reset_index(drop=True), kind)
    out = pd.DataFrame(data, index=pd.RangeIndex(n))
    return out


def _cast_kind(ps: pd.Series, kind: str) -> pd.Series:
    if kind == "float":
        return ps.astype("float64")
    if kind == "int":
        return ps.astype("Int64")
    if kind == "bool":
        return ps.astype("boolean")
    if kind == "datetime":
        return pd.to_datetime(ps, utc=True).astype("datetime64[us, UTC]")
    if kind in ("id", "str"):
        return ps.astype(object).where(ps.notna(), None)
    return ps


def _quarantine_frame(
    entity: str,
    raw: pl.DataFrame,
    problems: _Problems,
    lines: NDArray[np.int64],
    source: str,
) -> pd.DataFrame:
    if not problems.items:
        return empty_quarantine()
    rows: list[dict[str, Any]] = []
    raw_json: dict[int, str] = {}
    user_cols = [c for c in raw.columns if c != LINE]
    for mask, field_name, reason in problems.items:
        idx = np.flatnonzero(mask)
        explicit = problems.values.get((field_name, reason))
        if explicit is not None:
            values = explicit[idx].tolist()
        elif field_name in raw.columns:
            values = raw[field_name].gather(idx).to_list()
        else:
            values = [None] * len(idx)
        for i, v in zip(idx.tolist(), values, strict=True):
            if i not in raw_json:
                raw_json[i] = json.dumps(
                    {c: _jsonable(raw[c][i]) for c in user_cols}, ensure_ascii=False, default=str
                )
            rows.append(
                {
                    "source": source,
                    "line": int(lines[i]),
                    "entity": entity,
                    "field": field_name,
                    "value": "" if v is None else _value_text(v),
                    "reason": reason,
                    "raw": raw_json[i],
                }
            )
    out = pd.DataFrame(rows, columns=list(QUARANTINE_COLUMNS))
    # one problem per (line, field): the first rule that fired wins
    out = out.drop_duplicates(subset=list(QUARANTINE_KEY), keep="first")
    out = out.sort_values(["line", "field"], kind="stable").reset_index(drop=True)
    out["line"] = out["line"].astype("int64")
    return out


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, datetime):
        return v.isoformat()
    return v


def _value_text(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, list | dict):
        return json.dumps(v, default=str, ensure_ascii=False)
    return str(v)


def empty_quarantine() -> pd.DataFrame:
    """A quarantine frame with no rows and the right columns."""
    return pd.DataFrame(
        {c: pd.Series([], dtype="int64" if c == "line" else object) for c in QUARANTINE_COLUMNS}
    )


def combine_reasons(counts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    """Sum several ``by_reason`` dicts."""
    total: dict[str, int] = {}
    for c in counts:
        for k, v in c.items():
            total[k] = total.get(k, 0) + int(v)
    return dict(sorted(total.items()))
