"""The purchase model of the profiles on Spark: ``p_purchase_30d`` and ``expected_spend_30d``.

The local definition (:func:`campaignrec.profiles.pipeline.build_profiles`): features are the
profiles at ``cutoff = as_of - horizon`` of the users active before it, labels what each of them
bought in ``(cutoff, as_of]``; scikit-learn's histogram gradient boosting
(:class:`campaignrec.profiles.predict.PurchaseModel`) is fitted on them and scores every user's
profile at ``as_of``.

On Spark the two tables are computed on the cluster: the profile table at the cutoff by
:func:`~campaignrec.engines.spark.profiles.spark_profiles` and the labels by
:func:`campaignrec.profiles.predict.purchase_labels` in partitions, summed per user. The model is
the local one, fitted on the driver on the training users (one row of 19 features each; above
:data:`MAX_TRAIN_USERS` a seeded sample of that many), then applied to the profile table in
partitions (``mapInPandas``). On a shop of at most :data:`MAX_TRAIN_USERS` users it is the local
model on the same rows, so the scores equal the local ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from campaignrec.data.schema import TIMESTAMP, USER_ID
from campaignrec.engines.spark.io import ShopInput
from campaignrec.errors import CampaignrecError
from campaignrec.profiles.config import ProfileConfig
from campaignrec.profiles.predict import (
    MODEL_FEATURES,
    PurchaseModel,
    PurchaseModelConfig,
    purchase_labels,
)
from campaignrec.profiles.state import ProfileState

#: Training users the driver fits on at most (a seeded sample above it).
MAX_TRAIN_USERS = 1_000_000
PREDICTION_COLUMNS = ("p_purchase_30d", "expected_spend_30d")


def spark_labels(shop: ShopInput, start: pd.Timestamp, end: pd.Timestamp) -> Any:
    """Per user who bought in ``(start, end]``: ``user_id, bought (1), spend`` (a Spark table)."""
    from pyspark.sql import functions as F

    from campaignrec.engines.spark.profiles import catalogue

    price = ProfileState(catalogue(shop)).item_price
    ev = shop.events.valid
    cols = [
        c
        for c in (USER_ID, "event_type", TIMESTAMP, "item_id", "quantity", "price", "revenue")
        if c in ev.columns
    ]
    window = ev.where(
        (F.col("event_type") == "purchase")
        & (F.col(TIMESTAMP) > F.lit(start.to_pydatetime()))
        & (F.col(TIMESTAMP) <= F.lit(end.to_pydatetime()))
    ).select(*cols)

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for b in batches:
            b = b.assign(**{TIMESTAMP: pd.to_datetime(b[TIMESTAMP], utc=True)})
            yield purchase_labels(b, start, end, price)[[USER_ID, "spend", "bought"]]

    lines = window.mapInPandas(run, f"{USER_ID} string, spend double, bought long")
    return lines.groupBy(USER_ID).agg(
        F.sum("spend").alias("spend"), F.max("bought").alias("bought")
    )


def fit_purchase_model_spark(
    spark: Any,
    shop: ShopInput,
    end: pd.Timestamp,
    config: ProfileConfig | None = None,
    *,
    max_train_users: int = MAX_TRAIN_USERS,
) -> tuple[PurchaseModel | None, dict[str, Any]]:
    """The local purchase model, trained on Spark-computed features and labels.

    Returns the model (None when it cannot be fitted, e.g. no buyers in the window) and the
    ``meta.json`` entry of the local engine (``fitted``, ``train_cutoff``, ``n_train``, ...),
    with where it was fitted.
    """
    from pyspark.sql import functions as F

    from campaignrec.engines.spark.profiles import spark_profiles

    cfg = config or ProfileConfig()
    cutoff = end - pd.Timedelta(days=cfg.horizon_days)
    train = spark_profiles(spark, shop, config=cfg, as_of=cutoff)
    feats = [c for c in MODEL_FEATURES if c in train.columns]
    train = train.where(F.col("first_seen").isNotNull()).select(USER_ID, *feats)
    labels = spark_labels(shop, cutoff, end)
    table = train.join(labels, USER_ID, "left").fillna({"bought": 0, "spend": 0.0})
    n_train = table.count()
    if n_train > max_train_users:
        table = table.sample(fraction=min(1.0, 1.05 * max_train_users / n_train), seed=cfg.seed)
    frame = table.toPandas().sort_values(USER_ID, kind="mergesort").reset_index(drop=True)
    if len(frame) > max_train_users:
        rows = np.random.default_rng(cfg.seed).choice(len(frame), max_train_users, replace=False)
        frame = frame.iloc[np.sort(rows)].reset_index(drop=True)
    for c in MODEL_FEATURES:
        if c not in frame.columns:
            frame[c] = np.nan
    y = frame["bought"].to_numpy(int)
    spend = frame["spend"].to_numpy(float)
    where = {"fitted_on": "driver", "train_rows": len(frame), "sampled": len(frame) < n_train}
    try:
        model = PurchaseModel(PurchaseModelConfig(seed=cfg.seed)).fit(frame, y, spend)
    except CampaignrecError as exc:
        return None, {"fitted": False, "reason": str(exc), "engine": where}
    return model, {
        "fitted": True,
        "train_cutoff": cutoff.isoformat(),
        "n_train": n_train,
        "train_positive_rate": float(y.mean()),
        "features": model.features_,
        "engine": where,
    }


def predict_purchases_spark(profiles: Any, model: PurchaseModel | None) -> Any:
    """The profile table with ``p_purchase_30d`` and ``expected_spend_30d``, scored in each
    partition by the local model (NaN without a model)."""
    from pyspark.sql.types import DoubleType, StructField, StructType

    base = profiles.drop(*PREDICTION_COLUMNS)
    schema = StructType(
        [*base.schema.fields, *(StructField(c, DoubleType()) for c in PREDICTION_COLUMNS)]
    )

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for b in batches:
            if model is None or not len(b):
                p = s = np.full(len(b), np.nan)
            else:
                feats = b.reindex(columns=list(MODEL_FEATURES))
                p, s = model.predict_proba(feats), model.predict_spend(feats)
            yield b.assign(p_purchase_30d=p, expected_spend_30d=s)

    return base.mapInPandas(run, schema)
