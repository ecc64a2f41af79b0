"""The logged bandit feedback OPE reads: the typed, frozen :class:`BanditLog` and its checks.

One concern: what a log and a target policy's action distribution on it must look like. Every
estimator, reward model and target-policy helper of :mod:`campaignrec.experiments.ope` reads a
log validated here.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from campaignrec.errors import ValidationError

__all__ = ["BanditLog", "check_action_dist"]


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
