"""Simple target policies: action distributions of shape ``(n_rounds, n_actions)``.

A target policy is given to the estimators as its action probabilities on the logged rounds;
these helpers build such distributions from scores (softmax, epsilon-greedy) or uniformly.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from campaignrec.errors import ValidationError

__all__ = [
    "epsilon_greedy_policy",
    "learned_softmax_policy",
    "softmax_policy",
    "uniform_policy",
]


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
