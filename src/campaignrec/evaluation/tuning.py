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
import scipy.sparse as sp
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
        "factors": {"type": "int", "low": 16, "high": 128, "log": True},
        "regularization": {"type": "float", "low": 1e-3, "high": 10.0, "log": True},
        "alpha": {"type": "float", "low": 0.5, "high": 50.0, "log": True},
        "iterations": {"type": "int", "low": 5, "high": 20},
    },
    "bpr": {
        "factors": {"type": "int", "low": 16, "high": 128, "log": True},
        "learning_rate": {"type": "float", "low": 1e-3, "high": 0.2, "log": True},
        "regularization": {"type": "float", "low": 1e-5, "high": 0.1, "log": True},
        "iterations": {"type": "int", "low": 20, "high": 150, "log": True},
    },
    "ease": {
        "l2": {"type": "float", "low": 1.0, "high": 5000.0, "log": True},
    },
    "ease_recency": {
        "l2": {"type": "float", "low": 1.0, "high": 5000.0, "log": True},
        "recency_half_life": {"type": "float", "low": 1.0, "high": 200.0, "log": True},
    },
    # EASE whose Gram matrix counts items touched close together in a user's sequence more
    "ease_proximity": {
        "l2": {"type": "float", "low": 50.0, "high": 5000.0, "log": True},
        "recency_half_life": {"type": "float", "low": 1.0, "high": 50.0, "log": True},
        "proximity_half_life": {"type": "float", "low": 2.0, "high": 100.0, "log": True},
    },
    # item KNN over "what comes next" co-occurrence, scoring a recency-weighted history
    "item_knn_sequential": {
        "neighbours": {"type": "int", "low": 50, "high": 400, "log": True},
        "proximity_half_life": {"type": "float", "low": 1.0, "high": 50.0, "log": True},
        "backward_weight": {"type": "float", "low": 0.0, "high": 1.0},
        "recency_half_life": {"type": "float", "low": 0.5, "high": 20.0, "log": True},
    },
    "category_popular": {
        "half_life_days": {"type": "float", "low": 0.5, "high": 60.0, "log": True},
        "interest_half_life": {"type": "float", "low": 1.0, "high": 200.0, "log": True},
        "global_weight": {"type": "float", "low": 0.0, "high": 2.0},
    },
    "repeat_popular": {
        "half_life_days": {"type": "categorical", "choices": [None, 14.0, 30.0, 90.0, 365.0]},
        "global_weight": {"type": "float", "low": 0.01, "high": 2.0, "log": True},
    },
    "transition": {
        "window": {"type": "int", "low": 1, "high": 20},
        "history_half_life": {"type": "float", "low": 0.5, "high": 20.0, "log": True},
        "backward_weight": {"type": "float", "low": 0.0, "high": 1.0},
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
    #: False on a repeat-purchase shop: targets include items bought before, and every model
    #: is scored with seen items allowed (see :func:`repeat_share`)
    exclude_seen: bool = True
    #: share of the validation period's (user, item) pairs already in the user's fit history
    repeat_share: float = 0.0

    def user_scores(self, recs: NDArray[np.int64]) -> NDArray[np.float64]:
        """NDCG@k of each user of ``truth.user_idx`` for top-k lists ``recs``."""
        out = ranking_metrics(recs, self.truth.items, [self.k], ["ndcg"])[f"ndcg@{self.k}"]
        return np.asarray(out, dtype=np.float64)

    def score(self, recs: NDArray[np.int64]) -> float:
        """Mean NDCG@k of top-k lists for ``truth.user_idx``."""
        return float(self.user_scores(recs).mean())

    def evaluate_users(self, model: Any) -> NDArray[np.float64]:
        """Per-user NDCG@k of a model already fitted on ``fit_part``."""
        recs, _ = model.recommend_idx(self.truth.user_idx, self.k, exclude_seen=self.exclude_seen)
        return self.user_scores(recs)

    def evaluate(self, model: Any) -> float:
        """Mean NDCG@k of a model already fitted on ``fit_part``."""
        return float(self.evaluate_users(model).mean())


#: a shop whose validation purchases are at least this share repeats is a repeat-purchase shop
REPEAT_SHOP_SHARE = 0.3


def repeat_share(fit_part: Interactions, later: Interactions) -> float:
    """Share of ``later``'s distinct (user, item) pairs the user already had in ``fit_part``.

    Counted over purchase events when ``later`` has any (a viewed-again item is no staple),
    otherwise over every event (a log of one event type). Grocery baskets score about one half; films and one-off buys
    near zero.
    """
    rows = np.ones(len(later), dtype=bool)
    if "purchase" in later.event_types:
        bought = np.asarray(later.event_code == later.event_types.index("purchase"))
        rows = bought if bought.any() else rows
    if not rows.any():
        return 0.0
    m = sp.csr_matrix(
        (np.ones(int(rows.sum()), np.float32), (later.user_idx[rows], later.item_idx[rows])),
        shape=(later.n_users, later.n_items),
    )
    m.sum_duplicates()
    m.data[:] = 1.0
    before = m.multiply(fit_part.binary)
    return float(before.nnz / m.nnz) if m.nnz else 0.0


def make_validation(
    train: Interactions,
    like: Split | str = "user_temporal",
    *,
    k: int = 10,
    max_users: int | None = None,
    target_event_types: Sequence[str] | None = None,
    seed: int = 0,
    repeats: bool | None = False,
    **split_params: Any,
) -> ValidationData:
    """Carve validation from ``train`` like ``like`` (a Split or a split kind) and its targets.

    ``repeats``: False (targets are items new to the user, seen items excluded), True (targets
    include items bought before and seen items are allowed: consumables), None (True when
    :func:`repeat_share` of the validation period is at least ``REPEAT_SHOP_SHARE``).
    """
    vsplit = validation_split(train, like, **split_params)
    fit_part, val = vsplit.apply(train)
    share = repeat_share(fit_part, val)
    if repeats is None:
        repeats = share >= REPEAT_SHOP_SHARE
    truth = ground_truth(
        fit_part, val, event_types=target_event_types, exclude_train_items=not repeats
    )
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
    return ValidationData(fit_part, truth, k, exclude_seen=not repeats, repeat_share=share)


@dataclasses.dataclass
class TuningResult:
    """Best configuration found and every trial's parameters and value."""

    best_params: dict[str, Any]
    best_value: float
    trials: list[dict[str, Any]]
    seconds: float
    #: per-user scores of the best trial run here (None when a prior trial was best)
    best_user_scores: NDArray[np.float64] | None = dataclasses.field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "best_params": self.best_params,
            "best_value": self.best_value,
            "trials": self.trials,
            "seconds": self.seconds,
        }


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
    prior: Sequence[tuple[Mapping[str, Any], float]] = (),
    on_trial: Callable[[float], None] | None = None,
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
    prior : ``(params, value)`` pairs already evaluated on ``validation``: the sampler learns
        from them and the best of them counts, without fitting them again (values outside
        ``space`` are not shown to the sampler)
    on_trial : called with each trial's value as it finishes (progress reporting)

    The result's ``trials`` lists the prior ones first (marked ``"prior": True``).
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    fixed = dict(fixed or {})
    trials: list[dict[str, Any]] = []
    t_start = time.perf_counter()

    best_users: list[NDArray[np.float64]] = []

    def objective(trial: Any) -> float:
        params = fixed | suggest(trial, space)
        model = factory(params)
        model.fit(validation.fit_part)
        users = validation.evaluate_users(model)
        value = float(users.mean())
        if not trials or value > max(t["value"] for t in trials):
            best_users[:] = [users]
        trials.append({"params": params, "value": value})
        if on_trial is not None:
            on_trial(value)
        return value

    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(5, max(1, n_trials // 3)))
    study = optuna.create_study(direction="maximize", sampler=sampler)
    known = [{"params": fixed | dict(p), "value": float(v), "prior": True} for p, v in prior]
    dists = _distributions(space)
    for p, v in prior:
        shown = {n: p[n] for n in space if n in p}
        if len(shown) == len(space) and all(_inside(space[n], x) for n, x in shown.items()):
            study.add_trial(
                optuna.trial.create_trial(params=shown, distributions=dists, value=float(v))
            )
    if baseline:
        study.enqueue_trial({k: v for k, v in baseline.items() if k in space})
    if n_trials > 0:
        study.optimize(objective, n_trials=n_trials, timeout=timeout, gc_after_trial=False)
    if not trials and not known:
        raise ValidationError("trials", "tuning ran no trial", hint="raise n_trials or timeout")
    best = max(known + trials, key=lambda t: t["value"])
    return TuningResult(
        dict(best["params"]),
        float(best["value"]),
        known + trials,
        time.perf_counter() - t_start,
        None if best.get("prior") or not best_users else best_users[0],
    )


def _inside(spec: Mapping[str, Any], value: Any) -> bool:
    """Whether ``value`` lies in the parameter spec ``spec``."""
    if spec.get("type") in ("float", "int"):
        return isinstance(value, int | float) and spec["low"] <= value <= spec["high"]
    return value in list(spec.get("choices", []))


def _distributions(space: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Optuna distributions of ``space`` (to show the sampler trials run elsewhere)."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    out: dict[str, Any] = {}
    for name, spec in space.items():
        kind = spec.get("type")
        if kind == "float":
            out[name] = FloatDistribution(spec["low"], spec["high"], log=spec.get("log", False))
        elif kind == "int":
            out[name] = IntDistribution(spec["low"], spec["high"], log=spec.get("log", False))
        else:
            out[name] = CategoricalDistribution(list(spec["choices"]))
    return out


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


# ---- blends (scores are normalised by campaignrec.models._common.normalize_rows) ----------------
def tune_blend_weights(
    components: Mapping[str, Any] | Any,
    validation: ValidationData,
    *,
    n_trials: int = 30,
    timeout: float | None = None,
    seed: int = 0,
    normalisation: str = "zscore",
    method: str = "score",
    low: float = 0.0,
    high: float = 1.0,
) -> TuningResult:
    """Weights of a blend of models already fitted on ``validation.fit_part``.

    ``components`` is a fitted :class:`~campaignrec.models.blend.Blend` or a mapping name ->
    fitted model (made into one). Component scores are computed once; each trial re-fuses them
    with the blend's own ``fuse`` (so tuning and serving fuse the same way). The first
    component's weight is fixed at 1 (only ratios matter), the others are searched in
    ``[low, high]``; the first trial is the first model alone. Returns
    ``{"weights": [w, ...], "models": [...], "method", "normalization"}`` as best params.
    """
    import optuna

    from campaignrec.models.base import top_k
    from campaignrec.models.blend import Blend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if isinstance(components, Blend):
        blend = components
        labels = list(blend.params.models)
    else:
        labels = list(components)
        if len(labels) < 2:
            raise ValidationError("components", "a blend needs at least two models", value=labels)
        blend = Blend(
            components=[components[n] for n in labels], method=method, normalization=normalisation
        ).fit(validation.fit_part)
    users = validation.truth.user_idx
    scores = blend.component_scores(users)
    seen = blend.seen_mask(users)
    if not validation.exclude_seen:  # a repeat-purchase shop: seen items may be recommended
        seen = np.zeros_like(seen)
    k = validation.k
    trials: list[dict[str, Any]] = []
    best_users: list[NDArray[np.float64]] = []
    t_start = time.perf_counter()
    names = [f"w{i}_{lbl}" for i, lbl in enumerate(labels)]

    def objective(trial: Any) -> float:
        weights = [1.0] + [trial.suggest_float(n, low, high) for n in names[1:]]
        fused = blend.with_weights(weights).fuse(scores, seen)
        fused[seen] = -np.inf
        idx, _ = top_k(fused, k)
        users = validation.user_scores(idx)
        value = float(users.mean())
        if not trials or value > max(t["value"] for t in trials):
            best_users[:] = [users]
        params = {
            "models": list(blend.params.models),
            "weights": weights,
            "method": blend.params.method,
            "normalization": blend.params.normalization,
        }
        trials.append({"params": params, "value": value})
        return value

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial(dict.fromkeys(names[1:], low))  # the first model alone
    study.optimize(objective, n_trials=n_trials, timeout=timeout, gc_after_trial=False)
    best = max(trials, key=lambda t: t["value"])
    return TuningResult(
        dict(best["params"]),
        float(best["value"]),
        trials,
        time.perf_counter() - t_start,
        best_users[0] if best_users else None,
    )
