"""Off-policy evaluation: how a new policy would have done, from logs of an old one.

The log is a typed, frozen :class:`BanditLog` (context, action, reward, propensity of the logged
action, optional slot position and action features). A target policy is given as its action
distribution on the logged rounds, an array ``action_dist`` of shape ``(n_rounds, n_actions)``
whose rows sum to 1.

Estimators (each returns a :class:`PolicyValueEstimate`: value, percentile bootstrap 95% interval
over rounds, effective sample size):

* ``ips``: inverse propensity scoring, ``mean(w r)`` with ``w = pi(a|x) / pscore``.
* ``snips``: self-normalised IPS, ``sum(w r) / sum(w)``.
* ``dm``: direct method, ``mean(sum_a pi(a|x) q(x, a))`` with a reward model ``q``.
* ``dr``: doubly robust, ``dm + mean(w (r - q(x, a_logged)))``.
* ``switch-dr``: doubly robust where ``w <= tau``, direct method only where ``w > tau``;
  ``tau="auto"`` picks tau by minimising an estimated MSE (Wang, Agarwal & Dudik 2017).

The reward model of DM/DR is cross-fitted (:func:`fit_reward_model`): every round's ``q`` comes
from a model that never saw that round, so DR's correction term stays unbiased. By default the
bootstrap keeps the reward predictions fixed and resamples rounds, which is fast but ignores the
reward model's own error (DM's interval is then far too narrow); ``refit_reward_model=True``
refits the cross-fitted model on every resample instead (one model fit per fold per replicate).

Effective sample size is Kish's ``(sum w)^2 / sum w^2`` of the importance weights the estimator
uses (``n_rounds`` for DM, which uses no weights): how many rounds of on-policy data the estimate
is worth.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from campaignrec.errors import ValidationError

__all__ = [
    "ESTIMATORS",
    "SWITCH_TAU_FIXED",
    "SWITCH_TAU_QUANTILES",
    "BanditLog",
    "DirectMethod",
    "DoublyRobust",
    "Estimator",
    "InverseProbabilityWeighting",
    "PolicyValueEstimate",
    "SelfNormalizedIPS",
    "SwitchDoublyRobust",
    "check_action_dist",
    "epsilon_greedy_policy",
    "estimate_policy_value",
    "fit_reward_model",
    "learned_softmax_policy",
    "predict_rewards",
    "softmax_policy",
    "switch_tau_grid",
    "uniform_policy",
]


# ---- the log ------------------------------------------------------------------------------------


def _frozen(a: NDArray[Any]) -> NDArray[Any]:
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class BanditLog:
    """Logged bandit feedback: one row per round (a decision that was served).

    Parameters
    ----------
    context : ndarray of shape (n_rounds, n_features)
        Numeric context of each round (user features...).
    action : ndarray of shape (n_rounds,)
        Index in ``[0, n_actions)`` of the action shown.
    reward : ndarray of shape (n_rounds,)
        Observed reward (click, conversion, revenue...).
    pscore : ndarray of shape (n_rounds,)
        Probability the logging policy had of choosing the logged action, in (0, 1].
    n_actions : int
        Number of actions.
    position : ndarray of shape (n_rounds,), optional
        Slot index of the decision (a feature for reward models; the target policy's action
        distribution applies to every slot).
    action_context : ndarray of shape (n_actions, n_action_features), optional
        Features of each action (campaign or item features).
    behaviour_dist : ndarray of shape (n_rounds, n_actions), optional
        The logging policy's whole action distribution in each round, when known (simulations,
        uniform or epsilon-greedy logging); ``behaviour_dist[i, action[i]]`` must equal
        ``pscore[i]``. Only Switch-DR's automatic threshold uses it (see
        :class:`SwitchDoublyRobust`).
    """

    context: NDArray[np.float64]
    action: NDArray[np.int64]
    reward: NDArray[np.float64]
    pscore: NDArray[np.float64]
    n_actions: int
    position: NDArray[np.int64] | None = None
    action_context: NDArray[np.float64] | None = field(default=None)
    behaviour_dist: NDArray[np.float64] | None = field(default=None)

    def __post_init__(self) -> None:
        ctx = np.asarray(self.context, dtype=np.float64)
        if ctx.ndim == 1:
            ctx = ctx.reshape(-1, 1)
        if ctx.ndim != 2:
            raise ValidationError("context", "must be 2-D (rounds x features)", value=ctx.shape)
        n = ctx.shape[0]
        if n == 0:
            raise ValidationError("context", "the log has no rounds")
        if not np.all(np.isfinite(ctx)):
            raise ValidationError("context", "contains NaN or infinite values")
        action = np.asarray(self.action)
        if action.shape != (n,) or not np.issubdtype(action.dtype, np.integer):
            raise ValidationError(
                "action", f"must be {n} integer action indices", value=(action.shape, action.dtype)
            )
        if int(self.n_actions) < 1:
            raise ValidationError("n_actions", "must be >= 1", value=self.n_actions)
        if action.min() < 0 or action.max() >= self.n_actions:
            raise ValidationError(
                "action",
                f"indices must lie in [0, {self.n_actions})",
                value=(int(action.min()), int(action.max())),
                hint="map action ids to 0..n_actions-1",
            )
        reward = np.asarray(self.reward, dtype=np.float64)
        if reward.shape != (n,) or not np.all(np.isfinite(reward)):
            raise ValidationError("reward", f"must be {n} finite numbers", value=reward.shape)
        pscore = np.asarray(self.pscore, dtype=np.float64)
        if pscore.shape != (n,):
            raise ValidationError("pscore", f"must have {n} entries", value=pscore.shape)
        bad = ~((pscore > 0) & (pscore <= 1))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValidationError(
                "pscore",
                "propensities must be in (0, 1]",
                value=float(pscore[i]),
                row=i,
                hint="log the probability the policy had of its choice",
            )
        object.__setattr__(self, "context", _frozen(ctx))
        object.__setattr__(self, "action", _frozen(action.astype(np.int64)))
        object.__setattr__(self, "reward", _frozen(reward))
        object.__setattr__(self, "pscore", _frozen(pscore))
        object.__setattr__(self, "n_actions", int(self.n_actions))
        if self.position is not None:
            pos = np.asarray(self.position)
            if pos.shape != (n,) or not np.issubdtype(pos.dtype, np.integer) or pos.min() < 0:
                raise ValidationError("position", f"must be {n} non-negative integers")
            object.__setattr__(self, "position", _frozen(pos.astype(np.int64)))
        if self.action_context is not None:
            ac = np.asarray(self.action_context, dtype=np.float64)
            if ac.ndim != 2 or ac.shape[0] != self.n_actions or not np.all(np.isfinite(ac)):
                raise ValidationError(
                    "action_context",
                    f"must be a finite ({self.n_actions}, n_action_features) array",
                    value=ac.shape,
                )
            object.__setattr__(self, "action_context", _frozen(ac))
        if self.behaviour_dist is not None:
            object.__setattr__(self, "behaviour_dist", _frozen(self._checked_behaviour(n)))

    def _checked_behaviour(self, n: int) -> NDArray[np.float64]:
        mu = np.asarray(self.behaviour_dist, dtype=np.float64)
        if mu.shape != (n, self.n_actions) or not np.all(np.isfinite(mu)) or mu.min() < 0:
            raise ValidationError(
                "behaviour_dist",
                f"must be a finite, non-negative ({n}, {self.n_actions}) array",
                value=mu.shape,
            )
        if not np.allclose(mu.sum(axis=1), 1.0, atol=1e-6):
            raise ValidationError("behaviour_dist", "rows must sum to 1")
        gap = np.abs(mu[np.arange(n), self.action] - self.pscore)
        if gap.max() > 1e-6:
            i = int(np.argmax(gap))
            raise ValidationError(
                "behaviour_dist",
                "the logged action's probability differs from pscore",
                value=float(mu[i, self.action[i]]),
                row=i,
            )
        return mu

    @property
    def n_rounds(self) -> int:
        """Number of logged rounds."""
        return int(self.context.shape[0])

    @property
    def n_positions(self) -> int:
        """Number of slots (1 without positions)."""
        return 1 if self.position is None else int(self.position.max()) + 1

    def __len__(self) -> int:
        return self.n_rounds

    def subset(self, rows: ArrayLike) -> BanditLog:
        """The log restricted to ``rows`` (indices or a boolean mask)."""
        idx = np.asarray(rows)
        return replace(
            self,
            context=self.context[idx],
            action=self.action[idx],
            reward=self.reward[idx],
            pscore=self.pscore[idx],
            position=None if self.position is None else self.position[idx],
            behaviour_dist=None if self.behaviour_dist is None else self.behaviour_dist[idx],
        )


def check_action_dist(log: BanditLog, action_dist: ArrayLike) -> NDArray[np.float64]:
    """Validate a target policy's action distribution on the log's rounds.

    Parameters
    ----------
    log : BanditLog
    action_dist : array-like of shape (n_rounds, n_actions)
        Probabilities, each row summing to 1.

    Returns
    -------
    ndarray
        The distribution as float64.
    """
    pi = np.asarray(action_dist, dtype=np.float64)
    if pi.shape != (log.n_rounds, log.n_actions):
        raise ValidationError(
            "action_dist",
            f"must have shape ({log.n_rounds}, {log.n_actions})",
            value=pi.shape,
        )
    if not np.all(np.isfinite(pi)) or pi.min() < 0:
        raise ValidationError("action_dist", "probabilities must be finite and >= 0")
    sums = pi.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-6):
        i = int(np.argmax(np.abs(sums - 1.0)))
        raise ValidationError("action_dist", "rows must sum to 1", value=float(sums[i]), row=i)
    return pi


# ---- simple target policies ---------------------------------------------------------------------


def uniform_policy(n_rounds: int, n_actions: int) -> NDArray[np.float64]:
    """Uniform action distribution, shape ``(n_rounds, n_actions)``."""
    return np.full((n_rounds, n_actions), 1.0 / n_actions)


def softmax_policy(
    scores: ArrayLike, *, temperature: float = 1.0, floor: float = 0.0
) -> NDArray[np.float64]:
    """Softmax over scores with a uniform probability floor.

    Parameters
    ----------
    scores : array-like of shape (n_rounds, n_actions)
    temperature : float
        Softmax temperature (> 0); small = greedy.
    floor : float
        Share of probability spread uniformly, in [0, 1]: every action keeps at least
        ``floor / n_actions``.

    Returns
    -------
    ndarray of shape (n_rounds, n_actions)
    """
    s = np.asarray(scores, dtype=np.float64)
    if temperature <= 0:
        raise ValidationError("temperature", "must be > 0", value=temperature)
    if not 0.0 <= floor <= 1.0:
        raise ValidationError("floor", "must be in [0, 1]", value=floor)
    z = (s - s.max(axis=1, keepdims=True)) / temperature
    e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    return (1.0 - floor) * p + floor / s.shape[1]


def learned_softmax_policy(
    estimated_rewards: ArrayLike, *, temperature: float = 0.5, floor: float = 0.1
) -> NDArray[np.float64]:
    """A stochastic policy from predicted rewards: softmax over per-round standardised scores.

    Standardising each round's predictions (mean 0, sd 1 over actions) makes the temperature
    independent of the reward scale (click rates of 0.5% or revenues of 50 behave alike).

    Parameters
    ----------
    estimated_rewards : array-like of shape (n_rounds, n_actions)
    temperature : float
        Softmax temperature on the standardised scale.
    floor : float
        Uniform share: every action keeps at least ``floor / n_actions``.

    Returns
    -------
    ndarray of shape (n_rounds, n_actions)
    """
    q = np.asarray(estimated_rewards, dtype=np.float64)
    z = (q - q.mean(axis=1, keepdims=True)) / (q.std(axis=1, keepdims=True) + 1e-12)
    return softmax_policy(z, temperature=temperature, floor=floor)


def epsilon_greedy_policy(scores: ArrayLike, *, epsilon: float = 0.1) -> NDArray[np.float64]:
    """Best-scored action with prob. ``1 - epsilon`` (ties split), uniform otherwise."""
    s = np.asarray(scores, dtype=np.float64)
    if not 0.0 <= epsilon <= 1.0:
        raise ValidationError("epsilon", "must be in [0, 1]", value=epsilon)
    best = (s == s.max(axis=1, keepdims=True)).astype(np.float64)
    best /= best.sum(axis=1, keepdims=True)
    return (1.0 - epsilon) * best + epsilon / s.shape[1]


# ---- reward model (for DM / DR) -----------------------------------------------------------------


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
    if kind == "logistic":
        from sklearn.linear_model import LogisticRegression, Ridge
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        if binary:
            return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000))
        return make_pipeline(StandardScaler(), Ridge(alpha=1.0 / C))
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
    raise ValidationError(
        "reward_model", "unknown reward model", value=kind, hint="use 'logistic' or 'lightgbm'"
    )


def fit_reward_model(
    log: BanditLog,
    *,
    model: Literal["logistic", "lightgbm"] = "logistic",
    structure: Literal["auto", "joint", "per_action"] = "auto",
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
    return _cross_fit(log, _folds(log.n_rounds, n_folds, seed), model, structure, seed)


def _folds(n_rounds: int, n_folds: int, seed: int) -> NDArray[np.int64]:
    """Fold of each round: a seeded permutation of equal-sized folds."""
    if n_folds < 2:
        raise ValidationError("n_folds", "cross-fitting needs at least 2 folds", value=n_folds)
    rng = np.random.default_rng(seed)
    return rng.permutation(np.arange(n_rounds) % n_folds)


def _cross_fit(
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
        q[test] = _fit_predict(log, train, log, test, model, structure, seed + int(f))
    return q


def predict_rewards(
    train_log: BanditLog,
    target_log: BanditLog,
    *,
    model: Literal["logistic", "lightgbm"] = "logistic",
    structure: Literal["auto", "joint", "per_action"] = "auto",
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
    return _fit_predict(
        train_log,
        np.arange(train_log.n_rounds),
        target_log,
        np.arange(target_log.n_rounds),
        model,
        structure,
        seed,
    )


def _fit_predict(
    log: BanditLog,
    train: NDArray[np.int64],
    pred_log: BanditLog,
    pred: NDArray[np.int64],
    model: str,
    structure: str,
    seed: int,
) -> NDArray[np.float64]:
    if structure not in ("auto", "joint", "per_action"):
        raise ValidationError(
            "structure", "unknown", value=structure, hint="use 'auto', 'joint' or 'per_action'"
        )
    k = log.n_actions
    n_pos = max(log.n_positions, pred_log.n_positions)
    binary = bool(np.all((log.reward == 0.0) | (log.reward == 1.0)))
    y = log.reward[train]
    if np.all(y == y[0]):
        return np.full((len(pred), k), float(y[0]))
    if structure == "per_action" or (
        structure == "auto" and _per_action_feasible(log, train, binary)
    ):
        return _fit_per_action(log, train, pred_log, pred, model, binary, seed, n_pos)
    # the joint model serves sparse logs (many actions, few rewards): regularise it more
    m = _make_reward_model(model, binary, seed, C=0.1)
    m.fit(_design(log, train, log.action[train], n_pos), y.astype(np.int64) if binary else y)
    out = np.empty((len(pred), k))
    step = max(1, 50_000 // k)  # predict (round, action) pairs in bounded chunks
    for start in range(0, len(pred), step):
        chunk = pred[start : start + step]
        X = _design(pred_log, np.repeat(chunk, k), np.tile(np.arange(k), len(chunk)), n_pos)
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
    log: BanditLog,
    train: NDArray[np.int64],
    pred_log: BanditLog,
    pred: NDArray[np.int64],
    kind: str,
    binary: bool,
    seed: int,
    n_pos: int,
) -> NDArray[np.float64]:
    X_pred = _slot_context(pred_log, pred, n_pos)
    out = np.empty((len(pred), log.n_actions))
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


# ---- estimators ---------------------------------------------------------------------------------

RewardModelKind = Literal["logistic", "lightgbm"]
RewardStructure = Literal["auto", "joint", "per_action"]
_Dists = Sequence[NDArray[np.float64]]  # action distributions of one or more policies
_Vector = NDArray[np.float64]


@dataclass(frozen=True)
class PolicyValueEstimate:
    """An estimate of a policy's value with its bootstrap interval and effective sample size.

    ``info`` holds estimator-specific details; Switch-DR reports ``tau`` (the threshold used,
    chosen from the data when ``tau="auto"``) and ``switched_share`` (the share of rounds whose
    weight exceeds it, which fall back to the direct method). Empty for the other estimators.
    """

    estimator: str
    value: float
    ci_low: float
    ci_high: float
    ess: float
    n_rounds: int
    info: dict[str, float] = field(default_factory=dict, hash=False)

    def as_dict(self) -> dict[str, float]:
        """``{"value", "ci_low", "ci_high", "ess"}`` plus the ``info`` entries, for JSON output."""
        return {
            "value": self.value,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "ess": self.ess,
            **self.info,
        }


@dataclass(frozen=True)
class _Rounds:
    """Per-round quantities every estimator is a function of (rounds on the last axis)."""

    w: NDArray[np.float64]  # importance weight of the logged action
    r: NDArray[np.float64]  # reward
    dm: NDArray[np.float64]  # sum_a pi(a|x) q(x, a)
    q_logged: NDArray[np.float64]  # q(x, a_logged)


def _stack(parts: Sequence[_Rounds]) -> _Rounds:
    """Several policies' rounds on a new leading axis."""
    return _Rounds(
        w=np.stack([p.w for p in parts]),
        r=np.stack([p.r for p in parts]),
        dm=np.stack([p.dm for p in parts]),
        q_logged=np.stack([p.q_logged for p in parts]),
    )


