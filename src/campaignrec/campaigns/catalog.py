"""Campaign catalog: load campaigns from the canonical table or a file, and answer window questions.

A campaign is a :class:`campaignrec.data.schema.Campaign`. The canonical campaigns table has one
row per campaign with the schema's columns; list-valued columns (``item_ids``, ``categories``) and
the ``audience`` rule tree may arrive as Python objects (DataFrames, Parquet) or as JSON text (CSV).
Files of campaigns can be TOML (``[[campaign]]`` tables), JSON (a list or ``{"campaigns": [...]}``)
or CSV (canonical header).
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError as PydanticValidationError

from campaignrec.data.schema import CAMPAIGN_COLUMNS, Campaign
from campaignrec.errors import UnknownIdError, ValidationError

#: Status of a campaign at a moment, combining its ``status`` field and its window.
WINDOW_STATES = ("draft", "paused", "ended", "scheduled", "expired", "live")

_LIST_FIELDS = ("item_ids", "categories", "protected_attributes")
_JSON_FIELDS = ("audience",)


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return bool(value is pd.NaT or value is pd.NA)


def _as_list(value: Any, field: str, row: int | None) -> list[str]:
    if _is_missing(value):
        return []
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValidationError(
                    field,
                    f"not a JSON list ({exc.msg})",
                    value=value,
                    row=row,
                    hint='write a JSON list such as ["a", "b"] or values joined by "|"',
                ) from exc
            return [str(v) for v in parsed]
        return [part.strip() for part in text.split("|") if part.strip()]
    if hasattr(value, "tolist"):
        value = value.tolist()
    return [str(v) for v in value]


def _as_rule(value: Any, row: int | None) -> dict[str, Any] | None:
    if _is_missing(value):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(
                "audience",
                f"not a JSON rule tree ({exc.msg})",
                value=value,
                row=row,
                hint='e.g. {"field": "segment", "op": "in", "value": ["loyal"]}',
            ) from exc
        return dict(parsed) if parsed is not None else None
    if isinstance(value, Mapping):
        return dict(value)
    raise ValidationError("audience", "must be a rule tree (an object)", value=value, row=row)


def _as_datetime(value: Any) -> datetime | None:
    if _is_missing(value):
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, str):
        value = pd.Timestamp(value).to_pydatetime()
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return value  # let pydantic complain with the field name


def campaign_from_record(record: Mapping[str, Any], row: int | None = None) -> Campaign:
    """Build one :class:`Campaign` from a loose record (a table row or a file entry).

    Missing values (None, NaN, NaT, empty strings in list columns) become the schema defaults,
    JSON text in ``audience`` / ``item_ids`` / ``categories`` is parsed, and unknown keys are
    rejected by the schema.

    Parameters
    ----------
    record : Mapping
        Field name to value.
    row : int, optional
        Row number used in error messages.

    Returns
    -------
    Campaign

    Raises
    ------
    ValidationError
        Naming the field, the value and the row.
    """
    clean: dict[str, Any] = {}
    for key, value in record.items():
        if key in _LIST_FIELDS:
            clean[key] = _as_list(value, key, row)
        elif key in _JSON_FIELDS:
            clean[key] = _as_rule(value, row)
        elif key in ("start_time", "end_time"):
            clean[key] = _as_datetime(value)
        elif _is_missing(value):
            continue
        else:
            clean[key] = value.item() if hasattr(value, "item") else value
    try:
        return Campaign(**clean)
    except ValidationError:
        raise
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "campaign"
        raise ValidationError(
            field,
            first["msg"],
            value=first.get("input") if field != "campaign" else None,
            row=row,
            hint="see docs/campaigns.md for the campaign fields",
        ) from exc


@dataclass(frozen=True)
class Catalog:
    """An immutable set of campaigns addressed by ``campaign_id``."""

    campaigns: tuple[Campaign, ...]

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for c in self.campaigns:
            if c.campaign_id in seen:
                raise ValidationError(
                    "campaign_id",
                    "duplicate campaign id",
                    value=c.campaign_id,
                    hint="every campaign needs its own id",
                )
            seen.add(c.campaign_id)

    def __len__(self) -> int:
        return len(self.campaigns)

    def __iter__(self) -> Iterator[Campaign]:
        return iter(self.campaigns)

    def __contains__(self, campaign_id: object) -> bool:
        return any(c.campaign_id == campaign_id for c in self.campaigns)

    @property
    def ids(self) -> list[str]:
        """Campaign ids in catalog order."""
        return [c.campaign_id for c in self.campaigns]

    def get(self, campaign_id: str) -> Campaign:
        """The campaign with this id; raises :class:`UnknownIdError` when there is none."""
        for c in self.campaigns:
            if c.campaign_id == campaign_id:
                return c
        raise UnknownIdError(
            "campaign", campaign_id, hint="`campaignrec campaigns list` shows the known ids"
        )

    def live(self, now: datetime) -> list[Campaign]:
        """Campaigns that are running at ``now`` (status active and inside their window)."""
        return [c for c in self.campaigns if is_live(c, now)]

    def to_frame(self) -> pd.DataFrame:
        """The canonical campaigns table (one row per campaign, schema column order)."""
        rows = [c.model_dump() for c in self.campaigns]
        return pd.DataFrame(rows, columns=list(CAMPAIGN_COLUMNS))


def load_campaigns(source: Any) -> Catalog:
    """Load a catalog from the canonical campaigns table, records, or campaign models.

    Parameters
    ----------
    source : pandas.DataFrame, polars.DataFrame, iterable of Mapping or Campaign
        The canonical campaigns table (schema columns; list and rule columns as objects or JSON
        text; other columns of a table are ignored) or records (unknown keys are rejected).

    Returns
    -------
    Catalog

    Examples
    --------
    >>> cat = load_campaigns([{"campaign_id": "c1", "name": "Spring", "type": "coupon"}])
    >>> cat.get("c1").type
    'coupon'
    """
    if isinstance(source, Catalog):
        return source
    if hasattr(source, "to_pandas") and not isinstance(source, pd.DataFrame):
        source = source.to_pandas()
    if isinstance(source, pd.DataFrame):
        # a table may carry bookkeeping columns (e.g. the store's updated_at): keep the schema's
        keep = [c for c in source.columns if c in CAMPAIGN_COLUMNS]
        records: Iterable[Any] = source[keep].to_dict(orient="records")
    else:
        records = source
    out: list[Campaign] = []
    for i, rec in enumerate(records):
        if isinstance(rec, Campaign):
            out.append(rec)
        elif isinstance(rec, Mapping):
            out.append(campaign_from_record(rec, row=i))
        else:
            raise ValidationError("campaigns", "each entry must be a mapping", value=rec, row=i)
    return Catalog(tuple(out))


def load_campaigns_file(path: str | Path) -> Catalog:
    """Load campaigns from a TOML, JSON or CSV file.

    TOML: one ``[[campaign]]`` table per campaign (``audience`` as an inline table).
    JSON: a list of objects or ``{"campaigns": [...]}``. CSV: canonical header, list columns as
    JSON lists or ``|``-separated values, ``audience`` as JSON text.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    Catalog
    """
    p = Path(path)
    if not p.is_file():
        raise ValidationError("path", "no such file", value=str(p), hint="check the file name")
    suffix = p.suffix.lower()
    text = p.read_text(encoding="utf-8") if suffix in (".toml", ".json") else ""
    if suffix == ".toml":
        try:
            toml_data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ValidationError("path", f"not valid TOML ({exc})", value=str(p)) from exc
        entries = toml_data.get("campaign", toml_data.get("campaigns"))
        if not isinstance(entries, list):
            raise ValidationError(
                "campaign",
                "the TOML file has no [[campaign]] tables",
                value=str(p),
                hint="write one [[campaign]] table per campaign",
            )
        return load_campaigns(entries)
    if suffix == ".json":
        try:
            data: Any = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError("path", f"not valid JSON ({exc.msg})", value=str(p)) from exc
        if isinstance(data, Mapping):
            data = data.get("campaigns")
        if not isinstance(data, list):
            raise ValidationError(
                "campaigns",
                "a JSON file of campaigns must be a list",
                value=str(p),
                hint='write [{...}, ...] or {"campaigns": [...]}',
            )
        return load_campaigns(data)
    if suffix == ".csv":
        frame = pd.read_csv(p, dtype=str, keep_default_na=False, na_values=[""])
        return load_campaigns(_coerce_csv(frame))
    raise ValidationError(
        "path", "unknown campaign file type", value=str(p), hint="use .toml, .json or .csv"
    )


_NUMERIC_FIELDS = {
    "discount_value": float,
    "min_spend": float,
    "budget": float,
    "inventory": int,
    "cost_per_redemption": float,
    "frequency_cap": int,
    "cap_window_hours": float,
    "priority": int,
}


def _coerce_csv(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for col, kind in _NUMERIC_FIELDS.items():
        if col in out.columns:
            num = pd.to_numeric(out[col], errors="coerce")
            out[col] = [None if pd.isna(v) else (int(v) if kind is int else float(v)) for v in num]
    return out.astype(object).where(out.notna(), None)


# ---- window and status helpers -----------------------------------------------------------------


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValidationError(
            "now", "must be timezone-aware", value=now, hint="pass datetime.now(UTC)"
        )
    return now.astimezone(UTC)


def window_state(campaign: Campaign, now: datetime) -> str:
    """Where ``campaign`` stands at ``now``: one of :data:`WINDOW_STATES`.

    ``draft``, ``paused`` and ``ended`` come from the status field; an active or scheduled
    campaign is ``scheduled`` before its start, ``expired`` after its end, else ``live``.
    """
    now = _aware(now)
    if campaign.status in ("draft", "paused", "ended"):
        return campaign.status
    if campaign.start_time is not None and now < campaign.start_time:
        return "scheduled"
    if campaign.end_time is not None and now >= campaign.end_time:
        return "expired"
    return "live"


def is_live(campaign: Campaign, now: datetime) -> bool:
    """Whether ``campaign`` may be shown at ``now`` (status and window only)."""
    return window_state(campaign, now) == "live"


def unit_cost(campaign: Campaign, basket_value: float | None = None) -> float:
    """Money one redemption costs: ``cost_per_redemption`` plus the discount.

    A percent discount is priced on ``basket_value`` (or ``min_spend`` when no basket value is
    given, the smallest basket the coupon applies to).
    """
    discount = 0.0
    if campaign.discount_type == "amount":
        discount = campaign.discount_value
    elif campaign.discount_type == "percent":
        base = basket_value if basket_value is not None else campaign.min_spend
        discount = campaign.discount_value / 100.0 * base
    return float(campaign.cost_per_redemption + discount)


def covered_items(campaign: Campaign, items: pd.DataFrame | None) -> list[str]:
    """Item ids a campaign covers: its ``item_ids`` and every item of its ``categories``.

    A covered category matches an item category equal to it or below it in the path
    (``"home"`` covers ``"home/kitchen"``).
    """
    out = list(dict.fromkeys(campaign.item_ids))
    if campaign.categories and items is not None and len(items):
        cats = items["category"].astype("string").fillna("")
        mask = pd.Series(False, index=items.index)
        for cat in campaign.categories:
            mask |= (cats == cat) | cats.str.startswith(cat + "/")
        seen = set(out)
        out.extend(i for i in items.loc[mask, "item_id"].astype(str) if i not in seen)
    return out
