"""Phase 2 of event generation: blocks of sessions expanded into events."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from campaignrec.data.schema import (
    EVENT_COLUMNS,
)
from campaignrec.data.synthetic.campaigns import _Campaigns
from campaignrec.data.synthetic.config import (
    ShopConfig,
    ShopTruth,
    _pick_in_group,
    _rank_within,
    _rng,
)
from campaignrec.data.synthetic.plan import _Plan, _sample_subs, _tp
from campaignrec.data.synthetic.vocabulary import (
    _DEVICES_PA,
    _E,
    _ET_PA,
    _EVENT_TEXT,
    _MEAN_GAP,
    _P_BRAND,
    _P_NEIGHBOUR,
    _PAGE_CODE,
    _PAGE_SEARCH,
    _PAGES_PA,
    _POLICY_PA,
    _VARIANT_PA,
    BLOCK_SESSIONS,
    TEXT_DTYPE,
    TIME_DTYPE,
)
from campaignrec.data.synthetic.world import _Catalog, _Users


# ---- phase 2: blocks of sessions expanded into events --------------------------------------------------
@dataclass(frozen=True, eq=False)
class _World:
    cfg: ShopConfig
    cat: _Catalog
    users: _Users
    camps: _Campaigns
    plan: _Plan
    users_df: pd.DataFrame
    items_df: pd.DataFrame
    campaigns_df: pd.DataFrame
    truth: ShopTruth

    @cached_property
    def user_ids_pa(self) -> Any:
        return pa.array(self.users.ids, type=pa.string())

    @cached_property
    def item_ids_pa(self) -> Any:
        return pa.array(self.cat.item_ids, type=pa.string())

    @cached_property
    def campaign_ids_pa(self) -> Any:
        return pa.array([f"c{c:03d}" for c in range(len(self.camps.start))], type=pa.string())

    @property
    def n_blocks(self) -> int:
        return -(-len(self.plan) // BLOCK_SESSIONS)


def _session_items(
    w: _World, sess: NDArray[np.int64], plan: _Plan, rng: np.random.Generator
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Items of the view slots (session-major), with the drift that sequence models learn."""
    cat, users = w.cat, w.users
    n_sub = len(cat.sub_names)
    n_items = len(cat.item_ids)
    n_view = plan.n_view[sess]
    offset = np.concatenate([[0], np.cumsum(n_view)[:-1]]).astype(np.int64)
    total = int(n_view.sum())
    item = np.zeros(total, dtype=np.int64)
    u = plan.user[sess]
    t = users.type_idx[u]
    p_stay = _tp("p_stay", t)
    for j in range(int(n_view.max(initial=0))):
        live = np.flatnonzero(n_view > j)
        at = offset[live] + j
        tl = t[live]
        m = len(live)
        if j == 0:
            sub = plan.focus[sess[live]]
            item[at] = _pick_in_group(cat.type_keys, tl * n_sub + sub, rng.random(m)) % n_items
            continue
        prev = item[at - 1]
        prev_sub = cat.sub[prev]
        stay = rng.random(m) < p_stay[live]
        r = rng.random(m)
        neighbour = stay & (r < _P_NEIGHBOUR)
        same_brand = stay & (r >= _P_NEIGHBOUR) & (r < _P_NEIGHBOUR + _P_BRAND)
        sub = np.where(stay, prev_sub, _sample_subs(cat, users, u[live], rng))
        nxt = _pick_in_group(cat.type_keys, tl * n_sub + sub, rng.random(m)) % n_items
        step = np.array([-2, -1, 1, 2])[rng.integers(0, 4, m)]
        length = cat.sub_len[prev_sub]
        near = cat.sub_start[prev_sub] + (prev - cat.sub_start[prev_sub] + step) % length
        # same brand: the next cheaper or dearer item of the previous item's brand
        b_step = np.where(rng.random(m) < 0.5, -1, 1)
        b_start, b_len = cat.brand_start[prev], cat.brand_len[prev]
        by_brand = cat.brand_order[b_start + (cat.brand_pos[prev] - b_start + b_step) % b_len]
        item[at] = np.where(neighbour, near, np.where(same_brand, by_brand, nxt))
    # nobody sees an item before it exists: fall back to an older item of the same sub-category
    slot_sess = np.repeat(np.arange(len(sess)), n_view)
    ts = plan.ts[sess][slot_sess]
    bad = np.flatnonzero(cat.created[item] > ts)
    if len(bad):
        item[bad] = _pick_in_group(cat.old_keys, cat.sub[item[bad]], rng.random(len(bad)))
    return item, slot_sess, offset