def _kish(w: NDArray[np.float64]) -> float:
    s2 = float(np.sum(w * w))
    return float(np.sum(w) ** 2 / s2) if s2 > 0 else 0.0


def _refit_resamples(
    log: BanditLog,
    dists: Sequence[NDArray[np.float64]],
    *,
    n_boot: int,
    seed: int,
    model: str,
    structure: str,
) -> list[_Rounds]:
    """Bootstrap resamples of rounds, each with its own cross-fitted reward model.

    Rows keep the fold of the round they copy, so a duplicated round never trains the model that
    predicts it (cross-fitting stays honest under resampling). The resampled row indices are
    those :meth:`Estimator._bootstrap` draws with the same seed when one chunk holds every
    replicate, so refitted and fixed-model intervals are paired.

    Returns
    -------
    list of _Rounds
        One per action distribution in ``dists``, arrays of shape ``(n_boot, n_rounds)``.
    """
    n = log.n_rounds
    fold = _folds(n, 2, seed)
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    out = [{key: np.empty((n_boot, n)) for key in ("w", "r", "dm", "q_logged")} for _ in dists]
    for b in range(n_boot):
        rows = idx[b]
        q = _cross_fit(log.subset(rows), fold[rows], model, structure, seed)
        a = log.action[rows]
        for pi, arrays in zip(dists, out, strict=True):
            arrays["w"][b] = pi[rows, a] / log.pscore[rows]
            arrays["r"][b] = log.reward[rows]
            arrays["dm"][b] = np.sum(pi[rows] * q, axis=1)
            arrays["q_logged"][b] = q[np.arange(n), a]
    return [_Rounds(**arrays) for arrays in out]


