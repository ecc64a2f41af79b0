"""RFM quintile scores, the classic rule-based RFM segments and the lifecycle stage."""

from __future__ import annotations

import numpy as np
import pandas as pd

from campaignrec.profiles.config import LifecycleConfig

# Classic RFM segments (R score x mean of F and M scores), in English and Chinese.
RFM_SEGMENTS: dict[str, tuple[str, str]] = {
    "champions": ("Champions: bought recently, buy often and spend the most", "冠军客户"),
    "loyal": ("Loyal: buy often and spend well, less recently", "忠诚客户"),
    "potential_loyalist": (
        "Potential loyalists: recent buyers with average frequency",
        "潜力忠诚客户",
    ),
    "new": ("New customers: bought recently, for the first time", "新客户"),
    "promising": ("Promising: recent buyers who have not spent much yet", "有潜力客户"),
    "need_attention": ("Need attention: average recency, frequency and spend", "需要关注"),
    "at_risk": ("At risk: spent well and often, but long ago", "流失风险客户"),
    "cant_lose": (
        "Can't lose them: used to be the best customers, gone for long",
        "不能失去的客户",
    ),
    "hibernating": ("Hibernating: last purchase long ago, low frequency and spend", "休眠客户"),
    "lost": ("Lost: lowest recency, frequency and spend", "已流失客户"),
    "prospect": ("Prospects: never bought", "潜在客户"),
}

LIFECYCLE_STAGES = ("new", "active", "at_risk", "dormant", "churned")


def quintile_scores(values: pd.Series, *, higher_is_better: bool = True) -> pd.Series:
    """Scores 1..5 by rank percentile; NaN stays 0.

    Tied users share the lowest rank of their group, so that e.g. the many one-order customers
    all get F = 1 rather than a score inflated by the tie.

    Parameters
    ----------
    values : the metric, one value per user (NaN for users who never bought).
    higher_is_better : False for recency, where fewer days is better.

    Returns
    -------
    pd.Series of int8 scores, 0 where ``values`` is NaN.
    """
    ranked = values.rank(method="min", pct=True, ascending=higher_is_better)
    score = np.ceil(ranked.to_numpy() * 5)
    score = np.where(np.isnan(score), 0, np.clip(score, 1, 5))
    return pd.Series(score.astype(np.int8), index=values.index, name=values.name)


def rfm_scores(recency_days: pd.Series, frequency: pd.Series, monetary: pd.Series) -> pd.DataFrame:
    """R, F and M quintile scores among buyers (users with frequency > 0); 0 for non-buyers.

    Returns
    -------
    DataFrame with columns r_score, f_score, m_score (int8) and rfm_score (string such as "545").
    """
    buyer = frequency > 0
    r = quintile_scores(recency_days.where(buyer), higher_is_better=False)
    f = quintile_scores(frequency.where(buyer).astype(float))
    m = quintile_scores(monetary.where(buyer).astype(float))
    out = pd.DataFrame({"r_score": r, "f_score": f, "m_score": m}, index=frequency.index)
    out["rfm_score"] = np.where(buyer, r.astype(str) + f.astype(str) + m.astype(str), "000")
    return out


def rfm_segment(
    r_score: pd.Series, f_score: pd.Series, m_score: pd.Series, frequency: pd.Series
) -> pd.Series:
    """Classic rule-based RFM segment of each user (see :data:`RFM_SEGMENTS`).

    The grid uses R and FM = round((F + M) / 2): R>=4 with FM>=4 champions; R==3 with FM>=4 loyal;
    R>=4 with FM 2-3 potential_loyalist; R==5 with one order new; other R>=3 with FM<=1 promising;
    R==3 with FM 2-3 need_attention; R==1 with FM>=4 cant_lose; R<=2 with FM>=3 at_risk;
    R<=2 with FM==2 hibernating; R<=2 with FM<=1 lost; never bought: prospect.
    """
    r = r_score.to_numpy(dtype=int)
    fm = np.floor((f_score.to_numpy(dtype=float) + m_score.to_numpy(dtype=float)) / 2 + 0.5)
    freq = frequency.to_numpy(dtype=float)
    conditions = [
        freq <= 0,
        (r >= 4) & (fm >= 4),
        (r == 3) & (fm >= 4),
        (r >= 4) & (fm >= 2),
        (r == 5) & (freq == 1),
        (r >= 3) & (fm <= 1),
        r == 3,
        (r == 1) & (fm >= 4),
        fm >= 3,
        fm == 2,
    ]
    choices = [
        "prospect",
        "champions",
        "loyal",
        "potential_loyalist",
        "new",
        "promising",
        "need_attention",
        "cant_lose",
        "at_risk",
        "hibernating",
    ]
    return pd.Series(np.select(conditions, choices, default="lost"), index=r_score.index)


def lifecycle_stage(
    days_since_first_seen: pd.Series,
    recency_days: pd.Series,
    days_since_last_event: pd.Series,
    frequency: pd.Series,
    config: LifecycleConfig | None = None,
) -> pd.Series:
    """Lifecycle stage (new, active, at_risk, dormant, churned) by the recency rules of ``config``.

    Parameters
    ----------
    days_since_first_seen : days since signup or first event, whichever came first.
    recency_days : days since the last purchase (NaN for users who never bought).
    days_since_last_event : days since the last event of any kind (NaN for users without events).
    frequency : number of orders.
    config : the thresholds.
    """
    cfg = config or LifecycleConfig()
    first = days_since_first_seen.to_numpy(dtype=float)
    ref = recency_days.fillna(days_since_last_event).to_numpy(dtype=float)
    ref = np.where(np.isnan(ref), first, ref)
    freq = frequency.to_numpy(dtype=float)
    conditions = [
        (first <= cfg.new_days) & (freq <= 1),
        ref <= cfg.active_days,
        ref <= cfg.at_risk_days,
        ref <= cfg.dormant_days,
    ]
    stage = np.select(conditions, ["new", "active", "at_risk", "dormant"], default="churned")
    return pd.Series(stage, index=frequency.index)
