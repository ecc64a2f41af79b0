"""Behaviour analytics: funnels, time-of-day x weekday heatmaps, co-purchase rules, cohorts.

Every function takes the events as a DataFrame or as an iterable of chunks (e.g.
``store.iter_table("events")``) and aggregates chunk by chunk, so memory stays bounded.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from campaignrec.data.schema import TIMESTAMP, USER_ID
from campaignrec.errors import ValidationError

FUNNEL_STAGES: tuple[str, ...] = ("view", "click", "add_to_cart", "purchase")
CAMPAIGN_STAGES: tuple[str, ...] = (
    "campaign_impression",
    "campaign_click",
    "add_to_cart",
    "purchase",
)
FUNNEL_BY = (None, "segment", "category", "campaign", "day")


def _chunks(events: pd.DataFrame | Iterable[pd.DataFrame]) -> Iterable[pd.DataFrame]:
    return [events] if isinstance(events, pd.DataFrame) else events


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    return df[name] if name in df.columns else pd.Series(np.nan, index=df.index, dtype=object)


def _with_rates(counts: pd.DataFrame, stages: tuple[str, ...]) -> pd.DataFrame:
    out = counts.copy()
    for a, b in itertools.pairwise(stages):
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"{a}_to_{b}"] = np.where(out[a] > 0, out[b] / out[a], np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["overall"] = np.where(out[stages[0]] > 0, out[stages[-1]] / out[stages[0]], np.nan)
    return out


def _user_map(profiles: pd.DataFrame | None, column: str) -> pd.Series:
    if profiles is None or column not in profiles.columns:
        raise ValidationError(
            "profiles",
            f"a funnel or heatmap by segment needs profiles with column '{column}'",
            hint="compute profiles and segments first",
        )
    return profiles.set_index(USER_ID)[column]


def _session_key(ev: pd.DataFrame) -> pd.Series:
    ts = pd.to_datetime(ev[TIMESTAMP], utc=True)
    day = ev[USER_ID].astype(str) + "|" + ts.dt.strftime("%Y-%m-%d")
    sid = _col(ev, "session_id")
    return sid.astype(str).where(sid.notna(), day)


def funnel(
    events: pd.DataFrame | Iterable[pd.DataFrame],
    *,
    by: str | None = None,
    items: pd.DataFrame | None = None,
    profiles: pd.DataFrame | None = None,
    segment_column: str = "segment_name",
) -> pd.DataFrame:
    """Conversion funnel view -> click -> add_to_cart -> purchase, overall or by a dimension.

    Parameters
    ----------
    events : canonical events (a DataFrame or chunks).
    by : None, "segment" (the user's ``segment_column`` in ``profiles``), "category" (the item's
        category in ``items``), "day" (UTC date) or "campaign". The campaign funnel counts sessions
        (``session_id``, else the user's day): with an impression of the campaign, with a click on
        it, and clicked sessions that reached the cart and a purchase.
    items, profiles : needed for "category" and "segment".
    segment_column : the profile column that names segments (e.g. "rfm_segment", "lifecycle").

    Returns
    -------
    One row per group: a count per stage and the step-to-step rates plus ``overall``.
    """
    if by not in FUNNEL_BY:
        raise ValidationError("by", f"use one of {FUNNEL_BY}", value=by)
    if by == "campaign":
        return _campaign_funnel(events)
    stages = FUNNEL_STAGES
    if by == "segment":
        umap = _user_map(profiles, segment_column)
    if by == "category":
        if items is None:
            raise ValidationError("items", "a funnel by category needs the items table")
        cmap = items.drop_duplicates("item_id").set_index("item_id")["category"]
    parts = []
    for chunk in _chunks(events):
        ev = chunk[chunk["event_type"].isin(stages)]
        if by is None:
            group = pd.Series("all", index=ev.index)
        elif by == "segment":
            group = ev[USER_ID].astype(str).map(umap)
        elif by == "category":
            group = _col(ev, "item_id").map(cmap)
        else:
            group = pd.to_datetime(ev[TIMESTAMP], utc=True).dt.strftime("%Y-%m-%d")
        g = pd.DataFrame(
            {"group": group.fillna("(unknown)").astype(str), "stage": ev["event_type"]}
        )
        parts.append(g.groupby(["group", "stage"]).size())
    if not parts:
        return _with_rates(pd.DataFrame(columns=list(stages), dtype=float), stages)
    counts = pd.concat(parts).groupby(level=[0, 1]).sum().unstack(fill_value=0)
    counts = counts.reindex(columns=list(stages), fill_value=0)
    counts.index.name = by or "group"
    counts.columns.name = None
    return _with_rates(counts.astype(np.int64), stages).reset_index()


def _campaign_funnel(events: pd.DataFrame | Iterable[pd.DataFrame]) -> pd.DataFrame:
    keys = []
    for chunk in _chunks(events):
        sk = _session_key(chunk)
        camp = _col(chunk, "campaign_id")
        et = chunk["event_type"].astype(str)
        keys.append(pd.DataFrame({"session": sk, "campaign": camp, "event_type": et}))
    if not keys:
        return _with_rates(
            pd.DataFrame(columns=list(CAMPAIGN_STAGES), dtype=float), CAMPAIGN_STAGES
        )
    ev = pd.concat(keys, ignore_index=True)
    touched = ev[
        ev["campaign"].notna() & ev["event_type"].isin(["campaign_impression", "campaign_click"])
    ]
    sess = touched.groupby(["campaign", "event_type"])["session"].unique()
    done = {
        st: set(ev.loc[ev["event_type"] == st, "session"]) for st in ("add_to_cart", "purchase")
    }
    rows = []
    for campaign in sorted(touched["campaign"].astype(str).unique()):
        imp = set(sess.get((campaign, "campaign_impression"), []))
        clk = set(sess.get((campaign, "campaign_click"), []))
        rows.append(
            {
                "campaign": campaign,
                "campaign_impression": len(imp | clk),
                "campaign_click": len(clk),
                "add_to_cart": len(clk & done["add_to_cart"]),
                "purchase": len(clk & done["purchase"]),
            }
        )
    counts = pd.DataFrame(rows, columns=["campaign", *CAMPAIGN_STAGES]).set_index("campaign")
    return _with_rates(counts, CAMPAIGN_STAGES).reset_index()


def activity_heatmap(
    events: pd.DataFrame | Iterable[pd.DataFrame],
    *,
    profiles: pd.DataFrame | None = None,
    segment_column: str | None = "segment_name",
    event_types: Iterable[str] | None = None,
    timezone: str = "UTC",
) -> pd.DataFrame:
    """Events per weekday x hour, per segment (the input of flash-sale timing).

    Parameters
    ----------
    events : canonical events (a DataFrame or chunks).
    profiles, segment_column : the segment of each user; ``segment_column=None`` for one
        heatmap of everyone.
    event_types : count only these event types (e.g. ``["purchase"]``); default all.
    timezone : local time of the shop.

    Returns
    -------
    Long DataFrame: segment, weekday (Monday = 0), hour, events, share (of the segment's events).
    """
    umap = _user_map(profiles, segment_column) if segment_column is not None else None
    wanted = set(event_types) if event_types is not None else None
    parts = []
    for chunk in _chunks(events):
        ev = chunk if wanted is None else chunk[chunk["event_type"].isin(wanted)]
        local = pd.to_datetime(ev[TIMESTAMP], utc=True).dt.tz_convert(timezone)
        seg = (
            ev[USER_ID].astype(str).map(umap).fillna("(unknown)").astype(str)
            if umap is not None
            else pd.Series("all", index=ev.index)
        )
        df = pd.DataFrame({"segment": seg, "weekday": local.dt.day_of_week, "hour": local.dt.hour})
        parts.append(df.groupby(["segment", "weekday", "hour"]).size())
    if not parts or sum(len(p) for p in parts) == 0:
        return pd.DataFrame(columns=["segment", "weekday", "hour", "events", "share"])
    counts = pd.concat(parts).groupby(level=[0, 1, 2]).sum()
    segs = counts.index.get_level_values(0).unique()
    full = pd.MultiIndex.from_product(
        [segs, range(7), range(24)], names=["segment", "weekday", "hour"]
    )
    table = counts.reindex(full, fill_value=0).rename("events").reset_index()
    table["share"] = table["events"] / table.groupby("segment")["events"].transform("sum")
    return table


def peak_slots(heatmap: pd.DataFrame, top: int = 3) -> pd.DataFrame:
    """The ``top`` busiest (weekday, hour) slots of each segment in an :func:`activity_heatmap`."""
    h = heatmap.sort_values(
        ["segment", "events", "weekday", "hour"], ascending=[True, False, True, True]
    )
    return h.groupby("segment").head(top).reset_index(drop=True)


def baskets(events: pd.DataFrame | Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Distinct (basket, item_id) pairs of purchases; a basket is the order_id, else user + time.

    The fallback is decided row by row: a purchase without ``order_id`` is its own basket with the
    user's other purchases at the same instant. :func:`order_baskets` is the variant bundles use.
    """
    parts = []
    for chunk in _chunks(events):
        ev = chunk[chunk["event_type"] == "purchase"]
        if ev.empty:
            continue
        ts = pd.to_datetime(ev[TIMESTAMP], utc=True).astype("datetime64[ns, UTC]").astype("int64")
        fallback = ev[USER_ID].astype(str) + "@" + ts.astype(str)
        oid = _col(ev, "order_id")
        basket = ("o:" + oid.astype(str)).where(oid.notna(), "t:" + fallback)
        parts.append(pd.DataFrame({"basket": basket, "item_id": ev["item_id"].astype(str)}))
    if not parts:
        return pd.DataFrame({"basket": pd.Series(dtype=object), "item_id": pd.Series(dtype=object)})
    return pd.concat(parts, ignore_index=True).drop_duplicates(ignore_index=True)


def order_baskets(events: pd.DataFrame) -> pd.DataFrame:
    """Distinct ``(basket_id, item_id)`` rows of purchases, the baskets of bundles.

    Unlike :func:`baskets`, the key is chosen for the whole frame: ``order_id`` when any row has
    one, else user + ``session_id`` when any row has one, else user + timestamp. Events without
    ``event_type`` are all taken as purchases and rows without ``item_id`` are dropped.
    """
    ev = events
    if "event_type" in ev.columns:
        ev = ev[ev["event_type"] == "purchase"]
    ev = ev[ev["item_id"].notna()]
    if "order_id" in ev.columns and ev["order_id"].notna().any():
        key = ev["order_id"].astype(str)
    elif "session_id" in ev.columns and ev["session_id"].notna().any():
        key = ev[USER_ID].astype(str) + "|" + ev["session_id"].astype(str)
    else:
        key = ev[USER_ID].astype(str) + "|" + ev[TIMESTAMP].astype(str)
    out = pd.DataFrame(
        {"basket_id": key.to_numpy(), "item_id": ev["item_id"].astype(str).to_numpy()}
    )
    return out.drop_duplicates().reset_index(drop=True)


RULE_COLUMNS: tuple[str, ...] = (
    "antecedent",
    "consequent",
    "count",
    "support",
    "confidence",
    "lift",
)
RULE_ORDERS: tuple[str, ...] = ("lift", "antecedent")


def rules_from_baskets(
    baskets: pd.DataFrame,
    *,
    basket_column: str = "basket",
    min_count: int = 5,
    min_confidence: float = 0.0,
    min_lift: float = 0.0,
    order: Literal["lift", "antecedent"] = "lift",
) -> pd.DataFrame:
    """Co-purchase association rules between single items, from a ready basket table.

    For items ``a`` and ``b`` over ``N`` baskets: ``support = n_ab / N``,
    ``confidence(a -> b) = n_ab / n_a`` and ``lift = n_ab * N / (n_a * n_b)`` (the same for both
    directions of a pair; > 1: bought together more often than by chance).

    Parameters
    ----------
    baskets : distinct ``(basket, item_id)`` rows, e.g. from :func:`baskets` or
        :func:`order_baskets` (a held-out evaluation splits them before learning rules).
    basket_column : the column holding the basket key.
    min_count : minimum number of baskets holding both items.
    min_confidence, min_lift : filters on the rules.
    order : ``"lift"``: by lift then count, descending; ``"antecedent"``: by antecedent, then
        confidence and lift descending (the order bundles read partners in).

    Returns
    -------
    DataFrame antecedent, consequent, count, support, confidence, lift (both directions of each
    pair); ties end by antecedent then consequent. ``attrs["n_baskets"]`` holds ``N``.
    """
    if min_count < 1:
        raise ValidationError("min_count", "must be >= 1", value=min_count)
    if order not in RULE_ORDERS:
        raise ValidationError("order", f"must be one of {RULE_ORDERS}", value=order)
    cols = list(RULE_COLUMNS)
    n_baskets = int(baskets[basket_column].nunique()) if len(baskets) else 0
    if n_baskets == 0:
        out = pd.DataFrame(columns=cols)
        out.attrs["n_baskets"] = 0
        return out
    bcode, _ = pd.factorize(baskets[basket_column])
    icode, item_ids = pd.factorize(baskets["item_id"])
    x = sp.csr_matrix(
        (np.ones(len(baskets), dtype=np.float32), (bcode, icode)),
        shape=(n_baskets, len(item_ids)),
    )
    # float64: n_a * n_b below must stay exact past 2**24
    item_count = np.asarray(x.sum(axis=0), dtype=np.float64).ravel()
    # an item in fewer than min_count baskets cannot be in min_count pairs
    keep = np.flatnonzero(item_count >= min_count)
    x = x[:, keep]
    co = sp.triu(x.T @ x, k=1).tocoo()
    sel = co.data >= min_count
    i, j, c = co.row[sel], co.col[sel], co.data[sel].astype(np.int64)
    ci, cj = item_count[keep][i], item_count[keep][j]
    ids = np.asarray(item_ids)[keep]
    support = c / n_baskets
    lift = c * n_baskets / (ci * cj)
    out = pd.DataFrame(
        {
            "antecedent": np.concatenate([ids[i], ids[j]]),
            "consequent": np.concatenate([ids[j], ids[i]]),
            "count": np.concatenate([c, c]),
            "support": np.concatenate([support, support]),
            "confidence": np.concatenate([c / ci, c / cj]),
            "lift": np.concatenate([lift, lift]),
        }
    )
    out = out[(out["confidence"] >= min_confidence) & (out["lift"] >= min_lift)]
    if order == "lift":
        by, ascending = ["lift", "count", "antecedent", "consequent"], [False, False, True, True]
    else:
        by, ascending = (
            ["antecedent", "confidence", "lift", "consequent"],
            [True, False, False, True],
        )
    out = out.sort_values(by, ascending=ascending).reset_index(drop=True)
    out.attrs["n_baskets"] = n_baskets
    return out


def association_rules(
    events: pd.DataFrame | Iterable[pd.DataFrame],
    *,
    min_count: int = 5,
    min_confidence: float = 0.0,
    min_lift: float = 0.0,
) -> pd.DataFrame:
    """Co-purchase association rules between single items, baskets by order.

    :func:`rules_from_baskets` on the :func:`baskets` of ``events``.

    Parameters
    ----------
    events : canonical events (purchases are used).
    min_count : minimum number of baskets holding both items.
    min_confidence, min_lift : filters on the rules.

    Returns
    -------
    DataFrame antecedent, consequent, count, support, confidence, lift (both directions of each
    pair), sorted by lift then count, descending. ``attrs["n_baskets"]`` holds the basket count.
    """
    return rules_from_baskets(
        baskets(events),
        min_count=min_count,
        min_confidence=min_confidence,
        min_lift=min_lift,
    )


def frequently_bought_together(
    rules: pd.DataFrame, *, item_id: str | None = None, top: int = 10, min_lift: float = 1.0
) -> pd.DataFrame:
    """Undirected "frequently bought together" pairs (the input of bundles), most frequent first.

    Pairs must co-occur more often than chance (lift above ``min_lift``) and are ranked by the
    number of baskets holding both, then by lift.

    Parameters
    ----------
    rules : output of :func:`association_rules`.
    item_id : only pairs with this item (its partners, best first).
    top : number of pairs returned.
    min_lift : pairs must co-occur more often than chance (lift above this).

    Returns
    -------
    DataFrame item_a, item_b, count, support, lift, confidence_ab, confidence_ba.
    """
    r = rules[rules["lift"] > min_lift]
    if item_id is not None:
        r = r[r["antecedent"] == item_id]
        out = r.rename(
            columns={"antecedent": "item_a", "consequent": "item_b", "confidence": "confidence_ab"}
        )
        back = rules.set_index(["antecedent", "consequent"])["confidence"]
        out = out.assign(
            confidence_ba=[
                back.get((b_, a_), np.nan)
                for a_, b_ in zip(out["item_a"], out["item_b"], strict=True)
            ]
        )
    else:
        fwd = r[r["antecedent"] < r["consequent"]]
        back = rules.set_index(["antecedent", "consequent"])["confidence"]
        out = fwd.rename(
            columns={"antecedent": "item_a", "consequent": "item_b", "confidence": "confidence_ab"}
        )
        out = out.assign(
            confidence_ba=[
                back.get((b_, a_), np.nan)
                for a_, b_ in zip(out["item_a"], out["item_b"], strict=True)
            ]
        )
    cols = ["item_a", "item_b", "count", "support", "lift", "confidence_ab", "confidence_ba"]
    # frequent first (support), then by how far above chance; rare pairs with a huge lift from
    # a handful of baskets are noise
    out = out.sort_values(
        ["count", "lift", "item_a", "item_b"], ascending=[False, False, True, True]
    )
    return out[cols].head(top).reset_index(drop=True)


def cohort_retention(
    events: pd.DataFrame | Iterable[pd.DataFrame],
    users: pd.DataFrame | None = None,
    *,
    activity: str = "any",
) -> pd.DataFrame:
    """Share of each signup-month cohort active in each following month.

    Parameters
    ----------
    events : canonical events (a DataFrame or chunks).
    users : canonical users; the cohort is the month of ``signup_time``, else of the first event.
    activity : "any" (any event) or "purchase".

    Returns
    -------
    DataFrame indexed by cohort ("YYYY-MM") with ``size`` and one column per month offset
    (0, 1, 2, ...) holding the share of the cohort active in that month.
    """
    if activity not in ("any", "purchase"):
        raise ValidationError("activity", "use 'any' or 'purchase'", value=activity)
    pairs = []
    firsts = []
    for chunk in _chunks(events):
        ts = pd.to_datetime(chunk[TIMESTAMP], utc=True)
        month = ts.dt.year * 12 + ts.dt.month - 1
        uid = chunk[USER_ID].astype(str)
        firsts.append(pd.DataFrame({"user_id": uid, "m": month}).groupby("user_id")["m"].min())
        sel = chunk["event_type"] == "purchase" if activity == "purchase" else slice(None)
        pairs.append(pd.DataFrame({"user_id": uid[sel], "m": month[sel]}).drop_duplicates())
    if not pairs:
        return pd.DataFrame(columns=["size"])
    act = pd.concat(pairs, ignore_index=True).drop_duplicates()
    first = pd.concat(firsts).groupby(level=0).min()
    cohort = first.copy()
    if users is not None and "signup_time" in users.columns:
        su = users.dropna(subset=["signup_time"]).drop_duplicates(USER_ID, keep="last")
        st = pd.to_datetime(su["signup_time"], utc=True)
        signup_m = pd.Series(
            (st.dt.year * 12 + st.dt.month - 1).to_numpy(), index=su[USER_ID].astype(str)
        )
        cohort = pd.concat([signup_m, first[~first.index.isin(signup_m.index)]])
    act = act.assign(cohort=act["user_id"].map(cohort))
    act = act[act["cohort"].notna()]
    act["offset"] = (act["m"] - act["cohort"]).astype(int)
    act = act[act["offset"] >= 0]
    size = cohort.groupby(cohort).size()
    table = act.groupby(["cohort", "offset"])["user_id"].nunique().unstack(fill_value=0)
    n_off = int(act["offset"].max()) + 1 if len(act) else 1
    table = table.reindex(index=size.index, columns=range(n_off), fill_value=0)
    share = table.div(size, axis=0)
    share.insert(0, "size", size)
    share.index = [f"{int(m) // 12:04d}-{int(m) % 12 + 1:02d}" for m in share.index]
    share.index.name = "cohort"
    share.columns = ["size", *[int(c) for c in share.columns[1:]]]
    return share


def planted_pair_recall(
    rules: pd.DataFrame, pairs: pd.DataFrame, *, top: int | None = None
) -> dict[str, Any]:
    """How many known pairs (item_a, item_b) appear among the (top) rules, in either direction."""
    r = rules if top is None else rules.head(2 * top)
    found_set = set(zip(r["antecedent"], r["consequent"], strict=True))
    hits = [
        (a, b) in found_set or (b, a) in found_set
        for a, b in zip(pairs["item_a"].astype(str), pairs["item_b"].astype(str), strict=True)
    ]
    return {
        "n_pairs": len(hits),
        "found": int(sum(hits)),
        "recall": float(np.mean(hits)) if hits else float("nan"),
    }
