"""Campaign return over time from the event log: what redeemed coupons cost against the revenue
the campaign added, per UTC day.

- **Exposures** are ``campaign_impression`` events, one per shopper and session (several
  impressions in one session are one exposure); ``variant == "control"`` is held out, anything
  else shown (as in :mod:`campaignrec.campaigns.exposures`).
- An exposure's **revenue** is what the shopper spent on items the campaign covers in the session
  of the exposure (without sessions: within ``window_hours`` after it), each line's ``revenue``
  or ``price x quantity``.
- **Incremental revenue** of a day is the shown exposures' revenue minus what the same number of
  exposures earned without the offer: the campaign's control group revenue per exposure over its
  whole log (one baseline per campaign, as daily control groups are small). A campaign without a
  control exposure has no incremental figure (NaN), never a guessed one.
- **Cost** of a day is the campaign's ``coupon_redeem`` events that day, each at
  :func:`~campaignrec.campaigns.catalog.unit_cost` (the redemption's own value prices a percent
  discount when it is logged).
- **ROI** is ``(incremental revenue - cost) / cost``; :func:`roi_over_time` adds it per day and
  cumulatively over all campaigns.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from campaignrec.campaigns.catalog import covered_items, load_campaigns, unit_cost
from campaignrec.campaigns.exposures import CONTROL
from campaignrec.profiles.state import line_revenue

ROI_COLUMNS = (
    "day",
    "campaign_id",
    "shown",
    "held_out",
    "revenue_shown",
    "baseline_per_exposure",
    "incremental_revenue",
    "redemptions",
    "cost",
)


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    return df[name] if name in df.columns else pd.Series(np.nan, index=df.index, dtype=object)


def _day(ts: pd.Series) -> pd.Series:
    return pd.to_datetime(ts, utc=True).dt.strftime("%Y-%m-%d")


def _exposure_revenue(
    exp: pd.DataFrame, bought: pd.DataFrame, has_session: bool, window_hours: float
) -> pd.Series:
    """Covered revenue of each exposure (its session's, or within the window after it)."""
    if bought.empty:
        return pd.Series(0.0, index=exp.index)
    if has_session:
        per_session = bought.groupby(bought["session_id"].astype(str))["value"].sum()
        return exp["session_id"].astype(str).map(per_session).fillna(0.0)
    left = pd.DataFrame(
        {
            "row": np.arange(len(exp)),
            "user_id": exp["user_id"].astype(str).to_numpy(),
            "t0": pd.to_datetime(exp["timestamp"], utc=True).to_numpy(),
        }
    )
    right = pd.DataFrame(
        {
            "user_id": bought["user_id"].astype(str).to_numpy(),
            "t": pd.to_datetime(bought["timestamp"], utc=True).to_numpy(),
            "value": bought["value"].to_numpy(float),
        }
    )
    m = left.merge(right, on="user_id", how="inner")
    ok = (m["t"] >= m["t0"]) & (m["t"] <= m["t0"] + pd.Timedelta(hours=window_hours))
    sums = m[ok].groupby("row")["value"].sum()
    out = np.zeros(len(exp))
    out[sums.index.to_numpy(int)] = sums.to_numpy(float)
    return pd.Series(out, index=exp.index)


def campaign_roi_by_day(
    events: pd.DataFrame,
    campaigns: Any,
    items: pd.DataFrame | None = None,
    *,
    window_hours: float = 24.0,
) -> pd.DataFrame:
    """Per campaign and UTC day: exposures shown and held out, the shown exposures' revenue,
    the control baseline per exposure, incremental revenue, redemptions and their cost.

    Parameters
    ----------
    events : canonical events (impressions, purchases and coupon redemptions are used).
    campaigns : a :class:`~campaignrec.campaigns.catalog.Catalog` or campaigns table.
    items : the catalogue, to expand covered categories and price purchases without a price.
    window_hours : without sessions, a purchase counts within this many hours of the exposure.

    Returns
    -------
    DataFrame with :data:`ROI_COLUMNS`, sorted by day and campaign; a day appears for a campaign
    when it had an exposure or a redemption.
    """
    cat = load_campaigns(campaigns)
    etype = _col(events, "event_type").astype(str)
    cid = _col(events, "campaign_id").astype("string")
    imp_all = events[etype == "campaign_impression"]
    has_session = len(imp_all) > 0 and bool(_col(imp_all, "session_id").notna().all())
    purchases = events[(etype == "purchase") & _col(events, "item_id").notna()].copy()
    item_price = None
    if items is not None and len(items) and "price" in items.columns:
        it = items.drop_duplicates("item_id", keep="last").set_index("item_id")
        item_price = pd.to_numeric(it["price"], errors="coerce").dropna()
    purchases["value"] = line_revenue(purchases, item_price)[1]
    redeems = events[etype == "coupon_redeem"]
    parts: list[pd.DataFrame] = []
    for c in cat:
        imp = imp_all[cid.loc[imp_all.index] == c.campaign_id]
        red = redeems[cid.loc[redeems.index] == c.campaign_id]
        if imp.empty and red.empty:
            continue
        frames: list[pd.DataFrame] = []
        if len(imp):
            key = ["user_id", "session_id"] if has_session else ["user_id", "timestamp"]
            exp = imp.sort_values("timestamp").drop_duplicates(key, keep="first")
            cov = set(covered_items(c, items))
            bought = purchases[purchases["item_id"].astype(str).isin(cov)]
            value = _exposure_revenue(exp, bought, has_session, window_hours)
            control = _col(exp, "variant").astype("string").fillna("treatment") == CONTROL
            n_control = int(control.sum())
            baseline = float(value[control].sum()) / n_control if n_control else float("nan")
            shown = ~control
            frames.append(
                pd.DataFrame(
                    {
                        "day": _day(exp["timestamp"]).to_numpy(),
                        "shown": shown.astype(int).to_numpy(),
                        "held_out": control.astype(int).to_numpy(),
                        "revenue_shown": np.where(shown, value, 0.0),
                        "redemptions": 0,
                        "cost": 0.0,
                    }
                )
            )
        else:
            baseline = float("nan")
        if len(red):
            basket = pd.to_numeric(_col(red, "revenue"), errors="coerce")
            costs = [
                unit_cost(c, float(b) if np.isfinite(b) and b > 0 else None)
                for b in basket.to_numpy(float)
            ]
            frames.append(
                pd.DataFrame(
                    {
                        "day": _day(red["timestamp"]).to_numpy(),
                        "shown": 0,
                        "held_out": 0,
                        "revenue_shown": 0.0,
                        "redemptions": 1,
                        "cost": costs,
                    }
                )
            )
        daily = pd.concat(frames, ignore_index=True).groupby("day", as_index=False).sum()
        daily["campaign_id"] = c.campaign_id
        daily["baseline_per_exposure"] = baseline
        daily["incremental_revenue"] = daily["revenue_shown"] - daily["shown"] * baseline
        parts.append(daily)
    if not parts:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in ROI_COLUMNS})
    out = pd.concat(parts, ignore_index=True)[list(ROI_COLUMNS)]
    return out.sort_values(["day", "campaign_id"], ignore_index=True)


