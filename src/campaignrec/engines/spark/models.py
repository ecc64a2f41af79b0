"""Models on Spark, written as the local models' artifacts: item-KNN, transition, ALS.

:func:`spark_snapshot` is the Spark counterpart of
:meth:`campaignrec.data.interactions.Interactions.from_frame`: item events with a positive
event-type weight, sorted id maps over events, users and items, timestamps in epoch seconds, the
time decay against the latest event. The item x item work (co-occurrence, transitions) and ALS run
on Spark; the driver receives the results (top neighbours per item, factors) and the per-user
state every served model holds (seen items, histories), and fills an instance of the local model
class, which then saves itself: the artifact is the local format because the local code writes it.

Supported parameters are those the Spark jobs compute exactly as the local model defines them;
others raise a :class:`~campaignrec.errors.ConfigError` naming the parameter (train those locally).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from campaignrec.data.interactions import SECONDS_PER_DAY, IdMap
from campaignrec.data.schema import DEFAULT_EVENT_WEIGHTS, ITEM_ID, TIMESTAMP, USER_ID
from campaignrec.engines.spark.io import FILE_COL, ROW_COL, ShopInput
from campaignrec.errors import CampaignrecError, ConfigError
from campaignrec.models.base import Recommender
from campaignrec.models.factorization import ALS, ALSParams
from campaignrec.models.knn import ItemKNN, KNNParams
from campaignrec.models.transition import ItemTransition, ItemTransitionParams
from campaignrec.models.weighting import apply_weighting

#: The models ``train --engine spark`` can build.
SPARK_MODELS = ("item_knn", "transition", "als")


@dataclass
class SparkSnapshot:
    """Item events on Spark (``u``, ``i`` indices, ``ts`` seconds, ``w`` weight, input order)
    with the id maps and the facts the local snapshot carries."""

    log: Any
    users: IdMap
    items: IdMap
    snapshot_id: str
    n_events: int
    reference_time: int
    half_life_days: float | None
    event_weights: dict[str, float]

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)


def _index_frame(spark: Any, ids: np.ndarray, id_col: str, idx_col: str) -> Any:
    pdf = pd.DataFrame({id_col: ids.astype(str), idx_col: np.arange(len(ids), dtype=np.int64)})
    return spark.createDataFrame(pdf, f"`{id_col}` string, `{idx_col}` bigint")


def spark_snapshot(
    spark: Any,
    shop: ShopInput,
    *,
    event_weights: Mapping[str, float] | None = None,
    half_life_days: float | None = None,
) -> SparkSnapshot:
    """The item-event log of ``shop`` on Spark, as the local snapshot defines it."""
    from pyspark.sql import functions as F

    weights = dict(DEFAULT_EVENT_WEIGHTS if event_weights is None else event_weights)
    ev = shop.events.valid.where(F.col(ITEM_ID).isNotNull())
    wmap = F.create_map(*[x for k, v in weights.items() for x in (F.lit(k), F.lit(float(v)))])
    ev = ev.withColumn("w", F.coalesce(wmap[F.col("event_type")], F.lit(0.0)).cast("float"))
    ev = ev.where(F.col("w") > 0).withColumn(
        "ts", F.floor(F.unix_micros(F.col(TIMESTAMP)) / F.lit(1_000_000)).cast("bigint")
    )
    ev = ev.select(USER_ID, ITEM_ID, "event_type", "ts", "w", FILE_COL, ROW_COL).persist()
    stats = ev.agg(
        F.count(F.lit(1)).alias("n"),
        F.max("ts").alias("end"),
        F.bit_xor(F.xxhash64(USER_ID, ITEM_ID, "event_type", "ts", "w")).alias("h"),
    ).first()
    if stats is None or not stats["n"]:
        raise CampaignrecError(
            "the events have no item events to learn from",
            hint="check the events' item_id and event_type columns",
        )
    user_src = ev.select(USER_ID)
    if shop.users is not None:
        user_src = user_src.unionByName(shop.users.valid.select(USER_ID))
    item_src = ev.select(ITEM_ID)
    if shop.items is not None:
        item_src = item_src.unionByName(shop.items.valid.select(ITEM_ID))
    users = IdMap(np.sort(user_src.distinct().toPandas()[USER_ID].astype(str).to_numpy(object)))
    items = IdMap(np.sort(item_src.distinct().toPandas()[ITEM_ID].astype(str).to_numpy(object)))
    log = (
        ev.join(F.broadcast(_index_frame(spark, items.ids, ITEM_ID, "i")), ITEM_ID)
        .join(_index_frame(spark, users.ids, USER_ID, "u"), USER_ID)
        .select("u", "i", "event_type", "ts", "w", FILE_COL, ROW_COL)
        .persist()
    )
    h = hashlib.blake2b(digest_size=10)
    h.update(f"spark|{stats['n']}|{stats['h']}|{stats['end']}".encode())
    h.update("\x1f".join(map(str, users.ids)).encode())
    h.update("\x1f".join(map(str, items.ids)).encode())
    h.update(json.dumps([half_life_days, weights], sort_keys=True).encode())
    return SparkSnapshot(
        log=log,
        users=users,
        items=items,
        snapshot_id=h.hexdigest(),
        n_events=int(stats["n"]),
        reference_time=int(stats["end"]),
        half_life_days=half_life_days,
        event_weights=weights,
    )


# ---- per-user state on the driver -----------------------------------------------------------------
def _csr(pdf: pd.DataFrame, shape: tuple[int, int], value: str | None = None) -> sp.csr_matrix:
    data = np.ones(len(pdf), np.float32) if value is None else pdf[value].to_numpy(dtype=np.float32)
    m = sp.csr_matrix(
        (data, (pdf["u"].to_numpy(np.int64), pdf["i"].to_numpy(np.int64))),
        shape=shape,
        dtype=np.float32,
    )
    m.sum_duplicates()
    m.sort_indices()
    return m


def _decayed(snap: SparkSnapshot) -> Any:
    """The log's weights with the snapshot's time decay (``Interactions.decayed_weight``)."""
    from pyspark.sql import functions as F

    if snap.half_life_days is None:
        return snap.log.withColumn("dw", F.col("w"))
    age = F.greatest((F.lit(snap.reference_time) - F.col("ts")) / SECONDS_PER_DAY, F.lit(0.0))
    factor = F.pow(F.lit(0.5), age / F.lit(float(snap.half_life_days)))
    return snap.log.withColumn("dw", (F.col("w") * factor).cast("float"))


def user_item_matrix(snap: SparkSnapshot) -> sp.csr_matrix:
    """``Interactions.matrix``: summed (decayed) weights per user and item, float32."""
    from pyspark.sql import functions as F

    pdf = _decayed(snap).groupBy("u", "i").agg(F.sum("dw").alias("v")).toPandas()
    return _csr(pdf, (snap.n_users, snap.n_items), "v")


def _bookkeeping(model: Recommender, snap: SparkSnapshot, matrix: sp.csr_matrix) -> None:
    """What ``Recommender.fit`` records before the maths: ids, seen items, popularity."""
    binary = matrix.copy()
    binary.data[:] = 1.0
    model.users_ = snap.users
    model.items_ = snap.items
    model.seen_ = binary
    model.popularity_ = np.asarray(binary.sum(axis=0)).ravel().astype(np.float32)
    model.snapshot_id_ = snap.snapshot_id


def _ordered(snap: SparkSnapshot) -> Any:
    """The order of a user's events in the local snapshot: by time, then as they were read."""
    from pyspark.sql import Window

    return Window.partitionBy("u").orderBy("ts", FILE_COL, ROW_COL)