class Estimator(ABC):
    """Base of every off-policy estimator: a point formula over per-round quantities.

    Subclasses define ``name``, ``needs_reward_model`` and ``_point(rounds)`` (vectorised over a
    leading bootstrap axis). :meth:`estimate` adds the bootstrap interval and the ESS.
    """

    name = "base"
    needs_reward_model = False

    @abstractmethod
    def _point(self, d: _Rounds) -> NDArray[np.float64]:
        """Per-round contributions whose mean is the estimate."""

    def _ess(self, d: _Rounds) -> float:
        return _kish(d.w)

    def _resolve(self, log: BanditLog, dists: _Dists, d: _Rounds, signs: _Vector) -> Estimator:
        """The estimator with any data-driven setting fixed from the data.

        ``d`` holds the rounds of the ``p`` action distributions ``dists`` (shape ``(p, n)``)
        and ``signs`` weighs them (``[1]`` for a value, ``[1, -1]`` for a lift). Estimators
        without such settings return themselves.
        """
        return self

    def _info(self, d: _Rounds) -> dict[str, float]:
        return {}

    def estimate(
        self,
        log: BanditLog,
        action_dist: ArrayLike,
        *,
        estimated_rewards: ArrayLike | None = None,
        n_boot: int = 500,
        alpha: float = 0.05,
        seed: int = 0,
        refit_reward_model: bool = False,
        reward_model: RewardModelKind = "logistic",
        reward_structure: RewardStructure = "auto",
    ) -> PolicyValueEstimate:
        """Estimate the value of the target policy ``action_dist`` from ``log``.

        Parameters
        ----------
        log : BanditLog
        action_dist : array-like of shape (n_rounds, n_actions)
            The target policy's action probabilities in each logged round.
        estimated_rewards : array-like of shape (n_rounds, n_actions), optional
            Reward-model predictions (cross-fitted: see :func:`fit_reward_model`); required by
            DM, DR and Switch-DR.
        n_boot : int
            Bootstrap replicates (resampling rounds) for the interval.
        alpha : float
            1 - confidence level.
        seed : int
            Seed of the bootstrap (and of the refitted models' folds).
        refit_reward_model : bool
            DM, DR and Switch-DR only: refit the cross-fitted reward model (``reward_model``,
            ``reward_structure``, 2 folds, ``seed``; use the settings ``estimated_rewards`` was
            fitted with) on every bootstrap resample, so the interval includes the model's own
            variability. Default ``False``: the predictions are held fixed, which is
            ``n_boot`` x 2 model fits faster but makes DM's interval far too narrow.
        reward_model, reward_structure
            The refitted model (see :func:`fit_reward_model`); ignored without refitting.

        Returns
        -------
        PolicyValueEstimate
        """
        pi = check_action_dist(log, action_dist)
        d = self._rounds(log, pi, estimated_rewards)
        refits = None
        if refit_reward_model and self.needs_reward_model:
            (refits,) = _refit_resamples(
                log, [pi], n_boot=n_boot, seed=seed, model=reward_model, structure=reward_structure
            )
        return self._estimate_rounds(log, pi, d, refits, n_boot, alpha, seed)

    def _estimate_rounds(
        self,
        log: BanditLog,
        pi: NDArray[np.float64],
        d: _Rounds,
        refits: _Rounds | None,
        n_boot: int,
        alpha: float,
        seed: int,
    ) -> PolicyValueEstimate:
        est = self._resolve(log, [pi], _stack([d]), np.ones(1))
        if refits is None:
            stats = self._bootstrap(d, n_boot, seed, est._point)
        else:
            stats = np.asarray(est._point(refits))
        return est._result(float(est._point(d)), stats, alpha, d)

    def estimate_lift(
        self,
        log: BanditLog,
        action_dist: ArrayLike,
        baseline_dist: ArrayLike,
        *,
        estimated_rewards: ArrayLike | None = None,
        n_boot: int = 500,
        alpha: float = 0.05,
        seed: int = 0,
        refit_reward_model: bool = False,
        reward_model: RewardModelKind = "logistic",
        reward_structure: RewardStructure = "auto",
    ) -> PolicyValueEstimate:
        """Value of ``action_dist`` minus value of ``baseline_dist``, with a paired interval.

        Both policies are evaluated on the same bootstrap resamples of rounds (and, with
        ``refit_reward_model``, the same refitted models), so the interval of the difference is
        narrower than the two separate intervals suggest. Parameters as in :meth:`estimate`;
        ``ess`` and ``info`` are the target policy's. Switch-DR with ``tau="auto"`` picks one
        threshold for both policies, minimising the estimated MSE of the difference.

        Returns
        -------
        PolicyValueEstimate
            ``value`` is the estimated lift (target minus baseline).
        """
        pi = check_action_dist(log, action_dist)
        pb = check_action_dist(log, baseline_dist)
        d = self._rounds(log, pi, estimated_rewards)
        base = self._rounds(log, pb, estimated_rewards)
        pair = _stack([d, base])
        est = self._resolve(log, [pi, pb], pair, np.array([1.0, -1.0]))
        value = float(est._point(d) - est._point(base))

        def diff(b: _Rounds) -> NDArray[np.float64]:
            both = est._point(b)  # shape (2, replicates)
            return np.asarray(both[0] - both[1])

        if refit_reward_model and self.needs_reward_model:
            refits = _refit_resamples(
                log,
                [pi, pb],
                n_boot=n_boot,
                seed=seed,
                model=reward_model,
                structure=reward_structure,
            )
            stats = diff(_stack(refits))
        else:
            stats = self._bootstrap(pair, n_boot, seed, diff)
        return est._result(value, stats, alpha, d)

    def _result(
        self, value: float, stats: NDArray[np.float64], alpha: float, d: _Rounds
    ) -> PolicyValueEstimate:
        lo, hi = np.quantile(stats, [alpha / 2, 1 - alpha / 2]) if stats.size else (np.nan, np.nan)
        return PolicyValueEstimate(
            estimator=self.name,
            value=value,
            ci_low=float(lo),
            ci_high=float(hi),
            ess=self._ess(d),
            n_rounds=int(d.w.shape[-1]),
            info=self._info(d),
        )

    @staticmethod
    def _bootstrap(
        d: _Rounds,
        n_boot: int,
        seed: int,
        stat: Callable[[_Rounds], NDArray[np.float64]],
    ) -> NDArray[np.float64]:
        """``stat`` on ``n_boot`` resamples of rounds (the last axis of every array)."""
        n = d.w.shape[-1]
        rng = np.random.default_rng(seed)
        stats = np.empty(n_boot)
        chunk = max(1, 2_000_000 // (n * (d.w.size // n)))  # bound the index block's memory
        for start in range(0, n_boot, chunk):
            m = min(chunk, n_boot - start)
            idx = rng.integers(0, n, size=(m, n))
            stats[start : start + m] = stat(
                _Rounds(
                    w=d.w[..., idx],
                    r=d.r[..., idx],
                    dm=d.dm[..., idx],
                    q_logged=d.q_logged[..., idx],
                )
            )
        return stats

    def _rounds(
        self, log: BanditLog, action_dist: ArrayLike, estimated_rewards: ArrayLike | None
    ) -> _Rounds:
        pi = check_action_dist(log, action_dist)
        n = log.n_rounds
        rows = np.arange(n)
        if estimated_rewards is None:
            if self.needs_reward_model:
                raise ValidationError(
                    "estimated_rewards",
                    f"{self.name} needs reward-model predictions",
                    hint="pass estimated_rewards=fit_reward_model(log)",
                )
            q = np.zeros((n, log.n_actions))
        else:
            q = np.asarray(estimated_rewards, dtype=np.float64)
            if q.shape != (n, log.n_actions) or not np.all(np.isfinite(q)):
                raise ValidationError(
                    "estimated_rewards",
                    f"must be a finite ({n}, {log.n_actions}) array",
                    value=q.shape,
                )
        return _Rounds(
            w=pi[rows, log.action] / log.pscore,
            r=log.reward,
            dm=np.sum(pi * q, axis=1),
            q_logged=q[rows, log.action],
        )


class InverseProbabilityWeighting(Estimator):
    """IPS: ``mean(w r)``. Unbiased when every action the target can take has pscore > 0."""

    name = "ips"

    def _point(self, d: _Rounds) -> NDArray[np.float64]:
        return np.mean(d.w * d.r, axis=-1)


class SelfNormalizedIPS(Estimator):
    """SNIPS: ``sum(w r) / sum(w)``; slightly biased, much less variance than IPS."""

    name = "snips"

    def _point(self, d: _Rounds) -> NDArray[np.float64]:
        den = np.sum(d.w, axis=-1)
        return np.sum(d.w * d.r, axis=-1) / np.where(den > 0, den, 1.0)


class DirectMethod(Estimator):
    """DM: the reward model's average value of the target policy (biased if the model is)."""

    name = "dm"
    needs_reward_model = True

    def _point(self, d: _Rounds) -> NDArray[np.float64]:
        return np.mean(d.dm, axis=-1)

    def _ess(self, d: _Rounds) -> float:
        return float(d.w.shape[-1])


class DoublyRobust(Estimator):
    """DR: the direct method plus an importance-weighted correction of its residuals."""

    name = "dr"
    needs_reward_model = True

    def _point(self, d: _Rounds) -> NDArray[np.float64]:
        return np.mean(d.dm + d.w * (d.r - d.q_logged), axis=-1)


#: Fixed candidates of the automatic Switch-DR threshold (those above the largest weight are
#: dropped: they all keep every round).
SWITCH_TAU_FIXED = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0)
#: Quantiles of the positive importance weights added to the candidates, with the largest weight.
SWITCH_TAU_QUANTILES = (0.5, 0.75, 0.9, 0.95, 0.99)


