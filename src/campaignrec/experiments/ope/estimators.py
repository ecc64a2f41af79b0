"""The off-policy estimators: IPS, SNIPS, DM, DR and Switch-DR, each a point formula over rounds.

One concern: the estimators' formulas (their bootstrap, interval and ESS come from
:class:`~campaignrec.experiments.ope.estimator.Estimator`), and :data:`ESTIMATORS`, their names.

* ``ips``: inverse propensity scoring, ``mean(w r)`` with ``w = pi(a|x) / pscore``.
* ``snips``: self-normalised IPS, ``sum(w r) / sum(w)``.
* ``dm``: direct method, ``mean(sum_a pi(a|x) q(x, a))`` with a reward model ``q``.
* ``dr``: doubly robust, ``dm + mean(w (r - q(x, a_logged)))``.
* ``switch-dr``: doubly robust where ``w <= tau``, direct method only where ``w > tau``;
  ``tau="auto"`` picks tau by minimising an estimated MSE
  (:mod:`campaignrec.experiments.ope.switch_tau`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from campaignrec.errors import ValidationError
from campaignrec.experiments.ope.estimator import Estimator
from campaignrec.experiments.ope.log import BanditLog
from campaignrec.experiments.ope.rounds import Dists, Rounds, kish_ess
from campaignrec.experiments.ope.settings import OPESettings
from campaignrec.experiments.ope.switch_tau import (
    SwitchTau,
    check_switch_tau,
    select_switch_tau,
    switch_terms,
)

__all__ = [
    "ESTIMATORS",
    "DirectMethod",
    "DoublyRobust",
    "InverseProbabilityWeighting",
    "SelfNormalizedIPS",
    "SwitchDoublyRobust",
]


class InverseProbabilityWeighting(Estimator):
    """IPS: ``mean(w r)``. Unbiased when every action the target can take has pscore > 0."""

    name = "ips"

    def _point(self, d: Rounds) -> NDArray[np.float64]:
        return np.mean(d.w * d.r, axis=-1)


class SelfNormalizedIPS(Estimator):
    """SNIPS: ``sum(w r) / sum(w)``; slightly biased, much less variance than IPS."""

    name = "snips"

    def _point(self, d: Rounds) -> NDArray[np.float64]:
        den = np.sum(d.w, axis=-1)
        return np.sum(d.w * d.r, axis=-1) / np.where(den > 0, den, 1.0)


class DirectMethod(Estimator):
    """DM: the reward model's average value of the target policy (biased if the model is)."""

    name = "dm"
    needs_reward_model = True

    def _point(self, d: Rounds) -> NDArray[np.float64]:
        return np.mean(d.dm, axis=-1)

    def _ess(self, d: Rounds) -> float:
        return float(d.w.shape[-1])


class DoublyRobust(Estimator):
    """DR: the direct method plus an importance-weighted correction of its residuals."""

    name = "dr"
    needs_reward_model = True

    def _point(self, d: Rounds) -> NDArray[np.float64]:
        return np.mean(d.dm + d.w * (d.r - d.q_logged), axis=-1)


@dataclass
class SwitchDoublyRobust(Estimator):
    """Switch-DR (Wang et al. 2017): DR where ``w <= tau``, the direct method where ``w > tau``.

    Parameters
    ----------
    tau : float or "auto"
        Importance-weight threshold (>= 0); ``inf`` gives DR, ``0`` gives DM. ``"auto"`` picks
        it per log from :func:`~campaignrec.experiments.ope.switch_tau.switch_tau_grid` by
        minimising an estimated MSE: the squared bound on the bias of switching (reward range
        x the target's probability mass on the pairs whose weight exceeds tau) plus the
        variance of the per-round terms over n. The
        mass is exact when the log carries ``behaviour_dist``; from logged actions alone it is
        estimated by importance weighting, and then the bound almost never favours switching
        (auto then means DR). The chosen tau is reported in the estimate's ``info["tau"]``;
        the bootstrap keeps it fixed.
    """

    tau: SwitchTau = 20.0
    name = "switch-dr"
    needs_reward_model = True

    def __post_init__(self) -> None:
        self.tau = check_switch_tau(self.tau)

    @classmethod
    def from_settings(cls, settings: OPESettings) -> SwitchDoublyRobust:
        """Switch-DR at the settings' ``switch_tau``."""
        return cls(tau=settings.switch_tau)

    def _threshold(self) -> float:
        if isinstance(self.tau, str):
            raise ValidationError("tau", "'auto' is resolved by estimate(), not by _point()")
        return self.tau

    def _resolve(
        self, log: BanditLog, dists: Dists, d: Rounds, signs: NDArray[np.float64]
    ) -> Estimator:
        if self.tau != "auto":
            return self
        return replace(self, tau=select_switch_tau(log, dists, d, signs))

    def _point(self, d: Rounds) -> NDArray[np.float64]:
        return np.mean(switch_terms(d, self._threshold()), axis=-1)

    def _ess(self, d: Rounds) -> float:
        return kish_ess(np.where(d.w <= self._threshold(), d.w, 0.0))

    def _info(self, d: Rounds) -> dict[str, float]:
        tau = self._threshold()
        return {"tau": tau, "switched_share": float(np.mean(d.w > tau))}


ESTIMATORS: dict[str, type[Estimator]] = {
    "ips": InverseProbabilityWeighting,
    "snips": SelfNormalizedIPS,
    "dm": DirectMethod,
    "dr": DoublyRobust,
    "switch-dr": SwitchDoublyRobust,
}
