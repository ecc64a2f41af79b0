"""Reward models of DM, DR and Switch-DR: cross-fitted estimates of every action's reward.

One concern: ``q(x, a)``, the expected reward of action ``a`` in round ``x``, from logistic
regression (ridge for non-binary rewards) or LightGBM, one joint model or one per action.
:func:`fit_reward_model` cross-fits on one log (every round predicted by a model that never saw
it); :func:`predict_rewards` fits on one log and predicts another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from campaignrec.errors import ValidationError
from campaignrec.experiments.ope.log import BanditLog

__all__ = [
    "REWARD_MODELS",
    "REWARD_STRUCTURES",
    "RewardModelKind",
    "RewardStructure",
    "check_reward_model",
    "check_reward_structure",
    "cross_fit",
    "fit_reward_model",
    "folds",
    "predict_rewards",
]

RewardModelKind = Literal["logistic", "lightgbm"]
RewardStructure = Literal["auto", "joint", "per_action"]
#: The reward model kinds (``model=`` of :func:`fit_reward_model`).
REWARD_MODELS: tuple[RewardModelKind, ...] = ("logistic", "lightgbm")
#: The reward model structures (``structure=`` of :func:`fit_reward_model`).
REWARD_STRUCTURES: tuple[RewardStructure, ...] = ("auto", "joint", "per_action")


def check_reward_model(kind: str, field: str = "reward_model") -> None:
    """Raise a :class:`ValidationError` naming ``field`` unless ``kind`` is a reward model."""
    if kind not in REWARD_MODELS:
        raise ValidationError(
            field, "unknown reward model", value=kind, hint="use 'logistic' or 'lightgbm'"
        )


def check_reward_structure(structure: str, field: str = "structure") -> None:
    """Raise a :class:`ValidationError` naming ``field`` unless ``structure`` is a structure."""
    if structure not in REWARD_STRUCTURES:
        raise ValidationError(
            field, "unknown", value=structure, hint="use 'auto', 'joint' or 'per_action'"
        )


def _design(
    log: BanditLog, rows: NDArray[np.int64], actions: NDArray[np.int64], n_pos: int
) -> NDArray[np.float64]:
    """Features of (round, action) pairs: context, action one-hot, action features, slot one-hot."""
    parts = [log.context[rows], np.eye(log.n_actions)[actions]]
    if log.action_context is not None:
        parts.append(log.action_context[actions])
    if log.position is not None:
        parts.append(np.eye(n_pos)[log.position[rows]])
    return np.hstack(parts)


def _make_reward_model(kind: str, binary: bool, seed: int, C: float = 1.0) -> Any:
    check_reward_model(kind)
    if kind == "lightgbm":
        import lightgbm as lgb

        params: dict[str, Any] = {
            "n_estimators": 150,
            "learning_rate": 0.05,
            "num_leaves": 15,
            "min_child_samples": 30,
            "subsample": 0.8,
            "subsample_freq": 1,
            "random_state": seed,
            "n_jobs": 1,
            "verbose": -1,
        }
        return lgb.LGBMClassifier(**params) if binary else lgb.LGBMRegressor(**params)
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if binary:
        return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
    return make_pipeline(StandardScaler(), Ridge(alpha=1.0 / C))


def fit_reward_model(
    log: BanditLog,
    *,
    model: RewardModelKind = "logistic",
    structure: RewardStructure = "auto",
    n_folds: int = 2,
    seed: int = 0,
) -> NDArray[np.float64]:
    """Cross-fitted estimates of the expected reward of every action in every round.

    Models are fitted on the logged rows of ``n_folds - 1`` folds and predict every action for
    the rounds of the remaining fold. A *joint* model reads (context, action one-hot, action
    features, slot one-hot); *per-action* models read (context, slot one-hot), one per action,
    so the context's effect may differ by action. ``"auto"`` picks per-action models when every
    action has at least ``max(30, 5 * n_features)`` training rows with both some reward and
    some non-reward (binary), else the joint model (e.g. sparse click logs).

    Parameters
    ----------
    log : BanditLog
    model : {"logistic", "lightgbm"}
        Logistic regression (binary rewards; ridge otherwise) or LightGBM.
    structure : {"auto", "joint", "per_action"}
        One model over all actions or one model per action (see above).
    n_folds : int
        Number of cross-fitting folds (>= 2).
    seed : int
        Seed of the fold assignment and the models.

    Returns
    -------
    ndarray of shape (n_rounds, n_actions)
        ``q[i, a]``: the estimated expected reward of action ``a`` in round ``i`` (at the
        round's logged slot).
    """
    return cross_fit(log, folds(log.n_rounds, n_folds, seed), model, structure, seed)


def folds(n_rounds: int, n_folds: int, seed: int) -> NDArray[np.int64]:
    """Fold of each round: a seeded permutation of equal-sized folds."""
    if n_folds < 2:
        raise ValidationError("n_folds", "cross-fitting needs at least 2 folds", value=n_folds)
    rng = np.random.default_rng(seed)
    return rng.permutation(np.arange(n_rounds) % n_folds)


def cross_fit(
    log: BanditLog, fold: NDArray[np.int64], model: str, structure: str, seed: int
) -> NDArray[np.float64]:
    """Reward predictions of every round from models fitted on the other folds' rounds."""
    q = np.empty((log.n_rounds, log.n_actions))
    all_rows = np.arange(log.n_rounds)
    for f in np.unique(fold):
        train = all_rows[fold != f]
        test = all_rows[fold == f]
        if len(train) == 0:  # a resample that drew one fold only: no out-of-fold model
            q[test] = float(np.mean(log.reward))
            continue
        q[test] = _fit_predict(_FitTask(log, train, log, test), model, structure, seed + int(f))
    return q


def predict_rewards(
    train_log: BanditLog,
    target_log: BanditLog,
    *,
    model: RewardModelKind = "logistic",
    structure: RewardStructure = "auto",
    seed: int = 0,
) -> NDArray[np.float64]:
    """Fit a reward model on ``train_log`` and predict every action for ``target_log``'s rounds.

    For learning a policy on one log and evaluating it on another (no cross-fitting needed as
    the rounds differ). Models and structure as in :func:`fit_reward_model`.

    Returns
    -------
    ndarray of shape (target_log.n_rounds, n_actions)
    """
    if train_log.n_actions != target_log.n_actions:
        raise ValidationError(
            "n_actions", "logs differ", value=(train_log.n_actions, target_log.n_actions)
        )
    task = _FitTask(
        train_log, np.arange(train_log.n_rounds), target_log, np.arange(target_log.n_rounds)
    )
    return _fit_predict(task, model, structure, seed)


@dataclass(frozen=True)
class _FitTask:
    """Fit on the rows ``train`` of ``log``; predict every action for the rows ``pred`` of
    ``pred_log`` (the same log under cross-fitting, another one in :func:`predict_rewards`)."""

    log: BanditLog
    train: NDArray[np.int64]
    pred_log: BanditLog
    pred: NDArray[np.int64]


def _fit_predict(task: _FitTask, model: str, structure: str, seed: int) -> NDArray[np.float64]:
    check_reward_structure(structure)
    log, train = task.log, task.train
    n_pos = max(log.n_positions, task.pred_log.n_positions)
    binary = bool(np.all((log.reward == 0.0) | (log.reward == 1.0)))
    y = log.reward[train]
    if np.all(y == y[0]):
        return np.full((len(task.pred), log.n_actions), float(y[0]))
    if structure == "per_action" or (
        structure == "auto" and _per_action_feasible(log, train, binary)
    ):
        return _fit_per_action(task, model, binary, seed, n_pos)
    return _fit_joint(task, model, binary, seed, n_pos)


def _fit_joint(
    task: _FitTask, kind: str, binary: bool, seed: int, n_pos: int
) -> NDArray[np.float64]:
    log, train, pred = task.log, task.train, task.pred
    k = log.n_actions
    y = log.reward[train]
    # the joint model serves sparse logs (many actions, few rewards): regularise it more
    m = _make_reward_model(kind, binary, seed, C=0.1)
    m.fit(_design(log, train, log.action[train], n_pos), y.astype(np.int64) if binary else y)
    out = np.empty((len(pred), k))
    step = max(1, 50_000 // k)  # predict (round, action) pairs in bounded chunks
    for start in range(0, len(pred), step):
        chunk = pred[start : start + step]
        X = _design(task.pred_log, np.repeat(chunk, k), np.tile(np.arange(k), len(chunk)), n_pos)
        p = m.predict_proba(X)[:, 1] if binary else m.predict(X)
        out[start : start + len(chunk)] = np.asarray(p, dtype=np.float64).reshape(len(chunk), k)
    return out


def _slot_context(log: BanditLog, rows: NDArray[np.int64], n_pos: int) -> NDArray[np.float64]:
    if log.position is None:
        return log.context[rows]
    return np.hstack([log.context[rows], np.eye(n_pos)[log.position[rows]]])


def _per_action_feasible(log: BanditLog, train: NDArray[np.int64], binary: bool) -> bool:
    need = max(30, 5 * log.context.shape[1])
    a, r = log.action[train], log.reward[train]
    counts = np.bincount(a, minlength=log.n_actions)
    if counts.min() < need:
        return False
    if binary:
        pos = np.bincount(a, weights=r, minlength=log.n_actions)
        return bool(np.all((pos >= 3) & (counts - pos >= 3)))
    return True


def _fit_per_action(
    task: _FitTask, kind: str, binary: bool, seed: int, n_pos: int
) -> NDArray[np.float64]:
    log, train = task.log, task.train
    X_pred = _slot_context(task.pred_log, task.pred, n_pos)
    out = np.empty((len(task.pred), log.n_actions))
    for a in range(log.n_actions):
        rows = train[log.action[train] == a]
        y = log.reward[rows]
        if len(rows) == 0 or np.all(y == y[0]):
            out[:, a] = float(y[0]) if len(rows) else float(np.mean(log.reward[train]))
            continue
        m = _make_reward_model(kind, binary, seed + 31 * a)
        m.fit(_slot_context(log, rows, n_pos), y.astype(np.int64) if binary else y)
        out[:, a] = m.predict_proba(X_pred)[:, 1] if binary else m.predict(X_pred)
    return out
