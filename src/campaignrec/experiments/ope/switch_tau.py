"""Switch-DR's threshold: the candidate grid and the estimated-MSE rule of ``tau="auto"``.

One concern: which importance-weight threshold ``tau`` Switch-DR uses when asked to choose it
from the data (Wang, Agarwal & Dudik 2017), and what a valid threshold setting is. The
estimator itself is :class:`~campaignrec.experiments.ope.estimators.SwitchDoublyRobust`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from campaignrec.errors import ValidationError
from campaignrec.experiments.ope.log import BanditLog
from campaignrec.experiments.ope.rounds import Dists, Rounds

__all__ = [
    "SWITCH_TAU_FIXED",
    "SWITCH_TAU_QUANTILES",
    "SwitchTau",
    "check_switch_tau",
    "select_switch_tau",
    "switch_tau_grid",
    "switch_terms",
]

#: A Switch-DR threshold setting: a number >= 0, or ``"auto"`` (chosen from the data).
SwitchTau = float | Literal["auto"]

#: Fixed candidates of the automatic Switch-DR threshold (those above the largest weight are
#: dropped: they all keep every round).
SWITCH_TAU_FIXED = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0)
#: Quantiles of the positive importance weights added to the candidates, with the largest weight.
SWITCH_TAU_QUANTILES = (0.5, 0.75, 0.9, 0.95, 0.99)


def switch_tau_grid(w: ArrayLike) -> NDArray[np.float64]:
    """Candidate thresholds of Switch-DR's automatic tau, ascending.

    The fixed values :data:`SWITCH_TAU_FIXED` up to the largest weight, the
    :data:`SWITCH_TAU_QUANTILES` quantiles of the positive weights and the largest weight itself
    (which keeps every round: plain DR).

    Parameters
    ----------
    w : array-like
        Importance weights (any shape).

    Returns
    -------
    ndarray
    """
    pos = np.asarray(w, dtype=np.float64).ravel()
    pos = pos[pos > 0]
    if pos.size == 0:
        return np.array([1.0])
    top = float(pos.max())
    fixed = [t for t in SWITCH_TAU_FIXED if t < top]
    grid = np.concatenate([fixed, np.quantile(pos, SWITCH_TAU_QUANTILES), [top]])
    return np.unique(grid)


def check_switch_tau(tau: object, field: str = "tau") -> SwitchTau:
    """A valid threshold setting: ``"auto"`` or ``tau`` as a float >= 0.

    Raises
    ------
    ValidationError
        Naming ``field`` when ``tau`` is another string, not a number (``True`` is not), negative
        or NaN.
    """
    if isinstance(tau, str):
        if tau != "auto":
            raise ValidationError(
                field, "unknown setting", value=tau, hint="use a number >= 0 or 'auto'"
            )
        return "auto"
    if isinstance(tau, bool) or not isinstance(tau, int | float | np.number):
        raise ValidationError(field, "must be a number or 'auto'", value=tau, hint="e.g. tau=20")
    if not float(tau) >= 0:  # also rejects NaN
        raise ValidationError(field, "must be >= 0", value=tau, hint="use a number >= 0 or 'auto'")
    return float(tau)


def switch_terms(d: Rounds, tau: float) -> NDArray[np.float64]:
    """Per-round Switch-DR terms: DR's where ``w <= tau``, DM's elsewhere."""
    return d.dm + np.where(d.w <= tau, d.w * (d.r - d.q_logged), 0.0)


def _switched_mass(log: BanditLog, dists: Dists, d: Rounds, tau: float) -> float:
    """The target policies' probability mass on (context, action) pairs with weight > tau.

    Exact over actions when the log knows the logging policy's whole distribution (``sum_a
    pi(a|x) 1(pi(a|x) > tau mu(a|x))`` averaged over the logged contexts); otherwise its
    importance-weighted estimate ``mean(w 1(w > tau))`` from the logged actions, which is
    unbiased but so noisy that it hardly ever favours switching. Summed over the policies.
    """
    mu = log.behaviour_dist
    if mu is None:
        return float(np.sum(np.mean(np.where(d.w > tau, d.w, 0.0), axis=-1)))
    # pi > tau * mu also counts actions the logging policy never takes (infinite weight)
    return float(sum(np.sum(np.where(pi > tau * mu, pi, 0.0)) for pi in dists) / log.n_rounds)


def select_switch_tau(
    log: BanditLog,
    dists: Dists,
    d: Rounds,
    signs: NDArray[np.float64],
) -> float:
    """The candidate tau minimising (bias bound)^2 + variance (Wang, Agarwal & Dudik 2017).

    Rounds with ``w > tau`` use the reward model only, so Switch-DR's bias is at most the reward
    range times the target policy's probability mass on (context, action) pairs whose weight
    exceeds tau (:func:`_switched_mass`; the range is that of the observed rewards and reward
    predictions). The variance is the sample variance of the per-round terms over ``n``. ``d``
    has shape ``(p, n)`` and the estimand is ``signs @ values``; the policies' bounds add up.
    """
    n = d.w.shape[-1]
    lo = min(float(d.r.min()), float(d.q_logged.min()))
    hi = max(float(d.r.max()), float(d.q_logged.max()))
    reward_range = hi - lo
    best_tau, best_mse = np.inf, np.inf
    for tau in switch_tau_grid(d.w):
        combined = signs @ switch_terms(d, float(tau))
        variance = float(combined.var(ddof=1)) / n if n > 1 else 0.0
        bias_bound = reward_range * _switched_mass(log, dists, d, float(tau))
        mse = bias_bound**2 + variance
        if mse <= best_mse:  # ties (the same rounds switched): keep the larger tau
            best_tau, best_mse = float(tau), mse
    return best_tau
