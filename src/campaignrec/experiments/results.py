"""Results of a stored experiment from the events: exposures, attributed outcomes, the decision.

**Exposures** are events whose ``policy`` is the experiment's id and whose ``variant`` names one
of its arms (the service logs each served list or campaign decision that way, with positions and
propensity). A shopper's arm is the variant of their first exposure; shoppers logged in two arms
are counted (``crossed_users``, a sign of broken assignment) and left out.

**Outcomes** are attributed to the shopper's first exposure when they happen within
``conversion_window_hours`` after it: clicks (``click``, ``campaign_click``), purchases
(``purchase``: the conversion, and its revenue: ``revenue`` or ``price x quantity``) and coupon
redemptions (``coupon_redeem``).

**Metrics per arm**, each with a 95 % interval: CTR (attributed clicks per exposure, delta-method
interval of the ratio), conversion (share of shoppers who bought), revenue per user and coupon
redemptions per user (normal intervals of a mean). Each treatment is compared with the control on
every metric (Welch, :func:`campaignrec.experiments.ab.welch_t_test`; CTR with the delta method)
and, when the experiment has a holdout, every arm with the holdout (incremental value).

**Decision.** The SRM check first (a broken split makes every other number untrustworthy); then
the always-valid mSPRT p-value of the primary metric, peeked at once a day since the start
(:mod:`campaignrec.experiments.sequential`); then the guardrails (a guardrail *fails* when its
fixed-horizon interval lies wholly below zero); then, when nothing is decided, the days still
needed at the current traffic for the sample size of the planned effect.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from campaignrec.errors import ValidationError
from campaignrec.experiments.ab import sample_size_per_variant, srm_check, welch_t_test
from campaignrec.experiments.analysis import cuped_adjust
from campaignrec.experiments.registry import HOLDOUT, Experiment
from campaignrec.experiments.sequential import (
    always_valid_p_value,
    msprt_confidence_interval,
    sample_size_for_mean,
)

__all__ = ["EXPOSURE_COLUMNS", "analyse_experiment", "experiment_results", "load_events"]

CLICK_TYPES = ("click", "campaign_click")
#: the columns of the events table the analysis reads
EXPOSURE_COLUMNS = (
    "user_id", "event_type", "timestamp", "revenue", "price", "quantity", "policy", "variant",
)  # fmt: skip
#: a look of the sequential test counts once each arm has this many shoppers (earlier, the
#: variance estimate is too rough for the normal mixture ratio)
MIN_SHOPPERS_PER_LOOK = 100
#: daily looks of the sequential test, at most (beyond, the looks are spread evenly)
MAX_LOOKS = 366
_LABEL = {
    "conversion": ("conversion", "转化率"),
    "ctr": ("CTR", "点击率"),
    "revenue_per_user": ("revenue per user", "人均收入"),
    "redemptions_per_user": ("coupon redemptions per user", "人均核销券数"),
}


def _us(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000)


def _to_us(values: pd.Series) -> NDArray[np.int64]:
    if pd.api.types.is_integer_dtype(values):
        return values.to_numpy(dtype=np.int64)
    ts = pd.to_datetime(values, utc=True)  # its unit (ns or us) depends on the input
    return np.asarray(ts.dt.as_unit("us").astype("int64").to_numpy(), dtype=np.int64)


def load_events(store: Any, exp: Experiment, until: datetime) -> pd.DataFrame:
    """The events the analysis of ``exp`` needs, up to ``until`` (timestamps in UTC us)."""
    from sqlalchemy import select

    ev = store.tables.events
    cols = [ev.c[c] for c in EXPOSURE_COLUMNS]
    stmt = select(*cols).where(ev.c.timestamp < _us(until))
    if exp.start_time is not None:  # from the pre-period on (the CUPED covariate)
        since = exp.start_time - timedelta(days=exp.pre_period_days)
        stmt = stmt.where(ev.c.timestamp >= _us(since))
    wanted = (*CLICK_TYPES, "purchase", "coupon_redeem")
    # outcomes of exposed shoppers only (one scan for the exposures, then the per-user index)
    exposed = select(ev.c.user_id).where(ev.c.policy == exp.experiment_id).distinct()
    stmt = stmt.where(
        (ev.c.policy == exp.experiment_id)
        | (ev.c.event_type.in_(wanted) & ev.c.user_id.in_(exposed))
    )
    with store.engine.connect() as conn:
        rows = conn.execute(stmt).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=list(EXPOSURE_COLUMNS))


def _exposed_users(
    exp: Experiment, events: pd.DataFrame, at_us: int
) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Per exposed user (arm, first exposure), the exposure log (user, ts), and crossed users."""
    arms = {v.name for v in exp.variants} | ({HOLDOUT} if exp.holdout_share > 0 else set())
    ts = _to_us(events["timestamp"])
    mask = (events["policy"] == exp.experiment_id).to_numpy() & (ts < at_us)
    mask &= events["variant"].isin(arms).to_numpy()
    if exp.end_time is not None:
        mask &= ts < _us(exp.end_time)
    log = pd.DataFrame(
        {"user_id": events["user_id"].to_numpy()[mask],
         "variant": events["variant"].to_numpy()[mask], "ts": ts[mask]}
    ).sort_values(["user_id", "ts"], kind="stable")  # fmt: skip
    grouped = log.groupby("user_id", sort=True)
    users = pd.DataFrame(
        {
            "variant": grouped["variant"].first(),
            "first_ts": grouped["ts"].min(),
            "arms": grouped["variant"].nunique(),
        }
    )
    crossed = int((users["arms"] > 1).sum())
    users = users[users["arms"] == 1].drop(columns=["arms"])
    return users, log[log["user_id"].isin(users.index)], crossed


