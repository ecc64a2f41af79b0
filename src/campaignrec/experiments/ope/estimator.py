"""The estimator contract: a point formula over rounds, plus its bootstrap interval and ESS.

One concern: what every off-policy estimator shares. A subclass gives a ``name``, says whether
it ``needs_reward_model``, and defines ``_point(rounds)``; :class:`Estimator` turns that into
:meth:`~Estimator.estimate` (a value) and :meth:`~Estimator.estimate_lift` (a paired difference),
each a :class:`PolicyValueEstimate` with a percentile bootstrap interval. The estimators
themselves are in :mod:`campaignrec.experiments.ope.estimators`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from campaignrec.errors import ValidationError
from campaignrec.experiments.ope.log import BanditLog, check_action_dist
from campaignrec.experiments.ope.rounds import (
    Dists,
    Rounds,
    bootstrap,
    kish_ess,
    policy_rounds,
    refit_resamples,
    stack_rounds,
)
from campaignrec.experiments.ope.settings import DEFAULT_OPE_SETTINGS, OPESettings

__all__ = ["Estimator", "PolicyValueEstimate", "refit_rounds"]


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


def refit_rounds(log: BanditLog, dists: Dists, settings: OPESettings) -> list[Rounds] | None:
    """The refitted bootstrap resamples of ``dists`` when ``settings`` ask for refitting.

    ``None`` without ``refit_reward_model``; otherwise one :class:`Rounds` per distribution
    (see :func:`~campaignrec.experiments.ope.rounds.refit_resamples`). Callers ask only for
    estimators that need a reward model.
    """
    if not settings.refit_reward_model:
        return None
    return refit_resamples(
        log,
        dists,
        n_boot=settings.n_boot,
        seed=settings.seed,
        model=settings.reward_model,
        structure=settings.reward_structure,
    )


class Estimator(ABC):
    """Base of every off-policy estimator: a point formula over per-round quantities.

    Subclasses define ``name``, ``needs_reward_model`` and ``_point(rounds)`` (vectorised over a
    leading bootstrap axis). :meth:`estimate` adds the bootstrap interval and the ESS.
    """

    name: ClassVar[str] = "base"
    #: Whether the estimator reads reward-model predictions (DM, DR, Switch-DR).
    needs_reward_model: ClassVar[bool] = False

    @classmethod
    def from_settings(cls, settings: OPESettings) -> Estimator:
        """The estimator as ``settings`` configure it (its defaults unless it has a setting there).

        Only Switch-DR reads one (``switch_tau``); the others take no parameters.
        """
        return cls()

    @abstractmethod
    def _point(self, d: Rounds) -> NDArray[np.float64]:
        """Per-round contributions whose mean is the estimate."""

    def _ess(self, d: Rounds) -> float:
        return kish_ess(d.w)

    def _resolve(
        self, log: BanditLog, dists: Dists, d: Rounds, signs: NDArray[np.float64]
    ) -> Estimator:
        """The estimator with any data-driven setting fixed from the data.

        ``d`` holds the rounds of the ``p`` action distributions ``dists`` (shape ``(p, n)``)
        and ``signs`` weighs them (``[1]`` for a value, ``[1, -1]`` for a lift). Estimators
        without such settings return themselves.
        """
        return self

    def _info(self, d: Rounds) -> dict[str, float]:
        return {}

    def estimate(
        self,
        log: BanditLog,
        action_dist: ArrayLike,
        *,
        estimated_rewards: ArrayLike | None = None,
        settings: OPESettings = DEFAULT_OPE_SETTINGS,
    ) -> PolicyValueEstimate:
        """Estimate the value of the target policy ``action_dist`` from ``log``.

        Parameters
        ----------
        log : BanditLog
        action_dist : array-like of shape (n_rounds, n_actions)
            The target policy's action probabilities in each logged round.
        estimated_rewards : array-like of shape (n_rounds, n_actions), optional
            Reward-model predictions (cross-fitted: see
            :func:`~campaignrec.experiments.ope.reward_model.fit_reward_model`); required by
            DM, DR and Switch-DR.
        settings : OPESettings
            Bootstrap replicates, alpha, seed and whether (and with which model) to refit the
            reward model on every resample; :data:`DEFAULT_OPE_SETTINGS` by default. Its
            ``switch_tau`` is not read here (an instance keeps its own threshold).

        Returns
        -------
        PolicyValueEstimate

        Examples
        --------
        >>> DoublyRobust().estimate(log, pi, estimated_rewards=q,
        ...                         settings=OPESettings(n_boot=200, seed=3))  # doctest: +SKIP
        """
        pi = check_action_dist(log, action_dist)
        d = self._rounds(log, pi, estimated_rewards)
        refits = refit_rounds(log, [pi], settings) if self.needs_reward_model else None
        return self._estimate_rounds(log, pi, d, None if refits is None else refits[0], settings)

    def _estimate_rounds(
        self,
        log: BanditLog,
        pi: NDArray[np.float64],
        d: Rounds,
        refits: Rounds | None,
        settings: OPESettings,
    ) -> PolicyValueEstimate:
        """The estimate from the target's rounds ``d`` (and its refitted resamples, if any)."""
        est = self._resolve(log, [pi], stack_rounds([d]), np.ones(1))
        if refits is None:
            stats = bootstrap(d, settings.n_boot, settings.seed, est._point)
        else:
            stats = np.asarray(est._point(refits))
        return est._result(float(est._point(d)), stats, settings.alpha, d)

    def estimate_lift(
        self,
        log: BanditLog,
        action_dist: ArrayLike,
        baseline_dist: ArrayLike,
        *,
        estimated_rewards: ArrayLike | None = None,
        settings: OPESettings = DEFAULT_OPE_SETTINGS,
    ) -> PolicyValueEstimate:
        """Value of ``action_dist`` minus value of ``baseline_dist``, with a paired interval.

        Both policies are evaluated on the same bootstrap resamples of rounds (and, with
        ``settings.refit_reward_model``, the same refitted models), so the interval of the
        difference is narrower than the two separate intervals suggest. Parameters as in
        :meth:`estimate`; ``ess`` and ``info`` are the target policy's. Switch-DR with
        ``tau="auto"`` picks one threshold for both policies, minimising the estimated MSE of
        the difference.

        Returns
        -------
        PolicyValueEstimate
            ``value`` is the estimated lift (target minus baseline).
        """
        pi = check_action_dist(log, action_dist)
        pb = check_action_dist(log, baseline_dist)
        d = self._rounds(log, pi, estimated_rewards)
        base = self._rounds(log, pb, estimated_rewards)
        pair = stack_rounds([d, base])
        est = self._resolve(log, [pi, pb], pair, np.array([1.0, -1.0]))
        value = float(est._point(d) - est._point(base))

        def diff(b: Rounds) -> NDArray[np.float64]:
            both = est._point(b)  # shape (2, replicates)
            return np.asarray(both[0] - both[1])

        refits = refit_rounds(log, [pi, pb], settings) if self.needs_reward_model else None
        if refits is not None:
            stats = diff(stack_rounds(refits))
        else:
            stats = bootstrap(pair, settings.n_boot, settings.seed, diff)
        return est._result(value, stats, settings.alpha, d)

    def _result(
        self, value: float, stats: NDArray[np.float64], alpha: float, d: Rounds
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

    def _rounds(
        self, log: BanditLog, pi: NDArray[np.float64], estimated_rewards: ArrayLike | None
    ) -> Rounds:
        """The rounds of the checked distribution ``pi``; refuses a missing reward model."""
        if estimated_rewards is None and self.needs_reward_model:
            raise ValidationError(
                "estimated_rewards",
                f"{self.name} needs reward-model predictions",
                hint="pass estimated_rewards=fit_reward_model(log)",
            )
        return policy_rounds(log, pi, estimated_rewards)
