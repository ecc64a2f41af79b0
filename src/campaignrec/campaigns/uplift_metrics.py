"""Evaluation of uplift scores on randomised treatment/control data.

Conventions (one place for each definition):

* Rows are ranked by score, highest first. Rows with equal scores form one block: a curve is only
  evaluated at block ends and is linear in between, so a constant score (random targeting) gives
  exactly the straight "random" line and ties never depend on row order.
* ``treatment`` is 0/1 (1 = treated); for several arms, subset to one arm plus control first.
* The **Qini curve** at the top ``k`` rows is ``Y_t(k) - Y_c(k) * N_t(k) / N_c(k)`` (incremental
  outcomes, in outcome units), where ``Y_t(k)`` is the outcome sum of treated rows among the top k.
* The **uplift (gain) curve** is ``(Y_t(k)/N_t(k) - Y_c(k)/N_c(k)) * k``.
* The **Qini coefficient** is the area between the Qini curve and the random line, with the
  x-axis as the targeted fraction in [0, 1] and the y-axis divided by the number of rows (so it
  is in outcome-per-customer units, comparable across data sizes). Random targeting scores about
  0; a good ranking scores > 0. ``normalize=True`` divides by the same area of the best possible
  ranking of the observed outcomes (so 1 is perfect).
* **AUUC** is the same area for the uplift curve.
* **uplift@k** is the difference in outcome rate between treated and control rows within the top
  fraction ``k``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from campaignrec.errors import ValidationError

__all__ = [
    "MetricInterval",
    "auuc",
    "bootstrap_uplift_metric",
    "qini_coefficient",
    "qini_curve",
    "uplift_at_k",
    "uplift_curve",
]


def _inputs(
    score: ArrayLike, treatment: ArrayLike, outcome: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    s = np.asarray(score, dtype=np.float64).ravel()
    t = np.asarray(treatment, dtype=np.float64).ravel()
    y = np.asarray(outcome, dtype=np.float64).ravel()
    if not (len(s) == len(t) == len(y)):
        raise ValidationError(
            "score/treatment/outcome", "lengths differ", value=(len(s), len(t), len(y))
        )
    if len(s) == 0:
        raise ValidationError("score", "is empty")
    if not np.all((t == 0.0) | (t == 1.0)):
        raise ValidationError(
            "treatment", "must be 0/1", hint="subset to one arm and control, then map to 0/1"
        )
    if not (np.all(np.isfinite(s)) and np.all(np.isfinite(y))):
        raise ValidationError("score/outcome", "contain NaN or infinite values")
    return s, t, y


def _cumulative(
    s: NDArray[np.float64], t: NDArray[np.float64], y: NDArray[np.float64]
) -> tuple[NDArray[np.float64], ...]:
    """Counts and outcome sums of treated/control among the top k, at block ends (k=0 included)."""
    order = np.argsort(-s, kind="stable")
    s, t, y = s[order], t[order], y[order]
    nt = np.cumsum(t)
    nc = np.cumsum(1.0 - t)
    yt = np.cumsum(y * t)
    yc = np.cumsum(y * (1.0 - t))
    ends = np.flatnonzero(np.r_[s[1:] != s[:-1], True])
    k = (ends + 1).astype(np.float64)
    z = np.zeros(1)
    return (
        np.r_[z, k],
        np.r_[z, nt[ends]],
        np.r_[z, nc[ends]],
        np.r_[z, yt[ends]],
        np.r_[z, yc[ends]],
    )


def qini_curve(
    score: ArrayLike, treatment: ArrayLike, outcome: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Qini curve: incremental outcomes when targeting the top-scored rows.

    Parameters
    ----------
    score : array-like of shape (n,)
        Uplift scores (higher = target first).
    treatment : array-like of shape (n,)
        1 for treated rows, 0 for control rows.
    outcome : array-like of shape (n,)
        Observed outcome.

    Returns
    -------
    (k, qini) : tuple of ndarrays
        Number of rows targeted (starting at 0) and the incremental outcomes at that depth.
    """
    s, t, y = _inputs(score, treatment, outcome)
    k, nt, nc, yt, yc = _cumulative(s, t, y)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = yt - np.where(nc > 0, yc * nt / nc, 0.0)
    return k, q


