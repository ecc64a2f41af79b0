"""Exposure logs: who was shown (or held out from) which campaign, and whether they responded.

An *exposure* is a ``campaign_impression`` event; its ``variant`` says whether the offer was shown
(``treatment``, or no variant) or held out (``control``). The *outcome* of an exposure is whether
the user bought an item the campaign covers in the same session (or, without sessions, within
``window_hours`` after the exposure). These rows are what response and uplift models learn from,
and what the planning fallback averages per segment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from campaignrec.campaigns.catalog import Catalog, covered_items, load_campaigns
from campaignrec.errors import ValidationError

CONTROL = "control"


def exposure_outcomes(
    events: pd.DataFrame,
    campaigns: Catalog | Any,
    items: pd.DataFrame | None = None,
    *,
    window_hours: float = 24.0,
) -> pd.DataFrame:
    """One row per exposure with its treatment flag and outcome.

    Parameters
    ----------
    events : DataFrame
        Canonical events (impressions and purchases are used).
    campaigns : Catalog or campaigns table
    items : DataFrame, optional
        Items table to expand covered categories.
    window_hours : float
        Without a ``session_id``, a purchase counts within this many hours after the exposure.

    Returns
    -------
    DataFrame
        ``user_id, campaign_id, timestamp, treated (0/1), outcome (0/1)`` (+ ``session_id``,
        ``policy``, ``propensity`` when logged).
    """
    cat = load_campaigns(campaigns)
    imp = events[events["event_type"] == "campaign_impression"]
    cols = ["user_id", "campaign_id", "timestamp", "treated", "outcome"]
    if imp.empty:
        return pd.DataFrame(columns=cols)
    pur = events[(events["event_type"] == "purchase") & events["item_id"].notna()]
    has_session = "session_id" in events.columns and imp["session_id"].notna().all()
    parts: list[pd.DataFrame] = []
    for c in cat:
        sub = imp[imp["campaign_id"] == c.campaign_id]
        if sub.empty:
            continue
        cov = set(covered_items(c, items))
        bought = pur[pur["item_id"].astype(str).isin(cov)]
        keep = [k for k in ("session_id", "policy", "propensity", "variant") if k in sub.columns]
        out = sub[["user_id", "campaign_id", "timestamp", *keep]].copy()
        variant = (
            sub["variant"].astype("string").fillna("treatment")
            if "variant" in sub
            else pd.Series("treatment", index=sub.index)
        )
        out["treated"] = (variant != CONTROL).astype(np.int8).to_numpy()
        if has_session:
            hit = set(bought["session_id"].dropna().astype(str))
            out["outcome"] = out["session_id"].astype(str).isin(hit).astype(np.int8)
        else:
            out["outcome"] = _within_window(out, bought, window_hours)
        parts.append(out.drop(columns=["variant"], errors="ignore"))
    if not parts:
        return pd.DataFrame(columns=cols)
    return pd.concat(parts, ignore_index=True)


def _within_window(exp: pd.DataFrame, bought: pd.DataFrame, hours: float) -> pd.Series:
    t_exp = pd.to_datetime(exp["timestamp"], utc=True)
    t_buy = pd.to_datetime(bought["timestamp"], utc=True)
    buys = pd.DataFrame(
        {"user_id": bought["user_id"].astype(str).to_numpy(), "t": t_buy.to_numpy()}
    )
    left = pd.DataFrame(
        {
            "row": np.arange(len(exp)),
            "user_id": exp["user_id"].astype(str).to_numpy(),
            "t0": t_exp.to_numpy(),
        }
    )
    m = left.merge(buys, on="user_id", how="inner")
    ok = (m["t"] >= m["t0"]) & (m["t"] <= m["t0"] + pd.Timedelta(hours=hours))
    hit = np.zeros(len(exp), np.int8)
    hit[m.loc[ok, "row"].to_numpy()] = 1
    return pd.Series(hit, index=exp.index)


def segment_response_rates(
    outcomes: pd.DataFrame,
    segment_of: Mapping[str, str] | pd.Series,
    *,
    prior_strength: float = 20.0,
) -> pd.DataFrame:
    """Logged response rate with and without the offer, per campaign and segment.

    Rates are shrunk towards the campaign's overall rate in the same arm with
    ``prior_strength`` pseudo-exposures, so small segments do not get extreme estimates.

    Parameters
    ----------
    outcomes : DataFrame
        Output of :func:`exposure_outcomes`.
    segment_of : Mapping or Series
        ``user_id -> segment``; users without one are in segment ``"unknown"``.
    prior_strength : float
        Pseudo-exposures of the shrinkage prior.

    Returns
    -------
    DataFrame
        ``campaign_id, segment, n_treated, n_control, p_treated, p_control, uplift``.
    """
    if prior_strength < 0:
        raise ValidationError("prior_strength", "must be >= 0", value=prior_strength)
    seg = pd.Series(segment_of) if not isinstance(segment_of, pd.Series) else segment_of
    df = outcomes.assign(
        segment=outcomes["user_id"].astype(str).map(seg.astype(str)).fillna("unknown")
    )
    overall = df.groupby(["campaign_id", "treated"])["outcome"].mean()
    g = df.groupby(["campaign_id", "segment", "treated"])["outcome"].agg(["sum", "count"])
    sums: dict[Any, float] = {k: float(v) for k, v in g["sum"].items()}
    counts: dict[Any, int] = {k: int(v) for k, v in g["count"].items()}
    rows: list[dict[str, Any]] = []
    for cid, segname in sorted({(k[0], k[1]) for k in counts}, key=str):
        rec: dict[str, Any] = {"campaign_id": cid, "segment": segname}
        for arm, name in ((1, "treated"), (0, "control")):
            key = (cid, segname, arm)
            s, n = sums.get(key, 0.0), counts.get(key, 0)
            prior = float(overall.get((cid, arm), np.nan))
            if np.isnan(prior):
                prior = float(overall.xs(cid, level=0).mean())
            rec[f"n_{name}"] = int(n)
            rec[f"p_{name}"] = (float(s) + prior_strength * prior) / (n + prior_strength)
        rec["uplift"] = rec["p_treated"] - rec["p_control"]
        rows.append(rec)
    cols = ["campaign_id", "segment", "n_treated", "n_control", "p_treated", "p_control", "uplift"]
    return pd.DataFrame(rows, columns=cols)
