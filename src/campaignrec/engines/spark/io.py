"""Input of the Spark engine: users, items and events from Parquet, validated by the local rules.

A table is one Parquet file, a directory of files, or a partitioned dataset (``events/dt=.../``),
in the canonical layout or through a mapping (:class:`campaignrec.data.mapping.Mapping`). The
rows are validated by :func:`campaignrec.data.validation.validate_frame` itself, run on each Arrow
batch inside the executors (one definition of the rules, two executors): good rows come back
typed in the canonical layout, bad ones as quarantine rows (``source`` = the file, ``line`` = the
1-based row in it, as the local Parquet importer writes them). What a batch cannot see is done
over the whole dataset in Spark: a repeated ``event_id`` in another batch or file is a
``duplicate`` (the first copy by file and row wins, as a local import of the files in that order
keeps it), and for users and items the last row of a key wins.

Two private columns travel with every good row: ``__file`` and ``__row`` (its place in the
input), the order the local engine sees the rows in.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa

from campaignrec.data.columns import QUARANTINE_COLUMNS, Kind
from campaignrec.data.mapping import Mapping
from campaignrec.data.schema import KEY_COLUMN
from campaignrec.data.validation import (
    CANONICAL_COLUMNS,
    COLUMN_KINDS,
    DUPLICATE,
    ValidationOptions,
    validate_frame,
)
from campaignrec.errors import ConfigError, ValidationError

FILE_COL = "__file"
ROW_COL = "__row"
_KIND_COL = "__kind"
_Q = "q_"  # prefix of the quarantine columns inside the combined UDF output

#: Spark SQL type of each column kind (lists of text, dicts as JSON text).
SPARK_TYPES: dict[Kind, str] = {
    "id": "string",
    "str": "string",
    "float": "double",
    "int": "bigint",
    "bool": "boolean",
    "datetime": "timestamp",
    "list": "array<string>",
    "dict": "string",
}
_ARROW_TYPES: dict[Kind, pa.DataType] = {
    "id": pa.string(),
    "str": pa.string(),
    "float": pa.float64(),
    "int": pa.int64(),
    "bool": pa.bool_(),
    "datetime": pa.timestamp("us", tz="UTC"),
    "list": pa.list_(pa.string()),
    "dict": pa.string(),
}
ENTITY_FILES = ("users", "items", "events")


@dataclass
class SparkTable:
    """A validated table: good rows (Spark DataFrame, canonical columns + ``__file``/``__row``)
    and the quarantine (Spark DataFrame with :data:`QUARANTINE_COLUMNS`)."""

    entity: str
    valid: Any
    quarantine: Any

    def canonical(self) -> Any:
        """The good rows without the private order columns."""
        return self.valid.drop(FILE_COL, ROW_COL)


def canonical_ddl(entity: str) -> str:
    """The Spark schema (DDL) of an entity's canonical columns, derived from its column kinds."""
    return ", ".join(f"`{c}` {SPARK_TYPES[k]}" for c, k in COLUMN_KINDS[entity].items())


def _arrow_schema(entity: str) -> pa.Schema:
    fields = [pa.field(_KIND_COL, pa.string()), pa.field(FILE_COL, pa.string())]
    fields.append(pa.field(ROW_COL, pa.int64()))
    fields += [pa.field(c, _ARROW_TYPES[k]) for c, k in COLUMN_KINDS[entity].items()]
    fields += [
        pa.field(_Q + c, pa.int64() if c == "line" else pa.string()) for c in QUARANTINE_COLUMNS
    ]
    return pa.schema(fields)


def _combined_ddl(entity: str) -> str:
    parts = [f"`{_KIND_COL}` string", f"`{FILE_COL}` string", f"`{ROW_COL}` bigint"]
    parts.append(canonical_ddl(entity))
    parts += [f"`{_Q}{c}` {'bigint' if c == 'line' else 'string'}" for c in QUARANTINE_COLUMNS]
    return ", ".join(parts)


