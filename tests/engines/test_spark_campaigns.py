"""``campaigns plan CAMPAIGN_ID --engine spark --out DIR``: the local plan, computed for every
shopper on Spark (eligibility and scores in partitions, the greedy allocation on the driver)."""

from __future__ import annotations

import contextlib
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from campaignrec.cli.main import main
from campaignrec.errors import EXIT_VALIDATION

pytestmark = pytest.mark.spark

AT = "2025-06-01T00:00Z"


def run(capsys: Any, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out = capsys.readouterr()
    return int(info.value.code or 0), out.out, out.err


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("plan_home")
    shop = tmp_path_factory.mktemp("plan_shop")
    d = ["--data-dir", str(home)]
    gen = ["generate", str(shop), "--users", "120", "--items", "30", "--events", "2500"]
    for args in (
        [*d, *gen, "--fmt", "parquet", "--load"],
        # stored profiles: the plan's attributes include segments (the default --segment-field)
        [*d, "profiles", "export", "--out", str(home / "profiles.parquet")],
    ):
        with contextlib.redirect_stdout(io.StringIO()), pytest.raises(SystemExit) as info:
            main(args)
        assert info.value.code in (0, None)
    return home


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-12, abs=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def test_plan_command_on_spark_gives_the_local_plan(spark: Any, home: Path, capsys: Any) -> None:
    d = ["--data-dir", str(home)]
    out = home / "plan_c000"
    code, text, err = run(capsys, *d, "campaigns", "plan", "c000", "--at", AT, "--json")
    assert code == 0, err
    want = json.loads(text)
    assert "'segment'" in want["uplift_source"]  # the stored profiles' segments group shoppers
    code, text, err = run(
        capsys, *d, "campaigns", "plan", "c000", "--at", AT, "--json",
        "--engine", "spark", "--spark-master", "local[2]", "--out", str(out),
    )  # fmt: skip
    assert code == 0, err
    got = json.loads(text)
    assert _same(got, want), (got, want)
    assert _same(json.loads((out / "plan.json").read_text()), want)
    scores = pd.read_parquet(out / "scores")
    assert len(scores) == want["audience_size"] == scores["user_id"].nunique()
    assert {"p_control", "p_treated", "value", "cost"} <= set(scores.columns)
    # the local --out writes the same plan and recipients
    code, _, err = run(
        capsys, *d, "campaigns", "plan", "c000", "--at", AT, "--out", str(home / "local_plan")
    )
    assert code == 0, err
    pd.testing.assert_frame_equal(
        pd.read_parquet(out / "recipients.parquet"),
        pd.read_parquet(home / "local_plan" / "recipients.parquet"),
    )


def test_uplift_file_and_conversions_objective(spark: Any, home: Path, tmp_path: Path) -> None:
    """Estimates from a file (joined on Spark), conversions as the objective: the same
    strategies and the same recipients, in the same order, as the local plan."""
    from campaignrec.engines.spark.jobs import SparkOptions, plan_campaign_all_spark
    from campaignrec.pipeline.campaigns import plan_for
    from campaignrec.store.sql import SQLStore

    store = SQLStore(f"sqlite:///{home / 'campaignrec.db'}")
    try:
        users = store.read_table("users")["user_id"].astype(str).tolist()
        rng = np.random.default_rng(0)
        pc = rng.uniform(0.01, 0.2, len(users))
        uplift = tmp_path / "uplift.csv"
        est = pd.DataFrame(
            {"user_id": users, "p_control": pc, "uplift": rng.uniform(0, 0.1, len(users))}
        )
        est.to_csv(uplift, index=False)
        kw: dict[str, Any] = dict(
            now=pd.Timestamp(AT).to_pydatetime(), uplift=uplift, objective="conversions"
        )
        want = plan_for(store, "c002", **kw)
        got = plan_campaign_all_spark(
            store, home, "c002", tmp_path / "out", SparkOptions(master="local[2]"), **kw
        )
    finally:
        store.close()
    assert got.audience_size == want.audience_size > 0
    assert _same(got.plan, want.plan), (got.plan, want.plan)
    assert want.plan["strategies"][0]["reach"] > 0
    assert got.recipients is not None and want.recipients is not None
    pd.testing.assert_frame_equal(got.recipients, want.recipients)


def test_spark_plan_needs_out(home: Path, capsys: Any) -> None:
    code, _, err = run(
        capsys, "--data-dir", str(home), "campaigns", "plan", "c000", "--engine", "spark"
    )
    assert code == EXIT_VALIDATION and "--out" in err
