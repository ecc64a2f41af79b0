"""Off-policy evaluation: how a new policy would have done, from logs of an old one.

The log is a typed, frozen :class:`BanditLog` (context, action, reward, propensity of the logged
action, optional slot position and action features). A target policy is given as its action
distribution on the logged rounds, an array ``action_dist`` of shape ``(n_rounds, n_actions)``
whose rows sum to 1.

Estimators (each returns a :class:`PolicyValueEstimate`: value, percentile bootstrap interval
over rounds, effective sample size):

* ``ips``: inverse propensity scoring, ``mean(w r)`` with ``w = pi(a|x) / pscore``.
* ``snips``: self-normalised IPS, ``sum(w r) / sum(w)``.
* ``dm``: direct method, ``mean(sum_a pi(a|x) q(x, a))`` with a reward model ``q``.
* ``dr``: doubly robust, ``dm + mean(w (r - q(x, a_logged)))``.
* ``switch-dr``: doubly robust where ``w <= tau``, direct method only where ``w > tau``;
  ``tau="auto"`` picks tau by minimising an estimated MSE (Wang, Agarwal & Dudik 2017).

How an estimate is computed (bootstrap replicates, alpha, seed, refitting the reward model,
the reward model's kind and structure, Switch-DR's threshold) is one :class:`OPESettings`,
passed as ``settings=`` to :meth:`Estimator.estimate`, :meth:`Estimator.estimate_lift` and
:func:`estimate_policy_value` (default :data:`DEFAULT_OPE_SETTINGS`).

The reward model of DM/DR is cross-fitted (:func:`fit_reward_model`): every round's ``q`` comes
from a model that never saw that round, so DR's correction term stays unbiased. By default the
bootstrap keeps the reward predictions fixed and resamples rounds, which is fast but ignores the
reward model's own error (DM's interval is then far too narrow);
``OPESettings(refit_reward_model=True)`` refits the cross-fitted model on every resample instead
(one model fit per fold per replicate).

Effective sample size is Kish's ``(sum w)^2 / sum w^2`` of the importance weights the estimator
uses (``n_rounds`` for DM, which uses no weights): how many rounds of on-policy data the estimate
is worth.

Modules, one concern each (import the names from here):

* :mod:`~campaignrec.experiments.ope.log`: :class:`BanditLog`, :func:`check_action_dist`;
* :mod:`~campaignrec.experiments.ope.policies`: target policies (uniform, softmax, epsilon-greedy);
* :mod:`~campaignrec.experiments.ope.reward_model`: cross-fitted reward models;
* :mod:`~campaignrec.experiments.ope.rounds`: per-round quantities and bootstrap resamples;
* :mod:`~campaignrec.experiments.ope.settings`: :class:`OPESettings`;
* :mod:`~campaignrec.experiments.ope.estimator`: the :class:`Estimator` contract;
* :mod:`~campaignrec.experiments.ope.estimators`: IPS, SNIPS, DM, DR, Switch-DR;
* :mod:`~campaignrec.experiments.ope.switch_tau`: Switch-DR's ``tau="auto"`` rule;
* :mod:`~campaignrec.experiments.ope.policy_value`: :func:`estimate_policy_value`.
"""

from __future__ import annotations

from campaignrec.experiments.ope.estimator import Estimator, PolicyValueEstimate
from campaignrec.experiments.ope.estimators import (
    ESTIMATORS,
    DirectMethod,
    DoublyRobust,
    InverseProbabilityWeighting,
    SelfNormalizedIPS,
    SwitchDoublyRobust,
)
from campaignrec.experiments.ope.log import BanditLog, check_action_dist
from campaignrec.experiments.ope.policies import (
    epsilon_greedy_policy,
    learned_softmax_policy,
    softmax_policy,
    uniform_policy,
)
from campaignrec.experiments.ope.policy_value import estimate_policy_value
from campaignrec.experiments.ope.reward_model import (
    RewardModelKind,
    RewardStructure,
    fit_reward_model,
    predict_rewards,
)
from campaignrec.experiments.ope.settings import DEFAULT_OPE_SETTINGS, OPESettings
from campaignrec.experiments.ope.switch_tau import (
    SWITCH_TAU_FIXED,
    SWITCH_TAU_QUANTILES,
    switch_tau_grid,
)

__all__ = [
    "DEFAULT_OPE_SETTINGS",
    "ESTIMATORS",
    "SWITCH_TAU_FIXED",
    "SWITCH_TAU_QUANTILES",
    "BanditLog",
    "DirectMethod",
    "DoublyRobust",
    "Estimator",
    "InverseProbabilityWeighting",
    "OPESettings",
    "PolicyValueEstimate",
    "RewardModelKind",
    "RewardStructure",
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
