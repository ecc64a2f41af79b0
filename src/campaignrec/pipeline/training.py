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
    time_budget: float | None = None,
    progress: Any = None,
) -> TrainResult:
    """Train ``model`` (or the default configuration chosen on a validation split), save it under
    ``<home>/artifacts/<name>/<version>/`` and make it the active version in the registry.

    ``validation`` / ``validation_days`` pick the split the default is chosen on (see
    :func:`campaignrec.evaluation.selection.select_default`); they do not apply to a named model.
    ``time_budget`` (seconds; None: :func:`~campaignrec.evaluation.budget.default_time_budget`
    of the snapshot's events) bounds the default's selection, the snapshot build included;
    ``progress`` is a :class:`~campaignrec.evaluation.budget.SelectionProgress`."""
    from campaignrec.models.registry import create

    started = time.perf_counter()
    inter = interactions if interactions is not None else build_snapshot(store, settings)
    metrics: dict[str, Any] = {}
    if model is None:
        from campaignrec.evaluation.budget import default_time_budget
        from campaignrec.evaluation.selection import select_default

        if time_budget is not None and not time_budget > 0:
            raise ConfigError(
                f"time budget must be > 0 seconds, got {time_budget}", hint="--time-budget 60"
            )
        budget = default_time_budget(len(inter)) if time_budget is None else time_budget
        # the snapshot counts against the budget: the user waits for both
        kwargs: dict[str, Any] = {
            "seed": seed,
            "time_budget": max(budget - (time.perf_counter() - started), 0.05 * budget),
            "progress": progress,
        }
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
        selection.report["budget"] |= {"seconds": budget, "default": time_budget is None}
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
            # the end of the data it learned from: retrain counts the events after it
            "data_end": data_end_iso(inter),
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


def data_end_iso(inter: Interactions) -> str | None:
    """The latest event time of a snapshot as an ISO string (None for an empty one)."""
    if len(inter) == 0:
        return None
    return datetime.fromtimestamp(inter.reference_time, UTC).isoformat()


def active_model_row(store: ModelRegistry, name: str | None = None) -> dict[str, Any]:
    """The registry row of the served model: the active version of ``name``, or, with no name,
    of the most recently activated model (``activated_at``, then ``created_at``).

    The one rule the CLI, the ranking path and the service use to pick what they serve.

    Raises
    ------
    CampaignrecError
        Nothing is active (with the ``campaignrec train`` command to run).
    """
    models = store.list_models()
    active = models[models["active"].astype(bool)] if not models.empty else models
    if name is not None and not active.empty:
        active = active[active["name"] == name]
    if active.empty:
        if name is None:
            raise CampaignrecError("no trained model yet", hint="run: campaignrec train")
        raise CampaignrecError(
            f"no active version of model '{name}'", hint=f"run: campaignrec train --model {name}"
        )
    order = [c for c in ("activated_at", "created_at") if c in active.columns]
    if order:
        active = active.sort_values(order, kind="stable", na_position="first")
    return {str(k): v for k, v in active.iloc[-1].to_dict().items()}


def model_row(store: ModelRegistry, version: str, name: str | None = None) -> dict[str, Any]:
    """The registry row of ``version`` (of model ``name``, when given), active or not.

    Raises
    ------
    CampaignrecError
        No such version, or a version that several models share without ``name``.
    """
    models = store.list_models()
    found = models[models["version"].astype(str) == str(version)] if not models.empty else models
    if name is not None and not found.empty:
        found = found[found["name"] == name]
    if found.empty:
        raise CampaignrecError(
            f"no model version '{version}'" + (f" of '{name}'" if name else ""),
            hint="list them: campaignrec models list",
        )
    if len(found) > 1:
        raise CampaignrecError(
            f"model version '{version}' belongs to several models", hint="name the model too"
        )
    return {str(k): v for k, v in found.iloc[-1].to_dict().items()}


def active_model_path(store: ModelRegistry, name: str | None = None) -> Path:
    """The folder of the served version (:func:`active_model_row`'s ``path``)."""
    return Path(active_model_row(store, name)["path"])


def load_active_model(store: ModelRegistry, name: str | None = None) -> Any:
    """The active version of model ``name`` (or of the most recently activated model)."""
    from campaignrec.models.registry import load_model

    return load_model(active_model_row(store, name)["path"])


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
