"""Several estimators on one log and one target policy, sharing one reward model and its refits.

One concern: the "run them all" entry point behind ``campaignrec ope``. It fits the cross-fitted
reward model once when an estimator needs it and none is given, and, with refitting, draws one
set of refitted resamples shared by DM, DR and Switch-DR.
"""

from __future__ import annotations

from collections.abc import Sequence

from numpy.typing import ArrayLike

from campaignrec.errors import ValidationError
from campaignrec.experiments.ope.estimator import PolicyValueEstimate, refit_rounds
from campaignrec.experiments.ope.estimators import ESTIMATORS
from campaignrec.experiments.ope.log import BanditLog, check_action_dist
from campaignrec.experiments.ope.reward_model import fit_reward_model
from campaignrec.experiments.ope.settings import DEFAULT_OPE_SETTINGS, OPESettings

__all__ = ["estimate_policy_value"]


def estimate_policy_value(
    log: BanditLog,
    action_dist: ArrayLike,
    *,
    estimators: Sequence[str] = ("ips", "snips", "dm", "dr", "switch-dr"),
    estimated_rewards: ArrayLike | None = None,
    settings: OPESettings = DEFAULT_OPE_SETTINGS,
) -> dict[str, PolicyValueEstimate]:
    """Run several estimators on one log and one target policy.

    Parameters
    ----------
    log : BanditLog
    action_dist : array-like of shape (n_rounds, n_actions)
    estimators : sequence of str
        Names from :data:`~campaignrec.experiments.ope.estimators.ESTIMATORS`, each built by
        its class's ``from_settings`` (Switch-DR at ``settings.switch_tau``).
    estimated_rewards : array-like, optional
        Cross-fitted reward predictions; fitted with ``settings.reward_model``,
        ``settings.reward_structure`` and ``settings.seed`` when missing and needed.
    settings : OPESettings
        Bootstrap settings (the same seed for every estimator, so their intervals are paired),
        refitting (one set of refits shared by DM, DR and Switch-DR; default off: fixed
        predictions, fast, but DM's interval then ignores the model's error) and Switch-DR's
        threshold; :data:`DEFAULT_OPE_SETTINGS` by default.

    Returns
    -------
    dict
        Estimator name -> :class:`PolicyValueEstimate`.

    Examples
    --------
    >>> res = estimate_policy_value(log, pi, estimated_rewards=q,
    ...                             settings=OPESettings(switch_tau="auto"))  # doctest: +SKIP
    >>> res["dr"].value, res["dr"].ci_low, res["dr"].ci_high  # doctest: +SKIP
    """
    unknown = [e for e in estimators if e not in ESTIMATORS]
    if unknown:
        raise ValidationError(
            "estimators", "unknown estimator", value=unknown, hint=f"use {sorted(ESTIMATORS)}"
        )
    objs = [ESTIMATORS[e].from_settings(settings) for e in estimators]
    pi = check_action_dist(log, action_dist)
    needs_model = any(o.needs_reward_model for o in objs)
    if estimated_rewards is None and needs_model:
        estimated_rewards = fit_reward_model(
            log,
            model=settings.reward_model,
            structure=settings.reward_structure,
            seed=settings.seed,
        )
    refits = refit_rounds(log, [pi], settings) if needs_model else None
    shared = None if refits is None else refits[0]
    return {
        o.name: o._estimate_rounds(
            log,
            pi,
            o._rounds(log, pi, estimated_rewards),
            shared if o.needs_reward_model else None,
            settings,
        )
        for o in objs
    }
