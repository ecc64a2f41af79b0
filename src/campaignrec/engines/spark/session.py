"""The SparkSession every Spark stage runs in, and the check that Spark can run at all."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Mapping
from typing import Any

from campaignrec.errors import ConfigError

DEFAULT_MASTER = "local[*]"

#: Settings every session gets (a caller's ``conf`` overrides them). UTC session time so that
#: timestamps cross the Python/JVM border unchanged; Arrow for pandas UDFs.
BASE_CONF: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.adaptive.enabled": "true",
}


def spark_missing_reason() -> str | None:
    """Why Spark cannot run here (no ``pyspark``, no Java), or None when it can."""
    try:
        found = importlib.util.find_spec("pyspark") is not None
    except (ImportError, ValueError):  # a broken or blocked install
        found = False
    if not found:
        return "pyspark is not installed (pip install 'campaignrec[spark]')"
    java_home = os.environ.get("JAVA_HOME")
    if not (java_home and os.path.exists(os.path.join(java_home, "bin", "java"))) and not (
        shutil.which("java")
    ):
        return "no Java runtime found (Spark needs Java 17+ on PATH or JAVA_HOME)"
    return None


def require_spark() -> None:
    """Raise a :class:`ConfigError` naming the fix when Spark cannot run here."""
    reason = spark_missing_reason()
    if reason is not None:
        raise ConfigError(
            f"the spark engine cannot run: {reason}",
            hint="install the extra (pip install 'campaignrec[spark]') and Java 17+, "
            "or use --engine local",
        )


def parse_conf(pairs: list[str] | None) -> dict[str, str]:
    """``["spark.executor.memory=4g", ...]`` -> dict; a pair without ``=`` is a ConfigError."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"--spark-conf {pair!r} is not KEY=VALUE",
                hint="e.g. --spark-conf spark.executor.memory=4g",
            )
        out[key.strip()] = value.strip()
    return out


def get_session(
    master: str = DEFAULT_MASTER,
    conf: Mapping[str, str] | None = None,
    *,
    app_name: str = "campaignrec",
) -> Any:
    """A SparkSession on ``master`` (``local[*]``, ``spark://host:7077``, ``yarn`` ...).

    ``conf`` is passed through (``spark.executor.memory``, ``spark.sql.shuffle.partitions`` ...).
    Under ``spark-submit`` the master and settings given there win (``getOrCreate`` returns the
    session it made).
    """
    require_spark()
    # the Python workers run this interpreter (with campaignrec and its dependencies), unless
    # the cluster says otherwise
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    # pyspark warns on every worker start that it has not been certified with pandas 3; the
    # stages here are tested with it (tests/engines), so keep the executors' logs readable
    os.environ.setdefault("PYTHONWARNINGS", "ignore::FutureWarning:pyspark.sql.pandas.types")
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    builder = SparkSession.builder.appName(app_name)
    if master and active is None:
        builder = builder.master(master)
    # a session made before (spark-submit, a notebook, a test) keeps its settings but ours
    settings = dict(conf or {}) if active is not None else {**BASE_CONF, **dict(conf or {})}
    for key, value in settings.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
