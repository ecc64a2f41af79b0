"""The truth tables and the public generation functions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from campaignrec.data.synthetic.campaigns import _build_campaigns, _Campaigns
from campaignrec.data.synthetic.config import ShopConfig, ShopTruth, SyntheticShop, _rng
from campaignrec.data.synthetic.plan import _build_plan, _tp
from campaignrec.data.synthetic.sessions import (
    _RAW,
    _block_events,
    _empty_events,
    _to_frame,
    _World,
)
from campaignrec.data.synthetic.vocabulary import _P_BRAND, _P_NEIGHBOUR, SHOPPER_TYPES, TYPE_PARAMS
from campaignrec.data.synthetic.world import _build_catalog, _build_users, _Catalog, _Users
from campaignrec.errors import ValidationError


# ---- truth and the public functions ---------------------------------------------------------------
def _build_truth(cfg: ShopConfig, cat: _Catalog, users: _Users, camps: _Campaigns) -> ShopTruth:
    type_names = np.array(SHOPPER_TYPES, dtype=object)
    idx = pd.Index(users.ids, name="user_id")
    user_type = pd.Series(type_names[users.type_idx], index=idx, name="user_type")
    tops = np.array(cat.top_names, dtype=object)
    taste = [
        tuple(dict.fromkeys(tops[row[:k]]))
        for row, k in zip(users.prefs, users.n_prefs, strict=True)
    ]
    user_taste = pd.Series(taste, index=idx, name="categories", dtype=object)
    anchors = np.flatnonzero(cat.partner >= 0)
    pairs = pd.DataFrame(
        {"item_a": cat.item_ids[anchors], "item_b": cat.item_ids[cat.partner[anchors]]}
    )
    n_u, n_c = camps.eligible.shape
    campaign_effect = pd.DataFrame(
        {
            "user_id": np.repeat(users.ids, n_c),
            "campaign_id": np.tile(np.array([f"c{c:03d}" for c in range(n_c)], dtype=object), n_u),
            "eligible": camps.eligible.ravel(),
            "p_click": camps.p_click.ravel(),
            "p_control": camps.p_control.ravel(),
            "p_treated": camps.p_treated.ravel(),
        }
    )
    campaign_effect["uplift"] = campaign_effect["p_treated"] - campaign_effect["p_control"]
    user_params = pd.DataFrame(
        {
            "user_id": users.ids,
            "user_type": type_names[users.type_idx],
            "activity": users.act,
            "peak_hour": users.peak % 24.0,
            "active_from": pd.to_datetime(users.a_from, unit="s", utc=True),
            "active_to": pd.to_datetime(users.a_to, unit="s", utc=True),
            "p_keep_focus": _tp("p_keep_focus", users.type_idx),
        }
    )
    type_params = pd.DataFrame(
        [
            {
                "user_type": name,
                **{
                    k: (list(v) if isinstance(v, tuple) else v)
                    for k, v in TYPE_PARAMS[name].__dict__.items()
                },
            }
            for name in SHOPPER_TYPES
        ]
    )
    for col in ("weekday", "active", "device", "tier"):
        type_params[col] = type_params[col].map(json.dumps)
    start_s = int(cfg.start.timestamp())
    item_category = pd.DataFrame(
        {
            "item_id": cat.item_ids,
            "category": np.array(cat.sub_names, dtype=object)[cat.sub],
            "popularity": cat.pop,
            "is_new": cat.created >= start_s,
        }
    )
    transition = {
        "p_stay": {n: TYPE_PARAMS[n].p_stay for n in SHOPPER_TYPES},
        "p_neighbour": _P_NEIGHBOUR,
        "neighbour_steps": [-2, -1, 1, 2],
        "p_same_brand": _P_BRAND,
        "p_taste": 0.85,
    }
    return ShopTruth(
        user_type=user_type,
        user_taste=user_taste,
        complementary_pairs=pairs,
        campaign_effect=campaign_effect,
        user_params=user_params,
        type_params=type_params,
        item_category=item_category,
        transition=transition,
    )


def _build_world(cfg: ShopConfig) -> _World:
    cat, items_df = _build_catalog(cfg, _rng(cfg, 0, 1))
    users, users_df = _build_users(cfg, cat, _rng(cfg, 0, 2))
    camps, campaigns_df = _build_campaigns(cfg, cat, users, _rng(cfg, 0, 3))
    plan = _build_plan(cfg, cat, users, camps)
    truth = _build_truth(cfg, cat, users, camps)
    return _World(cfg, cat, users, camps, plan, users_df, items_df, campaigns_df, truth)


def _iter_blocks(world: _World, chunk_rows: int) -> Iterator[pd.DataFrame]:
    pending: list[dict[str, NDArray[Any]]] = []
    rows = 0
    for b in range(world.n_blocks):
        raw = _block_events(world, b)
        pending.append(raw)
        rows += len(raw["g"])
        if rows >= chunk_rows:
            yield _merge(world, pending)
            pending, rows = [], 0
    if pending:
        yield _merge(world, pending)


def _merge(world: _World, blocks: list[dict[str, NDArray[Any]]]) -> pd.DataFrame:
    """One chunk: blocks concatenated in order, stably sorted by timestamp, then turned to rows."""
    raw = {k: np.concatenate([blk[k] for blk in blocks]) for k in _RAW}
    order = np.argsort(raw["ts"], kind="stable")
    return _to_frame(world, {k: v[order] for k, v in raw.items()})


def iter_events(cfg: ShopConfig, chunk_rows: int = 250_000) -> Iterator[pd.DataFrame]:
    """Stream the shop's events in chunks of about ``chunk_rows`` rows, in bounded memory.

    Each chunk holds whole blocks of sessions (in start-time order) and is sorted by timestamp.
    Concatenating the chunks and stably sorting by ``timestamp`` gives exactly
    ``generate_shop(cfg).events``, whatever ``chunk_rows`` is.

    Parameters
    ----------
    cfg
        The shop configuration.
    chunk_rows
        Target rows per chunk (a chunk may exceed it by up to one block of sessions).

    Yields
    ------
    pandas.DataFrame
        Events with the canonical columns (:data:`campaignrec.data.schema.EVENT_COLUMNS`).
    """
    if chunk_rows < 1:
        raise ValidationError("chunk_rows", "must be >= 1", value=chunk_rows)
    yield from _iter_blocks(_build_world(cfg), chunk_rows)


def generate_shop(cfg: ShopConfig | None = None, *, include_events: bool = True) -> SyntheticShop:
    """Generate a whole synthetic shop in memory.

    Parameters
    ----------
    cfg
        Sizes, seed and knobs (``None``: the defaults of :class:`ShopConfig`).
    include_events
        ``False`` skips the events (an empty ``events`` frame): the tables and the truth of a shop
        too big for memory, whose events are then streamed with :func:`iter_events`.

    Returns
    -------
    SyntheticShop
        Canonical ``users``, ``items``, ``campaigns`` and ``events`` (sorted by timestamp, exactly
        ``cfg.n_events`` rows) and the planted :class:`ShopTruth`.

    Examples
    --------
    >>> shop = generate_shop(ShopConfig(n_users=100, n_items=60, n_events=2_000, seed=3))
    >>> sorted(shop.truth.user_type.unique())[:2]
    ['bargain_hunter', 'dormant']
    """
    cfg = cfg or ShopConfig()
    world = _build_world(cfg)
    frames = list(_iter_blocks(world, chunk_rows=2**62)) if include_events else []
    events = frames[0] if frames else _empty_events()
    return SyntheticShop(
        config=cfg,
        users=world.users_df,
        items=world.items_df,
        campaigns=world.campaigns_df,
        events=events,
        truth=world.truth,
    )