def _purchase_value(sub: pd.DataFrame) -> pd.Series:
    """``revenue``, else ``price x quantity`` (quantity 1 when missing), else 0."""
    value = pd.to_numeric(sub["revenue"], errors="coerce")
    fallback = pd.to_numeric(sub["price"], errors="coerce") * pd.to_numeric(
        sub["quantity"], errors="coerce"
    ).fillna(1.0)
    return value.fillna(fallback).fillna(0.0)


#: the pre-period covariate of each metric (CUPED)
PRE_COLUMN = {
    "conversion": "pre_purchases",
    "revenue_per_user": "pre_revenue",
    "redemptions_per_user": "pre_redemptions",
}


def _pre_period(exp: Experiment, events: pd.DataFrame, index: pd.Index) -> pd.DataFrame | None:
    """Per user: purchases, revenue and redemptions in the ``pre_period_days`` before the start."""
    if exp.start_time is None or exp.pre_period_days <= 0:
        return None
    out = pd.DataFrame(0.0, index=index, columns=sorted(PRE_COLUMN.values()))
    if events.empty or len(index) == 0:
        return out
    start = _us(exp.start_time)
    since = _us(exp.start_time - timedelta(days=exp.pre_period_days))
    ts = _to_us(events["timestamp"])
    keep = (ts >= since) & (ts < start) & events["user_id"].isin(index).to_numpy()
    sub = events.loc[keep]
    if sub.empty:
        return out
    buy = sub["event_type"] == "purchase"
    by_user = sub["user_id"]
    out["pre_purchases"] = buy.groupby(by_user).sum().reindex(index).fillna(0.0)
    out["pre_revenue"] = (
        _purchase_value(sub).where(buy, 0.0).groupby(by_user).sum().reindex(index).fillna(0.0)
    )
    out["pre_redemptions"] = (
        (sub["event_type"] == "coupon_redeem").groupby(by_user).sum().reindex(index).fillna(0.0)
    )
    return out.astype(np.float64)


