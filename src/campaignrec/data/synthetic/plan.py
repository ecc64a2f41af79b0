"""Phase 1 of event generation: the session plan (every random count decided per session)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from campaignrec.data.synthetic.campaigns import _Campaigns
from campaignrec.data.synthetic.config import ShopConfig, _pick_in_group, _rng
from campaignrec.data.synthetic.vocabulary import (
    _COUPON_LIKE,
    DAY,
    MAX_VIEWS,
    SHOPPER_TYPES,
    TYPE_PARAMS,
)
from campaignrec.data.synthetic.world import _Catalog, _Users
from campaignrec.errors import ValidationError


# ---- phase 1: the session plan -------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class _Plan:
    """One row per kept session, sorted by start time; every random count is decided here."""

    user: NDArray[np.int64]
    ts: NDArray[np.int64]
    device: NDArray[np.int64]
    focus: NDArray[np.int64]
    search: NDArray[np.int64]
    n_view: NDArray[np.int64]
    n_click: NDArray[np.int64]
    n_cart: NDArray[np.int64]
    n_remove: NDArray[np.int64]
    n_fav: NDArray[np.int64]
    n_buy: NDArray[np.int64]
    n_comp: NDArray[np.int64]
    camp: NDArray[np.int64]  # -1: no exposure
    treated: NDArray[np.bool_]
    propensity: NDArray[np.float64]
    c_click: NDArray[np.int64]
    c_claim: NDArray[np.int64]
    c_convert: NDArray[np.int64]
    c_redeem: NDArray[np.int64]
    n_events: NDArray[np.int64]
    n_keep: NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.user)

    def take(self, idx: NDArray[np.int64]) -> _Plan:
        return _Plan(**{k: getattr(self, k)[idx] for k in self.__dataclass_fields__})


def _tp(name: str, type_idx: NDArray[np.int64]) -> NDArray[np.float64]:
    return np.array([getattr(TYPE_PARAMS[t], name) for t in SHOPPER_TYPES], dtype=np.float64)[
        type_idx
    ]


def _sample_subs(
    cat: _Catalog, users: _Users, user: NDArray[np.int64], rng: np.random.Generator
) -> NDArray[np.int64]:
    """A sub-category per row from the user's taste (85 %) or the whole shop (15 %)."""
    n = len(user)
    pick = (rng.random(n) * users.n_prefs[user]).astype(np.int64)
    top = users.prefs[user, pick]
    sub = _pick_in_group(cat.top_sub_keys, top, rng.random(n))
    explore = rng.random(n) < 0.15
    sub[explore] = _pick_in_group(
        cat.all_sub_keys, np.zeros(int(explore.sum()), np.int64), rng.random(int(explore.sum()))
    )
    return sub.astype(np.int64)