def _block_events(w: _World, block: int) -> dict[str, NDArray[Any]]:
    """Events of one block of sessions as raw arrays, in session order."""
    cfg, cat, users, camps, plan = w.cfg, w.cat, w.users, w.camps, w.plan
    rng = _rng(cfg, 2, block)
    lo = block * BLOCK_SESSIONS
    sess = np.arange(lo, min(lo + BLOCK_SESSIONS, len(plan)), dtype=np.int64)
    ns = len(sess)
    item, slot_sess, offset = _session_items(w, sess, plan, rng)
    n_slots = len(item)
    slot_j = np.arange(n_slots) - offset[slot_sess]
    rank = _rank_within(slot_sess, rng.random(n_slots))
    rank_fav = _rank_within(slot_sess, rng.random(n_slots))
    g = sess[slot_sess]
    clicked = rank < plan.n_click[g]
    carted = rank < plan.n_cart[g]
    bought = rank < plan.n_buy[g]
    removed = (rank >= plan.n_buy[g]) & (rank < plan.n_buy[g] + plan.n_remove[g])
    fav = rank_fav < plan.n_fav[g]
    comp = bought & (rank < plan.n_comp[g])
    if comp.any():  # these order lines are pair anchors: pick one in the slot's top category
        ci = np.flatnonzero(comp)
        top = cat.top[item[ci]]
        has = np.bincount(cat.anchor_top, minlength=len(cat.top_names))[top] > 0
        pick = _pick_in_group(cat.anchor_keys, top, rng.random(len(ci)))
        anywhere = rng.integers(0, len(cat.anchors), len(ci))
        item[ci] = cat.anchors[np.where(has, pick, anywhere)]
    u_slot = plan.user[g]
    t_slot = users.type_idx[u_slot]
    end_key = 10 + 8 * plan.n_view[sess]  # per local session: checkout starts here

    parts: list[dict[str, NDArray[Any]]] = []

    def add(
        local: NDArray[np.int64],
        key: NDArray[np.int64],
        etype: str,
        itm: NDArray[np.int64] | None = None,
        **extra: NDArray[Any],
    ) -> None:
        n = len(local)
        if n == 0:
            return
        part = {
            "sess": local,
            "key": key,
            "etype": np.full(n, _E[etype], dtype=np.int64),
            "item": itm if itm is not None else np.full(n, -1, dtype=np.int64),
        }
        part.update(extra)
        parts.append(part)

    slot_key = 10 + 8 * slot_j
    pos = slot_j
    add(slot_sess, slot_key, "view", item, position=pos)
    c = np.flatnonzero(clicked)
    add(slot_sess[c], slot_key[c] + 1, "click", item[c], position=pos[c])
    f = np.flatnonzero(fav)
    add(slot_sess[f], slot_key[f] + 2, "favorite", item[f])
    k = np.flatnonzero(carted)
    qty_all = 1 + rng.poisson(_tp("extra_qty", t_slot))
    add(slot_sess[k], slot_key[k] + 3, "add_to_cart", item[k], qty=qty_all[k])
    r = np.flatnonzero(removed)
    add(slot_sess[r], end_key[slot_sess[r]] + 2, "remove_from_cart", item[r], qty=qty_all[r])
    b = np.flatnonzero(bought)
    add(slot_sess[b], end_key[slot_sess[b]] + 3, "purchase", item[b], qty=qty_all[b])
    # partners of the anchors join the order
    p = np.flatnonzero(comp)
    partner = cat.partner[item[p]]
    p_qty = 1 + rng.poisson(0.1, len(p))
    add(slot_sess[p], slot_key[p] + 5, "view", partner)
    add(slot_sess[p], slot_key[p] + 6, "add_to_cart", partner, qty=p_qty)
    add(slot_sess[p], end_key[slot_sess[p]] + 3, "purchase", partner, qty=p_qty)
    # searches open the session with a query about the focus sub-category
    loc = np.arange(ns)
    sq = loc[plan.search[sess] > 0]
    add(sq, np.zeros(len(sq), np.int64), "search", query_sub=plan.focus[sess[sq]])
    # campaign exposure and responses
    camp = plan.camp[sess]
    ex = loc[camp >= 0]
    zero = np.zeros(len(ex), np.int64)
    add(ex, zero + 1, "campaign_impression", camp=camp[ex])
    cc = loc[plan.c_click[sess] > 0]
    add(cc, np.zeros(len(cc), np.int64) + 2, "campaign_click", camp=camp[cc])
    cl = loc[plan.c_claim[sess] > 0]
    add(cl, np.zeros(len(cl), np.int64) + 3, "coupon_claim", camp=camp[cl])
    cv = loc[plan.c_convert[sess] > 0]
    if len(cv):
        n_cv = len(cv)
        cands = np.stack(
            [_pick_in_group(camps.covered_keys, camp[cv], rng.random(n_cv)) for _ in range(3)], 1
        )
        cand_items = camps.covered_flat[cands]
        prefs = users.prefs[plan.user[sess[cv]]]
        liked = (cat.top[cand_items][:, :, None] == prefs[:, None, :]).any(axis=2)
        exists = cat.created[cand_items] <= plan.ts[sess[cv]][:, None]
        best = np.argmax(2 * exists + liked + rng.random((n_cv, 3)) * 0.1, axis=1)
        cv_item = cand_items[np.arange(n_cv), best]
        late = cat.created[cv_item] > plan.ts[sess[cv]]
        if late.any():
            cv_item[late] = _pick_in_group(
                cat.old_keys, cat.sub[cv_item[late]], rng.random(int(late.sum()))
            )
        cv_treated = plan.treated[sess[cv]]
        cv_qty = np.ones(n_cv, dtype=np.int64)
        cv_camp = np.where(cv_treated, camp[cv], -1)
        add(cv, end_key[cv], "view", cv_item)
        add(cv, end_key[cv] + 1, "add_to_cart", cv_item, qty=cv_qty)
        add(
            cv,
            end_key[cv] + 3,
            "purchase",
            cv_item,
            qty=cv_qty,
            camp=cv_camp,
            paid_camp=cv_camp,
        )
    rd = loc[plan.c_redeem[sess] > 0]
    add(rd, end_key[rd] + 4, "coupon_redeem", camp=camp[rd])
    return _assemble(w, sess, parts, rng)