def recency_history(snap: SparkSnapshot, half_life_steps: float | None) -> Any:
    """``campaignrec.models._common.recency_history`` over the 0/1 matrix, as (u, i, v) rows:
    each distinct item weighs ``0.5 ** (steps_from_end / half_life_steps)``, ordered by its last
    occurrence (None: every item 1)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    if half_life_steps is None:
        return snap.log.select("u", "i").distinct().withColumn("v", F.lit(1.0).cast("float"))
    seq = snap.log.withColumn("p", F.row_number().over(_ordered(snap)))
    last = seq.groupBy("u", "i").agg(F.max("p").alias("last"))
    steps = F.row_number().over(Window.partitionBy("u").orderBy(F.col("last").desc())) - 1
    return last.select(
        "u",
        "i",
        F.pow(F.lit(0.5), steps.cast("double") / F.lit(float(half_life_steps)))
        .cast("float")
        .alias("v"),
    )


def _top_rows(pairs: Any, k: int | None, value: str = "v") -> Any:
    """Keep the ``k`` largest per row ``i``, ties to the lower column (``sparse_topk_rows``)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    pairs = pairs.where(F.col(value) != 0)
    if k is None:
        return pairs
    rank = F.row_number().over(Window.partitionBy("i").orderBy(F.col(value).desc(), "j"))
    return pairs.withColumn("__r", rank).where(F.col("__r") <= k).drop("__r")