def _exists(spark: Any, location: str) -> bool:
    """Whether a path exists: the local file system, or Hadoop's for a URI (hdfs://, s3a://)."""
    if location.startswith("file:"):
        return Path(source_name(location)).exists()
    if "://" not in location:
        return Path(location).exists()
    if spark is None:
        return True
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(location)
    fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    return bool(fs.exists(path))


def resolve_table(root: str | Path, entity: str, spark: Any = None) -> str | None:
    """Where ``entity`` lies under an input directory: ``<root>/<entity>.parquet`` (a file or a
    dataset directory) or ``<root>/<entity>/``; None when absent. ``root`` may be a URI."""
    base = str(root).rstrip("/")
    for cand in (f"{base}/{entity}.parquet", f"{base}/{entity}"):
        if _exists(spark, cand):
            return cand
    return None


def _json_text(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, str):
        return v
    return json.dumps(v, ensure_ascii=False, sort_keys=True, default=str)


def _list_text(v: Any) -> list[str] | None:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return None
    return [str(x) for x in list(v)]


def _valid_rows(entity: str, valid: pd.DataFrame, lines: np.ndarray) -> pa.Table:
    """The good rows of one validated part as an Arrow table of the combined layout."""
    n = len(valid)
    schema = _arrow_schema(entity)
    arrays: list[pa.Array] = []
    for f in schema:
        name = f.name
        if name == _KIND_COL:
            arrays.append(pa.array(["v"] * n, pa.string()))
        elif name == ROW_COL:
            arrays.append(pa.array(lines - 1, pa.int64()))
        elif name == FILE_COL or name.startswith(_Q) or name not in valid.columns:
            arrays.append(pa.nulls(n, f.type))
        else:
            kind = COLUMN_KINDS[entity][name]
            s = valid[name]
            if kind == "dict":
                arrays.append(pa.array([_json_text(v) for v in s], pa.string()))
            elif kind == "list":
                arrays.append(pa.array([_list_text(v) for v in s], f.type))
            elif kind == "datetime":
                ts = pd.to_datetime(s, utc=True).astype("datetime64[us, UTC]")
                arrays.append(pa.array(ts, f.type))
            elif kind in ("id", "str"):
                arrays.append(pa.array(s.astype(object).where(s.notna(), None), pa.string()))
            else:
                arrays.append(pa.array(s, f.type, from_pandas=True))
    return pa.Table.from_arrays(arrays, schema=schema)


