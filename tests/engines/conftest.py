"""One SparkSession (local[2]) for the whole session and one tiny synthetic shop as Parquet.

Every Spark test is marked ``spark`` (deselect with ``-m "not spark"``) and skips with the
reason when pyspark or Java is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pytest

from campaignrec.data.synthetic import ShopConfig
from campaignrec.data.synthetic.writing import write_shop
from campaignrec.data.validation import validate_frame
from campaignrec.engines.spark.session import spark_missing_reason

SHOP = ShopConfig(n_users=150, n_items=40, n_events=4_000, n_campaigns=7, days=30, seed=3)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reason = spark_missing_reason()
    for item in items:
        if "tests/engines" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.spark)
            if reason is not None:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    from campaignrec.engines.spark.session import get_session

    session = get_session(
        "local[2]",
        {
            "spark.sql.shuffle.partitions": "2",
            "spark.default.parallelism": "2",
            "spark.driver.memory": "1g",
            # tiny data: compiling query code and re-planning stages cost more than they save
            "spark.sql.adaptive.enabled": "false",
            "spark.sql.codegen.wholeStage": "false",
            "spark.sql.codegen.factoryMode": "NO_CODEGEN",
        },
        app_name="campaignrec-tests",
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def shop_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("spark_shop")
    write_shop(SHOP, out, "parquet")
    return out


@pytest.fixture(scope="session")
def local_tables(shop_dir: Path) -> dict[str, pd.DataFrame]:
    """The shop's tables validated by the local executor (what a local import keeps)."""
    return {
        e: validate_frame(e, pl.read_parquet(shop_dir / f"{e}.parquet"), source=e).valid
        for e in ("users", "items", "events")
    }


@pytest.fixture(scope="session")
def spark_shop(spark: Any, shop_dir: Path) -> Any:
    from campaignrec.engines.spark.io import read_shop

    return read_shop(spark, shop_dir)


@pytest.fixture(scope="session")
def snap(spark: Any, spark_shop: Any) -> Any:
    """The shop's item-event snapshot on Spark (shared by the model and export tests)."""
    from campaignrec.engines.spark.models import spark_snapshot

    return spark_snapshot(spark, spark_shop)


@pytest.fixture(scope="session")
def profile_table(spark: Any, spark_shop: Any) -> Any:
    """The shop's profile table on Spark, persisted (shared by the profile and segment tests)."""
    from campaignrec.engines.spark.profiles import spark_profiles

    return spark_profiles(spark, spark_shop, buckets=3).persist()
