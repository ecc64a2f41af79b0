"""The batch commands on Spark, end to end: what ``--engine spark`` runs.

Each job reads the shop's Parquet input (``--spark-input``; without it the store's tables are
exported to ``<home>/spark/input`` first), writes the quarantine of the rows it rejected to
``<home>/spark/quarantine/<entity>.parquet``, and leaves its artifacts where the local engine
leaves them, in the local formats:

- :func:`train_spark`: ``<home>/artifacts/<name>/<version>/`` registered and activated in the
  store (``campaignrec recommend`` and the service load it as any other version);
- :func:`compute_profiles_spark`: ``<home>/profiles`` (``profiles.parquet``, ``segments.json``,
  ``meta.json``) and the store's ``profiles`` table;
- :func:`recommend_all_spark`: a Parquet dataset of the batch export.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from campaignrec.engines import ENGINES
from campaignrec.engines.spark.session import DEFAULT_MASTER
from campaignrec.errors import ConfigError

SPARK_DIR = "spark"


def check_engine(engine: str) -> str:
    """``local`` or ``spark``; anything else is a ConfigError naming the choices."""
    if engine not in ENGINES:
        raise ConfigError(
            f"--engine {engine!r} is unknown", hint=f"use one of {', '.join(ENGINES)}"
        )
    return engine


@dataclass(frozen=True)
class SparkOptions:
    """Where and how a Spark job runs.

    Parameters
    ----------
    master
        ``local[*]``, ``spark://host:7077``, ``yarn``, ``k8s://...``.
    conf
        Spark settings passed through (``spark.executor.memory`` ...).
    input
        Directory (or URI) with ``events``, ``items``, ``users`` as Parquet (file or dataset);
        None: export the store's tables to ``<home>/spark/input`` first.
    mappings
        Entity -> mapping file (TOML, :func:`campaignrec.data.mapping.load_mapping`) of a table
        of ``input`` in another layout; applied to every Arrow batch before the validation.
    """

    master: str = DEFAULT_MASTER
    conf: Mapping[str, str] = field(default_factory=dict)
    input: str | None = None
    mappings: Mapping[str, str] = field(default_factory=dict)


MAPPED_ENTITIES = ("events", "items", "users")


def parse_mappings(pairs: list[str] | None, input_dir: str | None) -> dict[str, str]:
    """``--mapping`` values: ``FILE`` (the events table) or ``ENTITY=FILE``; a ConfigError naming
    the value for an unknown entity, a repeated one, a missing file or no ``--spark-input``."""
    out: dict[str, str] = {}
    for pair in pairs or []:
        entity, sep, path = pair.partition("=")
        if not sep:
            entity, path = "events", pair
        entity = entity.strip()
        if entity not in MAPPED_ENTITIES:
            raise ConfigError(
                f"--mapping {pair!r}: unknown table {entity!r}",
                hint=f"use FILE or ENTITY=FILE with ENTITY one of {', '.join(MAPPED_ENTITIES)}",
            )
        if entity in out:
            raise ConfigError(f"--mapping: two mapping files for {entity}", hint="give one")
        if not Path(path).is_file():
            raise ConfigError(
                f"--mapping {pair!r}: no such file {path!r}", hint="check the mapping path"
            )
        out[entity] = path
    if out and input_dir is None:
        raise ConfigError(
            "--mapping maps the tables of --spark-input",
            hint="add --spark-input DIR (the store's own tables are already canonical)",
        )
    return out


def _session(options: SparkOptions) -> Any:
    from campaignrec.engines.spark.session import get_session

    return get_session(options.master, options.conf)


def _input(store: Any, home: Path, options: SparkOptions) -> str | Path:
    if options.input is not None:
        return options.input  # a local directory or a URI (hdfs://, s3a://): kept as text
    from campaignrec.engines.spark.io import export_store

    return export_store(store, Path(home) / SPARK_DIR / "input")


def _read(spark: Any, store: Any, home: Path, options: SparkOptions) -> Any:
    from campaignrec.data.mapping import load_mapping
    from campaignrec.engines.spark.io import read_shop, write_quarantine

    maps = {entity: load_mapping(path) for entity, path in options.mappings.items()}
    shop = read_shop(spark, _input(store, home, options), mappings=maps)
    write_quarantine(shop.tables(), Path(home) / SPARK_DIR / "quarantine")
    return shop


# ---- train --------------------------------------------------------------------------------------
def train_spark(
    store: Any,
    settings: Any,
    model: str | None,
    params: dict[str, Any] | None,
    options: SparkOptions,
) -> Any:
    """Train ``model`` on Spark, save it as the local artifact, register and activate it.

    Returns the :class:`campaignrec.pipeline.training.TrainResult` the local ``train`` returns.
    """
    from campaignrec.engines.spark.models import SPARK_MODELS, fit_model, spark_snapshot
    from campaignrec.pipeline.training import TrainResult, new_version

    if model is None:
        raise ConfigError(
            "--engine spark trains a named model (the default is chosen on a local split)",
            hint=f"add --model {' | '.join(SPARK_MODELS)}",
        )
    started = time.perf_counter()
    spark = _session(options)
    shop = _read(spark, store, settings.home, options)
    snap = spark_snapshot(
        spark, shop, event_weights=settings.event_weights, half_life_days=settings.half_life_days
    )
    fitted = fit_model(spark, snap, model, params or {})
    version = new_version()
    path = Path(settings.artifacts_dir) / fitted.name / version
    fitted.save(path)
    meta_path = path / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta.update(
        {
            "version": version,
            "created": datetime.now(UTC).isoformat(),
            "metrics": {},
            "n_users": snap.n_users,
            "n_items": snap.n_items,
            "n_events": snap.n_events,
            "engine": {"name": "spark", "master": options.master},
        }
    )
    meta_path.write_text(json.dumps(meta, indent=2, default=str))
    store.register_model(fitted.name, version, str(path), meta)
    store.activate_model(fitted.name, version)
    return TrainResult(
        name=fitted.name,
        version=version,
        path=path,
        snapshot_id=snap.snapshot_id,
        params=meta["params"],
        metrics={},
        seconds=time.perf_counter() - started,
    )


def spark_trainer(options: SparkOptions) -> Callable[..., Any]:
    """A stand-in for :func:`campaignrec.pipeline.training.train` that trains on Spark (the
    arguments of the local default selection, trials and validation split, do not apply)."""

    def run(
        store: Any, settings: Any, model: str | None, params: dict[str, Any] | None, **_: Any
    ) -> Any:
        return train_spark(store, settings, model, params, options)

    return run


# ---- profiles and segments ----------------------------------------------------------------------
def compute_profiles_spark(
    open_store: Callable[[], Any],
    home: Path,
    directory: Path,
    options: SparkOptions,
) -> Any:
    """Profiles (and segments) on Spark, saved as the local profiles under ``directory``.

    The events are aggregated on Spark; the driver receives one row per user (the profile
    table), fits BG/NBD + Gamma-Gamma on it as the local engine does, and saves everything with
    :func:`campaignrec.profiles.pipeline.save_profiles`. The purchase model is the local one:
    its features (the profiles at the cutoff) and labels are computed on Spark, it is fitted on
    the driver and scores the users in partitions (:mod:`campaignrec.engines.spark.predict`).
    """
    from campaignrec.engines.spark.predict import fit_purchase_model_spark, predict_purchases_spark
    from campaignrec.engines.spark.profiles import end_of_events, spark_profiles, to_local_frame
    from campaignrec.engines.spark.segments import assign_segments_spark, fit_segments_spark
    from campaignrec.pipeline.profiles import iter_profile_attributes
    from campaignrec.profiles.config import ProfileConfig
    from campaignrec.profiles.pipeline import SEGMENTS_FILE, ProfileResult, save_profiles
    from campaignrec.profiles.predict import add_lifetime_value
    from campaignrec.profiles.segments import SegmentConfig, SegmentModel
    from campaignrec.store.profiles import ProfileRepository
    from campaignrec.store.sql import SQLStore

    cfg, seg_cfg = ProfileConfig(), SegmentConfig()
    d = Path(directory)
    previous = SegmentModel.load(d / SEGMENTS_FILE) if (d / SEGMENTS_FILE).is_file() else None
    spark = _session(options)
    store = open_store()
    try:
        shop = _read(spark, store, home, options)
    finally:
        store.close()
    end = end_of_events(shop.events.valid)
    purchase_model, purchase_meta = fit_purchase_model_spark(spark, shop, end, cfg)
    table = spark_profiles(spark, shop, config=cfg, as_of=end)
    table = predict_purchases_spark(table, purchase_model).persist()
    n_users = table.count()
    seg_model = None
    if n_users > seg_cfg.k_min:
        seg_model = fit_segments_spark(spark, table, seg_cfg, previous=previous)
        profiles = to_local_frame(assign_segments_spark(table, seg_model))
    else:
        profiles = to_local_frame(table)
        profiles["segment"], profiles["segment_name"], profiles["segment_name_zh"] = -1, None, None
    segments = profiles[["segment", "segment_name", "segment_name_zh"]].copy()
    profiles = profiles.drop(columns=list(segments.columns))
    meta: dict[str, Any] = {
        "as_of": end.isoformat(),
        "created": datetime.now(UTC).isoformat(),
        "n_users": len(profiles),
        "n_events": shop.events.valid.count(),
        "horizon_days": cfg.horizon_days,
        "purchase_model": purchase_meta,
        "engine": {"name": "spark", "master": options.master},
    }
    meta["lifetime_value"] = add_lifetime_value(profiles, cfg.clv_days)
    profiles = profiles.join(segments)
    if seg_model is not None:
        meta["segments"] = {"k": seg_model.k_, "silhouette": seg_model.silhouette_}
    profiles.attrs["as_of"] = end.isoformat()
    table.unpersist()
    result = ProfileResult(profiles=profiles, segments=seg_model, meta=meta)
    save_profiles(result, d)
    store = open_store()
    try:
        if isinstance(store, SQLStore):
            ProfileRepository(store).replace_all(iter_profile_attributes(profiles))
    finally:
        store.close()
    return result


# ---- batch recommend ----------------------------------------------------------------------------
def recommend_all_spark(
    store: Any,
    model: str | None,
    out: Path | None,
    k: int,
    options: SparkOptions,
    *,
    all_users: bool = True,
) -> tuple[int, Path]:
    """Every known user's top-``k`` from the active model, as a Parquet dataset at ``out``.

    Returns (rows written, model folder).
    """
    from campaignrec.engines.spark.recommend import recommend_all
    from campaignrec.pipeline.training import active_model_path

    if not all_users or out is None:
        raise ConfigError(
            "--engine spark runs the batch export of every user",
            hint="use recommend --all --out recs.parquet --engine spark",
        )
    path = active_model_path(store, model)
    spark = _session(options)
    rows = recommend_all(
        spark,
        path,
        out,
        k=k,
        items=store.read_table("items"),
        users_table=store.read_table("users"),
        campaigns_table=store.read_table("campaigns"),
    )
    return rows, path


# ---- campaign planning --------------------------------------------------------------------------
def plan_campaign_all_spark(
    store: Any,
    home: Path,
    campaign_id: str,
    out: Path,
    options: SparkOptions,
    **plan: Any,
) -> Any:
    """``campaigns plan CAMPAIGN_ID --engine spark --out DIR``: the local plan for every shopper
    with the per-shopper work on Spark (:func:`campaignrec.engines.spark.campaigns.
    plan_campaign_spark`; ``plan``: its keyword arguments, ``now`` included)."""
    from campaignrec.engines.spark.campaigns import plan_campaign_spark

    spark = _session(options)
    shop = _read(spark, store, home, options)
    return plan_campaign_spark(spark, store, shop, campaign_id, out, **plan)
