"""Mapping files: how a source file's layout maps onto a canonical table.

A mapping is a small TOML file (validated by :class:`Mapping`, unknown keys rejected)::

    format = "csv"                 # csv | tsv | parquet | jsonl (default: from the extension)
    delimiter = ","                # default: "," for csv, tab for tsv
    header = false                 # the file has no header row ...
    columns = ["user_id", "item_id", "category_id", "behavior", "ts"]   # ... so name the columns
    encoding = "utf-8"
    list_separator = "|"           # list columns given as text: "a|b|c"
    drop = ["category_id"]         # source columns to ignore
    custom_event_types = ["wishlist"]
    rating_scale = [1, 5]          # lowest and highest rating (the default); others are quarantined

    [rename]                       # source column -> canonical column
    behavior = "event_type"

    [values.event_type]            # value maps, keyed by the canonical column
    pv = "view"
    buy = "purchase"

    [timestamp]
    column = "ts"                  # the source column holding the event time
    unit = "s"                     # epoch unit: s | ms | us | ns ... or
    # format = "%Y%m%d"            # a strptime format
    timezone = "UTC"               # zone of naive times

    [constants]                    # canonical columns filled with a constant
    currency = "USD"

Presets are mapping files shipped with the package (``campaignrec/data/presets/*.toml``); the
multi-file datasets are read by the adapters in :mod:`campaignrec.data.adapters` instead.
"""

from __future__ import annotations

import json
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError

from campaignrec.data.textfile import check_encoding
from campaignrec.data.validation import LINE, ValidationOptions
from campaignrec.errors import ConfigError

FileFormat = Literal["csv", "tsv", "parquet", "jsonl"]
EXTENSIONS: dict[str, FileFormat] = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}


class TimestampSpec(BaseModel):
    """How the ``timestamp`` column is written in the source."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    column: str | None = Field(default=None, description="source column (renamed to timestamp)")
    format: str | None = Field(default=None, description="strptime format, e.g. %Y%m%d")
    unit: Literal["s", "ms", "us", "ns"] | None = Field(default=None, description="epoch unit")
    timezone: str = Field(default="UTC", description="zone of naive timestamps")


class Mapping(BaseModel):
    """A source layout: file format, column names, renames, value maps, time format, constants."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: FileFormat | None = None
    delimiter: str | None = Field(default=None, min_length=1, max_length=1)
    header: bool = True
    columns: list[str] | None = None
    encoding: str = "utf-8"
    list_separator: str = Field(default="|", min_length=1)
    rename: dict[str, str] = Field(default_factory=dict)
    values: dict[str, dict[str, str]] = Field(default_factory=dict)
    timestamp: TimestampSpec = Field(default_factory=TimestampSpec)
    constants: dict[str, Any] = Field(default_factory=dict)
    drop: list[str] = Field(default_factory=list)
    custom_event_types: list[str] = Field(default_factory=list)
    rating_scale: tuple[float, float] | None = Field(
        default=None, description="lowest and highest value of 'rating' (default 1 to 5)"
    )

    @field_validator("rating_scale")
    @classmethod
    def _ordered_scale(cls, value: tuple[float, float] | None) -> tuple[float, float] | None:
        if value is not None and not value[0] < value[1]:
            raise ValueError("rating_scale must be [lowest, highest] with lowest < highest")
        return value

    @field_validator("encoding")
    @classmethod
    def _known_encoding(cls, value: str) -> str:
        check_encoding(value)  # a ConfigError naming the encoding when Python has no such codec
        return value

    def file_format(self, path: str | Path) -> FileFormat:
        """The format of ``path``: the declared one, else inferred from the extension."""
        if self.format is not None:
            return self.format
        p = Path(path)
        suffixes = [s.lower() for s in p.suffixes]
        for suffix in reversed(suffixes):
            if suffix in EXTENSIONS:
                return EXTENSIONS[suffix]
        raise ConfigError(
            f"cannot tell the format of {p.name!r} from its extension",
            hint="set format = 'csv' | 'tsv' | 'parquet' | 'jsonl' in the mapping or pass --format",
        )

    def separator(self, fmt: FileFormat) -> str:
        """The field delimiter of a text file."""
        if self.delimiter is not None:
            return self.delimiter
        return "\t" if fmt == "tsv" else ","

    def validation_options(self, **overrides: Any) -> ValidationOptions:
        """The :class:`ValidationOptions` this mapping implies."""
        values: dict[str, Any] = {
            "custom_event_types": tuple(self.custom_event_types),
            "list_separator": self.list_separator,
            "timestamp_format": self.timestamp.format,
            "timestamp_unit": self.timestamp.unit,
            "timezone": self.timestamp.timezone,
        }
        if self.rating_scale is not None:
            values["rating_scale"] = (float(self.rating_scale[0]), float(self.rating_scale[1]))
        values.update(overrides)
        return ValidationOptions(**values)

    def apply(self, df: pl.DataFrame) -> pl.DataFrame:
        """Rename, drop, map values and add constants: source columns -> canonical columns.

        Parameters
        ----------
        df
            A chunk of the source as read (column names of the file).

        Returns
        -------
        polars.DataFrame
            The chunk with canonical column names (the private line column is kept).
        """
        out = df
        renames = dict(self.rename)
        if self.timestamp.column is not None and self.timestamp.column != "timestamp":
            renames.setdefault(self.timestamp.column, "timestamp")
        drop = [c for c in self.drop if c in out.columns]
        if drop:
            out = out.drop(drop)
        present = {k: v for k, v in renames.items() if k in out.columns}
        if present:
            clash = [v for v in present.values() if v in out.columns and v not in present]
            if clash:
                out = out.drop(clash)
            out = out.rename(present)
        exprs = []
        for col, table in self.values.items():
            if col in out.columns and table:
                src = pl.col(col)
                if out.schema[col] != pl.String:
                    src = src.cast(pl.String)
                exprs.append(src.str.strip_chars().replace(table).alias(col))
        if exprs:
            out = out.with_columns(exprs)
        const = []
        for col, value in self.constants.items():
            lit = pl.lit(json.dumps(value) if isinstance(value, list | dict) else value)
            if col in out.columns:
                const.append(pl.col(col).fill_null(lit).alias(col))
            else:
                const.append(lit.alias(col))
        if const:
            out = out.with_columns(const)
        return out

    def merged(self, **changes: Any) -> Mapping:
        """A copy with some fields replaced; dict fields are merged, lists extended."""
        data = self.model_dump()
        for key, value in changes.items():
            if value is None:
                continue
            if key in ("rename", "constants") and isinstance(value, dict):
                data[key] = {**data[key], **value}
            elif key == "values" and isinstance(value, dict):
                for col, table in value.items():
                    data["values"][col] = {**data["values"].get(col, {}), **table}
            elif key in ("drop", "custom_event_types") and isinstance(value, list):
                data[key] = [*data[key], *value]
            elif key == "timestamp" and isinstance(value, dict):
                data["timestamp"] = {**data["timestamp"], **value}
            else:
                data[key] = value
        return parse_mapping(data, where="options")