def _quarantine_rows(entity: str, q: pd.DataFrame) -> pa.Table:
    schema = _arrow_schema(entity)
    n = len(q)
    arrays: list[pa.Array] = []
    for f in schema:
        if f.name == _KIND_COL:
            arrays.append(pa.array(["q"] * n, pa.string()))
        elif f.name.startswith(_Q):
            c = f.name[len(_Q) :]
            arrays.append(pa.array(q[c].tolist(), f.type))
        else:
            arrays.append(pa.nulls(n, f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _kept_lines(entity: str, lines: np.ndarray, data: pl.DataFrame, q: pd.DataFrame) -> np.ndarray:
    """The lines of the rows ``validate_frame`` kept, in its order.

    A rejected row (and, for events, a duplicate) has a quarantine row; for users and items the
    last row of a key among the others is kept (what the validator does).
    """
    flagged = (
        np.isin(lines, q["line"].to_numpy(dtype=np.int64))
        if len(q)
        else np.zeros(len(lines), dtype=bool)
    )
    ok = ~flagged
    if entity != "events":
        key = KEY_COLUMN[entity]
        keys = data[key].cast(pl.String).to_numpy()[ok]
        last = ~pd.Series(keys).duplicated(keep="last").to_numpy()
        idx = np.flatnonzero(ok)[last]
        return lines[idx]
    return lines[ok]


def source_name(file: str) -> str:
    """The name a quarantine row gives its file: a local path as the local importer writes it,
    other URIs (``hdfs://``, ``s3a://``) as they are."""
    if file.startswith("file:"):
        return unquote(urlparse(file).path)
    return file


def _source_column() -> Any:
    """:func:`source_name` as a Spark column expression."""
    from pyspark.sql import functions as F

    local = F.expr(f"url_decode(regexp_replace(`{FILE_COL}`, '^file:(//)?', ''))")
    return F.when(F.col(FILE_COL).startswith("file:"), local).otherwise(F.col(FILE_COL))


def _validator(entity: str, mapping_json: str, options: ValidationOptions) -> Any:
    """The function run by ``mapInArrow`` on every batch of an executor."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        mapping = Mapping.model_validate_json(mapping_json)
        for batch in batches:
            if batch.num_rows == 0:
                continue
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            for (file,), part in frame.group_by(FILE_COL, maintain_order=True):
                lines = part[ROW_COL].to_numpy().astype(np.int64) + 1
                data = mapping.apply(part.drop([FILE_COL, ROW_COL]))
                res = validate_frame(
                    entity, data, source=source_name(str(file)), lines=lines, options=options
                )
                kept = _kept_lines(entity, lines, data, res.quarantine)
                if len(res.valid):
                    table = _valid_rows(entity, res.valid, kept)
                    table = table.set_column(
                        1, FILE_COL, pa.array([str(file)] * table.num_rows, pa.string())
                    )
                    yield from table.to_batches()
                if len(res.quarantine):
                    yield from _quarantine_rows(entity, res.quarantine).to_batches()

    return run


def read_parquet(spark: Any, path: str | Path) -> Any:
    """A Parquet file, directory or partitioned dataset with its ``__file`` / ``__row`` columns."""
    from pyspark.sql import functions as F

    p = str(path)
    if not _exists(spark, p):
        raise ConfigError(f"no Parquet data at {p}", hint="give a .parquet file or a directory")
    df = spark.read.parquet(p)
    return df.select(
        "*",
        F.col("_metadata.file_path").alias(FILE_COL),
        F.col("_metadata.row_index").alias(ROW_COL),
    )


def _check_layout(entity: str, columns: list[str], mapping: Mapping, source: str) -> None:
    from campaignrec.data.importer import check_columns

    empty = pl.DataFrame({c: pl.Series([], dtype=pl.String) for c in columns})
    check_columns(entity, mapping.apply(empty), source)


def validate_table(
    spark: Any,
    path: str | Path,
    entity: str,
    *,
    mapping: Mapping | None = None,
    options: ValidationOptions | None = None,
) -> SparkTable:
    """Read and validate one table on Spark.

    Parameters
    ----------
    spark
        The session (:func:`campaignrec.engines.spark.session.get_session`).
    path
        Parquet file, directory or partitioned dataset.
    entity
        ``users``, ``items``, ``campaigns`` or ``events``.
    mapping
        Source layout (renames, value maps, constants, timestamp format); canonical by default.
    options
        Validation options (default: the mapping's); ``now`` is fixed on the driver so that every
        executor checks future timestamps against the same instant.

    Returns
    -------
    SparkTable
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if entity not in COLUMN_KINDS:
        raise ConfigError(f"entity {entity!r} is unknown", hint="users, items, campaigns, events")
    m = mapping or Mapping()
    opts = options or m.validation_options()
    if opts.now is None:
        opts = replace(opts, now=datetime.now(UTC))
    raw = read_parquet(spark, path)
    data_cols = [c for c in raw.columns if c not in (FILE_COL, ROW_COL)]
    _check_layout(entity, data_cols, m, str(path))
    # nested and binary values reach validate_frame as text, as the local Parquet reader's
    # polars frame would hold them only for flat types
    combined = raw.mapInArrow(
        _validator(entity, m.model_dump_json(), opts), _combined_ddl(entity)
    ).persist()
    canon = list(CANONICAL_COLUMNS[entity])
    valid = combined.where(F.col(_KIND_COL) == "v").select(*canon, FILE_COL, ROW_COL)
    quarantine = combined.where(F.col(_KIND_COL) == "q").select(
        *[F.col(_Q + c).alias(c) for c in QUARANTINE_COLUMNS]
    )
    order = Window.partitionBy(KEY_COLUMN[entity] if entity != "events" else "event_id")
    if entity == "events":
        ranked = valid.withColumn(
            "__n", F.row_number().over(order.orderBy(F.col(FILE_COL), F.col(ROW_COL)))
        )
        dups = ranked.where(F.col("__n") > 1).select(
            _source_column().alias("source"),
            (F.col(ROW_COL) + 1).alias("line"),
            F.lit("events").alias("entity"),
            F.lit("event_id").alias("field"),
            F.col("event_id").alias("value"),
            F.lit(DUPLICATE).alias("reason"),
            F.to_json(F.struct(*[F.col(c) for c in canon])).alias("raw"),
        )
        valid = ranked.where(F.col("__n") == 1).drop("__n")
        quarantine = quarantine.unionByName(dups)
    if entity == "events":
        # every stage reads the good events (counts, the end of the data, profiles, snapshot):
        # deduplicate them once
        valid = valid.persist()
    else:
        ranked = valid.withColumn(
            "__n",
            F.row_number().over(order.orderBy(F.col(FILE_COL).desc(), F.col(ROW_COL).desc())),
        )
        valid = ranked.where(F.col("__n") == 1).drop("__n")
    return SparkTable(entity=entity, valid=valid, quarantine=quarantine)


def write_quarantine(tables: list[SparkTable], directory: str | Path) -> dict[str, int]:
    """Write each table's quarantine to ``<directory>/<entity>.parquet``; rows per entity."""
    out = Path(directory)
    counts: dict[str, int] = {}
    for t in tables:
        q = t.quarantine.cache()
        n = q.count()
        counts[t.entity] = n
        q.coalesce(1).write.mode("overwrite").parquet(str(out / f"{t.entity}.parquet"))
        q.unpersist()
    return counts


@dataclass
class ShopInput:
    """The validated tables of one shop (items and users may be missing)."""

    events: SparkTable
    items: SparkTable | None
    users: SparkTable | None

    def tables(self) -> list[SparkTable]:
        return [t for t in (self.users, self.items, self.events) if t is not None]


def read_shop(
    spark: Any,
    root: str | Path,
    *,
    mappings: dict[str, Mapping] | None = None,
    options: ValidationOptions | None = None,
) -> ShopInput:
    """Validate ``events`` (required), ``items`` and ``users`` found under ``root``."""
    paths = {e: resolve_table(root, e, spark) for e in ENTITY_FILES}
    if paths["events"] is None:
        raise ValidationError(
            "events",
            f"no events under {root}",
            hint="put events.parquet (a file or a dataset directory) there",
        )
    maps = mappings or {}
    tables = {
        e: validate_table(spark, p, e, mapping=maps.get(e), options=options)
        for e, p in paths.items()
        if p is not None
    }
    return ShopInput(events=tables["events"], items=tables.get("items"), users=tables.get("users"))


def export_store(store: Any, directory: str | Path, *, chunk_rows: int = 500_000) -> Path:
    """Write a store's users, items and events as canonical Parquet under ``directory``
    (chunk by chunk, bounded memory): the input of a Spark run on a shop kept in a store."""
    import pyarrow.parquet as pq

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    for entity in ENTITY_FILES:
        target = out / f"{entity}.parquet"
        writer: pq.ParquetWriter | None = None
        schema = pa.schema([pa.field(c, _ARROW_TYPES[k]) for c, k in COLUMN_KINDS[entity].items()])
        for chunk in store.iter_table(entity, chunk_rows=chunk_rows):
            table = _valid_rows(entity, chunk.reset_index(drop=True), np.ones(len(chunk), np.int64))
            table = table.select([f.name for f in schema]).cast(schema)
            if writer is None:
                writer = pq.ParquetWriter(target, schema)
            writer.write_table(table)
        if writer is None:
            if entity == "events":
                raise ValidationError("events", "the store has no events", hint="import first")
            pq.write_table(schema.empty_table(), target)
        else:
            writer.close()
    return out