def switch_tau_grid(w: ArrayLike) -> NDArray[np.float64]:
    """Candidate thresholds of Switch-DR's automatic tau, ascending.

    The fixed values :data:`SWITCH_TAU_FIXED` up to the largest weight, the
    :data:`SWITCH_TAU_QUANTILES` quantiles of the positive weights and the largest weight itself
    (which keeps every round: plain DR).

    Parameters
    ----------
    w : array-like
        Importance weights (any shape).

    Returns
    -------
    ndarray
    """
    pos = np.asarray(w, dtype=np.float64).ravel()
    pos = pos[pos > 0]
    if pos.size == 0:
        return np.array([1.0])
    top = float(pos.max())
    fixed = [t for t in SWITCH_TAU_FIXED if t < top]
    grid = np.concatenate([fixed, np.quantile(pos, SWITCH_TAU_QUANTILES), [top]])
    return np.unique(grid)


def _switch_terms(d: _Rounds, tau: float) -> NDArray[np.float64]:
    """Per-round Switch-DR terms: DR's where ``w <= tau``, DM's elsewhere."""
    return d.dm + np.where(d.w <= tau, d.w * (d.r - d.q_logged), 0.0)


def _switched_mass(
    log: BanditLog, dists: Sequence[NDArray[np.float64]], d: _Rounds, tau: float
) -> float:
    """The target policies' probability mass on (context, action) pairs with weight > tau.

    Exact over actions when the log knows the logging policy's whole distribution (``sum_a
    pi(a|x) 1(pi(a|x) > tau mu(a|x))`` averaged over the logged contexts); otherwise its
    importance-weighted estimate ``mean(w 1(w > tau))`` from the logged actions, which is
    unbiased but so noisy that it hardly ever favours switching. Summed over the policies.
    """
    mu = log.behaviour_dist
    if mu is None:
        return float(np.sum(np.mean(np.where(d.w > tau, d.w, 0.0), axis=-1)))
    # pi > tau * mu also counts actions the logging policy never takes (infinite weight)
    return float(sum(np.sum(np.where(pi > tau * mu, pi, 0.0)) for pi in dists) / log.n_rounds)


