"""How an off-policy estimate is computed: the one settings object of every OPE entry point.

:meth:`Estimator.estimate <campaignrec.experiments.ope.estimator.Estimator.estimate>`,
:meth:`Estimator.estimate_lift <campaignrec.experiments.ope.estimator.Estimator.estimate_lift>`
and :func:`~campaignrec.experiments.ope.policy_value.estimate_policy_value` take one
:class:`OPESettings` instead of repeating its fields as keyword arguments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from campaignrec.errors import ValidationError
from campaignrec.experiments.ope.reward_model import (
    RewardModelKind,
    RewardStructure,
    check_reward_model,
    check_reward_structure,
)
from campaignrec.experiments.ope.switch_tau import SwitchTau, check_switch_tau

__all__ = ["DEFAULT_OPE_SETTINGS", "OPESettings"]


@dataclass(frozen=True)
class OPESettings:
    """Bootstrap, reward-model and Switch-DR settings of an off-policy estimate.

    Parameters
    ----------
    n_boot : int
        Bootstrap replicates (resampling rounds) for the interval (>= 0; 0 gives NaN bounds).
    alpha : float
        1 - confidence level, in [0, 1].
    seed : int
        Seed of the bootstrap, of the reward model's folds and of its refits (the same seed for
        every estimator of one call, so their intervals are paired).
    refit_reward_model : bool
        DM, DR and Switch-DR only: refit the cross-fitted reward model (``reward_model``,
        ``reward_structure``, 2 folds, ``seed``) on every bootstrap resample, so the interval
        includes the model's own variability. Default ``False``: the predictions are held
        fixed, which is ``n_boot`` x 2 model fits faster but makes DM's interval far too
        narrow.
    reward_model : {"logistic", "lightgbm"}
        The reward model fitted when predictions are needed and not given, and the refitted one
        (see :func:`~campaignrec.experiments.ope.reward_model.fit_reward_model`). When passing
        ``estimated_rewards`` with refitting, use the settings they were fitted with.
    reward_structure : {"auto", "joint", "per_action"}
        The reward model's structure, likewise.
    switch_tau : float or "auto"
        Threshold of the Switch-DR that an entry point builds from these settings
        (:meth:`Estimator.from_settings
        <campaignrec.experiments.ope.estimator.Estimator.from_settings>`, used by
        ``estimate_policy_value``); an estimator instance keeps its own ``tau``.
    """

    n_boot: int = 500
    alpha: float = 0.05
    seed: int = 0
    refit_reward_model: bool = False
    reward_model: RewardModelKind = "logistic"
    reward_structure: RewardStructure = "auto"
    switch_tau: SwitchTau = 20.0

    def __post_init__(self) -> None:
        n_boot = self.n_boot
        if isinstance(n_boot, bool) or not isinstance(n_boot, int | np.integer) or n_boot < 0:
            raise ValidationError(
                "n_boot", "must be a whole number >= 0", value=n_boot, hint="e.g. n_boot=500"
            )
        object.__setattr__(self, "n_boot", int(n_boot))
        if not 0.0 <= float(self.alpha) <= 1.0:  # also rejects NaN
            raise ValidationError(
                "alpha", "must be in [0, 1]", value=self.alpha, hint="0.05 for 95% intervals"
            )
        check_reward_model(self.reward_model)
        check_reward_structure(self.reward_structure, field="reward_structure")
        object.__setattr__(self, "switch_tau", check_switch_tau(self.switch_tau, "switch_tau"))


#: The settings every entry point uses when given none: 500 replicates, 95% intervals, seed 0,
#: a fixed logistic reward model of automatic structure, Switch-DR at tau = 20.
DEFAULT_OPE_SETTINGS = OPESettings()
