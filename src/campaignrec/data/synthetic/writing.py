"""Writing a synthetic shop as canonical CSV or Parquet files."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from campaignrec.data.synthetic.config import ShopConfig, SyntheticShop
from campaignrec.data.synthetic.generate import _build_world, _iter_blocks
from campaignrec.data.synthetic.sessions import _empty_events
from campaignrec.errors import ValidationError

# ---- files ---------------------------------------------------------------------------------------------
_LIST_COLUMNS = ("tags", "item_ids", "categories", "protected_attributes")
_DICT_COLUMNS = ("attributes", "audience")


def _canonical_text(frame: pd.DataFrame) -> pd.DataFrame:
    """The canonical CSV layout: lists joined with '|', dicts as JSON, ISO UTC times, true/false."""
    out = frame.copy()
    for name in out.columns:
        col = out[name]
        if name in _LIST_COLUMNS:
            out[name] = col.map(lambda v: "|".join(str(x) for x in v) if isinstance(v, list) else v)
        elif name in _DICT_COLUMNS:
            out[name] = col.map(
                lambda v: (
                    json.dumps(v, ensure_ascii=False, sort_keys=True)
                    if isinstance(v, dict)
                    else None
                )
            )
        elif isinstance(col.dtype, pd.DatetimeTZDtype):
            text = col.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            out[name] = text.where(col.notna(), None)
        elif pd.api.types.is_bool_dtype(col.dtype):
            out[name] = np.where(col.to_numpy(), "true", "false")
    return out


def _for_parquet(frame: pd.DataFrame) -> pd.DataFrame:
    """Parquet keeps lists as list columns; dicts become JSON text (schemas differ per row)."""
    out = frame.copy()
    for name in out.columns:
        if name in _DICT_COLUMNS:
            out[name] = out[name].map(
                lambda v: (
                    json.dumps(v, ensure_ascii=False, sort_keys=True)
                    if isinstance(v, dict)
                    else None
                )
            )
    return out


def _write_table(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "csv":
        _canonical_text(frame).to_csv(path, index=False)
    else:
        _for_parquet(frame).to_parquet(path, index=False)


def write_shop(
    shop: SyntheticShop | ShopConfig,
    out_dir: str | Path,
    fmt: str = "csv",
    *,
    chunk_rows: int = 250_000,
) -> dict[str, Path]:
    """Write a shop as canonical files: ``users``, ``items``, ``campaigns``, ``events`` + ``truth/``.

    Parameters
    ----------
    shop
        A generated :class:`SyntheticShop`, or a :class:`ShopConfig`: then the events are generated
        and written chunk by chunk, so memory stays bounded whatever ``n_events`` is.
    out_dir
        Folder to write into (created when missing; existing files are replaced).
    fmt
        ``"csv"`` (header row, canonical column names, lists joined with ``|``, dicts as JSON,
        times as ``YYYY-MM-DDTHH:MM:SSZ``) or ``"parquet"`` (lists as list columns, dicts as JSON).
    chunk_rows
        Rows per written chunk when streaming from a config.

    Returns
    -------
    dict
        Name (``users``, ``items``, ``campaigns``, ``events``, ``truth/<table>``) -> path written.
        The truth tables are always Parquet.
    """
    if fmt not in ("csv", "parquet"):
        raise ValidationError("fmt", "must be 'csv' or 'parquet'", value=fmt)
    out = Path(out_dir)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    if isinstance(shop, ShopConfig):
        world = _build_world(shop)
        tables = {"users": world.users_df, "items": world.items_df, "campaigns": world.campaigns_df}
        truth = world.truth
        chunks: Any = _iter_blocks(world, chunk_rows)
        transition = world.truth.transition
    else:
        tables = {"users": shop.users, "items": shop.items, "campaigns": shop.campaigns}
        truth = shop.truth
        chunks = (
            shop.events.iloc[i : i + chunk_rows]
            for i in range(0, max(len(shop.events), 1), chunk_rows)
        )
        transition = shop.truth.transition
    written: dict[str, Path] = {}
    for name, frame in tables.items():
        path = out / f"{name}.{fmt}"
        _write_table(frame, path, fmt)
        written[name] = path
    events_path = out / f"events.{fmt}"
    _write_events(chunks, events_path, fmt)
    written["events"] = events_path
    for name, frame in truth.frames().items():
        path = out / "truth" / f"{name}.parquet"
        frame.to_parquet(path, index=False)
        written[f"truth/{name}"] = path
    meta = out / "truth" / "transition.json"
    meta.write_text(json.dumps(transition, indent=2, sort_keys=True), encoding="utf-8")
    written["truth/transition"] = meta
    return written


def _write_events(chunks: Iterator[pd.DataFrame], path: Path, fmt: str) -> None:
    if fmt == "csv":
        with path.open("wb") as fh:
            header = True
            for chunk in chunks:
                fh.write(_events_csv(chunk, header=header))
                header = False
            if header:
                fh.write(_events_csv(_empty_events(), header=True))
        return
    writer: Any = None
    schema: Any = None
    try:
        for chunk in chunks:
            table = pa.Table.from_pandas(chunk, preserve_index=False, schema=schema)
            if writer is None:
                schema = _events_schema(table.schema)
                table = table.cast(schema)
                writer = pq.ParquetWriter(path, schema)
            writer.write_table(table)
        if writer is None:
            _empty_events().to_parquet(path, index=False)
    finally:
        if writer is not None:
            writer.close()


def _events_csv(chunk: pd.DataFrame, *, header: bool) -> bytes:
    """One chunk of events in the canonical CSV layout (pyarrow's writer; pandas when quoting)."""
    table = pa.Table.from_pandas(chunk, preserve_index=False)
    table = table.cast(_events_schema(table.schema))
    at = table.schema.get_field_index("timestamp")
    seconds = pc.cast(table.column(at), pa.timestamp("s", tz="UTC"))
    table = table.set_column(at, "timestamp", pc.strftime(seconds, format="%Y-%m-%dT%H:%M:%SZ"))
    out = pa.BufferOutputStream()
    options = pacsv.WriteOptions(include_header=header, quoting_style="none", quoting_header="none")
    try:
        pacsv.write_csv(table, out, options)
    except pa.ArrowInvalid:  # a value needs quoting (a comma or quote in a query, say)
        return _canonical_text(chunk).to_csv(index=False, header=header).encode("utf-8")
    return bytes(out.getvalue())


def _events_schema(inferred: Any) -> Any:
    """A fixed schema for every chunk (an all-null column in the first chunk must not pin it)."""
    text = {
        "event_id",
        "user_id",
        "event_type",
        "item_id",
        "campaign_id",
        "query",
        "session_id",
        "order_id",
        "device",
        "page",
        "policy",
        "variant",
    }
    fields = []
    for f in inferred:
        if f.name in text:
            fields.append(pa.field(f.name, pa.string()))
        elif f.name in ("quantity", "price", "revenue", "propensity"):
            fields.append(pa.field(f.name, pa.float64()))
        elif f.name == "position":
            fields.append(pa.field(f.name, pa.int64()))
        else:
            fields.append(f)
    return pa.schema(fields)
