"""Hyper-parameter search with Optuna on a validation split carved from train, never from test.

Search spaces are declared as data (``SEARCH_SPACES``: model name -> parameter -> spec), the
objective is NDCG@k of the model fitted on the validation-train part and ranking the full
catalogue for the validation users, the sampler is a seeded TPE, and the budget is a number of
trials and/or a timeout. ``tune_blend_weights`` searches the weights of a score fusion of
already-fitted models the same way.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from campaignrec.data.interactions import Interactions
from campaignrec.errors import ConfigError, ValidationError
from campaignrec.evaluation.metrics import ranking_metrics
from campaignrec.evaluation.splits import GroundTruth, Split, ground_truth, validation_split

log = logging.getLogger(__name__)

# Parameter specs: {"type": "float"|"int"|"categorical", "low", "high", "log", "choices"}.
# Keys are model names of the registry; parameters a model does not have are rejected at use.
SEARCH_SPACES: dict[str, dict[str, dict[str, Any]]] = {
    "most_popular": {
        "half_life_days": {"type": "categorical", "choices": [None, 1.0, 7.0, 30.0, 180.0]},
    },
    "item_knn": {
        "similarity": {"type": "categorical", "choices": ["cosine", "bm25", "tfidf", "jaccard"]},
        "neighbours": {"type": "int", "low": 10, "high": 400, "log": True},
        "shrinkage": {"type": "float", "low": 0.0, "high": 100.0},
    },
    "user_knn": {
        "similarity": {"type": "categorical", "choices": ["cosine", "bm25", "tfidf", "jaccard"]},
        "neighbours": {"type": "int", "low": 10, "high": 400, "log": True},
        "shrinkage": {"type": "float", "low": 0.0, "high": 100.0},
    },
    "als": {
        "factors": {"type": "int", "low": 16, "high": 256, "log": True},
        "regularization": {"type": "float", "low": 1e-3, "high": 10.0, "log": True},
        "alpha": {"type": "float", "low": 0.5, "high": 50.0, "log": True},
        "iterations": {"type": "int", "low": 5, "high": 30},
    },
    "bpr": {
        "factors": {"type": "int", "low": 16, "high": 256, "log": True},
        "learning_rate": {"type": "float", "low": 1e-3, "high": 0.2, "log": True},
        "regularization": {"type": "float", "low": 1e-5, "high": 0.1, "log": True},
        "iterations": {"type": "int", "low": 20, "high": 200, "log": True},
    },
    "ease": {
        "l2": {"type": "float", "low": 1.0, "high": 5000.0, "log": True},
    },
    "ease_recency": {
        "l2": {"type": "float", "low": 1.0, "high": 5000.0, "log": True},
        "recency_half_life": {"type": "float", "low": 1.0, "high": 200.0, "log": True},
    },
}


def suggest(trial: Any, space: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Draw one configuration from ``space`` with an Optuna trial."""
    out: dict[str, Any] = {}
    for name, spec in space.items():
        kind = spec.get("type")
        if kind == "float":
            out[name] = trial.suggest_float(
                name, spec["low"], spec["high"], log=spec.get("log", False)
            )
        elif kind == "int":
            out[name] = trial.suggest_int(
                name, spec["low"], spec["high"], log=spec.get("log", False)
            )
        elif kind == "categorical":
            choices = list(spec["choices"])
            # Optuna stores categorical values; None and floats are fine, keep them as they are
            out[name] = trial.suggest_categorical(name, choices)
        else:
            raise ConfigError(
                f"search space '{name}': unknown type {kind!r}", hint="float, int or categorical"
            )
    return out


