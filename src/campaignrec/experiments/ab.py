"""A/B testing: stable hashed assignment, analysis of conversion and revenue, sizing, SRM.

Assignment is a pure function of (salt, experiment, user id): the same user always sees the same
variant on every worker and after restarts, with no stored state, and changing the salt
re-shuffles everyone. Weights need not be equal.

Analysis:

* conversion: two-proportion z-test (pooled standard error for the p-value), the absolute
  difference with an unpooled Wald interval, and the ratio (relative lift) with a delta-method
  interval on the log scale;
* revenue (or any per-user metric): Welch's t-test with the Welch-Satterthwaite degrees of
  freedom, or a percentile bootstrap of the difference in means for heavy-tailed revenue;
* sample size per variant for a conversion test (normal approximation);
* SRM: a chi-square goodness-of-fit test of observed variant counts against the intended
  weights (a p-value below 0.001 means the split is broken: do not trust the results).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from campaignrec.errors import ValidationError

__all__ = [
    "ConversionResult",
    "MeanResult",
    "SRMResult",
    "analyse_conversion",
    "assign_variant",
    "assignment_bucket",
    "bootstrap_mean_difference",
    "sample_size_per_variant",
    "srm_check",
    "welch_t_test",
]


# ---- assignment -------------------------------------------------------------------------------


def assignment_bucket(user_id: str, experiment: str, *, salt: str = "") -> float:
    """A uniform number in [0, 1) fixed by (salt, experiment, user_id) (SHA-256 based)."""
    digest = hashlib.sha256(f"{salt}\x1f{experiment}\x1f{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def _normalised_weights(
    variants: Mapping[str, float] | Sequence[str],
) -> tuple[list[str], list[float]]:
    if isinstance(variants, Mapping):
        names = list(variants)
        weights = [float(variants[v]) for v in names]
    else:
        names = list(variants)
        weights = [1.0] * len(names)
    if len(names) < 2:
        raise ValidationError("variants", "an experiment needs at least two variants", value=names)
    if len(set(names)) != len(names):
        raise ValidationError("variants", "names must be unique", value=names)
    if any(not math.isfinite(w) or w < 0 for w in weights) or sum(weights) <= 0:
        raise ValidationError("variants", "weights must be >= 0 with a positive sum", value=weights)
    total = sum(weights)
    return names, [w / total for w in weights]


def assign_variant(
    user_id: str,
    experiment: str,
    variants: Mapping[str, float] | Sequence[str],
    *,
    salt: str = "",
) -> str:
    """The variant of ``user_id`` in ``experiment``: deterministic, stable and weighted.

    Parameters
    ----------
    user_id : str
        External user id.
    experiment : str
        Experiment name (part of the hash, so experiments are independent).
    variants : mapping name -> weight, or sequence of names (equal weights)
        Order matters: keep it fixed for the life of the experiment.
    salt : str
        Secret or per-launch salt; a new salt re-randomises everyone.

    Returns
    -------
    str
        The variant name.

    Examples
    --------
    >>> assign_variant("u1", "coupon-test", {"control": 0.5, "coupon": 0.5}) in {"control", "coupon"}
    True
    """
    names, weights = _normalised_weights(variants)
    u = assignment_bucket(str(user_id), experiment, salt=salt)
    cum = 0.0
    for name, w in zip(names, weights, strict=True):
        cum += w
        if u < cum:
            return name
    return names[-1]  # rounding of the cumulative sum


# ---- conversion ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConversionResult:
    """Two-proportion comparison of variant B against A (B minus A)."""

    rate_a: float
    rate_b: float
    difference: float
    difference_ci: tuple[float, float]
    ratio: float
    ratio_ci: tuple[float, float]
    z: float
    p_value: float

    @property
    def significant(self) -> bool:
        """Whether the difference interval excludes 0."""
        return self.difference_ci[0] > 0 or self.difference_ci[1] < 0


def _check_counts(conversions: int, n: int, name: str) -> None:
    if n <= 0 or conversions < 0 or conversions > n:
        raise ValidationError(
            name, "needs 0 <= conversions <= visitors and visitors > 0", value=(conversions, n)
        )


def analyse_conversion(
    conversions_a: int, n_a: int, conversions_b: int, n_b: int, *, alpha: float = 0.05
) -> ConversionResult:
    """Compare conversion rates of variant B against control A.

    Parameters
    ----------
    conversions_a, n_a : int
        Conversions and users of the control.
    conversions_b, n_b : int
        Conversions and users of the treatment.
    alpha : float
        1 - confidence level of the intervals; two-sided.

    Returns
    -------
    ConversionResult
        ``ratio`` is ``rate_b / rate_a`` (NaN with an infinite interval when A has no
        conversions).
    """
    _check_counts(conversions_a, n_a, "variant a")
    _check_counts(conversions_b, n_b, "variant b")
    if not 0 < alpha < 1:
        raise ValidationError("alpha", "must be in (0, 1)", value=alpha)
    pa, pb = conversions_a / n_a, conversions_b / n_b
    zcrit = float(stats.norm.ppf(1 - alpha / 2))
    diff = pb - pa
    se = math.sqrt(pa * (1 - pa) / n_a + pb * (1 - pb) / n_b)
    pooled = (conversions_a + conversions_b) / (n_a + n_b)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    z = diff / se0 if se0 > 0 else 0.0
    p = float(2 * stats.norm.sf(abs(z)))
    if conversions_a > 0 and conversions_b > 0:
        ratio = pb / pa
        se_log = math.sqrt((1 - pa) / conversions_a + (1 - pb) / conversions_b)
        ratio_ci = (ratio * math.exp(-zcrit * se_log), ratio * math.exp(zcrit * se_log))
    else:
        ratio = pb / pa if pa > 0 else float("nan")
        ratio_ci = (0.0, float("inf"))
    return ConversionResult(
        rate_a=pa,
        rate_b=pb,
        difference=diff,
        difference_ci=(diff - zcrit * se, diff + zcrit * se),
        ratio=ratio,
        ratio_ci=ratio_ci,
        z=z,
        p_value=p,
    )


# ---- revenue ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MeanResult:
    """Comparison of a per-user metric's mean, B minus A."""

    mean_a: float
    mean_b: float
    difference: float
    difference_ci: tuple[float, float]
    p_value: float
    method: str


