"""Bandit policies over a changing set of eligible campaigns, with logged propensities.

Every policy is a dataclass with the same surface::

    action, propensity = policy.select(context, eligible_actions, rng)
    policy.update(context, action, reward)
    probs = policy.action_probabilities(context, eligible_actions, rng)

* ``eligible_actions`` is any sequence of action ids (campaign ids, strings or ints); it may differ
  from call to call (campaigns start, end, run out of budget). A never-seen action starts from the
  prior.
* ``propensity`` is the probability the policy had of choosing the returned action, to log with
  the decision for off-policy evaluation. It is exact for epsilon-greedy, UCB1 and LinUCB (ties are
  broken uniformly, so a tie of m actions gives 1/m). For the Thompson-sampling policies it is
  computed by Monte Carlo: the policy draws ``n_mc`` posterior samples, takes each draw's best
  action, and then samples its action from those frequencies. The logged propensity is therefore
  exactly the probability used to pick the action (so IPS on our own logs is right), and because
  the frequencies are an unbiased estimate of Thompson sampling's choice probabilities, the
  marginal behaviour is exactly Thompson sampling. An action no draw favoured gets probability 0
  in that round; give the policy a ``floor`` (uniform share, default 0) to keep every action
  reachable.
* Statistics live in an online state (:mod:`campaignrec.store.online`: memory or Redis) under
  ``namespace``, written only with atomic ``hincrbyfloat`` increments, so several workers sharing
  one Redis share what they learn. The linear policies keep additive sufficient statistics
  (``A = ridge I + sum x x^T``, ``b = sum r x``), exact under concurrency. The logistic
  Thompson policy keeps a diagonal Laplace posterior (Chapelle & Li 2011) updated one observation
  at a time; concurrent workers add their updates as increments computed against the posterior
  they read, like asynchronous SGD: nothing is lost, but simultaneous updates see slightly stale
  means.

Context-free policies accept ``context=None``. The contextual ones take a 1-D array of ``dim``
numbers and add an intercept themselves.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from campaignrec.errors import ValidationError
from campaignrec.store.online import OnlineState, open_online_state

__all__ = [
    "POLICIES",
    "UCB1",
    "BanditPolicy",
    "BernoulliThompsonSampling",
    "EpsilonGreedy",
    "LinUCB",
    "LinearThompsonSampling",
    "LogisticThompsonSampling",
]

Action = Any  # a hashable action id, stored as str(action)


def _memory_state() -> OnlineState:
    return open_online_state("memory://")


def _check_eligible(eligible_actions: Sequence[Action]) -> list[Action]:
    actions = list(eligible_actions)
    if not actions:
        raise ValidationError(
            "eligible_actions", "is empty", hint="only call select when some campaign is eligible"
        )
    if len({str(a) for a in actions}) != len(actions):
        raise ValidationError("eligible_actions", "contains duplicates", value=actions)
    return actions


def _argmax_uniform(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Probability vector splitting mass evenly over the maxima of ``values``."""
    best = values == values.max()
    return best / best.sum()


