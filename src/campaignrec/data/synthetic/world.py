"""The world of the synthetic shop: the catalogue (items) and the users."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from campaignrec.data.schema import (
    ITEM_COLUMNS,
    USER_COLUMNS,
)
from campaignrec.data.synthetic.config import ShopConfig, _choice_rows, _ids, _segment_cdf
from campaignrec.data.synthetic.vocabulary import (
    _ADJS,
    _BRANDS,
    _CATALOG,
    _COLORS,
    _COMPLEMENT,
    _REGION_SHARE,
    _REGIONS,
    DAY,
    SHOPPER_TYPES,
    TIERS,
    TYPE_PARAMS,
)


# ---- the world: users, items, campaigns and truth --------------------------------------------------
@dataclass(frozen=True, eq=False)
class _Catalog:
    item_ids: NDArray[np.object_]
    sub: NDArray[np.int64]  # sub-category index per item (items sorted by sub, then price)
    top: NDArray[np.int64]
    price: NDArray[np.float64]
    brand: NDArray[np.object_]
    created: NDArray[np.int64]  # epoch seconds
    pop: NDArray[np.float64]
    sub_start: NDArray[np.int64]
    sub_len: NDArray[np.int64]
    sub_top: NDArray[np.int64]
    sub_names: list[str]
    top_names: list[str]
    sub_query: list[tuple[str, str]]
    type_keys: NDArray[np.float64]  # (n_types * n_items) keys for price-affine choice
    old_keys: NDArray[np.float64]  # keys restricted to items created before the window
    top_sub_keys: NDArray[np.float64]  # sampling a sub-category inside a top category
    sub_pop: NDArray[np.float64]
    all_sub_keys: NDArray[np.float64]  # sampling any sub-category by popularity (group 0)
    partner: NDArray[np.int64]  # partner item index or -1
    anchors: NDArray[np.int64]  # anchor item indices
    anchor_keys: NDArray[np.float64]  # sampling an anchor inside a top category
    anchor_top: NDArray[np.int64]
    brand_order: NDArray[np.int64]  # items sorted by (sub-category, brand, price)
    brand_pos: NDArray[np.int64]  # position of each item in brand_order
    brand_start: NDArray[np.int64]  # per item: where its (sub-category, brand) run starts
    brand_len: NDArray[np.int64]  # per item: length of that run


def _build_catalog(cfg: ShopConfig, rng: np.random.Generator) -> tuple[_Catalog, pd.DataFrame]:
    top_names = list(_CATALOG)
    subs = [(t, s) for t in top_names for s in _CATALOG[t]]
    sub_names = [f"{t}/{s[0]}" for t, s in subs]
    n_sub = len(subs)
    sub_top = np.array([top_names.index(t) for t, _ in subs], dtype=np.int64)
    n = cfg.n_items
    # every sub-category gets at least one item; the rest by a skewed share
    sub_weight = rng.dirichlet(np.full(n_sub, 3.0))
    extra = rng.multinomial(n - n_sub, sub_weight) if n > n_sub else np.zeros(n_sub, int)
    counts = np.minimum(np.ones(n_sub, dtype=np.int64), n) + extra
    if counts.sum() > n:  # tiny catalogues
        counts = np.bincount(np.arange(n) % n_sub, minlength=n_sub)
    sub = np.repeat(np.arange(n_sub), counts)
    median = np.array([s[3] for _, s in subs], dtype=np.float64)
    price = np.round(median[sub] * rng.lognormal(0.0, 0.45, n), 0) - 0.01
    price = np.maximum(price, 0.99)
    order = np.lexsort((price, sub))  # within a sub-category: by price (neighbours are similar)
    sub, price = sub[order], price[order]
    top = sub_top[sub]
    sub_start = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    sub_len = counts.astype(np.int64)
    pop = rng.lognormal(0.0, 1.0, n)
    brand_choice = rng.random(n)
    brand = np.empty(n, dtype=object)
    for ti, tname in enumerate(top_names):
        m = top == ti
        names = _BRANDS[tname]
        brand[m] = np.array(names, dtype=object)[(brand_choice[m] * len(names)).astype(int)]
    start_s = int(cfg.start.timestamp())
    is_new = rng.random(n) < cfg.new_item_share
    created = np.where(
        is_new,
        start_s + (rng.random(n) * 0.7 * cfg.days * DAY).astype(np.int64),
        start_s - (rng.integers(30, 720, n) * DAY) - rng.integers(0, DAY, n),
    ).astype(np.int64)
    color = rng.integers(0, len(_COLORS), n)
    adj = rng.integers(0, len(_ADJS), n)
    item_ids = _ids("i", n)
    titles, descs, tags, attrs = [], [], [], []
    for i in range(n):
        t, (slug, noun_en, noun_zh, _med, _q, _qz) = subs[sub[i]]
        c_en, c_zh = _COLORS[color[i]]
        a_en, a_zh = _ADJS[adj[i]]
        band = (
            "budget"
            if price[i] < 0.8 * median[sub[i]]
            else ("premium" if price[i] > 1.25 * median[sub[i]] else "mid")
        )
        titles.append(f"{c_en.capitalize()} {a_en} {noun_en} {c_zh}{a_zh}{noun_zh}")
        descs.append(
            f"{brand[i]} {noun_en} in {c_en}, {a_en} design. "
            f"{brand[i]}{c_zh}{noun_zh}，{a_zh}设计。"
        )
        tag = [c_en, a_en, t, slug, band]
        if is_new[i]:
            tag.append("new")
        tags.append(tag)
        attrs.append({"color": c_en, "price_band": band})
    # planted complementary pairs: anchor (old item) -> partner (old item, complementary sub)
    old = created < start_s
    n_pairs = cfg.n_pairs if cfg.n_pairs is not None else n // 8
    partner = np.full(n, -1, dtype=np.int64)
    candidates = rng.permutation(np.flatnonzero(old))
    taken = np.zeros(n, dtype=bool)
    made = 0
    for a in candidates:
        if made >= n_pairs:
            break
        if taken[a]:
            continue
        own = int(sub[a])
        comp_slug = _COMPLEMENT.get(subs[own][1][0])
        target = next((k for k, (_, s) in enumerate(subs) if s[0] == comp_slug), own)
        pool = np.arange(sub_start[target], sub_start[target] + sub_len[target])
        pool = pool[old[pool] & ~taken[pool] & (pool != a)]
        if len(pool) == 0:
            continue
        b = int(pool[rng.integers(0, len(pool))])
        partner[a] = b
        taken[a] = taken[b] = True
        made += 1
    anchors = np.flatnonzero(partner >= 0)
    # choice keys: per type, popularity x price affinity; plus "old items only"
    rel = price / median[sub]
    type_keys = []
    for ti, tname in enumerate(SHOPPER_TYPES):
        w = pop * rel ** (-TYPE_PARAMS[tname].price_beta)
        type_keys.append(_segment_cdf(sub, w, n_sub) + ti * n_sub)
    type_keys_arr = np.concatenate(type_keys)
    old_w = np.where(old, pop, 0.0)
    sub_has_old = np.bincount(sub, weights=old.astype(float), minlength=n_sub) > 0
    old_w = np.where(sub_has_old[sub], old_w, pop)  # a sub with only new items: no restriction
    old_keys = _segment_cdf(sub, old_w, n_sub)
    sub_pop = np.bincount(sub, weights=pop, minlength=n_sub).astype(np.float64)
    top_sub_keys = _segment_cdf(sub_top, sub_pop, len(top_names))
    anchor_top = top[anchors]
    a_order = np.argsort(anchor_top, kind="stable")
    anchors = anchors[a_order]
    anchor_top = anchor_top[a_order]
    anchor_keys = _segment_cdf(anchor_top, np.ones(len(anchors)), len(top_names))
    all_brands = sorted({b for names in _BRANDS.values() for b in names})
    brand_code = np.array([all_brands.index(b) for b in brand], dtype=np.int64)
    brand_group = sub * len(all_brands) + brand_code
    brand_order = np.argsort(brand_group, kind="stable")  # stable: by price inside a run
    run_len = np.bincount(brand_group, minlength=n_sub * len(all_brands))
    run_start = np.concatenate([[0], np.cumsum(run_len)[:-1]])
    cat = _Catalog(
        item_ids=item_ids,
        sub=sub,
        top=top,
        price=price,
        brand=brand,
        created=created,
        pop=pop,
        sub_start=sub_start,
        sub_len=sub_len,
        sub_top=sub_top,
        sub_names=sub_names,
        top_names=top_names,
        sub_query=[(s[4], s[5]) for _, s in subs],
        type_keys=type_keys_arr,
        old_keys=old_keys,
        top_sub_keys=top_sub_keys,
        sub_pop=sub_pop,
        all_sub_keys=_segment_cdf(np.zeros(n_sub, dtype=np.int64), sub_pop, 1),
        partner=partner,
        anchors=anchors,
        anchor_keys=anchor_keys,
        anchor_top=anchor_top,
        brand_order=brand_order,
        brand_pos=np.argsort(brand_order),
        brand_start=run_start[brand_group],
        brand_len=run_len[brand_group],
    )
    items = pd.DataFrame(
        {
            "item_id": item_ids,
            "title": np.array(titles, dtype=object),
            "description": np.array(descs, dtype=object),
            "category": np.array(sub_names, dtype=object)[sub],
            "brand": brand,
            "price": price,
            "currency": cfg.currency,
            "tags": tags,
            "in_stock": rng.random(n) > 0.03,
            "created_time": pd.to_datetime(created, unit="s", utc=True),
            "attributes": attrs,
            "hidden": False,
        },
        columns=list(ITEM_COLUMNS),
    )
    return cat, items


@dataclass(frozen=True, eq=False)
class _Users:
    ids: NDArray[np.object_]
    type_idx: NDArray[np.int64]
    act: NDArray[np.float64]
    peak: NDArray[np.float64]
    a_from: NDArray[np.int64]  # active window (epoch seconds)
    a_to: NDArray[np.int64]
    prefs: NDArray[np.int64]  # (n_users, 3) preferred top categories (repeated when fewer)
    n_prefs: NDArray[np.int64]
    device: NDArray[np.int64]
    zh: NDArray[np.bool_]  # prefers Chinese (search queries)
    attrs: pd.DataFrame  # rule attributes (membership_tier, region, city, gender, age, ...)


def _build_users(
    cfg: ShopConfig, cat: _Catalog, rng: np.random.Generator
) -> tuple[_Users, pd.DataFrame]:
    n = cfg.n_users
    shares = cfg.shares()
    # exact type counts (largest remainder), then shuffled: shares hold even for small shops
    raw = shares * n
    counts = np.floor(raw).astype(int)
    counts[np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]] += 1
    type_idx = rng.permutation(np.repeat(np.arange(len(SHOPPER_TYPES)), counts))
    params = [TYPE_PARAMS[t] for t in SHOPPER_TYPES]
    act = rng.lognormal(0.0, 0.35, n)
    peak = np.array([params[t].hour for t in type_idx]) + rng.normal(0.0, 0.6, n)
    start_s = int(cfg.start.timestamp())
    span = cfg.days * DAY
    lo = np.array([params[t].active[0] for t in type_idx])
    hi = np.array([params[t].active[1] for t in type_idx])
    frac_from = lo + rng.random(n) * np.where(
        type_idx == SHOPPER_TYPES.index("new_browser"), 0.45, 0.0
    )
    frac_to = np.where(
        type_idx == SHOPPER_TYPES.index("dormant"), hi * (0.6 + 0.4 * rng.random(n)), 1.0
    )
    frac_to = np.where(type_idx == SHOPPER_TYPES.index("new_browser"), 1.0, frac_to)
    a_from = start_s + (frac_from * span).astype(np.int64)
    a_to = start_s + (frac_to * span).astype(np.int64)
    # signup: new browsers just before their first visit, everyone else months to years before
    signup = np.where(
        type_idx == SHOPPER_TYPES.index("new_browser"),
        a_from - rng.integers(0, 2 * DAY, n),
        start_s - rng.integers(40, 1500, n) * DAY - rng.integers(0, DAY, n),
    )
    # tastes: 2 preferred top categories (3 for big spenders), drawn by category popularity
    n_top = len(cat.top_names)
    top_pop = np.bincount(cat.sub_top, weights=cat.sub_pop, minlength=n_top)
    top_p = top_pop / top_pop.sum()
    g = rng.gumbel(size=(n, n_top)) + np.log(np.maximum(top_p, 1e-300))[None, :]
    ranked = np.argsort(-g, axis=1)[:, :3]
    n_prefs = np.where(type_idx == SHOPPER_TYPES.index("loyal_big_spender"), 3, 2)
    prefs = ranked.copy()
    prefs[n_prefs == 2, 2] = prefs[n_prefs == 2, 0]
    dev_p = np.array([params[t].device for t in range(len(params))])[type_idx]
    device = _choice_rows(dev_p, rng.random(n))
    tier_p = np.array([params[t].tier for t in range(len(params))])[type_idx]
    tier = np.array(TIERS, dtype=object)[_choice_rows(tier_p, rng.random(n))]
    region_names = list(_REGIONS)
    region_idx = rng.choice(len(region_names), n, p=np.asarray(_REGION_SHARE))
    region = np.array(region_names, dtype=object)[region_idx]
    city = np.array(
        [
            _REGIONS[region_names[r]][k]
            for r, k in zip(region_idx, rng.integers(0, 3, n), strict=True)
        ],
        dtype=object,
    )
    birth_center = np.array([1988, 1978, 1998, 2001, 1985])[type_idx]
    birth_year = np.clip(np.round(rng.normal(birth_center, 8.0)), 1940, 2008).astype(np.int64)
    age = cfg.start.year - birth_year
    age_band = pd.cut(
        age, [0, 24, 34, 44, 54, 200], labels=["18-24", "25-34", "35-44", "45-54", "55+"]
    ).astype(object)
    gender = np.array(["female", "male", "other", "unknown"], dtype=object)[
        rng.choice(4, n, p=[0.52, 0.42, 0.02, 0.04])
    ]
    consent_p = rng.random(n) > 0.05
    consent_m = rng.random(n) > 0.15
    lang = np.where(region == "overseas", "en", np.where(rng.random(n) < 0.85, "zh", "en"))
    channel = np.array(["organic", "search_ads", "social", "referral"], dtype=object)[
        rng.integers(0, 4, n)
    ]
    ids = _ids("u", n)
    users_df = pd.DataFrame(
        {
            "user_id": ids,
            "signup_time": pd.to_datetime(signup, unit="s", utc=True),
            "birth_year": birth_year,
            "age_band": age_band,
            "gender": gender,
            "region": region,
            "city": city,
            "membership_tier": tier,
            "consent_personalisation": consent_p,
            "consent_marketing": consent_m,
            "attributes": [
                {"language": lg, "acquisition_channel": ch}
                for lg, ch in zip(lang, channel, strict=True)
            ],
        },
        columns=list(USER_COLUMNS),
    )
    rule_attrs = pd.DataFrame(
        {
            "membership_tier": tier,
            "region": region,
            "city": city,
            "gender": gender,
            "age": age,
            "is_new": signup >= start_s - 30 * DAY,
            "segment": np.array(SHOPPER_TYPES, dtype=object)[type_idx],
            "consent_marketing": consent_m,
        }
    )
    users = _Users(
        ids=ids,
        type_idx=type_idx,
        act=act,
        peak=peak,
        a_from=a_from,
        a_to=a_to,
        prefs=prefs,
        n_prefs=n_prefs,
        device=device,
        zh=lang == "zh",
        attrs=rule_attrs,
    )
    return users, users_df
