"""Batch recommend on Spark: every user's top-k from a saved model, written as Parquet.

The users are spread over partitions; each partition loads the model artifact once (shipped to
the executors with ``SparkContext.addFile``, so a cluster without a shared file system works too)
and ranks batches of users through the local ranking path (:class:`campaignrec.ranking.Ranker` on
the items table, with each shopper's personalisation consent, and
:func:`campaignrec.ranking.recommend_frame`), so the rows are those of ``campaignrec recommend
--all`` with the local engine: the same columns (``user_id, rank, item_id, score, reason``), the
same users, the same rules. The online state of a batch job is empty: fresh events recorded by the
service after the snapshot are not read.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from campaignrec.errors import ConfigError

#: Columns of the batch export (those of ``recommend_frame``), as a Spark schema.
EXPORT_DDL = "user_id string, rank bigint, item_id string, score float, reason string"
USERS_PER_PARTITION = 50_000
BATCH_USERS = 2_000


def user_attribute_table(users: pd.DataFrame | None) -> dict[str, dict[str, Any]]:
    """``user_id -> attributes`` as the ranking path reads them from the store (the row's
    columns over its ``attributes`` mapping; see :func:`campaignrec.ranking.store_attribute_lookup`)."""
    out: dict[str, dict[str, Any]] = {}
    if users is None or users.empty:
        return out
    for rec in users.to_dict(orient="records"):
        extra = rec.pop("attributes", None)
        clean = {str(k): v for k, v in rec.items() if v is not None and v == v}
        out[str(rec["user_id"])] = {**(extra if isinstance(extra, dict) else {}), **clean}
    return out


def _model_users(path: Path) -> list[str]:
    from campaignrec.models.registry import load_model

    return [str(u) for u in load_model(path).users_.ids]


def recommend_all(
    spark: Any,
    model_path: str | Path,
    out: str | Path,
    *,
    k: int = 10,
    user_ids: list[str] | None = None,
    partitions: int | None = None,
    items: pd.DataFrame | None = None,
    users_table: pd.DataFrame | None = None,
    campaigns_table: pd.DataFrame | None = None,
) -> int:
    """Write the top-``k`` of every user of the model (or of ``user_ids``) to Parquet.

    Parameters
    ----------
    spark
        The session.
    model_path
        A saved model folder (``artifacts/<name>/<version>``).
    out
        The Parquet dataset written (a directory of part files, even when it is named
        ``recs.parquet``; pandas, polars and pyarrow read it as one table).
    k
        Items per user.
    user_ids
        The users (default: every user the model knows, as ``recommend --all`` takes them).
    partitions
        Partitions of users (default: one per ``USERS_PER_PARTITION`` users, at least the default
        parallelism).
    items, users_table, campaigns_table
        The store's tables the ranking path reads (:meth:`campaignrec.ranking.Ranker.from_store`
        builds the same ranker from the same tables): rules, consent and segment popularity,
        the items of eligible campaigns.

    Returns
    -------
    int
        Rows written.
    """
    import pyspark
    from pyspark import SparkFiles

    src = Path(model_path)
    if not (src / "meta.json").is_file():
        raise ConfigError(f"no saved model in {src}", hint="train one first (campaignrec train)")
    if k < 1:
        raise ConfigError(f"k must be >= 1, got {k}")
    ids = user_ids if user_ids is not None else _model_users(src)
    sc = spark.sparkContext
    sc.addFile(str(src.resolve()), recursive=True)
    name = src.resolve().name
    n = partitions or max(sc.defaultParallelism, -(-len(ids) // USERS_PER_PARTITION))
    users = spark.createDataFrame(
        pd.DataFrame({"user_id": [str(u) for u in ids]}), "user_id string"
    )
    users = users.repartition(n)

    catalogue = items if items is not None else pd.DataFrame({"item_id": pd.Series([], dtype=str)})
    people = users_table if users_table is not None and not users_table.empty else None
    attributes = user_attribute_table(people)
    offers = campaigns_table if campaigns_table is not None and not campaigns_table.empty else None

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        from campaignrec.campaigns.catalog import load_campaigns
        from campaignrec.models.registry import load_model
        from campaignrec.ranking import Ranker, recommend_frame
        from campaignrec.store.online import MemoryOnlineState

        model = load_model(SparkFiles.get(name))
        ranker = Ranker(
            model,
            catalogue,
            MemoryOnlineState(),
            user_attributes=attributes.get,
            users=people,
            campaigns=load_campaigns(offers) if offers is not None else None,
        )
        for b in batches:
            uid = [str(u) for u in b["user_id"]]
            for start in range(0, len(uid), BATCH_USERS):
                frame = recommend_frame(ranker, uid[start : start + BATCH_USERS], k)
                frame["rank"] = frame["rank"].astype("int64")
                frame["score"] = frame["score"].astype("float32")
                frame["item_id"] = frame["item_id"].astype(str)
                yield frame

    recs = users.mapInPandas(run, EXPORT_DDL).persist(pyspark.StorageLevel.MEMORY_AND_DISK)
    recs.write.mode("overwrite").parquet(str(out))
    rows = recs.count()
    recs.unpersist()
    return int(rows)
