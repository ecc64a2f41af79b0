"""Behavioural segments on Spark: the local segment definition, fitted on the driver, assigned
in parallel.

FALLBACK: the local segmentation (:func:`campaignrec.profiles.segments.fit_segments`) clusters
weighted blocks of shrunk rates and picks k among stable refits; an earlier version of this module
ran MLlib K-Means on the previous local features. Until MLlib runs the current definition, the
profile table (one row per user, aggregated on Spark) is fitted on the driver by the local
function, so both engines give the same segments; :func:`assign_segments_spark` assigns them in
each partition with the local :func:`~campaignrec.profiles.segments.assign_segments`.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from campaignrec.profiles.segments import (
    _FILL_WITH_MAX,
    LOG_FEATURES,
    SegmentConfig,
    SegmentModel,
    assign_segments,
)

_VEC = "__z"
#: MLlib K-Means fits submitted at once (restarts, and the k of the range).
PARALLEL_FITS = 4


def _clean(col: str) -> Any:
    """A profile column as a double with NaN read as missing."""
    from pyspark.sql import functions as F

    v = F.col(col).cast("double")
    return F.when(F.isnan(v), F.lit(None)).otherwise(v)


def _fill_values(profiles: Any, features: list[str]) -> dict[str, float]:
    from pyspark.sql import functions as F

    aggs = []
    for f in features:
        v = _clean(f)
        aggs += [
            F.count(v).alias(f"{f}__n"),
            F.max(v).alias(f"{f}__max"),
            F.percentile(v, F.lit(0.5)).alias(f"{f}__median"),
        ]
    row = profiles.agg(*aggs).first()
    fill: dict[str, float] = {}
    for f in features:
        if not row[f"{f}__n"]:
            fill[f] = 0.0
        elif f in _FILL_WITH_MAX:
            fill[f] = float(row[f"{f}__max"]) + 1.0
        else:
            fill[f] = float(row[f"{f}__median"])
    return fill


def _transformed(profiles: Any, features: list[str], fill: dict[str, float]) -> list[Any]:
    from pyspark.sql import functions as F

    cols = []
    for f in features:
        v = F.coalesce(_clean(f), F.lit(fill[f]))
        cols.append(F.log1p(F.greatest(v, F.lit(0.0))) if f in LOG_FEATURES else v)
    return cols


def fit_segments_spark(
    spark: Any,
    profiles: Any,
    config: SegmentConfig | None = None,
    *,
    previous: SegmentModel | None = None,
    k: int | None = None,
) -> SegmentModel:
    """Fit segments on a Spark profile table (:func:`campaignrec.engines.spark.profiles.spark_profiles`).

    FALLBACK: the local segmentation now clusters blocks of shrunk rates with weights and picks k
    among stable refits (:func:`campaignrec.profiles.segments.fit_segments`); until MLlib runs
    that same definition, the profile table (one row per user, already aggregated on Spark) is
    brought to the driver and fitted by the local function, so both engines give the same
    segments. Assignment stays distributed (:func:`assign_segments_spark`).
    """
    from campaignrec.profiles.segments import fit_segments

    frame = profiles.toPandas() if hasattr(profiles, "toPandas") else pd.DataFrame(profiles)
    return fit_segments(frame, config, previous=previous, k=k)


def assign_segments_spark(profiles: Any, model: SegmentModel) -> Any:
    """The profile table with ``segment``, ``segment_name`` and ``segment_name_zh`` columns,
    assigned in each partition by the local :func:`~campaignrec.profiles.segments.assign_segments`."""
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    profiles = profiles.drop("segment", "segment_name", "segment_name_zh")
    schema = StructType(
        [
            *profiles.schema.fields,
            StructField("segment", LongType()),
            StructField("segment_name", StringType()),
            StructField("segment_name_zh", StringType()),
        ]
    )

    def run(batches: Any) -> Any:
        for b in batches:
            out = assign_segments(b, model)
            out["segment"] = out["segment"].astype("int64")
            yield out

    return profiles.mapInPandas(run, schema)


def segment_sizes(assigned: Any) -> pd.DataFrame:
    """Users per segment (``segment``, ``n_users``), on the driver."""
    return assigned.groupBy("segment").count().toPandas().rename(columns={"count": "n_users"})
