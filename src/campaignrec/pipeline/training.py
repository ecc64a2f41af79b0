"""Train end to end: store -> snapshot -> model -> artifacts, and load the active version back.

Every artifact names the snapshot it was trained on; the registry keeps one active version per
model name.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from campaignrec.config import Settings
from campaignrec.data.interactions import Interactions
from campaignrec.errors import CampaignrecError, ConfigError
from campaignrec.pipeline.snapshot import build_snapshot
from campaignrec.store.protocols import ModelRegistry, TrainingStore


@dataclass
class TrainResult:
    name: str
    version: str
    path: Path
    snapshot_id: str
    params: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def new_version() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def train(
    store: TrainingStore,
    settings: Settings,
    model: str | None = None,
    params: dict[str, Any] | None = None,
    *,
    interactions: Interactions | None = None,
    tune_trials: int | None = None,
    validation: str = "user_temporal",
    validation_days: float | None = None,
    seed: int = 0,
) -> TrainResult:
    """Train ``model`` (or the default configuration chosen on a validation split), save it under
    ``<home>/artifacts/<name>/<version>/`` and make it the active version in the registry.

    ``validation`` / ``validation_days`` pick the split the default is chosen on (see
    :func:`campaignrec.evaluation.tuning.select_default`); they do not apply to a named model."""
    from campaignrec.models.registry import create

    started = time.perf_counter()
    inter = interactions if interactions is not None else build_snapshot(store, settings)
    metrics: dict[str, Any] = {}
    if model is None:
        from campaignrec.evaluation.tuning import select_default

        kwargs: dict[str, Any] = {"seed": seed}
        if tune_trials is not None:
            kwargs["n_trials"] = tune_trials
        kwargs["validation"] = validation
        if validation_days is not None:
            if validation != "global_temporal":
                raise ConfigError(
                    "validation_days applies to the global_temporal validation only",
                    hint="add --validation global_temporal",
                )
            kwargs["validation_params"] = {"test_days": validation_days}
        selection = select_default(inter, **kwargs)
        fitted = selection.model
        metrics = {"selection": _jsonable(selection.report)}
    else:
        try:
            fitted = create(model, **(params or {})).fit(inter)
        except TypeError as exc:
            raise ConfigError(f"model '{model}': {exc}") from exc
    version = new_version()
    path = settings.artifacts_dir / fitted.name / version
    fitted.save(path)
    meta_path = path / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta.update(
        {
            "version": version,
            "created": datetime.now(UTC).isoformat(),
            "metrics": metrics,
            "n_users": inter.n_users,
            "n_items": inter.n_items,
            "n_events": len(inter),
        }
    )
    meta_path.write_text(json.dumps(meta, indent=2, default=str))
    store.register_model(fitted.name, version, str(path), meta)
    store.activate_model(fitted.name, version)
    return TrainResult(
        name=fitted.name,
        version=version,
        path=path,
        snapshot_id=inter.snapshot_id,
        params=meta["params"],
        metrics=metrics,
        seconds=time.perf_counter() - started,
    )


def active_model_path(store: ModelRegistry, name: str | None = None) -> Path:
    """The folder of the active version of model ``name`` (or of the most recently activated
    model)."""
    if name is None:
        models = store.list_models()
        active = models[models["active"]] if not models.empty else models
        if active.empty:
            raise CampaignrecError("no trained model yet", hint="run: campaignrec train")
        row = (
            active.sort_values("created_at").iloc[-1] if "created_at" in active else active.iloc[-1]
        )
        return Path(row["path"])
    info = store.active_model(name)
    if info is None:
        raise CampaignrecError(
            f"no active version of model '{name}'", hint=f"run: campaignrec train --model {name}"
        )
    return Path(info["path"])


def load_active_model(store: ModelRegistry, name: str | None = None) -> Any:
    """The active version of model ``name`` (or of the most recently activated model)."""
    from campaignrec.models.registry import load_model

    return load_model(active_model_path(store, name))


def recommend_frame(model: Any, user_ids: list[str] | np.ndarray, k: int) -> pd.DataFrame:
    """Top-k per user as rows ``user_id, rank, item_id, score, reason`` (the batch export)."""
    user_ids = np.asarray(user_ids, dtype=object)
    ids, scores = model.recommend(user_ids, k=k)
    known = model.users_.index(user_ids, missing="ignore")
    warm = model._has_history(known) | (bool(model.handles_cold_users) & (known >= 0))
    reason = np.where(warm, model.name, "popular")
    frame = pd.DataFrame(
        {
            "user_id": np.repeat(user_ids, k),
            "rank": np.tile(np.arange(1, k + 1), len(user_ids)),
            "item_id": ids.ravel(),
            "score": scores.ravel(),
            "reason": np.repeat(reason, k),
        }
    )
    return frame[frame["item_id"].notna()].reset_index(drop=True)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