def uplift_curve(
    score: ArrayLike, treatment: ArrayLike, outcome: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Uplift (cumulative gain) curve ``(rate_t(k) - rate_c(k)) * k``.

    Parameters and returns as :func:`qini_curve`; where one group is still empty among the top
    k its rate counts as 0.
    """
    s, t, y = _inputs(score, treatment, outcome)
    k, nt, nc, yt, yc = _cumulative(s, t, y)
    with np.errstate(divide="ignore", invalid="ignore"):
        rt = np.where(nt > 0, yt / nt, 0.0)
        rc = np.where(nc > 0, yc / nc, 0.0)
    return k, (rt - rc) * k


def _area_above_random(k: NDArray[np.float64], v: NDArray[np.float64]) -> float:
    n = k[-1]
    x = k / n
    y = v / n
    area = float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))
    return area - 0.5 * float(y[-1])


def _perfect_score(t: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """Best ordering of the observed data: treated responders first, control responders last."""
    return np.where(t == 1.0, y, -y) - 1e-12 * np.arange(len(y))  # distinct: no ties


def qini_coefficient(
    score: ArrayLike, treatment: ArrayLike, outcome: ArrayLike, *, normalize: bool = False
) -> float:
    """Area between the Qini curve and the random-targeting line (see the module docstring).

    Parameters
    ----------
    score, treatment, outcome : array-like of shape (n,)
        As in :func:`qini_curve`.
    normalize : bool
        Divide by the coefficient of the best possible ranking of these outcomes.

    Returns
    -------
    float
        About 0 for random targeting, positive for useful rankings.

    Examples
    --------
    >>> qini_coefficient([3, 2, 1, 0], [1, 0, 1, 0], [1, 0, 0, 1]) > 0
    True
    """
    s, t, y = _inputs(score, treatment, outcome)
    value = _area_above_random(*qini_curve(s, t, y))
    if not normalize:
        return value
    best = _area_above_random(*qini_curve(_perfect_score(t, y), t, y))
    return value / best if best > 0 else float("nan")


def auuc(score: ArrayLike, treatment: ArrayLike, outcome: ArrayLike) -> float:
    """Area under the uplift curve above the random line (same axes as the Qini coefficient)."""
    return _area_above_random(*uplift_curve(score, treatment, outcome))


def uplift_at_k(
    score: ArrayLike, treatment: ArrayLike, outcome: ArrayLike, k: float = 0.3
) -> float:
    """Treated minus control outcome rate among the top ``k`` fraction of rows by score.

    Parameters
    ----------
    score, treatment, outcome : array-like of shape (n,)
        As in :func:`qini_curve`.
    k : float
        Fraction in (0, 1] of rows targeted. Ties at the cut are broken by row order.

    Returns
    -------
    float
        The uplift among the targeted rows (NaN when one group is absent there).
    """
    if not 0.0 < k <= 1.0:
        raise ValidationError("k", "must be in (0, 1]", value=k)
    s, t, y = _inputs(score, treatment, outcome)
    top = np.argsort(-s, kind="stable")[: max(1, int(np.ceil(k * len(s))))]
    tt, yy = t[top], y[top]
    if tt.sum() == 0 or (1 - tt).sum() == 0:
        return float("nan")
    return float(yy[tt == 1].mean() - yy[tt == 0].mean())


@dataclass(frozen=True)
class MetricInterval:
    """A metric's value on the full sample and its percentile bootstrap interval."""

    value: float
    ci_low: float
    ci_high: float
    n_boot: int

    def as_dict(self) -> dict[str, float]:
        """Plain dict for JSON output."""
        return {"value": self.value, "ci_low": self.ci_low, "ci_high": self.ci_high}


def bootstrap_uplift_metric(
    metric: Callable[[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]], float],
    score: ArrayLike,
    treatment: ArrayLike,
    outcome: ArrayLike,
    *,
    n_boot: int = 200,
    alpha: float = 0.05,
    seed: int = 0,
) -> MetricInterval:
    """Percentile bootstrap interval of an uplift metric, resampling rows within each group.

    Parameters
    ----------
    metric : callable
        ``metric(score, treatment, outcome) -> float``, e.g. :func:`qini_coefficient`.
    score, treatment, outcome : array-like of shape (n,)
        As in :func:`qini_curve`.
    n_boot : int
        Bootstrap replicates.
    alpha : float
        1 - confidence level (0.05 gives a 95% interval).
    seed : int
        Seed of the resampling.

    Returns
    -------
    MetricInterval
    """
    s, t, y = _inputs(score, treatment, outcome)
    if n_boot < 1:
        raise ValidationError("n_boot", "must be >= 1", value=n_boot)
    rng = np.random.default_rng(seed)
    value = float(metric(s, t, y))
    treated = np.flatnonzero(t == 1.0)
    control = np.flatnonzero(t == 0.0)
    stats = np.empty(n_boot)
    for b in range(n_boot):
        # stratified by group so every replicate keeps the treated/control sizes
        idx = np.r_[rng.choice(treated, size=len(treated)), rng.choice(control, size=len(control))]
        stats[b] = metric(s[idx], t[idx], y[idx])
    stats = stats[np.isfinite(stats)]
    if stats.size == 0:
        return MetricInterval(value, float("nan"), float("nan"), n_boot)
    lo, hi = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return MetricInterval(value, float(lo), float(hi), n_boot)