def roi_over_time(by_day: pd.DataFrame) -> pd.DataFrame:
    """All campaigns together per day: ``day, cost, incremental_revenue, roi`` and the running
    ``cumulative_cost, cumulative_incremental, cumulative_roi`` (NaN where nothing was spent).

    Campaigns without a control group (NaN incremental revenue) count towards the cost but not
    the incremental revenue; ``campaigns_measured`` says how many had a figure that day."""
    cols = ["day", "cost", "incremental_revenue", "roi", "campaigns_measured"]
    if by_day.empty:
        return pd.DataFrame({c: pd.Series(dtype=object if c == "day" else float) for c in cols})
    g = by_day.groupby("day")
    out = pd.DataFrame(
        {
            "cost": g["cost"].sum(),
            "incremental_revenue": g["incremental_revenue"].sum(min_count=1),
            "campaigns_measured": g["incremental_revenue"].count(),
        }
    ).reset_index()
    inc = out["incremental_revenue"].fillna(0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["roi"] = np.where(out["cost"] > 0, (inc - out["cost"]) / out["cost"], np.nan)
        out["cumulative_cost"] = out["cost"].cumsum()
        out["cumulative_incremental"] = inc.cumsum()
        out["cumulative_roi"] = np.where(
            out["cumulative_cost"] > 0,
            (out["cumulative_incremental"] - out["cumulative_cost"]) / out["cumulative_cost"],
            np.nan,
        )
    return out