def _attributed(events: pd.DataFrame, users: pd.DataFrame, window_us: int) -> pd.DataFrame:
    """The outcome events attributed to each exposed user's first exposure (within the window).

    Columns ``user_id, ts, click, buy, value, redeem``: one row per attributed event, computed
    once and aggregated at each look.
    """
    cols = ["user_id", "ts", "click", "buy", "value", "redeem"]
    if users.empty or events.empty:
        return pd.DataFrame({c: [] for c in cols})
    ts = _to_us(events["timestamp"])
    etype = events["event_type"].astype(object).to_numpy()
    keep = np.isin(etype, np.array([*CLICK_TYPES, "purchase", "coupon_redeem"], dtype=object))
    sub = events.loc[keep, ["user_id", "event_type", "revenue", "price", "quantity"]]
    first = users["first_ts"].reindex(sub["user_id"].astype(object)).to_numpy(dtype=np.float64)
    sts = ts[keep]
    inside = np.isfinite(first) & (sts >= first) & (sts <= first + window_us)
    sub = sub.loc[inside]
    kind = sub["event_type"].astype(object).to_numpy()
    buy = kind == "purchase"
    return pd.DataFrame(
        {
            "user_id": sub["user_id"].astype(object).to_numpy(),
            "ts": sts[inside],
            "click": np.isin(kind, np.array(CLICK_TYPES, dtype=object)).astype(np.float64),
            "buy": buy.astype(np.float64),
            "value": np.where(buy, _purchase_value(sub).to_numpy(dtype=np.float64), 0.0),
            "redeem": (kind == "coupon_redeem").astype(np.float64),
        }
    )


