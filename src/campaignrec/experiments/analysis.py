"""Analysis of per-shopper experiment rows: lift of each treatment over the control, CUPED, SRM.

One row per shopper with a variant, a metric and optionally the same shopper's pre-period value
of the metric. For each group (a segment, a country, or the whole table) and each treatment:

* the lift, ``mean(treatment) - mean(control)``, with Welch's 95 % interval and p-value
  (:func:`campaignrec.experiments.ab.welch_t_test`);
* with a pre-period column, the CUPED adjustment first (Deng et al., 2013):
  ``y' = y - theta (x - mean(x))`` with ``theta = cov(x, y) / var(x)`` estimated on the pooled rows
  of the comparison. The adjustment removes the part of the metric the pre-period predicts; its
  mean over shoppers is unchanged, so the lift estimates the same quantity with a smaller variance.
  ``variance_reduction`` is ``1 - var(lift, CUPED) / var(lift, raw)``;
* the sample-ratio-mismatch p-value of the group's variant counts against the intended shares
  (:func:`campaignrec.experiments.ab.srm_check`).

The table is a pandas DataFrame; :func:`read_rows` reads CSV or Parquet.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from campaignrec.errors import ConfigError, ValidationError
from campaignrec.experiments.ab import srm_check, welch_t_test

__all__ = [
    "LiftResult",
    "analyse_rows",
    "cuped_adjust",
    "cuped_theta",
    "read_rows",
]


@dataclass(frozen=True)
class LiftResult:
    """One treatment against the control within one group (``by`` is None without ``--by``)."""

    by: str | None
    treatment: str
    control: str
    lift: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    variance_reduction: float | None
    srm_p_value: float | None
    n_treatment: int
    n_control: int
    mean_treatment: float | None
    mean_control: float | None
    relative_lift: float | None
    theta: float | None
    method: str
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (non-finite numbers become None)."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, float) and not math.isfinite(value):
                out[key] = None
        return out


def cuped_theta(y: ArrayLike, x: ArrayLike) -> float:
    """``cov(x, y) / var(x)``: the CUPED coefficient (0 when the covariate is constant)."""
    ya = np.asarray(y, dtype=np.float64)
    xa = np.asarray(x, dtype=np.float64)
    vx = float(np.var(xa, ddof=1)) if xa.size > 1 else 0.0
    if vx <= 0:
        return 0.0
    return float(np.cov(xa, ya, ddof=1)[0, 1] / vx)


def cuped_adjust(
    y: ArrayLike, x: ArrayLike, *, theta: float | None = None
) -> tuple[NDArray[np.float64], float]:
    """The CUPED-adjusted metric ``y - theta (x - mean(x))`` and the ``theta`` used.

    Parameters
    ----------
    y : array-like
        Metric of the experiment period, one value per shopper.
    x : array-like
        The same shoppers' pre-period covariate (unaffected by the treatment).
    theta : float, optional
        Coefficient to use; estimated on ``(y, x)`` when omitted.

    Returns
    -------
    (ndarray, float)
    """
    ya = np.asarray(y, dtype=np.float64)
    xa = np.asarray(x, dtype=np.float64)
    if ya.shape != xa.shape:
        raise ValidationError("pre", "must have one value per metric value", value=xa.shape)
    t = cuped_theta(ya, xa) if theta is None else float(theta)
    return ya - t * (xa - xa.mean()), t


def read_rows(path: Path) -> pd.DataFrame:
    """Per-shopper rows from a CSV or Parquet file (by extension; anything else is CSV)."""
    if not path.is_file():
        raise ConfigError(f"file {str(path)!r} does not exist", hint="pass a CSV or Parquet file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        raise ConfigError(
            f"cannot read {str(path)!r}: {exc}", hint="a CSV with a header row, or Parquet"
        ) from None


def _numeric(df: pd.DataFrame, col: str, what: str) -> NDArray[np.float64]:
    raw = df[col]
    values = pd.to_numeric(raw, errors="coerce")
    bad = values.isna().to_numpy()
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        shown = raw.iloc[first]
        kind = "missing" if pd.isna(shown) else "non-numeric"
        raise ValidationError(
            what,
            f"column {col!r} has {int(bad.sum())} {kind} or non-numeric value(s)",
            value=None if pd.isna(shown) else str(shown),
            row=first + 1,
            hint=f"{what} must be a number on every row (0 for shoppers who did nothing)",
        )
    out = values.to_numpy(dtype=np.float64)
    if not np.all(np.isfinite(out)):
        first = int(np.flatnonzero(~np.isfinite(out))[0])
        raise ValidationError(what, f"column {col!r} has an infinite value", row=first + 1)
    return out


def _choose_control(names: list[str], control: str | None, col: str) -> str:
    if control is not None:
        if control not in names:
            raise ValidationError(
                "control",
                f"no row has {col} == {control!r}",
                hint=f"variants in the data: {names[:12]}",
            )
        return control
    for guess in ("control", "Control", "CONTROL", "A", "a"):
        if guess in names:
            return guess
    return names[0]


def _comparison(
    group: str | None,
    treatment: str,
    control: str,
    y_t: NDArray[np.float64],
    y_c: NDArray[np.float64],
    x_t: NDArray[np.float64] | None,
    x_c: NDArray[np.float64] | None,
    srm_p: float | None,
    alpha: float,
) -> LiftResult:
    n_t, n_c = int(y_t.size), int(y_c.size)
    mean_t = float(y_t.mean()) if n_t else None
    mean_c = float(y_c.mean()) if n_c else None
    method = "welch" if x_t is None else "cuped-welch"
    if n_t < 2 or n_c < 2:
        return LiftResult(
            group, treatment, control, None, None, None, None, None, srm_p, n_t, n_c,
            mean_t, mean_c, None, None, method,
            note="fewer than 2 shoppers in a variant: no test",
        )  # fmt: skip
    raw = welch_t_test(y_c, y_t, alpha=alpha)
    result, theta, reduction = raw, None, None
    if x_t is not None and x_c is not None:
        # theta from the pooled rows: the same coefficient for both arms keeps the estimate
        # unbiased (the treatment does not change the pre-period).
        _, theta = cuped_adjust(np.concatenate([y_c, y_t]), np.concatenate([x_c, x_t]))
        x_mean = float(np.concatenate([x_c, x_t]).mean())
        adj_c = y_c - theta * (x_c - x_mean)
        adj_t = y_t - theta * (x_t - x_mean)
        result = welch_t_test(adj_c, adj_t, alpha=alpha)
        var_raw = y_c.var(ddof=1) / n_c + y_t.var(ddof=1) / n_t
        var_adj = adj_c.var(ddof=1) / n_c + adj_t.var(ddof=1) / n_t
        reduction = float(1 - var_adj / var_raw) if var_raw > 0 else 0.0
    lift = result.difference
    rel = lift / mean_c if mean_c else None
    return LiftResult(
        by=group,
        treatment=treatment,
        control=control,
        lift=float(lift),
        ci_low=float(result.difference_ci[0]),
        ci_high=float(result.difference_ci[1]),
        p_value=float(result.p_value),
        variance_reduction=reduction,
        srm_p_value=srm_p,
        n_treatment=n_t,
        n_control=n_c,
        mean_treatment=mean_t,
        mean_control=mean_c,
        relative_lift=rel,
        theta=theta,
        method=method,
    )


def analyse_rows(
    df: pd.DataFrame,
    *,
    variant: str,
    metric: str,
    pre: str | None = None,
    control: str | None = None,
    by: str | None = None,
    weights: Mapping[str, float] | None = None,
    alpha: float = 0.05,
) -> list[LiftResult]:
    """Lift of each treatment over the control, per group of ``by`` (or once).

    Parameters
    ----------
    df : DataFrame
        One row per shopper.
    variant, metric : str
        Columns of the variant name and of the metric (numeric; 0 for shoppers who did nothing).
    pre : str, optional
        Column of the pre-period covariate: the lift is then CUPED-adjusted.
    control : str, optional
        The control variant's name; default ``control`` (or ``A``) when present, else the first
        name in sorted order.
    by : str, optional
        Column to group by; one set of results per value.
    weights : mapping variant -> intended share, optional
        Intended traffic split for the SRM check (equal shares by default).
    alpha : float
        1 - confidence level.

    Returns
    -------
    list of LiftResult
        Ordered by group, then treatment.
    """
    columns = [("variant", variant), ("metric", metric)]
    if pre is not None:
        columns.append(("pre", pre))
    if by is not None:
        columns.append(("by", by))
    for what, col in columns:
        if col not in df.columns:
            raise ValidationError(
                what, f"column {col!r} is not in the data", hint=f"columns: {list(df.columns)[:12]}"
            )
    if len(df) == 0:
        raise ValidationError("rows", "the data has no rows")
    if not 0 < alpha < 1:
        raise ValidationError("alpha", "must be in (0, 1)", value=alpha)
    var_raw = df[variant]
    if var_raw.isna().any():
        first = int(np.flatnonzero(var_raw.isna().to_numpy())[0])
        raise ValidationError(
            "variant", f"column {variant!r} has missing values", row=first + 1,
            hint="every shopper needs the variant they were assigned",
        )  # fmt: skip
    names_col = var_raw.astype(str).to_numpy()
    names = sorted(set(names_col.tolist()))
    if len(names) < 2:
        raise ValidationError(
            "variant",
            f"column {variant!r} has only one variant, nothing to compare",
            value=names,
            hint="the data needs a control and at least one treatment",
        )
    ctrl = _choose_control(names, control, variant)
    if weights is not None:
        unknown = sorted(set(weights) - set(names))
        if unknown:
            raise ValidationError("weights", "names variants not in the data", value=unknown)
        missing = [v for v in names if v not in weights]
        if missing:
            raise ValidationError("weights", "no share given for these variants", value=missing)
    y = _numeric(df, metric, "metric")
    x = _numeric(df, pre, "pre") if pre is not None else None
    if by is None:
        groups: list[tuple[str | None, NDArray[np.bool_]]] = [(None, np.ones(len(df), bool))]
    else:
        keys = df[by].astype(str).where(df[by].notna(), "(missing)").to_numpy()
        groups = [(g, keys == g) for g in sorted(set(keys.tolist()))]
    results: list[LiftResult] = []
    for group, mask in groups:
        counts = {v: int(np.sum(mask & (names_col == v))) for v in names}
        present = {v: c for v, c in counts.items() if c > 0}
        srm_p = None
        if len(present) >= 2:
            w = {v: float(weights[v]) for v in present} if weights is not None else None
            srm_p = srm_check(present, w).p_value
        in_c = mask & (names_col == ctrl)
        for treat in names:
            if treat == ctrl:
                continue
            in_t = mask & (names_col == treat)
            results.append(
                _comparison(
                    group,
                    treat,
                    ctrl,
                    y[in_t],
                    y[in_c],
                    None if x is None else x[in_t],
                    None if x is None else x[in_c],
                    srm_p,
                    alpha,
                )
            )
    return results