def _assemble(
    w: _World,
    sess: NDArray[np.int64],
    parts: list[dict[str, NDArray[Any]]],
    rng: np.random.Generator,
) -> dict[str, NDArray[Any]]:
    """Order a block's events within sessions, clock them and trim; numbers only (no strings)."""
    plan = w.plan
    if not parts:
        return {k: np.zeros(0, dtype=np.int64) for k in _RAW}
    n = sum(len(p["sess"]) for p in parts)

    def col(name: str, fill: Any, dtype: Any) -> NDArray[Any]:
        return np.concatenate(
            [
                np.asarray(p[name], dtype=dtype)
                if name in p
                else np.full(len(p["sess"]), fill, dtype)
                for p in parts
            ]
        )

    local = col("sess", 0, np.int64)
    key = col("key", 0, np.int64)
    order = np.lexsort((key, local))
    local = local[order]
    etype = col("etype", 0, np.int64)[order]
    item = col("item", -1, np.int64)[order]
    camp = col("camp", -1, np.int64)[order]
    paid_camp = col("paid_camp", -1, np.int64)[order]
    qty = col("qty", 0, np.int64)[order]
    position = col("position", -1, np.int64)[order]
    query_sub = col("query_sub", -1, np.int64)[order]
    # within-session clock: whole seconds (event ids use microseconds: exact for whole seconds)
    gap = 1 + np.floor(rng.exponential(_MEAN_GAP[etype])).astype(np.int64)
    first = np.r_[True, local[1:] != local[:-1]]
    gap[first] = 0
    cum = np.cumsum(gap)
    start_idx = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    g = sess[local]
    ts = plan.ts[g] + cum - cum[start_idx]
    rank_in_session = np.arange(n) - start_idx
    keep = rank_in_session < plan.n_keep[g]
    if not keep.all():
        sel = np.flatnonzero(keep)
        etype, item, camp, paid_camp, qty, position, query_sub, ts, g = (
            a[sel] for a in (etype, item, camp, paid_camp, qty, position, query_sub, ts, g)
        )
    raw = {
        "g": g, "ts": ts, "etype": etype, "item": item, "camp": camp, "paid_camp": paid_camp,
        "qty": qty, "position": position, "query_sub": query_sub,
    }  # fmt: skip
    return raw


_RAW = ("g", "ts", "etype", "item", "camp", "paid_camp", "qty", "position", "query_sub")