def _square(pdf: pd.DataFrame, n: int) -> sp.csr_matrix:
    m = sp.csr_matrix(
        (
            pdf["v"].to_numpy(np.float32),
            (pdf["i"].to_numpy(np.int64), pdf["j"].to_numpy(np.int64)),
        ),
        shape=(n, n),
        dtype=np.float32,
    )
    m.sort_indices()
    return m


# ---- item-KNN -------------------------------------------------------------------------------------
def _check_knn(p: KNNParams) -> None:
    unsupported = {
        "similarity": p.similarity not in ("cosine", "jaccard", "dot"),
        "use_weights": p.use_weights,
        "proximity_half_life": p.proximity_half_life is not None,
    }
    bad = [k for k, v in unsupported.items() if v]
    if bad:
        raise ConfigError(
            f"item_knn on spark: {', '.join(bad)} not supported "
            f"(similarity cosine | jaccard | dot over 0/1 vectors, no proximity)",
            hint="drop the parameter or train with --engine local",
        )


def knn_similarity(snap: SparkSnapshot, p: KNNParams) -> Any:
    """Item x item similarity rows (``i``, ``j``, ``v``) of :class:`ItemKNN` on 0/1 vectors:
    co-occurrence counts over users divided as the similarity says, self-pairs dropped, the
    ``neighbours`` largest per item kept."""
    from pyspark.sql import functions as F

    pairs = snap.log.select("u", "i").distinct().persist()
    n = pairs.groupBy("i").agg(F.count(F.lit(1)).cast("double").alias("n"))
    left = pairs.alias("a")
    right = pairs.select("u", F.col("i").alias("j"))
    co = (
        left.join(right, "u")
        .where(F.col("i") != F.col("j"))
        .groupBy("i", "j")
        .agg(F.count(F.lit(1)).cast("double").alias("c"))
    )
    ni = n.select("i", F.col("n").alias("ni"))
    nj = n.select(F.col("i").alias("j"), F.col("n").alias("nj"))
    co = co.join(F.broadcast(ni), "i").join(F.broadcast(nj), "j")
    if p.similarity == "jaccard":
        den = F.col("ni") + F.col("nj") - F.col("c") + F.lit(p.shrinkage)
    elif p.similarity == "dot":
        den = F.lit(1.0 + p.shrinkage)
    else:  # cosine: the product of the two norms, as ItemKNN multiplies them
        den = F.sqrt("ni") * F.sqrt("nj") + F.lit(p.shrinkage)
    sim = co.select(
        "i", "j", F.when(den > 0, F.col("c") / den).otherwise(F.lit(0.0)).cast("float").alias("v")
    )
    return _top_rows(sim, p.neighbours)


