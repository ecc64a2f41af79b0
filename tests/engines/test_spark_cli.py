"""``--engine spark`` on the batch commands: same artifacts and exports as the local engine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from campaignrec.cli.main import main
from campaignrec.errors import EXIT_USAGE
from campaignrec.models.registry import load_model

pytestmark = pytest.mark.spark

SPARK = ["--engine", "spark", "--spark-master", "local[2]"]


def run(capsys: Any, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out = capsys.readouterr()
    return int(info.value.code or 0), out.out, out.err


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import contextlib
    import io

    home = tmp_path_factory.mktemp("cli_home")
    shop = tmp_path_factory.mktemp("cli_shop")
    args = ["--data-dir", str(home), "generate", str(shop), "--users", "120", "--items", "30"]
    args += ["--events", "2500", "--fmt", "parquet", "--load"]
    with contextlib.redirect_stdout(io.StringIO()), pytest.raises(SystemExit) as info:
        main(args)
    assert info.value.code in (0, None)
    return home


def test_train_and_batch_export_on_spark(spark: Any, home: Path, capsys: Any) -> None:
    d = ["--data-dir", str(home)]
    code, out, err = run(capsys, *d, "train", "--model", "item_knn", *SPARK)
    assert code == 0, err
    spark_dir = Path(out.split("->")[-1].strip().replace("\n", ""))
    # the store's tables, exported for Spark, pass the validation they passed on import
    for entity in ("users", "items", "events"):
        assert len(pd.read_parquet(home / "spark" / "quarantine" / f"{entity}.parquet")) == 0
    assert len(pd.read_parquet(home / "spark" / "input" / "events.parquet")) == 2500
    code, out, err = run(capsys, *d, "train", "--model", "item_knn")
    assert code == 0, err
    local_dir = Path(out.split("->")[-1].strip().replace("\n", ""))
    a, b = load_model(local_dir), load_model(spark_dir)
    diff = (a.similarity_.tocsr() - b.similarity_.tocsr()).tocsr()
    assert diff.nnz == 0 or abs(diff).max() == 0
    # the batch export of the active version (the local one now) on both engines
    code, _, err = run(
        capsys, *d, "recommend", "--all", "--k", "3", "--out", str(home / "s.parquet"), *SPARK
    )
    assert code == 0, err
    code, _, err = run(
        capsys, *d, "recommend", "--all", "--k", "3", "--out", str(home / "l.parquet")
    )
    assert code == 0, err
    got, want = pd.read_parquet(home / "s.parquet"), pd.read_parquet(home / "l.parquet")
    assert list(got.columns) == list(want.columns)
    assert sorted(got["user_id"].unique()) == sorted(want["user_id"].unique())
    key = ["user_id", "rank"]
    pd.testing.assert_frame_equal(
        got.sort_values(key).reset_index(drop=True),
        want.sort_values(key).reset_index(drop=True),
        check_dtype=False,
    )


def test_profiles_export_on_spark(
    spark: Any, home: Path, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import functools

    from campaignrec.profiles import segments

    # the segmentation itself is compared in test_spark_segments; here a short k range and few
    # restarts keep the command quick (both engines read the patched defaults)
    fast = functools.partial(segments.SegmentConfig, k_max=3, n_init=2)
    monkeypatch.setattr(segments, "SegmentConfig", fast)
    d = ["--data-dir", str(home)]
    code, _, err = run(capsys, *d, "profiles", "export", "--out", str(home / "sp.parquet"), *SPARK)
    assert code == 0, err
    spark_rows = pd.read_parquet(home / "sp.parquet")
    meta = json.loads((home / "profiles" / "meta.json").read_text())
    assert meta["engine"]["name"] == "spark"
    code, _, err = run(
        capsys, *d, "profiles", "export", "--refresh", "--out", str(home / "lp.parquet")
    )
    assert code == 0, err
    local_rows = pd.read_parquet(home / "lp.parquet")
    assert list(spark_rows.columns) == list(local_rows.columns)
    assert spark_rows["user_id"].tolist() == local_rows["user_id"].tolist()
    pd.testing.assert_series_equal(spark_rows["monetary"], local_rows["monetary"])
    # the purchase model: local features and labels computed on Spark, fitted on the driver,
    # scored in partitions: the local scores
    for col in ("p_purchase_30d", "expected_spend_30d"):
        assert spark_rows[col].notna().all(), col
        np.testing.assert_allclose(spark_rows[col], local_rows[col], rtol=1e-9, atol=1e-12)
    assert meta["purchase_model"]["fitted"] and meta["purchase_model"]["n_train"] > 0
    # MLlib K-Means from the local seeds: the local partition
    # (the export names the columns segment_id and segment: the name)
    assert spark_rows["segment_id"].notna().all()
    assert adjusted_rand_score(local_rows["segment_id"], spark_rows["segment_id"]) == 1.0
    assert spark_rows["segment"].tolist() == local_rows["segment"].tolist()


def test_unknown_engine_and_spark_only_flags(home: Path, capsys: Any) -> None:
    d = ["--data-dir", str(home)]
    code, _, err = run(capsys, *d, "train", "--model", "item_knn", "--engine", "hadoop")
    assert code == EXIT_USAGE and "local, spark" in err
    code, _, err = run(capsys, *d, "recommend", "u1", "--engine", "spark")
    assert code == EXIT_USAGE and "--all" in err
    code, _, err = run(capsys, *d, "train", "--engine", "spark")
    assert code == EXIT_USAGE and "--model" in err
    code, out, _ = run(capsys, "segments", "--help")
    assert code == 0 and "--spark-master" in out and "--engine" in out