def _select_switch_tau(
    log: BanditLog,
    dists: Sequence[NDArray[np.float64]],
    d: _Rounds,
    signs: NDArray[np.float64],
) -> float:
    """The candidate tau minimising (bias bound)^2 + variance (Wang, Agarwal & Dudik 2017).

    Rounds with ``w > tau`` use the reward model only, so Switch-DR's bias is at most the reward
    range times the target policy's probability mass on (context, action) pairs whose weight
    exceeds tau (:func:`_switched_mass`; the range is that of the observed rewards and reward
    predictions). The variance is the sample variance of the per-round terms over ``n``. ``d``
    has shape ``(p, n)`` and the estimand is ``signs @ values``; the policies' bounds add up.
    """
    n = d.w.shape[-1]
    lo = min(float(d.r.min()), float(d.q_logged.min()))
    hi = max(float(d.r.max()), float(d.q_logged.max()))
    reward_range = hi - lo
    best_tau, best_mse = np.inf, np.inf
    for tau in switch_tau_grid(d.w):
        combined = signs @ _switch_terms(d, float(tau))
        variance = float(combined.var(ddof=1)) / n if n > 1 else 0.0
        bias_bound = reward_range * _switched_mass(log, dists, d, float(tau))
        mse = bias_bound**2 + variance
        if mse <= best_mse:  # ties (the same rounds switched): keep the larger tau
            best_tau, best_mse = float(tau), mse
    return best_tau


