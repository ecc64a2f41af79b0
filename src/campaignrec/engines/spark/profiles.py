"""Profiles on Spark: the mergeable :class:`~campaignrec.profiles.state.ProfileState` per bucket
of users, then the few columns that compare users with each other over the whole table.

Each user's events and users-table row go to one bucket (a hash of ``user_id``); an executor folds
its bucket into a ``ProfileState`` and reads the bucket's profile rows from it: the same code as
the local engine, so every per-user column (counts, RFM values, behaviour rates, hour and weekday
shares, interest tags, devices, search terms, lifecycle, demographics) is the local definition.
Buckets hold disjoint users, so merging them is a union. What depends on all users is then
computed over the whole table in Spark: the R, F and M quintile scores (rank among buyers), the
``rfm_score`` / ``rfm_segment`` made from them and, for a catalogue with fewer than three prices,
the price-band edges (terciles of every buyer's mean unit price).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from campaignrec.data.schema import TIMESTAMP, USER_ID
from campaignrec.engines.spark.io import FILE_COL, ROW_COL, ShopInput
from campaignrec.errors import ValidationError
from campaignrec.profiles.config import ProfileConfig
from campaignrec.profiles.rfm import rfm_segment
from campaignrec.profiles.state import ProfileState, price_band

#: Event columns a ProfileState reads.
PROFILE_EVENT_COLUMNS = (
    USER_ID,
    "event_type",
    TIMESTAMP,
    "item_id",
    "campaign_id",
    "query",
    "quantity",
    "price",
    "revenue",
    "session_id",
    "order_id",
    "device",
)
#: Items columns a ProfileState reads (tags, bought categories, prices, price bands).
PROFILE_ITEM_COLUMNS = ("item_id", "category", "brand", "price")
#: The columns computed over all users after the buckets (the others come from the buckets).
GLOBAL_COLUMNS = ("r_score", "f_score", "m_score", "rfm_score", "rfm_segment", "price_band")
_BUCKET = "__bucket"
EVENTS_PER_BUCKET = 400_000


def catalogue(shop: ShopInput) -> pd.DataFrame | None:
    """The items a ProfileState needs, on the driver (one row per item, the last row wins)."""
    if shop.items is None:
        return None
    cols = [c for c in PROFILE_ITEM_COLUMNS if c in shop.items.valid.columns]
    return shop.items.canonical().select(*cols).toPandas()


def end_of_events(events: Any) -> pd.Timestamp:
    """The latest event timestamp (the default "now" of recency and decay)."""
    from pyspark.sql import functions as F

    end = events.agg(F.max(TIMESTAMP)).first()[0]
    if end is None:
        raise ValidationError("events", "there are no events to profile", hint="import events")
    ts = pd.Timestamp(end)
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _spark_type(name: str, s: pd.Series) -> str:
    if name.endswith("_weights"):
        return "array<double>"
    if s.dtype == object and name.startswith(("top_", "bought_")):
        return "array<string>"
    if isinstance(s.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_any_dtype(s.dtype):
        return "timestamp"
    if pd.api.types.is_bool_dtype(s.dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(s.dtype):
        return "bigint"
    if pd.api.types.is_float_dtype(s.dtype):
        return "double"
    return "string"


def profile_ddl(items: pd.DataFrame | None, config: ProfileConfig) -> tuple[list[str], str]:
    """Column names and Spark schema of the profile table, read off a local run on two users."""
    t = pd.Timestamp("2024-01-01T00:00:00Z")
    ev = pd.DataFrame(
        {
            USER_ID: ["a", "b"],
            "event_type": ["purchase", "view"],
            TIMESTAMP: [t, t],
            "item_id": ["x", "y"],
            "order_id": ["o", None],
        }
    )
    users = pd.DataFrame({USER_ID: ["a"], "signup_time": [t], "birth_year": [1990]})
    prof = ProfileState(items, config).apply(ev).profiles(users, as_of=t)
    names = list(prof.columns)
    return names, ", ".join(f"`{c}` {_spark_type(c, prof[c])}" for c in names)


def _bucket_profiles(
    items: pd.DataFrame | None, config: ProfileConfig, end: pd.Timestamp, names: list[str]
) -> Any:
    def run(events: pd.DataFrame, users: pd.DataFrame) -> pd.DataFrame:
        ev = events.sort_values([FILE_COL, ROW_COL], kind="mergesort").drop(
            columns=[FILE_COL, ROW_COL, _BUCKET]
        )
        us = users.drop(columns=[_BUCKET]) if len(users) else None
        state = ProfileState(items, config).apply(ev.reset_index(drop=True))
        prof = state.profiles(us, as_of=end)
        for c in names:
            if c not in prof.columns:
                prof[c] = None
        out = prof[names].copy()
        for c in out.columns:
            if pd.api.types.is_integer_dtype(out[c].dtype):
                out[c] = out[c].astype("Int64")
        return out

    return run


def n_buckets(spark: Any, n_events: int) -> int:
    """Buckets of users: at least the shuffle partitions, and about EVENTS_PER_BUCKET each."""
    parts = int(spark.conf.get("spark.sql.shuffle.partitions"))
    return max(parts, int(np.ceil(n_events / EVENTS_PER_BUCKET)))


def _scores(df: Any) -> Any:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    out = df
    for col, score, better_high in (
        ("recency_days", "r_score", False),
        ("frequency", "f_score", True),
        ("monetary", "m_score", True),
    ):
        value = F.col(col).cast("double")
        buyers = out.where((F.col("frequency") > 0) & value.isNotNull() & ~F.isnan(value))
        counts = buyers.groupBy(value.alias("__v")).agg(F.count(F.lit(1)).alias("__c"))
        # pandas rank(method="min", pct=True, ascending=higher_is_better): the rank of a value
        # is 1 + the number of values before it in that order
        order = F.col("__v").asc() if better_high else F.col("__v").desc()
        before = F.sum("__c").over(Window.orderBy(order).rowsBetween(Window.unboundedPreceding, -1))
        total = F.sum("__c").over(Window.partitionBy())
        ranks = counts.select("__v", ((F.coalesce(before, F.lit(0)) + 1) / total).alias("__pct"))
        out = out.join(
            ranks,
            on=(value == F.col("__v")) & (F.col("frequency") > 0),
            how="left",
        )
        out = out.withColumn(
            score,
            F.when(F.col("__pct").isNull(), F.lit(0))
            .otherwise(F.least(F.greatest(F.ceil(F.col("__pct") * 5), F.lit(1)), F.lit(5)))
            .cast("bigint"),
        ).drop("__v", "__pct")
    buyer = F.col("frequency") > 0
    return out.withColumn(
        "rfm_score",
        F.when(
            buyer,
            F.concat(
                F.col("r_score").cast("string"),
                F.col("f_score").cast("string"),
                F.col("m_score").cast("string"),
            ),
        ).otherwise(F.lit("000")),
    )


def _finish(names: list[str], edges: tuple[float, float] | None) -> Any:
    """rfm_segment (and the price band when the catalogue could not fix its edges) per batch."""

    def run(batches: Any) -> Any:
        for b in batches:
            b["rfm_segment"] = rfm_segment(b["r_score"], b["f_score"], b["m_score"], b["frequency"])
            if edges is not None:
                b["price_band"] = price_band(b["mean_unit_price"], edges)
            yield b[names]

    return run


def spark_profiles(
    spark: Any,
    shop: ShopInput,
    *,
    config: ProfileConfig | None = None,
    as_of: pd.Timestamp | str | None = None,
    buckets: int | None = None,
) -> Any:
    """The profile table of every user on Spark (RFM, behaviour, interests, lifecycle).

    Parameters
    ----------
    spark
        The session.
    shop
        Validated input (:func:`campaignrec.engines.spark.io.read_shop`).
    config
        Profile settings (the local engine's :class:`ProfileConfig`).
    as_of
        The "now" (default: the latest event); later events are ignored.
    buckets
        Number of user buckets (default: :func:`n_buckets`).

    Returns
    -------
    Spark DataFrame with the columns and values of
    :meth:`campaignrec.profiles.state.ProfileState.profiles` (integers as bigint), one row per
    user; ``attrs`` of the local frame (``as_of``) is the returned timestamp's job.
    """
    from pyspark.sql import functions as F

    cfg = config or ProfileConfig()
    items = catalogue(shop)
    events = shop.events.valid
    end = pd.Timestamp(as_of) if as_of is not None else end_of_events(events)
    if end.tzinfo is None:
        end = end.tz_localize("UTC")
    cols = [c for c in PROFILE_EVENT_COLUMNS if c in events.columns]
    ev = events.where(F.col(TIMESTAMP) <= F.lit(end.to_pydatetime())).select(
        *cols, FILE_COL, ROW_COL
    )
    b = buckets or n_buckets(spark, ev.count())
    ev = ev.withColumn(_BUCKET, F.pmod(F.xxhash64(USER_ID), F.lit(b)))
    if shop.users is not None:
        users = shop.users.canonical()
    else:
        users = spark.createDataFrame([], f"{USER_ID} string")
    users = users.withColumn(_BUCKET, F.pmod(F.xxhash64(USER_ID), F.lit(b)))
    names, ddl = profile_ddl(items, cfg)
    parts = (
        ev.groupBy(_BUCKET)
        .cogroup(users.groupBy(_BUCKET))
        .applyInPandas(_bucket_profiles(items, cfg, end, names), ddl)
    )
    # the buckets are read by the three quintile joins and the final pass: compute them once
    parts = parts.drop(*GLOBAL_COLUMNS[:4]).persist()
    scored = _scores(parts)
    edges = None
    n_prices = (
        0
        if items is None or "price" not in items.columns
        else int(pd.to_numeric(items["price"], errors="coerce").notna().sum())
    )
    if n_prices < 3:  # ProfileState then takes terciles of the profiled mean prices
        prices = scored.where(F.col("mean_unit_price").isNotNull() & ~F.isnan("mean_unit_price"))
        got = prices.agg(
            F.percentile(F.col("mean_unit_price"), F.array(F.lit(1 / 3), F.lit(2 / 3))),
            F.count(F.lit(1)),
        ).first()
        if got is not None and got[1] >= 3:
            edges = (float(got[0][0]), float(got[0][1]))
    ordered = scored.select(*[c if c in scored.columns else F.lit(None).alias(c) for c in names])
    return ordered.mapInPandas(_finish(names, edges), ddl)


def to_local_frame(profiles: Any) -> pd.DataFrame:
    """The Spark profile table as the local engine's pandas frame (sorted by user_id, lists as
    lists, int8 RFM scores), for saving with :func:`campaignrec.profiles.save_profiles`."""
    df = profiles.toPandas()
    for c in df.columns:
        if pd.api.types.is_datetime64_any_dtype(df[c].dtype):
            ts = pd.to_datetime(df[c])
            df[c] = (ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts).astype(
                "datetime64[us, UTC]"
            )
        elif df[c].dtype == object or pd.api.types.is_string_dtype(df[c].dtype):
            df[c] = pd.Series(
                [
                    v.tolist()
                    if isinstance(v, np.ndarray)
                    else (None if v is None or (isinstance(v, float) and np.isnan(v)) else v)
                    for v in df[c]
                ],
                dtype=object,
                index=df.index,
            )
    for c in ("r_score", "f_score", "m_score"):
        if c in df.columns:
            df[c] = df[c].astype(np.int8)
    return df.sort_values(USER_ID, kind="mergesort").reset_index(drop=True)