def fit_item_knn(snap: SparkSnapshot, params: KNNParams | None = None) -> ItemKNN:
    """An :class:`ItemKNN` whose similarity was computed on Spark (ready to ``save``)."""
    p = params or KNNParams()
    _check_knn(p)
    model = ItemKNN(p)
    matrix = user_item_matrix(snap)
    _bookkeeping(model, snap, matrix)
    model.similarity_ = _square(knn_similarity(snap, p).toPandas(), snap.n_items)
    hist = recency_history(snap, p.recency_half_life).toPandas()
    model.history_ = _csr(hist, (snap.n_users, snap.n_items), "v")
    model.fitted_ = True
    return model


# ---- transitions ----------------------------------------------------------------------------------
def transition_counts(snap: SparkSnapshot, p: ItemTransitionParams) -> Any:
    """``campaignrec.models.transition.transition_counts`` as (i, j, v) rows: ``j`` following
    ``i`` ``d`` steps later in a user's sequence adds ``d ** -distance_power`` (plus the backward
    share), runs of one item collapsed to their last event when ``dedupe_consecutive``."""
    from pyspark.sql import functions as F

    w = _ordered(snap)
    seq = snap.log.select("u", "i", "ts", FILE_COL, ROW_COL)
    if p.dedupe_consecutive:
        nxt = F.lead("i", 1).over(w)
        seq = seq.withColumn("__next", nxt).where(
            F.col("__next").isNull() | (F.col("__next") != F.col("i"))
        )
    ahead = seq.select(
        "i",
        "ts",
        *[F.lead("i", d).over(w).alias(f"__j{d}") for d in range(1, p.window + 1)],
        *[F.lead("ts", d).over(w).alias(f"__t{d}") for d in range(1, p.window + 1)],
    )
    pairs = F.array(
        *[
            F.struct(F.lit(d).alias("d"), F.col(f"__j{d}").alias("j"), F.col(f"__t{d}").alias("tj"))
            for d in range(1, p.window + 1)
        ]
    )
    steps = ahead.select("i", "ts", F.explode(pairs).alias("s")).select(
        "i", "ts", "s.d", "s.j", "s.tj"
    )
    ok = F.col("j").isNotNull()
    if p.session_gap_hours is not None:
        ok = ok & (F.col("tj") - F.col("ts") <= F.lit(p.session_gap_hours * 3600.0))
    if p.dedupe_consecutive:
        ok = ok & (F.col("i") != F.col("j"))
    weight = F.pow(F.col("d").cast("double"), F.lit(-float(p.distance_power))).cast("float")
    fwd = steps.where(ok).select("i", "j", weight.cast("double").alias("v"))
    if p.backward_weight > 0:
        back = fwd.select(
            F.col("j").alias("i"), F.col("i").alias("j"), (F.col("v") * p.backward_weight)
        )
        fwd = fwd.unionByName(back.toDF("i", "j", "v"))
    return fwd.groupBy("i", "j").agg(F.sum("v").alias("v")).where(F.col("v") != 0)


def normalise_transitions(counts: Any, alpha: float, beta: float) -> Any:
    """``D_out^-alpha · T · D_in^-beta`` (``campaignrec.models.transition.normalise_transitions``)."""
    from pyspark.sql import functions as F

    def scale(deg: Any, power: float) -> Any:
        return F.when(deg > 0, F.pow(F.greatest(deg, F.lit(1e-12)), F.lit(-power))).otherwise(0.0)

    out_deg = counts.groupBy("i").agg(F.sum("v").alias("do"))
    in_deg = counts.groupBy(F.col("j")).agg(F.sum("v").alias("di"))
    t = counts.join(out_deg, "i").join(in_deg, "j")
    value = F.col("v") * scale(F.col("do"), alpha) * scale(F.col("di"), beta)
    return t.select("i", "j", value.cast("float").alias("v"))


