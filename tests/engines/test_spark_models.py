"""Item-KNN, transition and ALS trained on Spark, saved as the local artifacts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from campaignrec.data.interactions import Interactions
from campaignrec.engines.spark.models import (
    fit_als,
    fit_item_knn,
    fit_model,
    fit_transition,
    spark_snapshot,
)
from campaignrec.errors import ConfigError
from campaignrec.models.knn import ItemKNN
from campaignrec.models.registry import load_model
from campaignrec.models.transition import ItemTransition
from campaignrec.pipeline.snapshot import ITEM_FEATURE_COLUMNS, USER_FEATURE_COLUMNS

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def inter(local_tables: dict[str, pd.DataFrame]) -> Interactions:
    """The local snapshot of the same shop (what build_snapshot gives after a local import)."""
    ev = local_tables["events"]
    items, users = local_tables["items"], local_tables["users"]
    return Interactions.from_frame(
        ev[ev["item_id"].notna()][["user_id", "item_id", "event_type", "timestamp"]],
        items=items[[c for c in ITEM_FEATURE_COLUMNS if c in items.columns]],
        users=users[[c for c in USER_FEATURE_COLUMNS if c in users.columns]],
    )


def _same_rows(a: sp.csr_matrix, b: sp.csr_matrix, rtol: float) -> None:
    a = a.tocsr().copy()
    a.sort_indices()  # a sparse product leaves them in any order
    assert a.shape == b.shape
    assert (np.diff(a.indptr) == np.diff(b.indptr)).all()
    np.testing.assert_array_equal(a.indices, b.indices)
    np.testing.assert_allclose(b.data, a.data, rtol=rtol, atol=0)


def test_snapshot_matches_the_local_one(snap: Any, inter: Interactions) -> None:
    assert snap.n_events == len(inter)
    assert (snap.users.ids == inter.users.ids).all() and (snap.items.ids == inter.items.ids).all()
    assert snap.reference_time == inter.reference_time


def test_item_knn_neighbours_equal(snap: Any, inter: Interactions, tmp_path: Path) -> None:
    local = ItemKNN().fit(inter)
    got = fit_item_knn(snap)
    # the shop has fewer items than the 100 neighbours kept: every similarity is compared
    assert local.similarity_.nnz > 10 * inter.n_items
    _same_rows(local.similarity_.tocsr(), got.similarity_, rtol=0)
    loaded = load_model(got.save(tmp_path / "knn"))  # the local loader serves the artifact
    assert isinstance(loaded, ItemKNN)
    users = list(inter.users.ids[:40])
    np.testing.assert_array_equal(loaded.recommend(users, k=10)[0], local.recommend(users, k=10)[0])
    item = str(inter.items.ids[0])
    np.testing.assert_array_equal(loaded.similar_items(item, 5)[1], local.similar_items(item, 5)[1])


def test_item_knn_few_neighbours_keep_the_strongest(snap: Any, inter: Interactions) -> None:
    local = ItemKNN(neighbours=5, similarity="jaccard").fit(inter).similarity_.tocsr()
    got = fit_item_knn(snap, local_params := ItemKNN(neighbours=5, similarity="jaccard").params)
    assert local_params.neighbours == 5
    g = got.similarity_
    for i in range(inter.n_items):
        a = np.sort(local.data[local.indptr[i] : local.indptr[i + 1]])[::-1]
        b = g.data[g.indptr[i] : g.indptr[i + 1]]
        np.testing.assert_array_equal(np.sort(b)[::-1], a)  # the same 5 strongest values
        # ids equal above the cut-off value (ties at the cut may pick another item)
        cut = a[-1]
        la = set(
            local.indices[local.indptr[i] : local.indptr[i + 1]][
                local.data[local.indptr[i] : local.indptr[i + 1]] > cut
            ]
        )
        gb = set(g.indices[g.indptr[i] : g.indptr[i + 1]][b > cut])
        assert la == gb


@pytest.mark.parametrize(
    "params",
    [{}, {"backward_weight": 0.5, "session_gap_hours": 2.0, "max_neighbours": None}],
)
def test_transition_equal(
    snap: Any, inter: Interactions, params: dict[str, Any], tmp_path: Path
) -> None:
    local = ItemTransition(**params).fit(inter)
    got = fit_transition(snap, local.params)
    _same_rows(local.transitions_.tocsr(), got.transitions_, rtol=1e-5)
    _same_rows(local.history_.tocsr(), got.history_, rtol=1e-6)
    loaded = load_model(got.save(tmp_path / "t"))
    users = list(inter.users.ids[:40])
    np.testing.assert_array_equal(loaded.recommend(users, k=5)[0], local.recommend(users, k=5)[0])


def test_unsupported_parameters_are_named(spark: Any, snap: Any) -> None:
    with pytest.raises(ConfigError, match="use_weights"):
        fit_model(spark, snap, "item_knn", {"use_weights": True})
    with pytest.raises(ConfigError, match="no Spark implementation"):
        fit_model(spark, snap, "ease", {})
    with pytest.raises(ConfigError, match="bogus"):
        fit_model(spark, snap, "transition", {"bogus": 1})


def test_als_quality_equals_local(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    """MLlib's implicit ALS against implicit's on the same train part: NDCG@10 within 2 %."""
    import polars as pl

    from campaignrec.data.synthetic import ShopConfig
    from campaignrec.data.synthetic.writing import write_shop
    from campaignrec.data.validation import validate_frame
    from campaignrec.engines.spark.io import read_shop
    from campaignrec.evaluation.metrics import ranking_metrics
    from campaignrec.evaluation.splits import global_temporal_split, ground_truth
    from campaignrec.models.factorization import ALS

    full = tmp_path_factory.mktemp("als_shop")
    write_shop(
        ShopConfig(n_users=1500, n_items=150, n_events=40_000, days=30, seed=3), full, "parquet"
    )
    tables = {e: pl.read_parquet(full / f"{e}.parquet") for e in ("users", "items", "events")}
    ev = validate_frame("events", tables["events"], source="events").valid
    inter = Interactions.from_frame(
        ev[ev["item_id"].notna()][["user_id", "item_id", "event_type", "timestamp"]],
        items=tables["items"].to_pandas()[["item_id"]],
        users=tables["users"].to_pandas()[["user_id"]],
    )
    split = global_temporal_split(inter, test_fraction=0.2)
    train, test = split.train(inter), split.test(inter)
    cut = pd.Timestamp(int(train.timestamp.max()), unit="s", tz="UTC")
    part = tmp_path_factory.mktemp("als_train")
    tables["users"].write_parquet(part / "users.parquet")
    tables["items"].write_parquet(part / "items.parquet")
    tables["events"].filter(pl.col("timestamp") <= cut).write_parquet(part / "events.parquet")
    snap = spark_snapshot(spark, read_shop(spark, part))
    assert snap.n_events == len(train) and (snap.users.ids == inter.users.ids).all()

    local = ALS(factors=16, iterations=15, regularization=0.1, seed=0).fit(train)
    got = fit_als(spark, snap, local.params)
    truth = ground_truth(train, test)
    ndcg = []
    for model in (local, load_model(got.save(tmp_path_factory.mktemp("als") / "als"))):
        recs, _ = model.recommend_idx(truth.user_idx, k=10)
        ndcg.append(float(ranking_metrics(recs, truth.items, ks=(10,))["ndcg@10"].mean()))
    assert ndcg[0] > 0.1  # the models learned something
    assert abs(ndcg[1] - ndcg[0]) / ndcg[0] <= 0.02, ndcg