@dataclass
class BanditPolicy(ABC):
    """Common machinery: eligibility checks, sampling, the online state.

    Parameters
    ----------
    state : OnlineState
        Where the statistics live (a fresh in-process state by default).
    namespace : str
        Key prefix of this policy's statistics; two policies with the same namespace and state
        share what they learn.
    floor : float
        Share of probability spread uniformly over the eligible actions, in [0, 1).
    """

    state: OnlineState = field(default_factory=_memory_state, repr=False)
    namespace: str = "bandit"
    floor: float = 0.0

    name = "base"

    def __post_init__(self) -> None:
        if not 0.0 <= self.floor < 1.0:
            raise ValidationError("floor", "must be in [0, 1)", value=self.floor)

    # -- to implement --
    @abstractmethod
    def _probabilities(
        self, context: NDArray[np.float64] | None, actions: list[Action], rng: np.random.Generator
    ) -> NDArray[np.float64]:
        """Probability of choosing each of ``actions``."""

    @abstractmethod
    def _update(self, context: NDArray[np.float64] | None, action: Action, reward: float) -> None:
        """Fold one observed reward into the statistics."""

    def _context(self, context: ArrayLike | None) -> NDArray[np.float64] | None:
        return None

    # -- public surface --
    def action_probabilities(
        self,
        context: ArrayLike | None,
        eligible_actions: Sequence[Action],
        rng: np.random.Generator,
    ) -> NDArray[np.float64]:
        """Probability of choosing each eligible action now (Monte Carlo for Thompson sampling).

        Parameters
        ----------
        context : array-like of shape (dim,) or None
        eligible_actions : sequence of action ids
        rng : numpy.random.Generator

        Returns
        -------
        ndarray of shape (len(eligible_actions),), summing to 1
        """
        actions = _check_eligible(eligible_actions)
        p = self._probabilities(self._context(context), actions, rng)
        return (1.0 - self.floor) * p + self.floor / len(actions)

    def select(
        self,
        context: ArrayLike | None,
        eligible_actions: Sequence[Action],
        rng: np.random.Generator,
    ) -> tuple[Action, float]:
        """Choose one eligible action.

        Parameters
        ----------
        context : array-like of shape (dim,) or None
        eligible_actions : sequence of action ids
        rng : numpy.random.Generator
            Source of the policy's randomness (seed it).

        Returns
        -------
        (action, propensity)
            The chosen action id and the probability the policy had of choosing it.
        """
        actions = _check_eligible(eligible_actions)
        p = self.action_probabilities(context, actions, rng)
        i = int(rng.choice(len(actions), p=p))
        return actions[i], float(p[i])

    def update(self, context: ArrayLike | None, action: Action, reward: float) -> None:
        """Record the reward observed after showing ``action`` in ``context``."""
        r = float(reward)
        if not math.isfinite(r):
            raise ValidationError("reward", "must be a finite number", value=reward)
        self._update(self._context(context), action, r)


# ---- context-free ------------------------------------------------------------------------------


