"""The per-round quantities every estimator is a function of, and their bootstrap resamples.

One concern: turning a log, a target policy and reward predictions into the four per-round
arrays of :class:`Rounds` (importance weight, reward, direct-method term, prediction of the
logged action), and resampling rounds for the percentile bootstrap, either with the predictions
held fixed (:func:`bootstrap`) or with the reward model refitted on every resample
(:func:`refit_resamples`). Both draw their row indices from ``numpy.random.default_rng(seed)``
in the same order, so fixed-model and refitted intervals are paired.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from campaignrec.errors import ValidationError
from campaignrec.experiments.ope.log import BanditLog
from campaignrec.experiments.ope.reward_model import cross_fit, folds

__all__ = [
    "Dists",
    "Rounds",
    "bootstrap",
    "kish_ess",
    "policy_rounds",
    "refit_resamples",
    "stack_rounds",
]

#: Action distributions of one or more policies, each of shape ``(n_rounds, n_actions)``.
Dists = Sequence[NDArray[np.float64]]


@dataclass(frozen=True)
class Rounds:
    """Per-round quantities every estimator is a function of (rounds on the last axis)."""

    w: NDArray[np.float64]  # importance weight of the logged action
    r: NDArray[np.float64]  # reward
    dm: NDArray[np.float64]  # sum_a pi(a|x) q(x, a)
    q_logged: NDArray[np.float64]  # q(x, a_logged)


def stack_rounds(parts: Sequence[Rounds]) -> Rounds:
    """Several policies' rounds on a new leading axis."""
    return Rounds(
        w=np.stack([p.w for p in parts]),
        r=np.stack([p.r for p in parts]),
        dm=np.stack([p.dm for p in parts]),
        q_logged=np.stack([p.q_logged for p in parts]),
    )


def kish_ess(w: NDArray[np.float64]) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2`` (0 when every weight is 0)."""
    s2 = float(np.sum(w * w))
    return float(np.sum(w) ** 2 / s2) if s2 > 0 else 0.0


def policy_rounds(
    log: BanditLog, pi: NDArray[np.float64], estimated_rewards: ArrayLike | None
) -> Rounds:
    """The rounds of the (checked) action distribution ``pi`` on ``log``.

    Without ``estimated_rewards`` the reward predictions are zeros (estimators that need a
    reward model refuse to get here without one).
    """
    n = log.n_rounds
    rows = np.arange(n)
    if estimated_rewards is None:
        q = np.zeros((n, log.n_actions))
    else:
        q = np.asarray(estimated_rewards, dtype=np.float64)
        if q.shape != (n, log.n_actions) or not np.all(np.isfinite(q)):
            raise ValidationError(
                "estimated_rewards",
                f"must be a finite ({n}, {log.n_actions}) array",
                value=q.shape,
            )
    return Rounds(
        w=pi[rows, log.action] / log.pscore,
        r=log.reward,
        dm=np.sum(pi * q, axis=1),
        q_logged=q[rows, log.action],
    )


def bootstrap(
    d: Rounds,
    n_boot: int,
    seed: int,
    stat: Callable[[Rounds], NDArray[np.float64]],
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
            Rounds(
                w=d.w[..., idx],
                r=d.r[..., idx],
                dm=d.dm[..., idx],
                q_logged=d.q_logged[..., idx],
            )
        )
    return stats


def refit_resamples(
    log: BanditLog,
    dists: Dists,
    *,
    n_boot: int,
    seed: int,
    model: str,
    structure: str,
) -> list[Rounds]:
    """Bootstrap resamples of rounds, each with its own cross-fitted reward model.

    Rows keep the fold of the round they copy, so a duplicated round never trains the model that
    predicts it (cross-fitting stays honest under resampling). The resampled row indices are
    those :func:`bootstrap` draws with the same seed when one chunk holds every replicate, so
    refitted and fixed-model intervals are paired.

    Returns
    -------
    list of Rounds
        One per action distribution in ``dists``, arrays of shape ``(n_boot, n_rounds)``.
    """
    n = log.n_rounds
    fold = folds(n, 2, seed)
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    out = [{key: np.empty((n_boot, n)) for key in ("w", "r", "dm", "q_logged")} for _ in dists]
    for b in range(n_boot):
        rows = idx[b]
        q = cross_fit(log.subset(rows), fold[rows], model, structure, seed)
        a = log.action[rows]
        for pi, arrays in zip(dists, out, strict=True):
            arrays["w"][b] = pi[rows, a] / log.pscore[rows]
            arrays["r"][b] = log.reward[rows]
            arrays["dm"][b] = np.sum(pi[rows] * q, axis=1)
            arrays["q_logged"][b] = q[np.arange(n), a]
    return [Rounds(**arrays) for arrays in out]
