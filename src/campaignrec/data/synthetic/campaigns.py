"""Campaigns of the synthetic shop: one recipe per campaign type, audiences and true effects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from campaignrec.data.rules import evaluate_frame
from campaignrec.data.schema import (
    CAMPAIGN_COLUMNS,
    CAMPAIGN_TYPES,
)
from campaignrec.data.synthetic.config import ShopConfig, _segment_cdf
from campaignrec.data.synthetic.vocabulary import _CATALOG, DAY, SHOPPER_TYPES, TYPE_PARAMS
from campaignrec.data.synthetic.world import _Catalog, _Users


@dataclass(frozen=True, eq=False)
class _Campaigns:
    start: NDArray[np.int64]
    end: NDArray[np.int64]
    kind: list[str]
    discount: NDArray[np.float64]  # effective discount share (drives the uplift)
    pct_off: NDArray[np.float64]  # price paid by treated converters: price * (1 - pct) - amt
    amt_off: NDArray[np.float64]
    covered: list[NDArray[np.int64]]  # covered item indices per campaign
    covered_keys: NDArray[np.float64]  # sampling a covered item of campaign c (group c)
    covered_flat: NDArray[np.int64]
    eligible: NDArray[np.bool_]  # (n_users, n_campaigns)
    p_click: NDArray[np.float64]  # (n_users, n_campaigns)
    p_control: NDArray[np.float64]
    p_treated: NDArray[np.float64]


_CAMPAIGN_TEXT = {
    "coupon": (
        "{pct}% off {cat}",
        "{cat_zh}{pct_zh}折优惠券",
        "Coupon: {pct}% off everything in {cat}.",
        "{cat_zh}全场{pct_zh}折优惠券。",
    ),
    "flash_sale": (
        "Flash sale: {pct}% off {sub}",
        "{sub_zh}限时秒杀{pct_zh}折",
        "For a few days only: {pct}% off selected {sub}.",
        "限时抢购：精选{sub_zh}{pct_zh}折。",
    ),
    "member_exclusive": (
        "Members' {pct}% off",
        "会员专享{pct_zh}折",
        "Gold and platinum members save {pct}% on {cat}.",
        "金卡和白金会员{cat_zh}专享{pct_zh}折。",
    ),
    "new_arrival": (
        "New arrivals",
        "新品上市",
        "Fresh in: the newest items of the season.",
        "本季新品抢先看。",
    ),
    "bundle": (
        "Better together: save {amt}",
        "搭配购买立减{amt}元",
        "Buy matching items together and save {amt} {cur}.",
        "搭配购买立减{amt}元。",
    ),
    "free_shipping": (
        "Free shipping over {min}",
        "满{min}元包邮",
        "Free shipping on orders over {min} {cur}.",
        "订单满{min}元免运费。",
    ),
    "custom": (
        "Young shoppers' {pct}% off",
        "青年专享{pct_zh}折",
        "A {pct}% treat for young and thrifty shoppers.",
        "年轻人专享{pct_zh}折优惠。",
    ),
}
_TOP_ZH = {
    "apparel": "服饰",
    "electronics": "数码",
    "home": "家居",
    "beauty": "美妆",
    "sports": "运动",
    "food": "食品",
    "books": "图书",
    "toys": "玩具",
}


def _build_campaigns(
    cfg: ShopConfig, cat: _Catalog, users: _Users, rng: np.random.Generator
) -> tuple[_Campaigns, pd.DataFrame]:
    n_c = cfg.n_campaigns
    start_s = int(cfg.start.timestamp())
    end_s = start_s + cfg.days * DAY
    rows: list[dict[str, Any]] = []
    starts, ends, kinds, disc, covered = [], [], [], [], []
    old = cat.created < start_s
    top_pop = np.bincount(cat.sub_top, weights=cat.sub_pop, minlength=len(cat.top_names))
    for c in range(n_c):
        kind = CAMPAIGN_TYPES[c % len(CAMPAIGN_TYPES)]
        length = {"flash_sale": (2, 5), "coupon": (10, 21)}.get(kind, (14, 31))
        dur = int(rng.integers(*length)) * DAY
        dur = min(dur, cfg.days * DAY)
        c_start = start_s + int(rng.random() * max(cfg.days * DAY - dur, 0) // 3600) * 3600
        c_end = min(c_start + dur, end_s)
        top_i = int(rng.choice(len(cat.top_names), p=top_pop / top_pop.sum()))
        top_name = cat.top_names[top_i]
        sub_i = int(rng.choice(np.flatnonzero(cat.sub_top == top_i)))
        sub_slug = cat.sub_names[sub_i].split("/")[1]
        sub_zh = _CATALOG[top_name][[s[0] for s in _CATALOG[top_name]].index(sub_slug)][2]
        pct = int(rng.choice([10, 15, 20, 25, 30]))
        row: dict[str, Any] = {
            "discount_type": "percent",
            "discount_value": float(pct),
            "min_spend": 0.0,
            "item_ids": [],
            "categories": [],
            "audience": None,
            "budget": None,
            "inventory": None,
            "cost_per_redemption": 0.0,
            "frequency_cap": 3,
            "cap_window_hours": 168.0,
            "priority": 1,
            "exclusivity_group": None,
            "protected_attributes": [],
            "protected_reason": None,
        }
        amt, min_spend = 0, 0
        if kind == "coupon":
            cov = np.flatnonzero(cat.top == top_i)
            row.update(
                categories=[top_name],
                budget=float(rng.integers(20, 80) * 100),
                cost_per_redemption=float(pct),
                frequency_cap=3,
                priority=2,
                exclusivity_group="discount",
            )
            if c // len(CAMPAIGN_TYPES) % 2 == 1:
                row["audience"] = {
                    "field": "membership_tier",
                    "op": "in",
                    "value": ["basic", "silver"],
                }
            d_eff = pct / 100
        elif kind == "flash_sale":
            pct = int(rng.choice([30, 40, 50]))
            pool = np.arange(cat.sub_start[sub_i], cat.sub_start[sub_i] + cat.sub_len[sub_i])
            pool = pool[old[pool]] if old[pool].any() else pool
            cov = np.sort(rng.choice(pool, min(len(pool), 20), replace=False))
            row.update(
                discount_value=float(pct),
                item_ids=list(cat.item_ids[cov]),
                inventory=int(rng.integers(2, 10) * 100),
                frequency_cap=5,
                priority=5,
                cap_window_hours=24.0,
                exclusivity_group="discount",
            )
            d_eff = pct / 100
        elif kind == "member_exclusive":
            pct = 15
            tops = [top_name, cat.top_names[(top_i + 1) % len(cat.top_names)]]
            cov = np.flatnonzero(np.isin(cat.top, [cat.top_names.index(t) for t in tops]))
            row.update(
                discount_value=15.0,
                categories=tops,
                audience={"field": "membership_tier", "op": "in", "value": ["gold", "platinum"]},
                budget=float(rng.integers(30, 90) * 100),
                cost_per_redemption=25.0,
                priority=3,
                exclusivity_group="members",
            )
            d_eff = 0.15
        elif kind == "new_arrival":
            cov = np.flatnonzero((cat.created >= start_s - 45 * DAY) & (cat.created < c_start))
            if len(cov) == 0:
                cov = np.flatnonzero(old)[-10:]
            row.update(
                discount_type="none",
                discount_value=0.0,
                item_ids=list(cat.item_ids[cov]),
                frequency_cap=2,
                priority=1,
            )
            d_eff = 0.05
        elif kind == "bundle":
            amt = int(rng.choice([20, 30, 50]))
            anchors = cat.anchors[: max(1, min(len(cat.anchors), 15))]
            cov = (
                np.unique(np.concatenate([anchors, cat.partner[anchors]]))
                if len(anchors)
                else np.flatnonzero(old)[:10]
            )
            cov = cov[cov >= 0]
            min_spend = int(rng.choice([99, 199]))
            row.update(
                discount_type="amount",
                discount_value=float(amt),
                min_spend=float(min_spend),
                item_ids=list(cat.item_ids[cov]),
                budget=float(rng.integers(20, 60) * 100),
                cost_per_redemption=float(amt),
                priority=2,
                exclusivity_group="discount",
            )
            d_eff = min(0.5, amt / max(float(np.median(cat.price[cov])), 1.0))
        elif kind == "free_shipping":
            min_spend = int(rng.choice([49, 99]))
            cov = np.arange(len(cat.item_ids))
            row.update(
                discount_type="amount",
                discount_value=10.0,
                min_spend=float(min_spend),
                audience={
                    "field": "region",
                    "op": "in",
                    "value": ["north", "east", "south", "west"],
                },
                cost_per_redemption=10.0,
                frequency_cap=2,
                priority=0,
            )
            d_eff = 0.08
        else:  # custom
            pct = 20
            cov = np.flatnonzero(cat.top == top_i)
            row.update(
                discount_value=20.0,
                categories=[top_name],
                audience={
                    "any": [
                        {"field": "age", "op": "between", "value": [18, 30]},
                        {
                            "field": "segment",
                            "op": "in",
                            "value": ["bargain_hunter", "new_browser"],
                        },
                    ]
                },
                budget=float(rng.integers(20, 60) * 100),
                cost_per_redemption=20.0,
                priority=2,
                exclusivity_group="discount",
                # its audience reads age: declared, as every save requires (docs/privacy.md)
                protected_attributes=["age"],
                protected_reason="a campaign for young shoppers (18-30)",
            )
            d_eff = 0.2
        cur = cfg.currency
        t_en, t_zh, d_en, d_zh = _CAMPAIGN_TEXT[kind]
        fmt = {
            "pct": pct,
            "pct_zh": f"{(100 - pct) / 10:g}",
            "cat": top_name,
            "cat_zh": _TOP_ZH[top_name],
            "sub": sub_slug,
            "sub_zh": sub_zh,
            "amt": amt,
            "min": min_spend,
            "cur": cur,
        }
        cid = f"c{c:03d}"
        row.update(
            campaign_id=cid,
            name=t_en.format(**fmt),
            type=kind,
            status="ended" if c_end < end_s else "active",
            start_time=pd.Timestamp(c_start, unit="s", tz="UTC"),
            end_time=pd.Timestamp(c_end, unit="s", tz="UTC"),
            title_en=t_en.format(**fmt),
            title_zh=t_zh.format(**fmt),
            description_en=d_en.format(**fmt),
            description_zh=d_zh.format(**fmt),
        )
        rows.append(row)
        starts.append(c_start)
        ends.append(c_end)
        kinds.append(kind)
        disc.append(d_eff)
        covered.append(np.asarray(cov, dtype=np.int64))
    campaigns_df = pd.DataFrame(rows, columns=list(CAMPAIGN_COLUMNS))
    if n_c:
        campaigns_df["start_time"] = pd.to_datetime(campaigns_df["start_time"], utc=True)
        campaigns_df["end_time"] = pd.to_datetime(campaigns_df["end_time"], utc=True)
    # truth: eligibility and response probabilities per (user, campaign)
    n_u = len(users.ids)
    eligible = np.zeros((n_u, n_c), dtype=bool)
    p_click = np.zeros((n_u, n_c))
    p_control = np.zeros((n_u, n_c))
    p_treated = np.zeros((n_u, n_c))
    params = [TYPE_PARAMS[t] for t in SHOPPER_TYPES]
    base = np.array([p.p_base for p in params])[users.type_idx]
    sens = np.array([p.sens for p in params])[users.type_idx]
    ctr = np.array([p.ctr for p in params])[users.type_idx]
    u_noise = rng.lognormal(0.0, 0.25, n_u)
    u_sens = rng.lognormal(0.0, 0.25, n_u)
    consent = users.attrs["consent_marketing"].to_numpy(dtype=bool)
    for c in range(n_c):
        eligible[:, c] = evaluate_frame(rows[c]["audience"], users.attrs) & consent
        cov_tops = np.unique(cat.top[covered[c]])
        match = np.asarray(np.isin(users.prefs, cov_tops).any(axis=1), dtype=bool)
        if len(cov_tops) >= len(cat.top_names) - 1:  # storewide campaigns fit everyone
            match = np.ones(n_u, dtype=bool)
        taste = np.where(match, 1.4, 0.6)
        pc = np.clip(base * u_noise * taste, 0.0, 0.95)
        effect = 1.0 - np.exp(-6.0 * disc[c])
        lift = np.where(
            sens >= 0,
            sens * effect * u_sens * taste,
            sens * pc * (0.5 + effect),  # sleeping dogs: the offer puts them off
        )
        p_control[:, c] = pc
        p_treated[:, c] = np.clip(pc + lift, 0.0, 0.97)
        p_click[:, c] = np.clip(ctr * (0.6 + 2.0 * disc[c]) * taste, 0.0, 0.9)
    cov_flat = np.concatenate(covered) if covered else np.zeros(0, dtype=np.int64)
    cov_group = np.repeat(np.arange(n_c), [len(x) for x in covered]) if covered else cov_flat
    cov_keys = _segment_cdf(cov_group, np.ones(len(cov_flat)), n_c)
    camps = _Campaigns(
        start=np.asarray(starts, dtype=np.int64),
        end=np.asarray(ends, dtype=np.int64),
        kind=kinds,
        discount=np.asarray(disc, dtype=np.float64),
        pct_off=np.array(
            [r["discount_value"] / 100 if r["discount_type"] == "percent" else 0.0 for r in rows]
        ),
        amt_off=np.array(
            [
                r["discount_value"]
                if r["discount_type"] == "amount" and k != "free_shipping"
                else 0.0
                for r, k in zip(rows, kinds, strict=True)
            ]
        ),
        covered=covered,
        covered_keys=cov_keys,
        covered_flat=cov_flat,
        eligible=eligible,
        p_click=p_click,
        p_control=p_control,
        p_treated=p_treated,
    )
    return camps, campaigns_df