def parse_mapping(data: dict[str, Any], *, where: str = "mapping") -> Mapping:
    """Validate a mapping dict; errors name the key and the fix."""
    try:
        return Mapping.model_validate(data)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"{where}: key '{key}': {first['msg']} (got {first.get('input')!r})",
            hint="see docs/data.md for the mapping file keys",
        ) from exc


def load_mapping(path: str | Path) -> Mapping:
    """Read and validate a TOML mapping file."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(
            f"mapping file {str(p)!r} does not exist", hint="check the --mapping path"
        )
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc})", hint="fix the TOML syntax") from exc
    return parse_mapping(data, where=str(p))


def preset_names() -> list[str]:
    """Names of the mapping presets shipped with the package."""
    folder = resources.files("campaignrec.data") / "presets"
    return sorted(f.name[: -len(".toml")] for f in folder.iterdir() if f.name.endswith(".toml"))


def load_preset(name: str) -> Mapping:
    """The mapping preset ``name`` (see :func:`preset_names`)."""
    folder = resources.files("campaignrec.data") / "presets"
    res = folder / f"{name}.toml"
    if not res.is_file():
        raise ConfigError(
            f"no mapping preset named {name!r}",
            hint=f"use one of {', '.join(preset_names())} or pass --mapping FILE",
        )
    data = tomllib.loads(res.read_text(encoding="utf-8"))
    return parse_mapping(data, where=f"preset {name}")


def parse_pairs(pairs: list[str] | None, *, what: str) -> dict[str, str]:
    """``["a=b", "c=d"]`` -> ``{"a": "b", "c": "d"}`` (CLI options such as --rename)."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ConfigError(
                f"{what} {pair!r} is not of the form KEY=VALUE", hint=f"e.g. {what} a=b"
            )
        k, v = pair.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def parse_value_maps(pairs: list[str] | None) -> dict[str, dict[str, str]]:
    """``["event_type:pv=view"]`` -> ``{"event_type": {"pv": "view"}}`` (the --value option)."""
    out: dict[str, dict[str, str]] = {}
    for pair in pairs or []:
        if ":" not in pair or "=" not in pair:
            raise ConfigError(
                f"--value {pair!r} is not of the form COLUMN:FROM=TO",
                hint="e.g. --value event_type:pv=view",
            )
        col, rest = pair.split(":", 1)
        k, v = rest.split("=", 1)
        out.setdefault(col.strip(), {})[k.strip()] = v.strip()
    return out


__all__ = [
    "LINE",
    "Mapping",
    "TimestampSpec",
    "load_mapping",
    "load_preset",
    "parse_mapping",
    "parse_pairs",
    "parse_value_maps",
    "preset_names",
]