def _values(x: ArrayLike, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).ravel()
    if a.size < 2 or not np.all(np.isfinite(a)):
        raise ValidationError(name, "needs at least 2 finite values", value=a.size)
    return a


def welch_t_test(values_a: ArrayLike, values_b: ArrayLike, *, alpha: float = 0.05) -> MeanResult:
    """Welch's unequal-variance t-test of mean(B) - mean(A), with its confidence interval.

    Parameters
    ----------
    values_a, values_b : array-like
        Per-user values (revenue, including zeros for non-buyers).
    alpha : float
        1 - confidence level.

    Returns
    -------
    MeanResult
    """
    a, b = _values(values_a, "values_a"), _values(values_b, "values_b")
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    diff = float(b.mean() - a.mean())
    se = math.sqrt(va + vb)
    if se == 0:  # both variants constant: the difference is known exactly
        p0 = 1.0 if diff == 0 else 0.0
        return MeanResult(float(a.mean()), float(b.mean()), diff, (diff, diff), p0, "welch")
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    t = diff / se
    p = float(2 * stats.t.sf(abs(t), df))
    tcrit = float(stats.t.ppf(1 - alpha / 2, df))
    return MeanResult(
        float(a.mean()), float(b.mean()), diff, (diff - tcrit * se, diff + tcrit * se), p, "welch"
    )