@dataclass
class SwitchDoublyRobust(Estimator):
    """Switch-DR (Wang et al. 2017): DR where ``w <= tau``, the direct method where ``w > tau``.

    Parameters
    ----------
    tau : float or "auto"
        Importance-weight threshold (>= 0); ``inf`` gives DR, ``0`` gives DM. ``"auto"`` picks
        it per log from :func:`switch_tau_grid` by minimising an estimated MSE: the squared
        bound on the bias of switching (reward range x the target's probability mass on the
        pairs whose weight exceeds tau) plus the variance of the per-round terms over n. The
        mass is exact when the log carries ``behaviour_dist``; from logged actions alone it is
        estimated by importance weighting, and then the bound almost never favours switching
        (auto then means DR). The chosen tau is reported in the estimate's ``info["tau"]``;
        the bootstrap keeps it fixed.
    """

    tau: float | Literal["auto"] = 20.0
    name = "switch-dr"
    needs_reward_model = True

    def __post_init__(self) -> None:
        if isinstance(self.tau, str):
            if self.tau != "auto":
                raise ValidationError(
                    "tau", "unknown setting", value=self.tau, hint="use a number >= 0 or 'auto'"
                )
            return
        if isinstance(self.tau, bool) or not isinstance(self.tau, int | float | np.number):
            raise ValidationError(
                "tau", "must be a number or 'auto'", value=self.tau, hint="e.g. tau=20"
            )
        if not float(self.tau) >= 0:  # also rejects NaN
            raise ValidationError(
                "tau", "must be >= 0", value=self.tau, hint="use a number >= 0 or 'auto'"
            )
        self.tau = float(self.tau)

    def _threshold(self) -> float:
        if isinstance(self.tau, str):
            raise ValidationError("tau", "'auto' is resolved by estimate(), not by _point()")
        return self.tau

    def _resolve(self, log: BanditLog, dists: _Dists, d: _Rounds, signs: _Vector) -> Estimator:
        if self.tau != "auto":
            return self
        return replace(self, tau=_select_switch_tau(log, dists, d, signs))

    def _point(self, d: _Rounds) -> NDArray[np.float64]:
        return np.mean(_switch_terms(d, self._threshold()), axis=-1)

    def _ess(self, d: _Rounds) -> float:
        return _kish(np.where(d.w <= self._threshold(), d.w, 0.0))

    def _info(self, d: _Rounds) -> dict[str, float]:
        tau = self._threshold()
        return {"tau": tau, "switched_share": float(np.mean(d.w > tau))}


