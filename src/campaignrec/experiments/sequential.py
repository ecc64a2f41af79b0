"""A sequential test that is safe to peek at: the always-valid mixture SPRT (mSPRT), and sizing.

Why the mSPRT and not a group-sequential design: a marketing team looks at the results whenever it
likes (daily, after a campaign, when a manager asks) and the traffic per day is not known in
advance. A group-sequential design (O'Brien-Fleming, Pocock) spends alpha over a fixed schedule
of looks fixed before launch; looking at other times, or more often, breaks its guarantee. The
mSPRT (Robbins 1970; Johari, Pekelis and Walsh, "Always valid inference", 2017) gives a p-value
that is valid at *every* moment at once: under no difference, the probability that it *ever*
drops below alpha, however often one looks, is at most alpha (Ville's inequality on the mixture
likelihood ratio, a non-negative martingale under the null). The price is power: at a fixed
sample size it rejects less often than the fixed-horizon test it replaces.

For a difference of means ``d`` with estimated variance ``V`` and a normal mixing distribution
``N(0, tau^2)`` over the true difference, the mixture likelihood ratio is::

    L = sqrt(V / (V + tau^2)) * exp(d^2 tau^2 / (2 V (V + tau^2)))

and the always-valid p-value is the running minimum of ``min(1, 1 / L)`` over the looks. Its
confidence sequence (the values of the difference not rejected) is
``d +- sqrt(V (V + tau^2) / tau^2 * (log((V + tau^2) / V) - 2 log alpha))``. ``tau`` is set to
the smallest effect worth detecting: the test then has the most power near that effect.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy import stats

from campaignrec.errors import ValidationError

__all__ = [
    "always_valid_p_value",
    "msprt_confidence_interval",
    "msprt_p_value",
    "sample_size_for_mean",
]


def msprt_p_value(difference: float, variance: float, tau2: float) -> float:
    """``min(1, 1 / L)`` of one look (see the module docstring); 1 without information."""
    if not (variance > 0 and tau2 > 0) or not math.isfinite(difference):
        return 1.0
    log_l = 0.5 * math.log(variance / (variance + tau2)) + difference**2 * tau2 / (
        2 * variance * (variance + tau2)
    )
    return 1.0 if log_l <= 0 else math.exp(-log_l)


def always_valid_p_value(looks: Sequence[tuple[float, float]], tau2: float) -> float:
    """The running minimum of :func:`msprt_p_value` over ``(difference, variance)`` looks."""
    return min((msprt_p_value(d, v, tau2) for d, v in looks), default=1.0)


def msprt_confidence_interval(
    difference: float, variance: float, tau2: float, *, alpha: float = 0.05
) -> tuple[float, float]:
    """The always-valid ``1 - alpha`` interval of the difference at this look."""
    if not (variance > 0 and tau2 > 0):
        return (-math.inf, math.inf)
    half = math.sqrt(
        variance
        * (variance + tau2)
        / tau2
        * (math.log((variance + tau2) / variance) - 2 * math.log(alpha))
    )
    return difference - half, difference + half


def sample_size_for_mean(
    sd: float, effect: float, *, alpha: float = 0.05, power: float = 0.8
) -> int:
    """Shoppers per variant for a two-sided test of a difference of means of size ``effect``.

    Parameters
    ----------
    sd : float
        Standard deviation of the per-shopper metric (pooled over the variants).
    effect : float
        The absolute difference worth detecting.
    alpha, power : float
        Significance level and power.
    """
    if not (sd > 0 and math.isfinite(sd)):
        raise ValidationError("sd", "must be > 0", value=sd)
    if effect == 0 or not math.isfinite(effect):
        raise ValidationError("effect", "must be a non-zero number", value=effect)
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValidationError("alpha/power", "must be in (0, 1)", value=(alpha, power))
    z = float(stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power))
    return math.ceil(2 * (z * sd / effect) ** 2)
