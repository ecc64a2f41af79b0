"""Synthetic bandit logs whose true policy values are known, to test estimators against truth.

An environment draws its parameters from its seed: contexts ``x ~ N(0, I)``, action features, and
an expected reward per (context, action) that a linear reward model can only partly fit (it has
an interaction term), so the direct method is biased while IPS/DR stay unbiased. The logging
policy is a softmax over a noisy, different view of the rewards (so it is informative but not the
target). The true value of any target policy is computed exactly over actions and rewards and by
a large Monte-Carlo sample over contexts.

Example
-------
>>> env = SyntheticBanditEnv(n_actions=5, seed=0)
>>> data = env.sample_log(1000, seed=1)
>>> data.log.n_rounds
1000
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from campaignrec.errors import ValidationError
from campaignrec.experiments.ope import BanditLog, epsilon_greedy_policy, softmax_policy

__all__ = ["SyntheticBanditEnv", "SyntheticLog"]

PolicyFn = Callable[[NDArray[np.float64]], NDArray[np.float64]]


def _sigmoid(z: NDArray[np.float64]) -> NDArray[np.float64]:
    return 1.0 / (1.0 + np.exp(-z))


@dataclass(frozen=True)
class SyntheticLog:
    """A sampled log plus the truth behind it."""

    log: BanditLog
    expected_reward: NDArray[np.float64]  # (n_rounds, n_actions): E[r | x_i, a]
    behaviour_dist: NDArray[np.float64]  # (n_rounds, n_actions): the logging policy


@dataclass(frozen=True)
class SyntheticBanditEnv:
    """A contextual bandit with known expected rewards.

    Parameters
    ----------
    n_actions : int
        Number of actions (campaigns).
    dim : int
        Context dimension.
    action_dim : int
        Dimension of the action features.
    reward_type : {"binary", "continuous"}
        Bernoulli rewards with the expected reward as probability, or expected reward plus
        Gaussian noise (sd ``noise``).
    behaviour_beta : float
        Inverse temperature of the logging softmax (0 = uniform logging).
    base_rate : float
        Roughly the average expected reward (binary rewards).
    noise : float
        Reward noise of continuous rewards.
    seed : int
        Seed of the environment's parameters (sampling has its own seed).
    """

    n_actions: int = 10
    dim: int = 5
    action_dim: int = 3
    reward_type: Literal["binary", "continuous"] = "binary"
    behaviour_beta: float = 1.0
    base_rate: float = 0.2
    noise: float = 1.0
    seed: int = 0
    _theta: NDArray[np.float64] = field(init=False, repr=False, compare=False)
    _bias: NDArray[np.float64] = field(init=False, repr=False, compare=False)
    _action_features: NDArray[np.float64] = field(init=False, repr=False, compare=False)
    _inter: NDArray[np.float64] = field(init=False, repr=False, compare=False)
    _behaviour_view: NDArray[np.float64] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.n_actions < 2:
            raise ValidationError("n_actions", "must be >= 2", value=self.n_actions)
        if self.dim < 2:
            raise ValidationError("dim", "must be >= 2", value=self.dim)
        if self.reward_type not in ("binary", "continuous"):
            raise ValidationError(
                "reward_type", "use 'binary' or 'continuous'", value=self.reward_type
            )
        rng = np.random.default_rng(self.seed)
        k, d = self.n_actions, self.dim
        af = rng.normal(size=(k, self.action_dim))
        # per-action linear effect comes partly through the action features (shared structure)
        theta = 0.5 * rng.normal(size=(k, d)) + 0.3 * (af @ rng.normal(size=(self.action_dim, d)))
        bias = 0.3 * rng.normal(size=k)
        inter = 0.4 * rng.normal(size=k)  # weight of a non-linear x0*x1 term per action
        view = theta + 0.7 * rng.normal(size=(k, d))  # what the logging policy "believes"
        object.__setattr__(self, "_theta", theta)
        object.__setattr__(self, "_bias", bias)
        object.__setattr__(self, "_action_features", af)
        object.__setattr__(self, "_inter", inter)
        object.__setattr__(self, "_behaviour_view", view)

    @property
    def action_features(self) -> NDArray[np.float64]:
        """Features of each action, shape ``(n_actions, action_dim)``."""
        return self._action_features.copy()

    def _logit(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        lin = X @ self._theta.T + self._bias
        return lin + np.outer(X[:, 0] * X[:, 1], self._inter)

    def expected_reward(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """``E[r | x, a]`` for every context row and action, shape ``(n, n_actions)``."""
        z = self._logit(np.asarray(X, dtype=np.float64))
        if self.reward_type == "binary":
            offset = np.log(self.base_rate / (1 - self.base_rate))
            return _sigmoid(offset + z)
        return z

    def behaviour_policy(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        """The logging policy: a softmax over a noisy linear view of the rewards."""
        s = self.behaviour_beta * (np.asarray(X, dtype=np.float64) @ self._behaviour_view.T)
        return softmax_policy(s)

    def sample_contexts(self, n: int, seed: int) -> NDArray[np.float64]:
        """``n`` context rows."""
        return np.random.default_rng(seed).normal(size=(n, self.dim))

    def sample_log(self, n_rounds: int, seed: int) -> SyntheticLog:
        """Sample a log of the behaviour policy.

        Parameters
        ----------
        n_rounds : int
            Rounds to log.
        seed : int
            Seed of contexts, actions and rewards.

        Returns
        -------
        SyntheticLog
        """
        if n_rounds < 1:
            raise ValidationError("n_rounds", "must be >= 1", value=n_rounds)
        rng = np.random.default_rng(seed)
        X = rng.normal(size=(n_rounds, self.dim))
        q = self.expected_reward(X)
        pb = self.behaviour_policy(X)
        u = rng.random(n_rounds)[:, None]
        action = np.minimum((pb.cumsum(axis=1) < u).sum(axis=1), self.n_actions - 1)
        rows = np.arange(n_rounds)
        q_a = q[rows, action]
        if self.reward_type == "binary":
            reward = (rng.random(n_rounds) < q_a).astype(np.float64)
        else:
            reward = q_a + self.noise * rng.normal(size=n_rounds)
        log = BanditLog(
            context=X,
            action=action.astype(np.int64),
            reward=reward,
            pscore=pb[rows, action],
            n_actions=self.n_actions,
            action_context=self._action_features,
            behaviour_dist=pb,
        )
        return SyntheticLog(log=log, expected_reward=q, behaviour_dist=pb)

    def policy_value(
        self, policy: PolicyFn, *, n_contexts: int = 200_000, seed: int = 12345
    ) -> float:
        """True value of a target policy: exact over actions, Monte Carlo over contexts.

        Parameters
        ----------
        policy : callable
            ``policy(X) -> action_dist`` of shape ``(n, n_actions)``.
        n_contexts : int
            Contexts of the Monte-Carlo average (its standard error is tiny at the default).
        seed : int
            Seed of those contexts.

        Returns
        -------
        float
        """
        X = self.sample_contexts(n_contexts, seed)
        return float(np.mean(np.sum(policy(X) * self.expected_reward(X), axis=1)))

    def oracle_policy(self, *, epsilon: float = 0.1) -> PolicyFn:
        """An epsilon-greedy policy over the true expected rewards (a good target policy)."""
        if not 0.0 <= epsilon <= 1.0:
            raise ValidationError("epsilon", "must be in [0, 1]", value=epsilon)

        def policy(X: NDArray[np.float64]) -> NDArray[np.float64]:
            return epsilon_greedy_policy(self.expected_reward(X), epsilon=epsilon)

        return policy