@dataclass
class _ArmStats(BanditPolicy):
    """Per-action pull counts and reward sums in one hash."""

    def _key(self) -> str:
        return f"{self.namespace}:{self.name}:arms"

    def _counts(self, actions: list[Action]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        h = self.state.hgetall(self._key())
        n = np.array([h.get(f"n:{a}", 0.0) for a in actions], dtype=np.float64)
        r = np.array([h.get(f"r:{a}", 0.0) for a in actions], dtype=np.float64)
        return n, r

    def _update(self, context: NDArray[np.float64] | None, action: Action, reward: float) -> None:
        self.state.hincrbyfloat(self._key(), f"n:{action}", 1.0)
        self.state.hincrbyfloat(self._key(), f"r:{action}", reward)


@dataclass
class EpsilonGreedy(_ArmStats):
    """Best mean reward with probability ``1 - epsilon``, uniform otherwise (exact propensity).

    Untried actions count as best, so every new campaign is tried once early.
    """

    epsilon: float = 0.1
    name = "epsilon_greedy"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.epsilon <= 1.0:
            raise ValidationError("epsilon", "must be in [0, 1]", value=self.epsilon)

    def _probabilities(self, context, actions, rng):  # type: ignore[no-untyped-def]
        n, r = self._counts(actions)
        means = np.where(n > 0, r / np.maximum(n, 1.0), np.inf)
        return (1.0 - self.epsilon) * _argmax_uniform(means) + self.epsilon / len(actions)


@dataclass
class UCB1(_ArmStats):
    """UCB1 (Auer et al. 2002): mean + ``sqrt(c ln N / n)``; deterministic up to ties.

    ``N`` is the pulls of the currently eligible actions; untried actions come first.
    """

    c: float = 2.0
    name = "ucb1"

    def _probabilities(self, context, actions, rng):  # type: ignore[no-untyped-def]
        n, r = self._counts(actions)
        total = max(n.sum(), 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            ucb = np.where(
                n > 0, r / n + np.sqrt(self.c * np.log(total) / np.maximum(n, 1.0)), np.inf
            )
        return _argmax_uniform(ucb)


def _mc_argmax_frequencies(draws: NDArray[np.float64]) -> NDArray[np.float64]:
    """Share of posterior draws (rows) in which each action (column) is best."""
    winners = draws.argmax(axis=1)
    return np.bincount(winners, minlength=draws.shape[1]) / draws.shape[0]


@dataclass
class BernoulliThompsonSampling(_ArmStats):
    """Thompson sampling with Beta(prior_alpha + successes, prior_beta + failures) posteriors.

    Rewards are expected in [0, 1] (fractions count fractionally). Propensities by Monte Carlo
    with ``n_mc`` draws (see the module docstring).
    """

    prior_alpha: float = 1.0
    prior_beta: float = 1.0
    n_mc: int = 1000
    name = "bernoulli_ts"

    def _probabilities(self, context, actions, rng):  # type: ignore[no-untyped-def]
        n, r = self._counts(actions)
        a = self.prior_alpha + r
        b = self.prior_beta + np.maximum(n - r, 0.0)
        return _mc_argmax_frequencies(rng.beta(a, b, size=(self.n_mc, len(actions))))

    def _update(self, context: NDArray[np.float64] | None, action: Action, reward: float) -> None:
        if not 0.0 <= reward <= 1.0:
            raise ValidationError("reward", "must be in [0, 1] for Bernoulli TS", value=reward)
        super()._update(context, action, reward)


# ---- contextual --------------------------------------------------------------------------------


@dataclass
class _Contextual(BanditPolicy):
    """Context handling: a ``dim``-vector plus an intercept."""

    dim: int = 1
    fit_intercept: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.dim < 1:
            raise ValidationError("dim", "must be >= 1", value=self.dim)

    @property
    def n_weights(self) -> int:
        return self.dim + int(self.fit_intercept)

    def _context(self, context: ArrayLike | None) -> NDArray[np.float64]:
        if context is None:
            raise ValidationError(
                "context", f"{self.name} needs a context vector of {self.dim} numbers"
            )
        x = np.asarray(context, dtype=np.float64).ravel()
        if x.shape != (self.dim,) or not np.all(np.isfinite(x)):
            raise ValidationError(
                "context", f"must be {self.dim} finite numbers", value=x.shape, hint="set dim="
            )
        return np.r_[x, 1.0] if self.fit_intercept else x

    def _key(self, action: Action) -> str:
        return f"{self.namespace}:{self.name}:{action}"


@dataclass
class _LinearStats(_Contextual):
    """Ridge-regression sufficient statistics per action (upper triangle of A, and b)."""

    ridge: float = 1.0

    def _posterior(self, action: Action) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``A^{-1}`` and ``theta = A^{-1} b`` of one action."""
        d = self.n_weights
        h = self.state.hgetall(self._key(action))
        A = self.ridge * np.eye(d)
        b = np.zeros(d)
        for i in range(d):
            b[i] = h.get(f"b:{i}", 0.0)
            for j in range(i, d):
                v = h.get(f"A:{i}:{j}", 0.0)
                A[i, j] += v
                if i != j:
                    A[j, i] += v
        A_inv: NDArray[np.float64] = np.asarray(np.linalg.inv(A), dtype=np.float64)
        return A_inv, A_inv @ b

    def _update(self, context: NDArray[np.float64] | None, action: Action, reward: float) -> None:
        assert context is not None
        key = self._key(action)
        d = self.n_weights
        for i in range(d):
            if context[i] != 0.0:
                self.state.hincrbyfloat(key, f"b:{i}", reward * context[i])
            for j in range(i, d):
                v = context[i] * context[j]
                if v != 0.0:
                    self.state.hincrbyfloat(key, f"A:{i}:{j}", v)
        self.state.hincrbyfloat(key, "n", 1.0)


@dataclass
class LinUCB(_LinearStats):
    """Disjoint LinUCB (Li et al. 2010): ``theta^T x + alpha sqrt(x^T A^{-1} x)``, ties split."""

    alpha: float = 1.0
    name = "linucb"

    def _probabilities(self, context, actions, rng):  # type: ignore[no-untyped-def]
        ucb = np.empty(len(actions))
        for k, a in enumerate(actions):
            A_inv, theta = self._posterior(a)
            ucb[k] = theta @ context + self.alpha * math.sqrt(max(context @ A_inv @ context, 0.0))
        return _argmax_uniform(np.round(ucb, 12))


@dataclass
class LinearThompsonSampling(_LinearStats):
    """Linear Thompson sampling (Agrawal & Goyal 2013): ``theta ~ N(A^{-1} b, v^2 A^{-1})``.

    Propensities by Monte Carlo with ``n_mc`` draws.
    """

    v: float = 0.5
    n_mc: int = 1000
    name = "linear_ts"

    def _probabilities(self, context, actions, rng):  # type: ignore[no-untyped-def]
        draws = np.empty((self.n_mc, len(actions)))
        for k, a in enumerate(actions):
            A_inv, theta = self._posterior(a)
            # the score x^T theta is Gaussian: sample it directly
            mean = float(theta @ context)
            sd = self.v * math.sqrt(max(float(context @ A_inv @ context), 0.0))
            draws[:, k] = mean + sd * rng.standard_normal(self.n_mc)
        return _mc_argmax_frequencies(draws)


def _sigmoid(z: NDArray[np.float64] | float) -> Any:
    return 1.0 / (1.0 + np.exp(-z))


@dataclass
class LogisticThompsonSampling(_Contextual):
    """Logistic Thompson sampling with a diagonal Laplace posterior per action.

    Each weight has a Gaussian posterior ``N(m_i, 1 / q_i)``; an observation ``(x, r)`` with
    ``r`` in {0, 1} moves ``m`` to the MAP of prior times likelihood (a few Newton steps) and adds
    ``p (1 - p) x_i^2`` to ``q_i`` (Chapelle & Li 2011, Algorithm 3, one observation at a time).
    Propensities by Monte Carlo with ``n_mc`` draws.

    Parameters
    ----------
    prior_precision : float
        Precision ``q`` of the zero-mean prior of every weight.
    newton_steps : int
        Newton iterations per update.
    """

    prior_precision: float = 1.0
    newton_steps: int = 5
    n_mc: int = 1000
    name = "logistic_ts"

    def _posterior(self, action: Action) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        d = self.n_weights
        h = self.state.hgetall(self._key(action))
        m = np.array([h.get(f"m:{i}", 0.0) for i in range(d)])
        q = self.prior_precision + np.array([h.get(f"q:{i}", 0.0) for i in range(d)])
        return m, q

    def _probabilities(self, context, actions, rng):  # type: ignore[no-untyped-def]
        draws = np.empty((self.n_mc, len(actions)))
        for k, a in enumerate(actions):
            m, q = self._posterior(a)
            mean = float(m @ context)
            sd = math.sqrt(float(np.sum(context * context / q)))
            draws[:, k] = mean + sd * rng.standard_normal(self.n_mc)  # sigmoid is monotone
        return _mc_argmax_frequencies(draws)

    def _update(self, context: NDArray[np.float64] | None, action: Action, reward: float) -> None:
        assert context is not None
        if reward not in (0.0, 1.0):
            raise ValidationError("reward", "must be 0 or 1 for logistic TS", value=reward)
        m, q = self._posterior(action)
        w = m.copy()
        for _ in range(self.newton_steps):
            p = float(_sigmoid(w @ context))
            grad = q * (w - m) + (p - reward) * context
            hess = np.diag(q) + p * (1 - p) * np.outer(context, context)
            w = w - np.linalg.solve(hess, grad)
        p = float(_sigmoid(w @ context))
        key = self._key(action)
        for i in range(self.n_weights):
            if w[i] != m[i]:
                self.state.hincrbyfloat(key, f"m:{i}", float(w[i] - m[i]))
            if context[i] != 0.0:
                self.state.hincrbyfloat(key, f"q:{i}", p * (1 - p) * context[i] ** 2)
        self.state.hincrbyfloat(key, "n", 1.0)


POLICIES: dict[str, type[BanditPolicy]] = {
    "epsilon_greedy": EpsilonGreedy,
    "ucb1": UCB1,
    "bernoulli_ts": BernoulliThompsonSampling,
    "linucb": LinUCB,
    "linear_ts": LinearThompsonSampling,
    "logistic_ts": LogisticThompsonSampling,
}