@dataclasses.dataclass(frozen=True, eq=False)
class ValidationData:
    """A validation protocol carved from train: the part to fit on and the targets to hit."""

    fit_part: Interactions
    truth: GroundTruth
    k: int

    def score(self, recs: NDArray[np.int64]) -> float:
        """Mean NDCG@k of top-k lists for ``truth.user_idx``."""
        return float(
            ranking_metrics(recs, self.truth.items, [self.k], ["ndcg"])[f"ndcg@{self.k}"].mean()
        )

    def evaluate(self, model: Any) -> float:
        """Mean NDCG@k of a model already fitted on ``fit_part``."""
        recs, _ = model.recommend_idx(self.truth.user_idx, self.k, exclude_seen=True)
        return self.score(recs)


def make_validation(
    train: Interactions,
    like: Split | str = "user_temporal",
    *,
    k: int = 10,
    max_users: int | None = None,
    target_event_types: Sequence[str] | None = None,
    seed: int = 0,
    **split_params: Any,
) -> ValidationData:
    """Carve validation from ``train`` like ``like`` (a Split or a split kind) and its targets."""
    vsplit = validation_split(train, like, **split_params)
    fit_part, val = vsplit.apply(train)
    truth = ground_truth(fit_part, val, event_types=target_event_types)
    if truth.n_users == 0:
        raise ValidationError(
            "validation",
            "the validation split has no user with a target",
            hint="there is too little data to tune; use fixed parameters",
        )
    if max_users is not None and truth.n_users > max_users:
        keep = np.sort(
            np.random.default_rng(seed).choice(truth.n_users, size=max_users, replace=False)
        )
        truth = GroundTruth(truth.user_idx[keep], truth.items[keep])
    return ValidationData(fit_part, truth, k)


