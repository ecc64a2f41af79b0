"""Batch recommend on Spark: the local export's columns, users and items."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from campaignrec.engines.spark.models import fit_item_knn
from campaignrec.engines.spark.recommend import recommend_all
from campaignrec.errors import ConfigError
from campaignrec.models.registry import load_model
from campaignrec.ranking import Ranker, recommend_frame
from campaignrec.store.online import MemoryOnlineState

pytestmark = pytest.mark.spark


def test_batch_export_equals_local(spark: Any, snap: Any, tmp_path: Path) -> None:
    model_dir = fit_item_knn(snap).save(tmp_path / "item_knn" / "v1")
    rows = recommend_all(spark, model_dir, tmp_path / "recs.parquet", k=5, partitions=3)
    got = pd.read_parquet(tmp_path / "recs.parquet")
    model = load_model(model_dir)
    ranker = Ranker(model, pd.DataFrame({"item_id": pd.Series([], dtype=str)}), MemoryOnlineState())
    want = recommend_frame(ranker, [str(u) for u in model.users_.ids], 5)  # the local export
    assert rows == len(want) == len(got)
    assert list(got.columns) == list(want.columns)
    key = ["user_id", "rank"]
    got = got.sort_values(key).reset_index(drop=True)
    want = want.sort_values(key).reset_index(drop=True)
    assert set(got["user_id"]) == set(model.users_.ids)  # every user, cold ones included
    pd.testing.assert_frame_equal(got, want, check_dtype=False, atol=1e-5)
    assert set(want["reason"]) <= {"because_viewed", "popular", "segment_popular"}


def test_a_missing_model_is_named(spark: Any, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no saved model"):
        recommend_all(spark, tmp_path / "nothing", tmp_path / "out.parquet")