def bootstrap_mean_difference(
    values_a: ArrayLike,
    values_b: ArrayLike,
    *,
    n_boot: int = 2000,
    alpha: float = 0.05,
    seed: int = 0,
) -> MeanResult:
    """Percentile bootstrap of mean(B) - mean(A), resampling each variant separately.

    The p-value is the two-sided share of bootstrap differences on the other side of 0
    (a rough figure; prefer the interval).
    """
    a, b = _values(values_a, "values_a"), _values(values_b, "values_b")
    if n_boot < 100:
        raise ValidationError("n_boot", "use at least 100 replicates", value=n_boot)
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_boot)
    for i in range(n_boot):
        diffs[i] = rng.choice(b, b.size).mean() - rng.choice(a, a.size).mean()
    lo, hi = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    share = min(float(np.mean(diffs <= 0)), float(np.mean(diffs >= 0)))
    return MeanResult(
        float(a.mean()),
        float(b.mean()),
        float(b.mean() - a.mean()),
        (float(lo), float(hi)),
        min(1.0, 2 * share),
        "bootstrap",
    )


# ---- sizing and SRM -----------------------------------------------------------------------------


def sample_size_per_variant(
    baseline_rate: float,
    minimum_detectable_effect: float,
    *,
    relative: bool = False,
    alpha: float = 0.05,
    power: float = 0.8,
) -> int:
    """Users per variant to detect a conversion change with a two-sided two-proportion test.

    Parameters
    ----------
    baseline_rate : float
        Control conversion rate, in (0, 1).
    minimum_detectable_effect : float
        Smallest change worth detecting: absolute (0.01 = one point) or, with
        ``relative=True``, a fraction of the baseline (0.1 = +10%).
    relative : bool
        Read the effect as relative.
    alpha, power : float
        Significance level and power.

    Returns
    -------
    int
        Users needed in each of the two variants.
    """
    if not 0 < baseline_rate < 1:
        raise ValidationError("baseline_rate", "must be in (0, 1)", value=baseline_rate)
    delta = minimum_detectable_effect * (baseline_rate if relative else 1.0)
    p2 = baseline_rate + delta
    if delta == 0 or not 0 < p2 < 1:
        raise ValidationError(
            "minimum_detectable_effect",
            "must be non-zero and keep the treated rate in (0, 1)",
            value=minimum_detectable_effect,
        )
    if not (0 < alpha < 1 and 0 < power < 1):
        raise ValidationError("alpha/power", "must be in (0, 1)", value=(alpha, power))
    za = float(stats.norm.ppf(1 - alpha / 2))
    zb = float(stats.norm.ppf(power))
    p1 = baseline_rate
    pbar = (p1 + p2) / 2
    num = za * math.sqrt(2 * pbar * (1 - pbar)) + zb * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(num**2 / delta**2)


@dataclass(frozen=True)
class SRMResult:
    """Sample-ratio-mismatch check."""

    observed: dict[str, int]
    expected: dict[str, float]
    chi2: float
    p_value: float
    mismatch: bool


def srm_check(
    counts: Mapping[str, int],
    weights: Mapping[str, float] | None = None,
    *,
    threshold: float = 0.001,
) -> SRMResult:
    """Chi-square test of observed variant sizes against the intended split.

    Parameters
    ----------
    counts : mapping variant -> users observed
    weights : mapping variant -> intended weight, optional
        Equal split by default.
    threshold : float
        p-value below which the split is declared broken (0.001 is the usual choice).

    Returns
    -------
    SRMResult
    """
    names = list(counts)
    obs = np.array([int(counts[v]) for v in names], dtype=np.float64)
    if len(names) < 2 or obs.min() < 0 or obs.sum() <= 0:
        raise ValidationError(
            "counts", "needs >= 2 variants with non-negative counts", value=counts
        )
    if weights is None:
        w = np.ones(len(names))
    else:
        missing = [v for v in names if v not in weights]
        if missing:
            raise ValidationError("weights", "missing variants", value=missing)
        w = np.array([float(weights[v]) for v in names])
        if np.any(w <= 0):
            raise ValidationError("weights", "must be > 0", value=dict(weights))
    exp = obs.sum() * w / w.sum()
    chi2 = float(np.sum((obs - exp) ** 2 / exp))
    p = float(stats.chi2.sf(chi2, len(names) - 1))
    return SRMResult(
        observed={v: int(c) for v, c in zip(names, obs, strict=True)},
        expected={v: float(e) for v, e in zip(names, exp, strict=True)},
        chi2=chi2,
        p_value=p,
        mismatch=p < threshold,
    )