def _per_user(
    users: pd.DataFrame,
    log: pd.DataFrame,
    attributed: pd.DataFrame,
    cut_us: int,
    pre: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per user exposed before ``cut_us``: arm, exposures and outcomes before the cut."""
    seen = users[users["first_ts"] < cut_us]
    got = attributed[attributed["ts"] < cut_us]
    sums = got.groupby("user_id")[["click", "buy", "value", "redeem"]].sum()
    sums = sums.reindex(seen.index).fillna(0.0)
    frame = pd.DataFrame(
        {
            "clicks": sums["click"].to_numpy(np.float64),
            "converted": (sums["buy"].to_numpy() > 0).astype(np.float64),
            "revenue": sums["value"].to_numpy(np.float64),
            "redemptions": sums["redeem"].to_numpy(np.float64),
        },
        index=seen.index,
    )
    counts = log.loc[log["ts"] < cut_us, "user_id"].value_counts()
    frame["exposures"] = counts.reindex(frame.index).fillna(0).astype(np.float64)
    frame["variant"] = seen["variant"]
    if pre is not None:
        frame = frame.join(pre.reindex(frame.index).fillna(0.0))
    return frame


def _metric_values(frame: pd.DataFrame, metric: str) -> NDArray[np.float64]:
    col = {"conversion": "converted", "revenue_per_user": "revenue",
           "redemptions_per_user": "redemptions"}[metric]  # fmt: skip
    return frame[col].to_numpy(dtype=np.float64)


def _ratio(clicks: NDArray[np.float64], exposures: NDArray[np.float64]) -> tuple[float, float]:
    """CTR = sum(clicks) / sum(exposures) and the delta-method variance of the ratio."""
    n = clicks.size
    if n < 2 or exposures.sum() <= 0:
        return math.nan, math.nan
    mx, my = exposures.mean(), clicks.mean()
    r = my / mx
    var = (np.var(clicks, ddof=1) - 2 * r * np.cov(clicks, exposures, ddof=1)[0, 1]
           + r * r * np.var(exposures, ddof=1)) / (n * mx * mx)  # fmt: skip
    return float(r), float(max(var, 0.0))


def _estimate(frame: pd.DataFrame, metric: str) -> tuple[float, float, int]:
    """(value, variance of the value, shoppers) of one arm."""
    n = len(frame)
    if metric == "ctr":
        r, v = _ratio(frame["clicks"].to_numpy(np.float64), frame["exposures"].to_numpy(np.float64))
        return r, v, n
    x = _metric_values(frame, metric)
    if n < 2:
        return (float(x.mean()) if n else math.nan), math.nan, n
    return float(x.mean()), float(x.var(ddof=1) / n), n


def _interval(value: float, var: float) -> dict[str, float | None]:
    if not (math.isfinite(value) and math.isfinite(var)):
        return {"value": _f(value), "ci_low": None, "ci_high": None}
    h = 1.959963984540054 * math.sqrt(var)
    return {"value": value, "ci_low": value - h, "ci_high": value + h}


def _f(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _compare(
    a: pd.DataFrame, b: pd.DataFrame, metric: str, alpha: float
) -> dict[str, float | None]:
    """b minus a on ``metric``: difference, fixed-horizon interval and p-value.

    Mean metrics are CUPED-adjusted when the frames carry the pre-period covariate
    (``variance_reduction`` is then the share of the difference's variance it removed).
    """
    if len(a) < 2 or len(b) < 2:
        return {"lift": None, "ci_low": None, "ci_high": None, "p_value": None, "variance": None}
    if metric == "ctr":
        ra, va = _estimate(a, "ctr")[:2]
        rb, vb = _estimate(b, "ctr")[:2]
        d, v = rb - ra, va + vb
        if not (math.isfinite(d) and v > 0):
            return {"lift": _f(d), "ci_low": None, "ci_high": None, "p_value": None,
                    "variance": None}  # fmt: skip
        z = float(stats.norm.ppf(1 - alpha / 2))
        p = float(2 * stats.norm.sf(abs(d) / math.sqrt(v)))
        return {"lift": d, "ci_low": d - z * math.sqrt(v), "ci_high": d + z * math.sqrt(v),
                "p_value": p, "variance": v}  # fmt: skip
    xa, xb = _metric_values(a, metric), _metric_values(b, metric)
    raw_v = xa.var(ddof=1) / xa.size + xb.var(ddof=1) / xb.size
    reduction = None
    pre_col = PRE_COLUMN[metric]
    if pre_col in a.columns:
        pa, pb = a[pre_col].to_numpy(np.float64), b[pre_col].to_numpy(np.float64)
        # one theta from the pooled shoppers keeps the difference unbiased (analysis.py)
        pooled_x = np.concatenate([pa, pb])
        _, theta = cuped_adjust(np.concatenate([xa, xb]), pooled_x)
        if theta != 0.0:
            xa = xa - theta * (pa - pooled_x.mean())
            xb = xb - theta * (pb - pooled_x.mean())
    r = welch_t_test(xa, xb, alpha=alpha)
    v = xa.var(ddof=1) / xa.size + xb.var(ddof=1) / xb.size
    if pre_col in a.columns:
        reduction = float(1 - v / raw_v) if raw_v > 0 else 0.0
    return {"lift": r.difference, "ci_low": r.difference_ci[0], "ci_high": r.difference_ci[1],
            "p_value": r.p_value, "variance": float(v),
            "variance_reduction": reduction}  # fmt: skip


def _tau2(exp: Experiment, control_value: float, pooled_sd: float) -> float:
    scale = abs(control_value) if math.isfinite(control_value) and control_value != 0 else pooled_sd
    tau = exp.minimum_detectable_effect * (scale if scale > 0 else 1.0)
    return tau * tau


def _pct(x: float | None, base: float) -> str:
    return "?" if x is None or not base else f"{100 * x / base:+.1f} %"


def analyse_experiment(
    exp: Experiment, events: pd.DataFrame, *, at: datetime | None = None
) -> dict[str, Any]:
    """The results of ``exp`` at ``at`` (now, or its end when it has ended) from ``events``.

    Parameters
    ----------
    exp : Experiment
    events : DataFrame
        Columns :data:`EXPOSURE_COLUMNS` (``timestamp`` in UTC microseconds or datetimes).
    at : datetime, optional

    Returns
    -------
    dict
        ``variants`` (metrics per arm with 95 % intervals), ``comparisons`` (each treatment
        against the control on every metric, with the sequential p-value on the primary one),
        ``vs_holdout``, ``srm``, ``crossed_users``, ``sample_size`` and ``decision`` (``verdict``,
        ``en``, ``zh``).
    """
    moment = at or datetime.now(UTC)
    # exposures stop at the end; outcomes keep counting until their window closes
    last = min(moment, exp.end_time) if exp.end_time is not None else moment
    at_us = _us(moment)
    users, log, crossed = _exposed_users(exp, events, at_us)
    pre = _pre_period(exp, events, users.index)
    window_us = int(exp.conversion_window_hours * 3_600_000_000)
    attributed = _attributed(events, users, window_us)
    frame = _per_user(users, log, attributed, at_us, pre)
    arms = [v.name for v in exp.variants] + ([HOLDOUT] if exp.holdout_share > 0 else [])
    by_arm = {a: frame[frame["variant"] == a] for a in arms}
    ctrl = exp.control_name
    metrics = ["conversion", "ctr", "revenue_per_user", "redemptions_per_user"]
    variants_out: dict[str, Any] = {}
    for a in arms:
        f = by_arm[a]
        variants_out[a] = {"users": len(f), "exposures": int(f["exposures"].sum())}
        for m in metrics:
            value, var, _ = _estimate(f, m)
            variants_out[a][m] = _interval(value, var)
    start = exp.start_time or (
        datetime.fromtimestamp(int(users["first_ts"].min()) / 1e6, UTC) if len(users) else moment
    )
    days = max((last - start).total_seconds() / 86_400, 0.0)
    # the primary metric at each daily look (and now): the sequential test's path
    # (at most MAX_LOOKS, evenly spaced, for a very long window)
    step = max(1, math.ceil(int(days) / MAX_LOOKS))
    cuts = [_us(start + timedelta(days=k)) for k in range(step, int(days) + 1, step)] + [at_us]
    primary = exp.primary_metric
    comparisons: list[dict[str, Any]] = []
    treatments = [v.name for v in exp.variants if v.name != ctrl]
    ctrl_frame = by_arm[ctrl]
    pooled = _metric_values(frame, primary) if primary != "ctr" else frame["clicks"].to_numpy()
    pooled_sd = float(np.std(pooled, ddof=1)) if pooled.size > 1 else 0.0
    ctrl_value = _estimate(ctrl_frame, primary)[0]
    tau2 = _tau2(exp, ctrl_value, pooled_sd)
    looks: dict[str, list[tuple[float, float]]] = {t: [] for t in treatments}
    for cut in cuts:
        fc = frame if cut == at_us else _per_user(users, log, attributed, cut, pre)
        for t in treatments:
            fa, fb = fc[fc["variant"] == ctrl], fc[fc["variant"] == t]
            if min(len(fa), len(fb)) < MIN_SHOPPERS_PER_LOOK:
                continue  # too few for the variance estimate the mixture ratio relies on
            c = _compare(fa, fb, primary, exp.alpha)
            if c["lift"] is not None and c["variance"]:
                looks[t].append((float(c["lift"]), float(c["variance"])))
    for t in treatments:
        for m in metrics:
            c = _compare(ctrl_frame, by_arm[t], m, exp.alpha)
            base = _estimate(ctrl_frame, m)[0]
            row: dict[str, Any] = {
                "treatment": t, "control": ctrl, "metric": m, "primary": m == primary,
                "lift": _f(c["lift"]), "ci_low": _f(c["ci_low"]), "ci_high": _f(c["ci_high"]),
                "p_value": _f(c["p_value"]),
                "relative_lift": _f(c["lift"] / base) if c["lift"] is not None and base else None,
                "variance_reduction": c.get("variance_reduction"),
            }  # fmt: skip
            if m == primary:
                row["sequential_p_value"] = always_valid_p_value(looks[t], tau2)
                lo, hi = (
                    msprt_confidence_interval(c["lift"], c["variance"], tau2, alpha=exp.alpha)
                    if c["lift"] is not None and c["variance"]
                    else (math.nan, math.nan)
                )
                row["sequential_ci_low"], row["sequential_ci_high"] = _f(lo), _f(hi)
                row["looks"] = len(looks[t])
            comparisons.append(row)
    vs_holdout: list[dict[str, Any]] = []
    if exp.holdout_share > 0:
        for a in [v.name for v in exp.variants]:
            for m in ("conversion", "revenue_per_user"):
                c = _compare(by_arm[HOLDOUT], by_arm[a], m, exp.alpha)
                vs_holdout.append(
                    {"variant": a, "metric": m, "incremental": _f(c["lift"]),
                     "ci_low": _f(c["ci_low"]), "ci_high": _f(c["ci_high"]),
                     "p_value": _f(c["p_value"]),
                     "variance_reduction": c.get("variance_reduction")}
                )  # fmt: skip
    counts = {a: len(by_arm[a]) for a in arms}
    srm: dict[str, Any] = {"p_value": None, "mismatch": False, "observed": counts}
    if sum(counts.values()) > 0:
        r = srm_check(counts, exp.expected_shares())
        srm = {"p_value": r.p_value, "mismatch": r.mismatch, "observed": counts,
               "expected": r.expected}  # fmt: skip
    reductions = [c["variance_reduction"] for c in comparisons
                  if c["primary"] and c["variance_reduction"] is not None]  # fmt: skip
    sizing = _sizing(exp, by_arm, ctrl, frame, days, min(reductions, default=0.0))
    result = {
        "experiment_id": exp.experiment_id,
        "at": moment.isoformat(),
        "days": days,
        "primary_metric": primary,
        "guardrail_metrics": list(exp.guardrail_metrics),
        "variants": variants_out,
        "comparisons": comparisons,
        "vs_holdout": vs_holdout,
        "srm": srm,
        "crossed_users": crossed,
        "sample_size": sizing,
    }
    result["decision"] = _decide(exp, result)
    return result


def _sizing(
    exp: Experiment,
    by_arm: dict[str, pd.DataFrame],
    ctrl: str,
    frame: pd.DataFrame,
    days: float,
    reduction: float = 0.0,
) -> dict[str, Any]:
    """Shoppers per arm the planned effect needs, how many there are, and days to go.

    CUPED's variance reduction on the primary metric (``reduction``) shrinks the need by the same
    share: the variance of the difference scales as 1 / shoppers.
    """
    metric = exp.primary_metric
    ctrl_value = _estimate(by_arm[ctrl], metric)[0]
    needed: int | None = None
    try:
        if metric == "conversion" and 0 < ctrl_value < 1:
            needed = sample_size_per_variant(
                ctrl_value, exp.minimum_detectable_effect, relative=True, alpha=exp.alpha,
                power=exp.power,
            )  # fmt: skip
        elif metric != "conversion" and math.isfinite(ctrl_value) and ctrl_value != 0:
            if metric == "ctr":
                sd = math.sqrt(_estimate(by_arm[ctrl], "ctr")[1] * max(len(by_arm[ctrl]), 1))
            else:
                vals = _metric_values(frame, metric)
                sd = float(np.std(vals, ddof=1)) if vals.size > 1 else 0.0
            needed = sample_size_for_mean(
                sd, exp.minimum_detectable_effect * abs(ctrl_value), alpha=exp.alpha,
                power=exp.power,
            )  # fmt: skip
    except ValidationError:  # not enough data to size yet (a zero sd): reported as unknown
        needed = None
    raw_needed = needed
    if needed is not None and 0 < reduction < 1:
        needed = max(2, math.ceil(needed * (1 - reduction)))
    arms = [v.name for v in exp.variants]
    now = min(len(by_arm[a]) for a in arms)
    per_day = now / days if days > 0 else 0.0
    more = None
    if needed is not None and per_day > 0:
        more = max(0, math.ceil((needed - now) / per_day))
    return {"metric": metric, "per_variant_needed": needed,
            "per_variant_needed_without_cuped": raw_needed, "variance_reduction": reduction,
            "per_variant_now": now, "per_variant_per_day": per_day,
            "days_more": more}  # fmt: skip


def _decide(exp: Experiment, r: dict[str, Any]) -> dict[str, str]:
    label_en, label_zh = _LABEL[exp.primary_metric]
    if r["srm"]["mismatch"] or r["crossed_users"] > 0.01 * max(
        1, sum(r["srm"]["observed"].values())
    ):
        return {"verdict": "broken",
                "en": "traffic split is broken: do not trust these numbers",
                "zh": "流量分配异常：这些数字不可信"}  # fmt: skip
    primary = [c for c in r["comparisons"] if c["primary"]]
    if not primary or all(c["lift"] is None for c in primary):
        return {"verdict": "no_data", "en": "not enough exposures yet to compare the variants",
                "zh": "曝光数据还不足以比较各组"}  # fmt: skip
    ctrl_value = r["variants"][exp.control_name][exp.primary_metric]["value"] or 0.0
    decided = [c for c in primary if (c["sequential_p_value"] or 1.0) < exp.alpha]
    winners = [c for c in decided if c["lift"] > 0]
    if winners:
        best = max(winners, key=lambda c: c["lift"])
        t = best["treatment"]
        effect = (f"{_pct(best['lift'], ctrl_value)} "
                  f"[{_pct(best['ci_low'], ctrl_value).replace(' %', '')}, "
                  f"{_pct(best['ci_high'], ctrl_value).replace(' %', '')}]")  # fmt: skip
        broken = [
            c["metric"] for c in r["comparisons"]
            if c["treatment"] == t and c["metric"] in exp.guardrail_metrics
            and c["ci_high"] is not None and c["ci_high"] < 0
        ]  # fmt: skip
        if broken:
            names_en = ", ".join(_LABEL[m][0] for m in broken)
            names_zh = "、".join(_LABEL[m][1] for m in broken)
            return {"verdict": "guardrail_failed",
                    "en": f"{t} wins on {label_en}, {effect}; but guardrails fail: {names_en}",
                    "zh": f"{t} 在{label_zh}上胜出，{effect}；但护栏指标变差：{names_zh}"}  # fmt: skip
        return {"verdict": "winner", "winner": t,
                "en": f"{t} wins on {label_en}, {effect}; guardrails hold",
                "zh": f"{t} 在{label_zh}上胜出，{effect}；护栏指标正常"}  # fmt: skip
    if decided and len(decided) == len(primary):
        worst = min(decided, key=lambda c: c["lift"])
        return {"verdict": "control_wins", "winner": exp.control_name,
                "en": f"{exp.control_name} (control) wins on {label_en}: {worst['treatment']} is "
                      f"{_pct(worst['lift'], ctrl_value)}",
                "zh": f"对照组 {exp.control_name} 在{label_zh}上更好："
                      f"{worst['treatment']} 为 {_pct(worst['lift'], ctrl_value)}"}  # fmt: skip
    more = r["sample_size"]["days_more"]
    ended = exp.end_time is not None and datetime.fromisoformat(r["at"]) >= exp.end_time
    if ended or more == 0:
        return {"verdict": "no_difference",
                "en": f"no clear difference on {label_en} at the planned size: keep the control",
                "zh": f"在计划样本量下{label_zh}无明显差异：保留对照组"}  # fmt: skip
    if more is None:
        return {"verdict": "keep_running", "en": "keep running: too little traffic to size yet",
                "zh": "继续运行：流量太少，暂时无法估计所需时间"}  # fmt: skip
    return {"verdict": "keep_running",
            "en": f"keep running: about {more} more days at current traffic",
            "zh": f"继续运行：按当前流量大约还需 {more} 天"}  # fmt: skip


def experiment_results(
    store: Any, experiment_id: str, *, at: datetime | None = None
) -> dict[str, Any]:
    """:func:`analyse_experiment` of a stored experiment on the store's events (an interleaving
    experiment: :func:`campaignrec.experiments.interleaved_results.interleaving_results`)."""
    from campaignrec.experiments.registry import get_experiment

    exp = get_experiment(store, experiment_id)
    moment = at or datetime.now(UTC)
    if exp.kind == "interleaving":
        from campaignrec.experiments.interleaved_results import interleaving_results

        return interleaving_results(store, exp, at=moment)
    return analyse_experiment(exp, load_events(store, exp, moment), at=moment)
