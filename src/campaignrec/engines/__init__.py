"""Engines that run the batch stages: ``local`` (this process, the rest of the package) and
``spark`` (:mod:`campaignrec.engines.spark`, Apache Spark through ``pyspark``).

Both write the same artifacts (profile tables, segment models, model folders, batch exports), so
the service and the CLI do not care where they were computed. The Spark engine is an optional
extra (``pip install 'campaignrec[spark]'`` and a Java 17+ runtime); nothing here imports
``pyspark`` until a Spark stage runs.
"""

from __future__ import annotations

ENGINES: tuple[str, ...] = ("local", "spark")

__all__ = ["ENGINES"]
