"""Audience attributes: the flat mapping an audience rule is evaluated on, per user.

The profiles module produces the full attributes (``segment``, ``lifecycle``, RFM, ...). This
module builds the base attributes every shop has from the users table and purchase events, and
merges profile attributes over them when they are given, so audience rules work before profiles
have been computed (rules on missing fields simply do not hold).

Base attributes: ``user_id, gender, region, city, membership_tier, age_band, age, is_new,
consent_marketing, bought_categories`` (every category path and each of its ancestors the user
bought in), ``n_purchases``, plus the keys of the user's free ``attributes``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from campaignrec.data.rules import evaluate_frame, parse_rule, rule_fields
from campaignrec.data.schema import Campaign

NEW_USER_DAYS = 30
_BASE_FIELDS = ("gender", "region", "city", "membership_tier", "age_band")


def _clean(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if value is pd.NaT or value is pd.NA:
        return None
    return value.item() if isinstance(value, np.generic) else value


def _ancestors(path: str) -> list[str]:
    parts = path.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def base_attributes(
    users: pd.DataFrame,
    events: pd.DataFrame | None = None,
    items: pd.DataFrame | None = None,
    *,
    now: datetime,
    new_user_days: int = NEW_USER_DAYS,
) -> dict[str, dict[str, Any]]:
    """Base audience attributes of every user in the users table.

    Parameters
    ----------
    users : DataFrame
        Canonical users table.
    events : DataFrame, optional
        Events (purchases give ``bought_categories`` and ``n_purchases``).
    items : DataFrame, optional
        Items table (item categories).
    now : datetime
        Reference time for ``age`` and ``is_new``.
    new_user_days : int
        A user who signed up fewer than this many days before ``now`` is new.

    Returns
    -------
    dict
        ``user_id -> {attribute: value}``.
    """
    bought: dict[str, set[str]] = {}
    n_buys: dict[str, int] = {}
    if events is not None and items is not None and len(events):
        pur = events[(events["event_type"] == "purchase") & events["item_id"].notna()]
        cat = items.set_index(items["item_id"].astype(str))["category"]
        pc = pd.DataFrame(
            {
                "user_id": pur["user_id"].astype(str).to_numpy(),
                "category": pur["item_id"].astype(str).map(cat).to_numpy(),
            }
        ).dropna()
        for uid, grp in pc.groupby("user_id"):
            bought[str(uid)] = bought_categories(grp["category"].astype(str).unique())
        n_buys = {str(k): int(v) for k, v in pur.groupby(pur["user_id"].astype(str)).size().items()}
    out: dict[str, dict[str, Any]] = {}
    for rec in users.to_dict(orient="records"):
        uid = str(rec["user_id"])
        out[uid] = user_base_attributes(
            rec, bought.get(uid, set()), n_buys.get(uid, 0), now=now, new_user_days=new_user_days
        )
    return out


def bought_categories(categories: Iterable[str | None]) -> set[str]:
    """Every category path of the purchases and all its ancestors (``a/b`` gives ``a``, ``a/b``)."""
    out: set[str] = set()
    for path in categories:
        if path is not None and path == path:
            out.update(_ancestors(str(path)))
    return out


def user_base_attributes(
    rec: Mapping[Any, Any],
    bought: set[str],
    n_purchases: int,
    *,
    now: datetime,
    new_user_days: int = NEW_USER_DAYS,
) -> dict[str, Any]:
    """One shopper's base attributes from their users-table row (a mapping), the categories
    they bought (:func:`bought_categories`) and their number of purchases; the one definition
    :func:`base_attributes` (all shoppers) and a request handler (one shopper) share."""
    uid = str(rec["user_id"])
    attrs: dict[str, Any] = {"user_id": uid}
    for f in _BASE_FIELDS:
        if f in rec:
            attrs[f] = _clean(rec[f])
    by = _clean(rec.get("birth_year"))
    attrs["age"] = int(now.year - int(by)) if by is not None else None
    signup = _clean(rec.get("signup_time"))
    if signup is not None:
        ts = pd.Timestamp(signup)
        ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts
        attrs["is_new"] = bool(ts > pd.Timestamp(now) - timedelta(days=new_user_days))
    consent = _clean(rec.get("consent_marketing"))
    attrs["consent_marketing"] = True if consent is None else bool(consent)
    extra = rec.get("attributes")
    if isinstance(extra, Mapping):
        for k, v in extra.items():
            attrs.setdefault(str(k), v)
    attrs["bought_categories"] = sorted(bought)
    attrs["n_purchases"] = int(n_purchases)
    return attrs


def merge_attributes(
    base: Mapping[str, Mapping[str, Any]], profiles: Mapping[str, Mapping[str, Any]] | None
) -> dict[str, dict[str, Any]]:
    """Profile attributes over base attributes (profile values win).

    ``bought_categories`` always ends up with every ancestor of each path, whichever side it came
    from, so ``{"field": "bought_categories", "op": "contains", "value": "home"}`` means the same
    with or without profiles.
    """
    out = {u: dict(a) for u, a in base.items()}
    for u, extra in (profiles or {}).items():
        out.setdefault(str(u), {"user_id": str(u)}).update(dict(extra))
    for attrs in out.values():
        cats = attrs.get("bought_categories")
        if isinstance(cats, list | tuple):
            full: set[str] = set()
            for c in cats:
                full.update(_ancestors(str(c)))
            attrs["bought_categories"] = sorted(full)
    return out


def audience_of(
    campaign: Campaign, attributes: Mapping[str, Mapping[str, Any]], *, consent: bool = True
) -> list[str]:
    """User ids whose attributes satisfy the campaign's audience rule (and marketing consent)."""
    rule = parse_rule(campaign.audience) if campaign.audience is not None else None
    users = [
        (str(uid), attrs)
        for uid, attrs in attributes.items()
        if not (consent and attrs.get("consent_marketing") is False)
    ]
    # object columns keep each value as given (no int -> float coercion); absent keys are missing
    frame = pd.DataFrame(
        {
            f: pd.Series([attrs.get(f) for _, attrs in users], dtype=object)
            for f in sorted(rule_fields(rule))
        },
        index=pd.RangeIndex(len(users)),
    )
    holds = evaluate_frame(rule, frame)
    return [uid for (uid, _), ok in zip(users, holds, strict=True) if ok]


def audience_sizes(
    campaigns: Iterable[Campaign], attributes: Mapping[str, Mapping[str, Any]]
) -> dict[str, int]:
    """Audience size of each campaign."""
    return {c.campaign_id: len(audience_of(c, attributes)) for c in campaigns}