def _draw_plan(
    cfg: ShopConfig,
    cat: _Catalog,
    users: _Users,
    camps: _Campaigns,
    scale: float,
    rng: np.random.Generator,
) -> dict[str, NDArray[Any]]:
    t_u = users.type_idx
    active_days = (users.a_to - users.a_from) / DAY
    lam = scale * _tp("rate", t_u) * users.act * active_days
    n_sess = rng.poisson(lam)
    user = np.repeat(np.arange(len(t_u)), n_sess)
    s = len(user)
    t = t_u[user]
    # start time: a day in the user's active window (weekday-weighted), an hour near the peak
    start_s = int(cfg.start.timestamp())
    end_s = start_s + cfg.days * DAY
    wk = np.array([TYPE_PARAMS[x].weekday for x in SHOPPER_TYPES])
    wk = wk / wk.max(axis=1, keepdims=True)
    when = users.a_from[user] + (rng.random(s) * (users.a_to - users.a_from)[user]).astype(np.int64)
    for _ in range(6):
        weekday = (when // DAY + 3) % 7  # 1970-01-01 was a Thursday
        redo = rng.random(s) > wk[t, weekday]
        if not redo.any():
            break
        when[redo] = users.a_from[user[redo]] + (
            rng.random(int(redo.sum())) * (users.a_to - users.a_from)[user[redo]]
        ).astype(np.int64)
    hour = (
        np.where(
            rng.random(s) < 0.9,
            rng.normal(users.peak[user], _tp("hour_sd", t)),
            rng.random(s) * 24.0,
        )
        % 24.0
    )
    ts = (when // DAY) * DAY + (hour * 3600).astype(np.int64)
    ts = np.clip(ts, np.maximum(users.a_from[user], start_s), end_s - 3 * 3600)
    device = np.where(rng.random(s) < 0.8, users.device[user], rng.integers(0, 3, s))
    # focus sub-category, kept from the user's previous session with p_keep_focus
    order = np.lexsort((ts, user))
    user_o = user[order]
    fresh = _sample_subs(cat, users, user_o, rng)
    first = np.r_[True, user_o[1:] != user_o[:-1]] if s else np.zeros(0, dtype=bool)
    new = first | (rng.random(s) >= _tp("p_keep_focus", t[order]))
    src = np.maximum.accumulate(np.where(new, np.arange(s), 0)) if s else np.zeros(0, np.int64)
    focus = np.empty(s, dtype=np.int64)
    focus[order] = fresh[src]
    # the funnel counts
    search = (rng.random(s) < _tp("p_search", t)).astype(np.int64)
    n_view = np.minimum(1 + rng.poisson(_tp("depth", t) - 1.0), MAX_VIEWS)
    conv = rng.random(s) < _tp("p_conv", t)
    n_buy = np.where(conv, np.minimum(1 + rng.poisson(_tp("basket", t) - 1.0), n_view), 0)
    n_click = np.maximum(rng.binomial(n_view, _tp("p_click", t)), n_buy)
    n_cart = np.maximum(rng.binomial(n_click, _tp("p_cart", t)), n_buy)
    n_remove = rng.binomial(n_cart - n_buy, _tp("p_remove", t))
    n_fav = rng.binomial(n_view, _tp("p_fav", t))
    has_pairs = len(cat.anchors) > 0
    n_comp = rng.binomial(n_buy, cfg.pair_rate) if has_pairs else np.zeros(s, np.int64)
    # campaign exposures: uniform over the running campaigns the user is eligible for
    n_c = len(camps.start)
    camp = np.full(s, -1, dtype=np.int64)
    treated = np.zeros(s, dtype=bool)
    propensity = np.zeros(s)
    c_click = np.zeros(s, dtype=np.int64)
    c_claim = np.zeros(s, dtype=np.int64)
    c_convert = np.zeros(s, dtype=np.int64)
    c_redeem = np.zeros(s, dtype=np.int64)
    if n_c and s:
        ok = (
            (ts[:, None] >= camps.start[None, :])
            & (ts[:, None] < camps.end[None, :])
            & camps.eligible[user]
        )
        n_ok = ok.sum(axis=1)
        exposed = (n_ok > 0) & (rng.random(s) < cfg.impression_rate)
        k = (rng.random(s) * np.maximum(n_ok, 1)).astype(np.int64)
        chosen = (np.cumsum(ok, axis=1, dtype=np.int32) <= k[:, None]).sum(axis=1)
        camp = np.where(exposed, chosen, -1)
        treated = exposed & (rng.random(s) >= cfg.holdout_share)
        p_variant = np.where(treated, 1.0 - cfg.holdout_share, cfg.holdout_share)
        propensity = np.where(exposed, p_variant / np.maximum(n_ok, 1), 0.0)
        ci = np.maximum(camp, 0)
        p_conv = np.where(treated, camps.p_treated[user, ci], camps.p_control[user, ci])
        convert = exposed & (rng.random(s) < p_conv)
        coupon_like = np.array([k_ in _COUPON_LIKE for k_ in camps.kind])[ci]
        clicked = treated & (convert | (rng.random(s) < camps.p_click[user, ci]))
        claimed = clicked & coupon_like & (convert | (rng.random(s) < 0.5))
        c_click = clicked.astype(np.int64)
        c_claim = claimed.astype(np.int64)
        c_convert = convert.astype(np.int64)
        c_redeem = (treated & convert & coupon_like).astype(np.int64)
    n_events = (
        search
        + n_view
        + n_click
        + n_fav
        + n_cart
        + n_remove
        + n_buy
        + 3 * n_comp
        + (camp >= 0)
        + c_click
        + c_claim
        + 3 * c_convert
        + c_redeem
    ).astype(np.int64)
    return {
        "user": user,
        "ts": ts,
        "device": device,
        "focus": focus,
        "search": search,
        "n_view": n_view,
        "n_click": n_click,
        "n_cart": n_cart,
        "n_remove": n_remove,
        "n_fav": n_fav,
        "n_buy": n_buy,
        "n_comp": n_comp,
        "camp": camp,
        "treated": treated,
        "propensity": propensity,
        "c_click": c_click,
        "c_claim": c_claim,
        "c_convert": c_convert,
        "c_redeem": c_redeem,
        "n_events": n_events,
    }


def _build_plan(cfg: ShopConfig, cat: _Catalog, users: _Users, camps: _Campaigns) -> _Plan:
    """Draw sessions until they hold at least ``n_events`` events, then trim to exactly that."""
    target = cfg.n_events
    active_days = (users.a_to - users.a_from) / DAY
    t = users.type_idx
    per_session = (
        _tp("depth", t) * (1 + _tp("p_click", t) * (1 + _tp("p_cart", t)) + _tp("p_fav", t))
        + _tp("p_search", t)
        + _tp("p_conv", t) * _tp("basket", t) * (1 + 1.5 * cfg.pair_rate)
    )
    guess = float((_tp("rate", t) * users.act * active_days * per_session).sum())
    scale = 0.97 * target / max(guess, 1e-9)  # the guess runs ~10 % low: aim ~5 % over
    draw: dict[str, NDArray[Any]] = {}
    for attempt in range(20):
        draw = _draw_plan(cfg, cat, users, camps, scale, _rng(cfg, 1, attempt))
        total = int(draw["n_events"].sum())
        if total >= target:
            break
        scale *= 1.08 * target / max(total, 1)
    else:  # pragma: no cover - only for absurd configs
        raise ValidationError("n_events", "could not plan enough sessions", value=target)
    # trim: drop whole sessions in a random order, cut the one that crosses the target
    s = len(draw["user"])
    rng = _rng(cfg, 1, 999)
    perm = rng.permutation(s)
    cum = np.cumsum(draw["n_events"][perm])
    n_keep = np.zeros(s, dtype=np.int64)
    full = perm[cum <= target]
    n_keep[full] = draw["n_events"][full]
    n_full = len(full)
    if n_full < s:
        rest = target - (int(cum[n_full - 1]) if n_full else 0)
        n_keep[perm[n_full]] = rest
    keep = np.flatnonzero(n_keep > 0)
    order = keep[np.lexsort((draw["user"][keep], draw["ts"][keep]))]
    for name in list(draw):  # one column at a time: the old and new plan never coexist
        draw[name] = draw[name][order]
    return _Plan(n_keep=n_keep[order], **draw)
