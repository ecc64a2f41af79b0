"""The batch stages on Apache Spark, writing the local engine's artifacts.

- :mod:`~campaignrec.engines.spark.session`: the SparkSession (master, config passed through).
- :mod:`~campaignrec.engines.spark.io`: Parquet input validated by the local rules, quarantine.
- :mod:`~campaignrec.engines.spark.profiles`: RFM, behaviour, interests, lifecycle per user.

Nothing here imports ``pyspark`` at import time; a stage that runs without it raises a
:class:`~campaignrec.errors.ConfigError` naming the fix (``pip install 'campaignrec[spark]'``).
"""

from __future__ import annotations