ESTIMATORS: dict[str, type[Estimator]] = {
    "ips": InverseProbabilityWeighting,
    "snips": SelfNormalizedIPS,
    "dm": DirectMethod,
    "dr": DoublyRobust,
    "switch-dr": SwitchDoublyRobust,
}


def estimate_policy_value(
    log: BanditLog,
    action_dist: ArrayLike,
    *,
    estimators: Sequence[str] = ("ips", "snips", "dm", "dr", "switch-dr"),
    estimated_rewards: ArrayLike | None = None,
    reward_model: RewardModelKind = "logistic",
    reward_structure: RewardStructure = "auto",
    refit_reward_model: bool = False,
    switch_tau: float | Literal["auto"] = 20.0,
    n_boot: int = 500,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict[str, PolicyValueEstimate]:
    """Run several estimators on one log and one target policy.

    Parameters
    ----------
    log : BanditLog
    action_dist : array-like of shape (n_rounds, n_actions)
    estimators : sequence of str
        Names from :data:`ESTIMATORS`.
    estimated_rewards : array-like, optional
        Cross-fitted reward predictions; fitted with ``reward_model`` when missing and needed.
    reward_model : {"logistic", "lightgbm"}
    reward_structure : {"auto", "joint", "per_action"}
        See :func:`fit_reward_model`.
    refit_reward_model : bool
        Refit the reward model on every bootstrap resample for the intervals of DM, DR and
        Switch-DR (one set of refits shared by the three). Default ``False``: fixed predictions,
        fast, but DM's interval then ignores the model's error. See :meth:`Estimator.estimate`.
    switch_tau : float or "auto"
        Switch-DR's threshold (:class:`SwitchDoublyRobust`).
    n_boot, alpha, seed
        Bootstrap settings (the same seed for every estimator, so their intervals are paired).

    Returns
    -------
    dict
        Estimator name -> :class:`PolicyValueEstimate`.
    """
    unknown = [e for e in estimators if e not in ESTIMATORS]
    if unknown:
        raise ValidationError(
            "estimators", "unknown estimator", value=unknown, hint=f"use {sorted(ESTIMATORS)}"
        )
    objs = [
        SwitchDoublyRobust(tau=switch_tau) if e == "switch-dr" else ESTIMATORS[e]()
        for e in estimators
    ]
    pi = check_action_dist(log, action_dist)
    needs_model = any(o.needs_reward_model for o in objs)
    if estimated_rewards is None and needs_model:
        estimated_rewards = fit_reward_model(
            log, model=reward_model, structure=reward_structure, seed=seed
        )
    refits = None
    if refit_reward_model and needs_model:
        (refits,) = _refit_resamples(
            log, [pi], n_boot=n_boot, seed=seed, model=reward_model, structure=reward_structure
        )
    return {
        o.name: o._estimate_rounds(
            log,
            pi,
            o._rounds(log, pi, estimated_rewards),
            refits if o.needs_reward_model else None,
            n_boot,
            alpha,
            seed,
        )
        for o in objs
    }
