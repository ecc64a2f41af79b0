"""Statistics over per-user metric values: bootstrap intervals, paired tests, group breakdowns."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats as sps

from campaignrec.data.interactions import Interactions
from campaignrec.errors import ValidationError

PAIRED_METHODS = ("t", "wilcoxon", "bootstrap")


@dataclasses.dataclass(frozen=True)
class Interval:
    """A mean with its bootstrap confidence interval."""

    mean: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict[str, float | int]:
        return dataclasses.asdict(self)


def _as_values(values: Any, name: str = "values") -> NDArray[np.float64]:
    arr = np.asarray(values, dtype=np.float64).ravel()
    arr = arr[~np.isnan(arr)]
    if arr.size == 0:
        raise ValidationError(name, "needs at least one non-NaN value", hint="evaluate some users")
    return arr


def _bootstrap_means(
    values: NDArray[np.float64], n_boot: int, rng: np.random.Generator
) -> NDArray[np.float64]:
    n = len(values)
    out = np.empty(n_boot)
    chunk = max(1, 2_000_000 // max(n, 1))
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        out[start:stop] = values[idx].mean(axis=1)
    return out


def bootstrap_ci(
    values: Any, *, n_boot: int = 1000, confidence: float = 0.95, seed: int = 0
) -> Interval:
    """Mean of per-user ``values`` with a percentile bootstrap interval over users (NaN dropped).

    Examples
    --------
    >>> iv = bootstrap_ci([0.0, 1.0] * 50, seed=1)
    >>> iv.low < 0.5 < iv.high
    True
    """
    arr = _as_values(values)
    means = _bootstrap_means(arr, n_boot, np.random.default_rng(seed))
    alpha = (1.0 - confidence) / 2
    return Interval(
        float(arr.mean()),
        float(np.quantile(means, alpha)),
        float(np.quantile(means, 1 - alpha)),
        len(arr),
    )


@dataclasses.dataclass(frozen=True)
class PairedTest:
    """Result of comparing two models on the same users: ``a`` minus ``b``."""

    method: str
    mean_a: float
    mean_b: float
    mean_diff: float
    low: float
    high: float
    p_value: float
    n: int

    @property
    def relative_lift(self) -> float:
        """``mean_a / mean_b - 1`` (NaN when ``mean_b`` is 0)."""
        return self.mean_a / self.mean_b - 1.0 if self.mean_b else float("nan")

    def to_dict(self) -> dict[str, float | int | str]:
        return dataclasses.asdict(self) | {"relative_lift": self.relative_lift}


def paired_test(
    a: Any,
    b: Any,
    *,
    method: str = "t",
    n_boot: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> PairedTest:
    """Two-sided paired test of per-user values ``a`` against ``b`` (same users, same order).

    Parameters
    ----------
    a, b : per-user metric values of two models
    method : "t" (paired t-test), "wilcoxon" (signed-rank) or "bootstrap" (paired bootstrap:
        the p-value is twice the share of resampled mean differences on the other side of 0)
    n_boot, seed, confidence : the bootstrap interval of the mean difference (all methods)

    Returns
    -------
    PairedTest; identical inputs give ``p_value == 1``.
    """
    if method not in PAIRED_METHODS:
        raise ValidationError(
            "method", "unknown paired test", value=method, hint=f"one of {PAIRED_METHODS}"
        )
    xa = np.asarray(a, dtype=np.float64).ravel()
    xb = np.asarray(b, dtype=np.float64).ravel()
    if xa.shape != xb.shape:
        raise ValidationError("b", f"needs as many users as a ({len(xa)})", value=len(xb))
    ok = ~(np.isnan(xa) | np.isnan(xb))
    xa, xb = xa[ok], xb[ok]
    if xa.size == 0:
        raise ValidationError("a", "no user has values for both models")
    diff = xa - xb
    rng = np.random.default_rng(seed)
    boots = _bootstrap_means(diff, n_boot, rng)
    alpha = (1.0 - confidence) / 2
    low, high = float(np.quantile(boots, alpha)), float(np.quantile(boots, 1 - alpha))
    if np.allclose(diff, 0.0):
        p = 1.0
    elif method == "t":
        if np.allclose(diff, diff[0]):  # constant non-zero difference: no variance, certain
            p = 0.0
        else:
            p = float(sps.ttest_rel(xa, xb).pvalue)
    elif method == "wilcoxon":
        p = float(sps.wilcoxon(diff, zero_method="wilcox").pvalue)
    else:
        centred = boots - boots.mean()  # the null distribution: same spread, centred at 0
        p = float((np.sum(np.abs(centred) >= abs(diff.mean())) + 1) / (n_boot + 1))
    return PairedTest(
        method, float(xa.mean()), float(xb.mean()), float(diff.mean()), low, high, p, len(diff)
    )


def history_length_groups(
    train: Interactions,
    user_idx: Sequence[int] | NDArray[np.int64],
    bins: Sequence[int] = (5, 20),
) -> NDArray[np.object_]:
    """Label each user by train history length: ``"cold (<5)"``, ``"warm (5-19)"``, ``"hot (>=20)"``.

    ``bins`` are the edges; with two edges the labels are cold / warm / hot, otherwise ranges.
    """
    counts = np.diff(train.binary.indptr)[np.asarray(user_idx, dtype=np.int64)]
    edges = list(bins)
    if len(edges) == 2:
        lo, hi = edges
        labels = [f"cold (<{lo})", f"warm ({lo}-{hi - 1})", f"hot (>={hi})"]
    else:
        bounds = [0, *edges]
        labels = [f"{bounds[i]}-{bounds[i + 1] - 1}" for i in range(len(edges))] + [
            f">={edges[-1]}"
        ]
    which = np.searchsorted(np.asarray(edges), counts, side="right")
    return np.asarray(labels, dtype=object)[which]


def feature_groups(
    interactions: Interactions, user_idx: Sequence[int] | NDArray[np.int64], column: str
) -> NDArray[np.object_]:
    """Label each user by a column of ``interactions.user_features`` (demographics, segment)."""
    uf = interactions.user_features
    if column not in uf.columns:
        raise ValidationError(
            "column", "not a user feature column", value=column, hint=f"known: {list(uf.columns)}"
        )
    vals = uf[column].to_numpy(dtype=object)[np.asarray(user_idx, dtype=np.int64)]
    return np.asarray(["(missing)" if pd.isna(v) else str(v) for v in vals], dtype=object)


def breakdown(
    per_user: Mapping[str, Any],
    groups: Sequence[Any] | NDArray[Any],
    *,
    n_boot: int = 500,
    seed: int = 0,
) -> pd.DataFrame:
    """Mean and bootstrap interval of each metric per user group.

    Parameters
    ----------
    per_user : metric name -> per-user values (aligned with ``groups``)
    groups : one label per user

    Returns
    -------
    DataFrame with columns group, n_users, metric, mean, low, high.
    """
    labels = np.asarray(groups, dtype=object)
    rows = []
    for metric, values in per_user.items():
        arr = np.asarray(values, dtype=np.float64)
        if arr.shape != labels.shape:
            raise ValidationError(
                metric, f"needs one value per user ({len(labels)})", value=arr.shape
            )
        for g in sorted(set(labels.tolist()), key=str):
            sel = arr[labels == g]
            sel = sel[~np.isnan(sel)]
            if sel.size == 0:
                continue
            iv = bootstrap_ci(sel, n_boot=n_boot, seed=seed)
            rows.append(
                {
                    "group": g,
                    "n_users": iv.n,
                    "metric": metric,
                    "mean": iv.mean,
                    "low": iv.low,
                    "high": iv.high,
                }
            )
    return pd.DataFrame(rows, columns=["group", "n_users", "metric", "mean", "low", "high"])