def fit_transition(
    snap: SparkSnapshot, params: ItemTransitionParams | None = None
) -> ItemTransition:
    """An :class:`ItemTransition` whose transitions were counted on Spark (ready to ``save``)."""
    p = params or ItemTransitionParams()
    model = ItemTransition(p)
    matrix = user_item_matrix(snap)
    _bookkeeping(model, snap, matrix)
    t = normalise_transitions(transition_counts(snap, p), p.alpha, p.beta)
    model.transitions_ = _square(_top_rows(t, p.max_neighbours).toPandas(), snap.n_items)
    hist = recency_history(snap, p.history_half_life).toPandas()
    model.history_ = _csr(hist, (snap.n_users, snap.n_items), "v")
    model.fitted_ = True
    return model


# ---- ALS ------------------------------------------------------------------------------------------
def fit_als(spark: Any, snap: SparkSnapshot, params: ALSParams | None = None) -> ALS:
    """An :class:`ALS` whose factors were learned by Spark MLlib's implicit ALS.

    The confidence matrix is the local one (summed decayed event weights, then the weighting);
    MLlib solves ``c = 1 + alpha * r`` like implicit. MLlib scales ``regParam`` by each user's
    and item's number of ratings (ALS-WR), implicit does not; ``regularization`` is passed as
    it is, and the quality is compared by NDCG (tests/engines, docs/spark.md).
    """
    from pyspark.ml.recommendation import ALS as MLlibALS

    p = params or ALSParams()
    model = ALS(p)
    matrix = user_item_matrix(snap)
    _bookkeeping(model, snap, matrix)
    conf = apply_weighting(matrix, p.weighting, k1=p.bm25_k1, b=p.bm25_b).tocsr()
    coo = conf.tocoo()
    ratings = spark.createDataFrame(
        pd.DataFrame(
            {
                "u": coo.row.astype(np.int32),
                "i": coo.col.astype(np.int32),
                "c": coo.data.astype(np.float32),
            }
        ),
        "u int, i int, c float",
    )
    als = MLlibALS(
        rank=p.factors,
        maxIter=p.iterations,
        regParam=p.regularization,
        alpha=p.alpha,
        implicitPrefs=True,
        userCol="u",
        itemCol="i",
        ratingCol="c",
        seed=p.seed,
        nonnegative=False,
        coldStartStrategy="nan",
    )
    fitted = als.fit(ratings)
    model.user_factors_ = _factors(fitted.userFactors.toPandas(), snap.n_users, p.factors)
    model.item_factors_ = _factors(fitted.itemFactors.toPandas(), snap.n_items, p.factors)
    model.confidence_ = conf
    model.fitted_ = True
    return model


def _factors(pdf: pd.DataFrame, n: int, rank: int) -> np.ndarray:
    """MLlib's (id, features) rows as a dense (n, rank) float32 array (zeros for absent ids)."""
    out = np.zeros((n, rank), dtype=np.float32)
    if len(pdf):
        out[pdf["id"].to_numpy(np.int64)] = np.asarray(pdf["features"].tolist(), dtype=np.float32)
    return out


def fit_model(spark: Any, snap: SparkSnapshot, name: str, params: dict[str, Any]) -> Recommender:
    """Fit one of :data:`SPARK_MODELS` on Spark with the local parameter names."""
    try:
        if name == "item_knn":
            return fit_item_knn(snap, KNNParams(**params))
        if name == "transition":
            return fit_transition(snap, ItemTransitionParams(**params))
        if name == "als":
            return fit_als(spark, snap, ALSParams(**params))
    except TypeError as exc:
        raise ConfigError(f"model '{name}': {exc}") from exc
    raise ConfigError(
        f"model '{name}' has no Spark implementation",
        hint=f"use one of {', '.join(SPARK_MODELS)} or --engine local",
    )
