"""Behavioural segments on Spark: the local segment definition, with MLlib K-Means.

The features are those of :func:`campaignrec.profiles.segments.fit_segments` (weighted blocks of
shrunk rates, log1p of heavy-tailed columns, z-scores), computed in partitions by the local
functions; what depends on every user (the shop's rates that fill undefined rows, medians, the
scaler, the descriptors' means) is aggregated over the whole table. Each k of the range is then
fitted by MLlib's K-Means (``pyspark.mllib.clustering.KMeans``, Lloyd's iterations distributed
over all users) and k is chosen by the local rule: the best silhouette among the k whose refits on
subsamples agree (stability), both measured on a driver-side sample of at most
``silhouette_sample`` users, as the local engine measures them.

Initialisation. MLlib's own ``k-means||`` seeding draws other starting points than scikit-learn's
k-means++ and, on clusters that are not well separated, ends in other local optima (ARI 0.94-0.99
against the local fit on the test shop). So each of the ``n_init`` restarts starts from the
k-means++ seeds that scikit-learn's ``KMeans(random_state=seed)`` draws (``kmeans_plusplus`` with
the same random state, consumed in the same order), computed on the driver over the fit sample
(every user up to ``fit_sample``, the local engine's own sample), and passed to MLlib as its
``initialModel``; MLlib runs Lloyd's iterations to a fixed point and the restart of the lowest
cost wins. On the same features and seed this gives the local partition (ARI = 1,
tests/engines/test_spark_segments.py). Above ``fit_sample`` users the seeds come from a seeded
sample of that size and MLlib fits every user, where the local engine fits the sample.

Ids, names and descriptions are the local code's (:func:`~campaignrec.profiles.segments.stable_ids`,
:func:`~campaignrec.profiles.segments.name_segments`); :func:`assign_segments_spark` assigns in
each partition with :func:`~campaignrec.profiles.segments.assign_segments`.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from campaignrec.data.schema import USER_ID
from campaignrec.errors import ValidationError
from campaignrec.profiles.segments import (
    FILL_WITH_MAX,
    FILL_WITH_ZERO,
    SegmentConfig,
    SegmentModel,
    assign_segments,
    block_weights,
    choose_k,
    describe_matrix,
    feature_available,
    name_segments,
    nearest_centroid,
    rate_parts,
    stability_score,
    stable_ids,
    transform_features,
)

#: MLlib K-Means fits submitted at once (the restarts and the k of the range).
PARALLEL_FITS = 4
#: Lloyd iterations at most (scikit-learn's default); MLlib stops earlier at a fixed point.
MAX_ITERATIONS = 300
_ZW = "__zw"

Partial = dict[str, NDArray[np.float64]]


def _pack(part: Partial) -> bytes:
    """A partial as ``.npz`` bytes: float arrays only (read back with ``allow_pickle=False``)."""
    buf = io.BytesIO()
    arrays: dict[str, Any] = {k: np.asarray(v, dtype=np.float64) for k, v in part.items()}
    np.savez(buf, **arrays)
    return buf.getvalue()


def _unpack(data: bytes) -> Partial:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def _reduce(profiles: Any, fn: Callable[[pd.DataFrame], Partial]) -> Partial:
    """Sum of ``fn`` over the Arrow batches of ``profiles`` (partial sums, counts, maxima).

    Keys ending in ``__max`` are combined by maximum, the others by sum.
    """

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for b in batches:
            yield pd.DataFrame({"p": [_pack(fn(b))]})

    out: Partial = {}
    for row in profiles.mapInPandas(run, "p binary").collect():
        part = _unpack(row["p"])
        for k, v in part.items():
            if k not in out:
                out[k] = np.asarray(v, dtype=np.float64)
            elif k.endswith("__max"):
                out[k] = np.fmax(out[k], v)
            else:
                out[k] = out[k] + v
    return out


def _fill_values(profiles: Any, features: list[str]) -> dict[str, float]:
    """:func:`campaignrec.profiles.segments.learn_fill` over the whole table."""
    from pyspark.sql import functions as F

    rates = [f for f in features if rate_parts(_empty(profiles), f) is not None]
    plain = [f for f in features if f not in rates]

    def sums(b: pd.DataFrame) -> Partial:
        out: Partial = {}
        for f in rates:
            parts = rate_parts(b, f)
            assert parts is not None
            out[f"{f}__num"] = np.array(parts[0].sum())
            out[f"{f}__den"] = np.array(parts[1].sum())
        return out

    got = _reduce(profiles, sums) if rates else {}
    fill: dict[str, float] = {}
    for f in rates:
        total = float(got.get(f"{f}__den", 0.0))
        fill[f] = float(got[f"{f}__num"] / total) if total > 0 else 0.0
    if plain:
        aggs = []
        for f in plain:
            v = F.col(f).cast("double")
            v = F.when(F.isnan(v) | (F.abs(v) == float("inf")), F.lit(None)).otherwise(v)
            aggs += [
                F.count(v).alias(f"{f}__n"),
                F.max(v).alias(f"{f}__max"),
                F.percentile(v, F.lit(0.5)).alias(f"{f}__median"),
            ]
        row = profiles.agg(*aggs).first()
        for f in plain:
            if f in FILL_WITH_ZERO or not row[f"{f}__n"]:
                fill[f] = 0.0
            elif f in FILL_WITH_MAX:
                fill[f] = float(row[f"{f}__max"]) + 1.0
            else:
                fill[f] = float(row[f"{f}__median"])
    return {f: fill[f] for f in features}


def _empty(profiles: Any) -> pd.DataFrame:
    return pd.DataFrame(columns=list(profiles.columns))


def _scaler(
    profiles: Any, features: list[str], fill: dict[str, float]
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64], int]:
    """Mean, population standard deviation and max |x| of the model-space features (two passes)."""

    def first(b: pd.DataFrame) -> Partial:
        x = transform_features(b, features, fill)
        return {
            "n": np.array(float(len(x))),
            "sum": x.sum(axis=0),
            "abs__max": np.abs(x).max(axis=0) if len(x) else np.zeros(len(features)),
        }

    a = _reduce(profiles, first)
    n = int(a["n"])
    if n == 0:
        return np.zeros(len(features)), np.zeros(len(features)), np.zeros(len(features)), 0
    mean = a["sum"] / n

    def second(b: pd.DataFrame) -> Partial:
        x = transform_features(b, features, fill)
        return {"ss": ((x - mean) ** 2).sum(axis=0)}

    ss = _reduce(profiles, second)["ss"]
    return mean, np.sqrt(ss / n), a["abs__max"], n


def _weighted_z(
    features: list[str],
    fill: dict[str, float],
    mean: NDArray[np.float64],
    scale: NDArray[np.float64],
    weights: NDArray[np.float64],
) -> Callable[[pd.DataFrame], NDArray[np.float64]]:
    def zw(b: pd.DataFrame) -> NDArray[np.float64]:
        return (transform_features(b, features, fill) - mean) / scale * weights

    return zw


def _zw_frame(profiles: Any, zw: Callable[[pd.DataFrame], NDArray[np.float64]]) -> Any:
    """``user_id`` and the weighted z-scores (an array column) of every user."""

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for b in batches:
            z = zw(b)
            ids = b[USER_ID].astype(str) if USER_ID in b.columns else pd.Series([""] * len(b))
            yield pd.DataFrame({USER_ID: ids.to_numpy(), _ZW: list(z)})

    return profiles.mapInPandas(run, f"{USER_ID} string, {_ZW} array<double>")


def _fit_sample(zw_df: Any, n: int, cfg: SegmentConfig) -> NDArray[np.float64]:
    """The users the local engine fits on, on the driver, in user order: all of them up to
    ``fit_sample``, else a seeded sample of about that size."""
    df = zw_df
    if n > cfg.fit_sample:
        df = zw_df.sample(fraction=min(1.0, 1.05 * cfg.fit_sample / n), seed=cfg.seed)
    rows = df.toPandas().sort_values(USER_ID, kind="mergesort")
    z = np.array(rows[_ZW].tolist(), dtype=np.float64).reshape(len(rows), -1)
    if len(z) > cfg.fit_sample:
        keep = np.sort(np.random.default_rng(cfg.seed).choice(len(z), cfg.fit_sample, False))
        z = z[keep]
    return z


def kmeans_plus_plus_seeds(
    x: NDArray[np.float64], k: int, n_init: int, seed: int
) -> list[NDArray[np.float64]]:
    """The ``n_init`` k-means++ starting centroids that ``sklearn.cluster.KMeans(n_clusters=k,
    n_init=n_init, random_state=seed).fit(x)`` draws: the same centred data, the same random
    state consumed in the same order."""
    from sklearn.cluster import kmeans_plusplus
    from sklearn.utils.extmath import row_norms

    x_mean = x.mean(axis=0)
    xc = x - x_mean
    norms = row_norms(xc, squared=True)
    rs = np.random.RandomState(seed)
    return [
        kmeans_plusplus(xc, k, x_squared_norms=norms, random_state=rs)[0] + x_mean
        for _ in range(n_init)
    ]


def _mllib_fit(vectors: Any, init: NDArray[np.float64]) -> tuple[NDArray[np.float64], float]:
    from pyspark.mllib.clustering import KMeans, KMeansModel

    model = KMeans.train(
        vectors,
        len(init),
        maxIterations=MAX_ITERATIONS,
        initialModel=KMeansModel([np.asarray(c) for c in init]),
        epsilon=0.0,  # to a fixed point: every centre stays where it is
    )
    centers = np.array([np.asarray(c) for c in model.clusterCenters], dtype=np.float64)
    return centers, float(model.computeCost(vectors))


def _nearest(x: NDArray[np.float64], centers: NDArray[np.float64]) -> NDArray[np.int64]:
    d = ((x[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    return np.asarray(d.argmin(axis=1), dtype=np.int64)


def _best_fits(
    vectors: Any, seeds: dict[int, list[NDArray[np.float64]]]
) -> dict[int, NDArray[np.float64]]:
    """Per k, the centres of the MLlib restart with the lowest cost (the first on a tie)."""
    jobs = [(k, i, init) for k, inits in seeds.items() for i, init in enumerate(inits)]
    with ThreadPoolExecutor(max_workers=PARALLEL_FITS) as pool:
        results = list(pool.map(lambda j: _mllib_fit(vectors, j[2]), jobs))
    best: dict[int, tuple[float, NDArray[np.float64]]] = {}
    for (k, _, _), (centers, cost) in zip(jobs, results, strict=True):
        if k not in best or cost < best[k][0] * (1.0 - 1e-12):
            best[k] = (cost, centers)
    return {k: c for k, (_, c) in best.items()}


def _describe_spark(
    model: SegmentModel,
    profiles: Any,
    zw: Callable[[pd.DataFrame], NDArray[np.float64]],
    cfg: SegmentConfig,
) -> None:
    """The local ``_describe`` over the whole table: descriptor scaler and segment means."""
    cols = list(profiles.columns)
    feats = [f for f in cfg.describe if f in cols and f not in model.features_]
    k = len(model.centroids_)
    if not feats:
        model.describe_, model.describe_mean_, model.describe_scale_ = [], np.zeros(0), np.zeros(0)
        model.describe_centroids_ = np.zeros((k, 0))
        return
    weights = model.weights_

    def first(b: pd.DataFrame) -> Partial:
        d = describe_matrix(b, feats)
        labels = nearest_centroid(zw(b) / weights, model)
        ok = np.isfinite(d)
        v = np.where(ok, d, 0.0)
        one_hot = np.eye(k)[labels] if len(labels) else np.zeros((0, k))
        return {
            "n": ok.sum(axis=0).astype(float),
            "sum": v.sum(axis=0),
            "seg_n": one_hot.T @ ok.astype(float),
            "seg_sum": one_hot.T @ v,
        }

    a = _reduce(profiles, first)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_all = np.where(a["n"] > 0, a["sum"] / np.maximum(a["n"], 1.0), np.nan)

    def second(b: pd.DataFrame) -> Partial:
        d = describe_matrix(b, feats)
        ok = np.isfinite(d)
        return {"ss": np.where(ok, (d - mean_all) ** 2, 0.0).sum(axis=0)}

    ss = _reduce(profiles, second)["ss"]
    spread = np.sqrt(ss / np.maximum(a["n"], 1.0))
    usable = (a["n"] >= 2) & (np.nan_to_num(spread) > 0)
    mean = mean_all[usable]
    scale = spread[usable]
    scale = np.where(scale > 0, scale, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        seg_mean = a["seg_sum"][:, usable] / a["seg_n"][:, usable]
    model.describe_ = [f for f, u in zip(feats, usable, strict=True) if u]
    model.describe_mean_, model.describe_scale_ = mean, scale
    model.describe_centroids_ = np.nan_to_num((seg_mean - mean) / scale, nan=0.0)


def fit_segments_spark(
    spark: Any,
    profiles: Any,
    config: SegmentConfig | None = None,
    *,
    previous: SegmentModel | None = None,
    k: int | None = None,
) -> SegmentModel:
    """Fit segments on a Spark profile table (:func:`campaignrec.engines.spark.profiles.spark_profiles`)
    with MLlib K-Means, by the definition and k rule of
    :func:`campaignrec.profiles.segments.fit_segments`.

    Parameters
    ----------
    spark
        The session.
    profiles
        The profile table (a Spark DataFrame, one row per user).
    config, previous, k
        As in the local function: settings, last run's model (stable ids), a forced k.

    Returns
    -------
    The fitted :class:`~campaignrec.profiles.segments.SegmentModel` (the local class and file).
    """
    from pyspark import StorageLevel
    from pyspark.mllib.linalg import Vectors
    from sklearn.metrics import silhouette_score

    cfg = config or SegmentConfig()
    candidates = [f for f in cfg.features if feature_available(_empty(profiles), f)]
    if not candidates:
        raise ValidationError(
            "features",
            "none of the segment features is in the profiles",
            value=list(cfg.features),
            hint="compute profiles first",
        )
    n = profiles.count()
    if n < cfg.k_min + 1:
        raise ValidationError("profiles", f"need more than {cfg.k_min} users to segment", value=n)
    fill = _fill_values(profiles, candidates)
    _, scale, abs_max, _ = _scaler(profiles, candidates, fill)
    keep = scale > 1e-12 * np.maximum(1.0, abs_max)
    if not keep.any():
        raise ValidationError(
            "profiles",
            "every segment feature is the same for all users: nothing to segment by",
            value=candidates,
        )
    features = [f for f, kp in zip(candidates, keep, strict=True) if kp]
    fill = {f: fill[f] for f in features}
    mean, scale, _, _ = _scaler(profiles, features, fill)
    weights = block_weights(features, cfg.balance_blocks)
    zw = _weighted_z(features, fill, mean, scale, weights)
    zw_df = _zw_frame(profiles, zw).persist(StorageLevel.MEMORY_AND_DISK)
    zf = _fit_sample(zw_df, n, cfg)
    rng = np.random.default_rng(cfg.seed)
    eval_rows = (
        rng.choice(len(zf), size=cfg.silhouette_sample, replace=False)
        if len(zf) > cfg.silhouette_sample
        else np.arange(len(zf))
    )
    xs = zf[eval_rows]
    ks = [k] if k is not None else list(range(cfg.k_min, min(cfg.k_max, len(zf) - 1) + 1))
    seeds = {kk: kmeans_plus_plus_seeds(zf, kk, cfg.n_init, cfg.seed) for kk in ks}
    vectors = zw_df.rdd.map(lambda r: Vectors.dense(r[1])).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        fits = _best_fits(vectors, seeds)
    finally:
        vectors.unpersist()
        zw_df.unpersist()
    silhouette: dict[int, float] = {}
    stability: dict[int, float] = {}
    for kk in ks:  # in the local order: the stability refits draw from the same generator
        labels = _nearest(xs, fits[kk])
        silhouette[kk] = float(silhouette_score(xs, labels)) if len(np.unique(labels)) > 1 else -1.0
        if k is None:
            stab = stability_score(xs, kk, labels, cfg, rng)
            if np.isfinite(stab):
                stability[kk] = stab
    best_k = k if k is not None else choose_k(silhouette, stability, cfg.min_stability)
    model = SegmentModel(cfg)
    model.features_, model.mean_, model.scale_ = features, mean, scale
    model.fill_ = fill
    model.weights_ = weights
    model.silhouette_, model.stability_, model.k_ = silhouette, stability, best_k
    model.centroids_ = fits[best_k] / weights
    model.segment_ids_ = list(range(best_k))
    _describe_spark(model, profiles, zw, cfg)
    order, ids = stable_ids(model, previous)
    model.centroids_ = model.centroids_[order]
    model.describe_centroids_ = model.describe_centroids_[order]
    model.segment_ids_ = ids
    name_segments(model)
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