@dataclasses.dataclass
class TuningResult:
    """Best configuration found and every trial's parameters and value."""

    best_params: dict[str, Any]
    best_value: float
    trials: list[dict[str, Any]]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def tune(
    factory: Callable[[dict[str, Any]], Any],
    space: Mapping[str, Mapping[str, Any]],
    validation: ValidationData,
    *,
    n_trials: int = 20,
    timeout: float | None = None,
    seed: int = 0,
    fixed: Mapping[str, Any] | None = None,
    baseline: Mapping[str, Any] | None = None,
) -> TuningResult:
    """Search ``space`` with a seeded TPE sampler; the objective is validation NDCG@k.

    Parameters
    ----------
    factory : params dict -> an unfitted model (Recommender-like: fit, recommend_idx)
    space : parameter specs (see ``SEARCH_SPACES``)
    validation : from ``make_validation`` (carved from train, never test)
    n_trials, timeout : budget (whichever ends first)
    seed : sampler seed
    fixed : parameters passed to every trial unchanged
    baseline : a configuration evaluated first (for example the defaults), so tuning never
        returns something worse on validation than it
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    fixed = dict(fixed or {})
    trials: list[dict[str, Any]] = []
    t_start = time.perf_counter()

    def objective(trial: Any) -> float:
        params = fixed | suggest(trial, space)
        model = factory(params)
        model.fit(validation.fit_part)
        value = validation.evaluate(model)
        trials.append({"params": params, "value": value})
        return value

    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(5, max(1, n_trials // 3)))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    if baseline:
        study.enqueue_trial({k: v for k, v in baseline.items() if k in space})
    study.optimize(objective, n_trials=n_trials, timeout=timeout, gc_after_trial=False)
    best = max(trials, key=lambda t: t["value"])
    return TuningResult(
        dict(best["params"]), float(best["value"]), trials, time.perf_counter() - t_start
    )


def space_for(name: str, params_class: type | None = None) -> dict[str, dict[str, Any]]:
    """The declared search space of model ``name``, restricted to fields of ``params_class``."""
    if name not in SEARCH_SPACES:
        raise ConfigError(
            f"no search space declared for model {name!r}", hint=f"known: {sorted(SEARCH_SPACES)}"
        )
    space = SEARCH_SPACES[name]
    if params_class is None or not dataclasses.is_dataclass(params_class):
        return dict(space)
    fields = {f.name for f in dataclasses.fields(params_class)}
    return {k: v for k, v in space.items() if k in fields}


# ---- blends --------------------------------------------------------------------------------------
def normalise_scores(scores: NDArray[np.floating], method: str = "zscore") -> NDArray[np.float32]:
    """Per-user normalisation of a dense score matrix before fusion (-inf entries kept).

    ``zscore`` subtracts each row's mean and divides by its standard deviation; ``minmax`` maps
    each row to [0, 1]; ``rank`` gives 1 / (60 + rank) (reciprocal-rank fusion).
    """
    s = np.asarray(scores, dtype=np.float32)
    finite = np.isfinite(s)
    safe = np.where(finite, s, np.nan)
    if method == "zscore":
        mu = np.nanmean(safe, axis=1, keepdims=True)
        sd = np.nanstd(safe, axis=1, keepdims=True)
        out = (safe - mu) / np.where(sd > 0, sd, 1.0)
    elif method == "minmax":
        lo = np.nanmin(safe, axis=1, keepdims=True)
        hi = np.nanmax(safe, axis=1, keepdims=True)
        out = (safe - lo) / np.where(hi > lo, hi - lo, 1.0)
    elif method == "rank":
        order = np.argsort(-np.where(finite, s, -np.inf), axis=1)
        ranks = np.empty_like(order)
        np.put_along_axis(ranks, order, np.arange(s.shape[1])[None, :].repeat(len(s), 0), axis=1)
        out = 1.0 / (60.0 + ranks.astype(np.float32))
    else:
        raise ConfigError(f"unknown normalisation {method!r}", hint="zscore, minmax or rank")
    return np.where(finite, out, -np.inf).astype(np.float32)


def tune_blend_weights(
    components: Mapping[str, Any],
    validation: ValidationData,
    *,
    n_trials: int = 30,
    timeout: float | None = None,
    seed: int = 0,
    normalisation: str = "zscore",
    low: float = 0.0,
    high: float = 1.0,
) -> TuningResult:
    """Weights of a score fusion of models already fitted on ``validation.fit_part``.

    The first component's weight is fixed at 1 (only ratios matter); the others are searched in
    ``[low, high]`` times that. Scores are normalised per user (``normalise_scores``) and summed.
    Returns the best weights as ``{"weights": {name: w}, "normalisation": ...}``.
    """
    import optuna

    from campaignrec.models.base import top_k

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    names = list(components)
    if len(names) < 2:
        raise ValidationError("components", "a blend needs at least two models", value=names)
    users = validation.truth.user_idx
    seen = validation.fit_part.binary[users]
    r, c = seen.nonzero()
    mats = []
    for name in names:
        s = np.asarray(components[name].score_matrix(users), dtype=np.float32).copy()
        s[r, c] = -np.inf
        mats.append(normalise_scores(s, normalisation))
    k = validation.k
    trials: list[dict[str, Any]] = []
    t_start = time.perf_counter()

    def value_of(weights: Mapping[str, float]) -> float:
        fused = np.zeros_like(mats[0])
        for name, m in zip(names, mats, strict=True):
            w = float(weights[name])
            if w != 0.0:
                fused += w * np.where(np.isfinite(m), m, 0.0)
        fused[r, c] = -np.inf
        idx, _ = top_k(fused, k)
        return validation.score(idx)

    def objective(trial: Any) -> float:
        weights = {names[0]: 1.0} | {n: trial.suggest_float(n, low, high) for n in names[1:]}
        value = value_of(weights)
        trials.append(
            {"params": {"weights": weights, "normalisation": normalisation}, "value": value}
        )
        return value

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial(dict.fromkeys(names[1:], low))  # the first model alone
    study.optimize(objective, n_trials=n_trials, timeout=timeout, gc_after_trial=False)
    best = max(trials, key=lambda t: t["value"])
    return TuningResult(
        dict(best["params"]), float(best["value"]), trials, time.perf_counter() - t_start
    )