def _to_frame(w: _World, raw: Mapping[str, NDArray[Any]]) -> pd.DataFrame:
    """Canonical event rows from raw block arrays (already in output order)."""
    cat, users, camps, plan = w.cat, w.users, w.camps, w.plan
    g, ts, etype, item = raw["g"], raw["ts"], raw["etype"], raw["item"]
    camp, paid_camp, qty = raw["camp"], raw["paid_camp"], raw["qty"]
    position, query_sub = raw["position"], raw["query_sub"]
    if len(g) == 0:
        return _empty_events()
    u = plan.user[g]
    has_item = item >= 0
    has_camp = camp >= 0
    is_purchase = etype == _E["purchase"]
    list_price = np.where(has_item, cat.price[np.maximum(item, 0)], np.nan)
    pcamp = np.maximum(paid_camp, 0)
    paid = np.where(
        paid_camp >= 0,
        np.maximum(
            list_price * (1.0 - camps.pct_off[pcamp] if len(camps.start) else 1.0)
            - (camps.amt_off[pcamp] if len(camps.start) else 0.0),
            0.01,
        ),
        list_price,
    )
    price = np.round(np.where(is_purchase, paid, list_price), 2)
    qty_f = np.where(qty > 0, qty, np.nan).astype(np.float64)
    revenue = np.where(is_purchase, np.round(price * qty_f, 2), np.nan)
    # strings: arrow takes from small vocabularies, no Python object per cell
    width = max(6, len(str(len(plan))))
    uniq, local = np.unique(g, return_inverse=True)
    ordered = (plan.n_buy[uniq] + plan.c_convert[uniq]) > 0
    sessions = pa.array([f"s{x:0{width}d}" for x in uniq], type=pa.string())
    orders = pa.array(
        [f"o{x:0{width}d}" if o else None for x, o in zip(uniq, ordered, strict=True)],
        type=pa.string(),
    )
    n_sub = len(cat.sub_query)
    queries = pa.array([q[0] for q in cat.sub_query] + [q[1] for q in cat.sub_query])
    page_code = _PAGE_CODE[etype]
    searched = plan.search[g] > 0
    page_code[(etype == _E["view"]) & searched & (position >= 0) & (position < 10)] = _PAGE_SEARCH
    is_imp = etype == _E["campaign_impression"]
    is_order = is_purchase | (etype == _E["coupon_redeem"])
    text = {
        "user_id": _take(w.user_ids_pa, u),
        "event_type": _take(_ET_PA, etype),
        "item_id": _take(w.item_ids_pa, item, has_item),
        "campaign_id": _take(w.campaign_ids_pa, camp, has_camp),
        "query": _take(queries, query_sub + n_sub * users.zh[u], query_sub >= 0),
        "session_id": _take(sessions, local),
        "order_id": _take(orders, local, is_order),
        "device": _take(_DEVICES_PA, plan.device[g]),
        "page": _take(_PAGES_PA, page_code),
        "policy": _take(_POLICY_PA, np.zeros(len(g), np.int64), is_imp),
        "variant": _take(_VARIANT_PA, (~plan.treated[g]).astype(np.int64), is_imp),
    }
    text["event_id"] = _event_ids(text, ts)
    propensity = np.where(is_imp, plan.propensity[g], np.nan)
    position_out = pd.array(np.where(is_imp, 0, position), dtype="Int64")
    position_out[(position < 0) & ~is_imp] = pd.NA
    frame = pd.DataFrame(
        {
            **{k: pd.Series(v, dtype=TEXT_DTYPE) for k, v in text.items()},
            "timestamp": pd.to_datetime(ts, unit="s", utc=True).astype(TIME_DTYPE),
            "quantity": qty_f,
            "price": price,
            "revenue": revenue,
            "position": position_out,
            "propensity": propensity,
        },
        columns=list(EVENT_COLUMNS),
    )
    for name in _EVENT_TEXT:  # the same dtype in every chunk, even where a column is all missing
        if frame[name].dtype != TEXT_DTYPE:
            frame[name] = frame[name].astype(TEXT_DTYPE)
    return frame


def _take(values: Any, idx: NDArray[np.integer], valid: NDArray[np.bool_] | None = None) -> Any:
    """``values[idx]`` as a pyarrow string array; null where ``valid`` is False."""
    indices = pa.array(np.asarray(idx, dtype=np.int64), mask=None if valid is None else ~valid)
    return values.take(indices)


def _event_ids(text: Mapping[str, Any], ts: NDArray[np.int64]) -> Any:
    """:func:`campaignrec.data.schema.derive_event_id`, row-wise (same key, same digest)."""
    ts_us = pc.cast(pa.array(ts.astype(np.int64) * 1_000_000), pa.string())
    parts = [text["user_id"], text["event_type"], ts_us] + [
        text[k] for k in ("item_id", "campaign_id", "query", "session_id", "order_id")
    ]
    keys = pc.binary_join_element_wise(*parts, "\x1f", null_handling="replace", null_replacement="")
    blake = hashlib.blake2b
    digests = [blake(k, digest_size=12).hexdigest() for k in pc.cast(keys, pa.binary()).to_pylist()]
    return pa.array(digests, type=pa.string())


def _empty_events() -> pd.DataFrame:
    frame = pd.DataFrame({c: pd.Series([], dtype=TEXT_DTYPE) for c in EVENT_COLUMNS})
    frame["timestamp"] = pd.Series([], dtype=TIME_DTYPE)
    for c in ("quantity", "price", "revenue", "propensity"):
        frame[c] = frame[c].astype(np.float64)
    frame["position"] = frame["position"].astype("Int64")
    return frame
