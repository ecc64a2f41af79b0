"""Behavioural segments on Spark: MLlib K-Means on the local segment features, local naming.

The features, their fill values (median, or max + 1 for "never" recencies), the log1p of heavy
tails and the standardisation are those of :func:`campaignrec.profiles.segments.fit_segments`,
computed over the whole profile table in Spark. K-Means is MLlib's (k-means|| initialisation,
seeded, the best of ``n_init`` seeded runs by cost as scikit-learn keeps the best inertia); each k
of the range is scored by scikit-learn's silhouette on a sample of at most ``silhouette_sample``
users brought to the driver, as the local engine scores it. To keep the number of MLlib fits
down, each k is scored on one run and only the chosen k is refitted with ``n_init`` runs (the
local engine runs ``n_init`` for every k; the silhouette curves agree closely, tests/engines). The centroids
then go through the local stable-id matching and naming, so a Spark run yields a
:class:`~campaignrec.profiles.segments.SegmentModel` that saves, loads and assigns like a local
one, and segment ids stay stable across runs of either engine.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import silhouette_score

from campaignrec.errors import ValidationError
from campaignrec.profiles.segments import (
    _FILL_WITH_MAX,
    LOG_FEATURES,
    SegmentConfig,
    SegmentModel,
    _name_segments,
    _stable_ids,
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

    Parameters and result as :func:`campaignrec.profiles.segments.fit_segments`.
    """
    from pyspark.ml.clustering import KMeans
    from pyspark.ml.feature import VectorAssembler
    from pyspark.sql import functions as F

    cfg = config or SegmentConfig()
    features = [f for f in cfg.features if f in profiles.columns]
    if not features:
        raise ValidationError(
            "features",
            "none of the segment features is in the profiles",
            value=list(cfg.features),
            hint="compute profiles first",
        )
    n = profiles.count()
    if n < cfg.k_min + 1:
        raise ValidationError("profiles", f"need more than {cfg.k_min} users to segment", value=n)
    fill = _fill_values(profiles, features)
    x = profiles.select(
        *[c.alias(f) for c, f in zip(_transformed(profiles, features, fill), features, strict=True)]
    )
    stats = x.agg(
        *[F.avg(f).alias(f"{f}__mean") for f in features],
        *[F.stddev_pop(f).alias(f"{f}__std") for f in features],
    ).first()
    mean = np.array([float(stats[f"{f}__mean"]) for f in features])
    std = np.array([float(stats[f"{f}__std"] or 0.0) for f in features])
    scale = np.where(std > 0, std, 1.0)
    z = x.select(
        *[
            ((F.col(f) - float(m)) / float(s)).alias(f)
            for f, m, s in zip(features, mean, scale, strict=True)
        ]
    )
    vec = VectorAssembler(inputCols=features, outputCol=_VEC).transform(z).select(_VEC)
    fit_rows = vec.sample(fraction=cfg.fit_sample / n, seed=cfg.seed) if n > cfg.fit_sample else vec
    fit_rows = fit_rows.persist()
    n_fit = fit_rows.count()
    sil = fit_rows
    if n_fit > cfg.silhouette_sample:
        sil = fit_rows.sample(fraction=min(1.0, 1.1 * cfg.silhouette_sample / n_fit), seed=cfg.seed)
    sil_pdf = sil.limit(cfg.silhouette_sample).toPandas()
    sil_x = np.asarray([v.toArray() for v in sil_pdf[_VEC]], dtype=float)
    ks = [k] if k is not None else list(range(cfg.k_min, min(cfg.k_max, n_fit - 1) + 1))

    def one(kk: int, run: int) -> tuple[float, np.ndarray]:
        km = KMeans(k=kk, seed=cfg.seed + run, featuresCol=_VEC, maxIter=100, tol=1e-6)
        fitted = km.fit(fit_rows)
        return float(fitted.summary.trainingCost), np.asarray(fitted.clusterCenters(), dtype=float)

    def kmeans_many(jobs: list[tuple[int, int]]) -> list[tuple[float, np.ndarray]]:
        # MLlib fits are many small jobs: submitting several at once keeps the executors busy
        with ThreadPoolExecutor(max_workers=PARALLEL_FITS) as pool:
            return list(pool.map(lambda job: one(*job), jobs))

    def kmeans(kk: int, runs: int) -> np.ndarray:
        # scikit-learn keeps the best of n_init seeded runs by inertia; so do we, by MLlib's cost
        return min(kmeans_many([(kk, r) for r in range(runs)]), key=lambda f: f[0])[1]

    silhouette: dict[int, float] = {}
    best: tuple[float, int, np.ndarray] | None = None
    # with several k, each is scored on one seeded run and the chosen k refitted with n_init
    # runs: n_init + len(ks) MLlib fits instead of n_init x len(ks)
    first_runs = cfg.n_init if len(ks) == 1 else 1
    firsts = (
        [kmeans(ks[0], first_runs)]
        if len(ks) == 1
        else [c for _, c in kmeans_many([(kk, 0) for kk in ks])]
    )
    for kk, centers in zip(ks, firsts, strict=True):
        d = ((sil_x[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
        labels = d.argmin(axis=1)
        score = float(silhouette_score(sil_x, labels)) if len(np.unique(labels)) > 1 else -1.0
        silhouette[kk] = score
        if best is None or score > best[0]:
            best = (score, kk, centers)
    assert best is not None
    if first_runs < cfg.n_init:
        best = (best[0], best[1], kmeans(best[1], cfg.n_init))
    fit_rows.unpersist()
    model = SegmentModel(cfg)
    model.features_, model.fill_, model.mean_, model.scale_ = features, fill, mean, scale
    model.silhouette_, model.k_ = silhouette, best[1]
    model.centroids_, model.segment_ids_ = _stable_ids(best[2], features, mean, scale, previous)
    _name_segments(model)
    return model


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
