"""A synthetic shop whose right answers are known: users, items, campaigns, events and the truth.

The generator plants the structure that the rest of campaignrec is meant to find, and records it
in :class:`ShopTruth` so that tests and benchmarks can check that it was found:

* **shopper types** (``bargain_hunter``, ``loyal_big_spender``, ``window_shopper``,
  ``new_browser``, ``dormant``) that differ in visit frequency, browsing depth, conversion, basket
  size, price level, discount sensitivity, time of day, weekday rhythm and active period;
* **tastes**: each user prefers two or three top-level categories;
* **sequences**: within a session the next item tends to stay in the previous item's
  sub-category, often a price-adjacent neighbour of it; a user's sessions keep their focus
  sub-category with a fixed probability;
* **complementary pairs**: buying an anchor item often puts its partner in the same order;
* **campaign effects**: randomized exposures (``policy="uniform_random"``, a ``control``
  holdout) whose responses are drawn from true per-(user, campaign) probabilities with and
  without the campaign, so that uplift can be measured against the truth.

Generation is vectorised numpy in two phases: a *session plan* (one row per session, every
random count of the session decided there, so the total number of events is known before any
event is built and trimmed to exactly ``n_events``), then *blocks* of 512 sessions expanded into
events, each block with its own seed. :func:`iter_events` streams blocks in bounded memory;
:func:`generate_shop` concatenates the same blocks, so both give identical events (the streamed
chunks, concatenated and stably sorted by timestamp, equal ``generate_shop(cfg).events``).

Example
-------
>>> from campaignrec.data.synthetic import ShopConfig, generate_shop
>>> shop = generate_shop(ShopConfig(n_users=200, n_items=100, n_events=5_000, seed=1))
>>> len(shop.events)
5000
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from numpy.typing import NDArray

from campaignrec.data.schema import (
    CAMPAIGN_COLUMNS,
    CAMPAIGN_TYPES,
    EVENT_COLUMNS,
    ITEM_COLUMNS,
    USER_COLUMNS,
)
from campaignrec.errors import ValidationError

__all__ = [
    "SHOPPER_TYPES",
    "ShopConfig",
    "ShopTruth",
    "SyntheticShop",
    "generate_shop",
    "iter_events",
    "write_shop",
]

DAY = 86_400
BLOCK_SESSIONS = 512  # sessions per generation block (fixed: chunking never changes results)
MAX_VIEWS = 40
# given that the next view stays in the sub-category: a price-adjacent neighbour of the previous
# item, else an item of the same brand, else a fresh popularity-and-price draw
_P_NEIGHBOUR = 0.4
_P_BRAND = 0.3

# ---- shopper types ------------------------------------------------------------------------------
SHOPPER_TYPES: tuple[str, ...] = (
    "bargain_hunter",
    "loyal_big_spender",
    "window_shopper",
    "new_browser",
    "dormant",
)


@dataclass(frozen=True)
class _TypeParams:
    """Behaviour of one shopper type (all per session unless stated)."""

    share: float  # default share of users
    rate: float  # sessions per active day (relative; rescaled to hit n_events)
    depth: float  # mean number of item views
    p_click: float  # a viewed item is clicked
    p_cart: float  # a clicked item is added to the cart
    p_remove: float  # a carted, unbought item is removed again
    p_conv: float  # the session ends with an order
    basket: float  # mean order lines when ordering
    p_fav: float  # a viewed item is favorited
    p_search: float  # the session starts with a search
    price_beta: float  # item choice weight ~ (price / median)^-beta: >0 cheap, <0 dear
    p_stay: float  # next view stays in the previous item's sub-category
    p_keep_focus: float  # a session keeps the previous session's focus sub-category
    hour: float  # peak hour of day (UTC)
    hour_sd: float
    weekday: tuple[float, ...]  # relative weight of Mon..Sun
    active: tuple[float, float]  # active part of the window (fractions), see _users
    extra_qty: float  # mean extra quantity per order line (Poisson)
    device: tuple[float, float, float]  # P(app, mobile_web, desktop)
    # campaign response (per exposure session)
    p_base: float  # P(buy a covered item) without the campaign
    sens: float  # uplift scale: >0 persuadable, ~0 sure thing / lost cause, <0 sleeping dog
    ctr: float  # P(click the banner) when shown
    tier: tuple[float, float, float, float]  # P(basic, silver, gold, platinum)


TYPE_PARAMS: dict[str, _TypeParams] = {
    "bargain_hunter": _TypeParams(
        share=0.25,
        rate=0.45,
        depth=8,
        p_click=0.35,
        p_cart=0.35,
        p_remove=0.35,
        p_conv=0.3,
        basket=1.3,
        p_fav=0.03,
        p_search=0.65,
        price_beta=2.5,
        p_stay=0.6,
        p_keep_focus=0.5,
        hour=12.5,
        hour_sd=1.2,
        weekday=(1.2, 1.2, 1.2, 1.2, 1.1, 0.6, 0.5),
        active=(0.0, 1.0),
        extra_qty=0.2,
        device=(0.3, 0.3, 0.4),
        p_base=0.04,
        sens=0.4,
        ctr=0.12,
        tier=(0.55, 0.35, 0.08, 0.02),
    ),
    "loyal_big_spender": _TypeParams(
        share=0.15,
        rate=0.6,
        depth=5,
        p_click=0.5,
        p_cart=0.55,
        p_remove=0.05,
        p_conv=0.55,
        basket=2.8,
        p_fav=0.05,
        p_search=0.2,
        price_beta=-2.0,
        p_stay=0.7,
        p_keep_focus=0.6,
        hour=20.5,
        hour_sd=1.5,
        weekday=(0.8, 0.8, 0.8, 0.9, 1.1, 1.4, 1.4),
        active=(0.0, 1.0),
        extra_qty=0.6,
        device=(0.7, 0.2, 0.1),
        p_base=0.50,
        sens=0.04,
        ctr=0.08,
        tier=(0.05, 0.15, 0.45, 0.35),
    ),
    "window_shopper": _TypeParams(
        share=0.25,
        rate=0.5,
        depth=15,
        p_click=0.25,
        p_cart=0.12,
        p_remove=0.5,
        p_conv=0.03,
        basket=1.0,
        p_fav=0.12,
        p_search=0.3,
        price_beta=0.0,
        p_stay=0.45,
        p_keep_focus=0.3,
        hour=23.0,
        hour_sd=1.2,
        weekday=(1, 1, 1, 1, 1, 1, 1),
        active=(0.0, 1.0),
        extra_qty=0.0,
        device=(0.2, 0.7, 0.1),
        p_base=0.01,
        sens=0.01,
        ctr=0.05,
        tier=(0.6, 0.3, 0.08, 0.02),
    ),
    "new_browser": _TypeParams(
        share=0.15,
        rate=0.5,
        depth=4,
        p_click=0.3,
        p_cart=0.25,
        p_remove=0.2,
        p_conv=0.12,
        basket=1.1,
        p_fav=0.03,
        p_search=0.5,
        price_beta=0.5,
        p_stay=0.5,
        p_keep_focus=0.4,
        hour=8.5,
        hour_sd=1.2,
        weekday=(1, 1, 1, 1, 1, 1, 1),
        active=(0.45, 0.85),
        extra_qty=0.1,
        device=(0.2, 0.6, 0.2),
        p_base=0.05,
        sens=0.2,
        ctr=0.1,
        tier=(0.9, 0.1, 0.0, 0.0),
    ),
    "dormant": _TypeParams(
        share=0.20,
        rate=0.7,
        depth=5,
        p_click=0.35,
        p_cart=0.35,
        p_remove=0.1,
        p_conv=0.3,
        basket=1.5,
        p_fav=0.02,
        p_search=0.3,
        price_beta=0.0,
        p_stay=0.6,
        p_keep_focus=0.5,
        hour=16.5,
        hour_sd=2.0,
        weekday=(1, 1, 1, 1, 1, 1.1, 1.1),
        active=(0.0, 0.3),
        extra_qty=0.2,
        device=(0.3, 0.3, 0.4),
        p_base=0.06,
        sens=-0.5,
        ctr=0.02,
        tier=(0.5, 0.3, 0.15, 0.05),
    ),
}

# ---- catalogue vocabulary -------------------------------------------------------------------------
# top category -> [(sub slug, noun en, noun zh, median price CNY, search query en, query zh)]
_CATALOG: dict[str, list[tuple[str, str, str, float, str, str]]] = {
    "apparel": [
        ("shoes", "running shoes", "跑鞋", 399, "running shoes", "跑鞋"),
        ("tshirts", "T-shirt", "T恤", 89, "cotton t-shirt", "纯棉T恤"),
        ("jackets", "jacket", "夹克", 459, "rain jacket", "防风夹克"),
        ("socks", "socks", "袜子", 29, "sport socks", "运动袜"),
    ],
    "electronics": [
        ("phones", "smartphone", "智能手机", 2999, "5g phone", "5G手机"),
        (
            "headphones",
            "wireless headphones",
            "无线耳机",
            599,
            "noise cancelling headphones",
            "降噪耳机",
        ),
        ("chargers", "fast charger", "快充充电器", 99, "usb-c charger", "快充头"),
        ("cases", "phone case", "手机壳", 49, "phone case", "手机壳"),
    ],
    "home": [
        ("cookware", "frying pan", "平底锅", 199, "non-stick pan", "不粘锅"),
        ("bedding", "duvet cover", "被套", 259, "cotton bedding", "纯棉被套"),
        ("lamps", "desk lamp", "台灯", 159, "led desk lamp", "护眼台灯"),
    ],
    "beauty": [
        ("skincare", "face cream", "面霜", 299, "moisturizer", "保湿面霜"),
        ("makeup", "lipstick", "口红", 189, "matte lipstick", "哑光口红"),
        ("perfume", "perfume", "香水", 499, "floral perfume", "花香香水"),
    ],
    "sports": [
        ("yoga", "yoga mat", "瑜伽垫", 129, "yoga mat", "瑜伽垫"),
        ("bottles", "water bottle", "运动水壶", 59, "sports bottle", "运动水壶"),
        ("dumbbells", "dumbbell set", "哑铃套装", 239, "adjustable dumbbells", "可调哑铃"),
    ],
    "food": [
        ("coffee", "coffee beans", "咖啡豆", 89, "arabica coffee", "咖啡豆"),
        ("tea", "green tea", "绿茶", 119, "green tea", "龙井绿茶"),
        ("snacks", "mixed nuts", "坚果零食", 49, "healthy snacks", "每日坚果"),
    ],
    "books": [
        ("novels", "novel", "小说", 45, "bestseller novel", "畅销小说"),
        ("cookbooks", "cookbook", "菜谱", 68, "easy recipes", "家常菜谱"),
        ("kids", "picture book", "绘本", 39, "picture book", "儿童绘本"),
    ],
    "toys": [
        ("blocks", "building blocks", "积木", 199, "building blocks", "拼装积木"),
        ("plush", "plush toy", "毛绒玩具", 79, "plush bear", "毛绒熊"),
        ("puzzles", "jigsaw puzzle", "拼图", 59, "1000 piece puzzle", "千片拼图"),
    ],
}
_N_SUBS = sum(len(subs) for subs in _CATALOG.values())  # smallest catalogue: one item per sub
# sub-category -> its complementary sub-category (where planted pairs come from)
_COMPLEMENT = {
    "shoes": "socks",
    "tshirts": "jackets",
    "jackets": "tshirts",
    "socks": "shoes",
    "phones": "cases",
    "headphones": "chargers",
    "chargers": "phones",
    "cases": "phones",
    "cookware": "cookbooks",
    "bedding": "lamps",
    "lamps": "bedding",
    "skincare": "makeup",
    "makeup": "perfume",
    "perfume": "skincare",
    "yoga": "bottles",
    "bottles": "yoga",
    "dumbbells": "bottles",
    "coffee": "snacks",
    "tea": "snacks",
    "snacks": "coffee",
    "novels": "tea",
    "cookbooks": "cookware",
    "kids": "puzzles",
    "blocks": "puzzles",
    "plush": "kids",
    "puzzles": "blocks",
}
_BRANDS = {
    "apparel": ["Northpeak", "Urbanthread", "Stride", "Lanting"],
    "electronics": ["Voltic", "Lumio", "Sonara", "Xinghe"],
    "home": ["Hearthly", "Nestwell", "Mingjia"],
    "beauty": ["Glowe", "Lotuscare", "Meiyan"],
    "sports": ["Flexa", "Peakfit", "Yundong"],
    "food": ["Morning Bean", "Cha Shan", "Nutty"],
    "books": ["Inkwell Press", "Bamboo Books"],
    "toys": ["Brickly", "Cuddle Co", "Wanju"],
}
_COLORS = [
    ("red", "红色"),
    ("blue", "蓝色"),
    ("black", "黑色"),
    ("white", "白色"),
    ("green", "绿色"),
    ("grey", "灰色"),
    ("pink", "粉色"),
    ("yellow", "黄色"),
]
_ADJS = [
    ("classic", "经典"),
    ("lightweight", "轻便"),
    ("premium", "高端"),
    ("compact", "小巧"),
    ("eco", "环保"),
    ("deluxe", "豪华"),
    ("everyday", "日常"),
    ("pro", "专业"),
]
_REGIONS = {
    "north": ["Beijing", "Tianjin", "Shenyang"],
    "east": ["Shanghai", "Hangzhou", "Nanjing"],
    "south": ["Guangzhou", "Shenzhen", "Xiamen"],
    "west": ["Chengdu", "Chongqing", "Xi'an"],
    "overseas": ["Singapore", "London", "Sydney"],
}
_REGION_SHARE = (0.24, 0.3, 0.24, 0.16, 0.06)
TIERS = ("basic", "silver", "gold", "platinum")
DEVICES = ("app", "mobile_web", "desktop")

# event-type codes used while building a block
_ET = (
    "view", "click", "add_to_cart", "remove_from_cart", "purchase", "search", "favorite",
    "campaign_impression", "campaign_click", "coupon_claim", "coupon_redeem",
)  # fmt: skip
_E = {name: i for i, name in enumerate(_ET)}
_PAGE_OF = np.array(
    ["listing", "product", "product", "cart", "checkout", "search", "product",
     "home", "campaign", "campaign", "checkout"], dtype=object,
)  # fmt: skip
_PAGES = ("listing", "product", "cart", "checkout", "search", "home", "campaign", "search_results")
_PAGE_CODE = np.array([_PAGES.index(p) for p in _PAGE_OF], dtype=np.int64)
_PAGE_SEARCH = _PAGES.index("search_results")
_PAGES_PA = pa.array(_PAGES)
_ET_PA = pa.array(_ET)
_DEVICES_PA = pa.array(DEVICES)
_POLICY_PA = pa.array(["uniform_random"])
_VARIANT_PA = pa.array(["treatment", "control"])
_MEAN_GAP = np.array([12, 25, 20, 15, 40, 8, 10, 3, 5, 6, 2], dtype=np.float64)  # seconds
# the dtype pandas gives text columns (object before pandas 3, "str" from pandas 3 on)
TEXT_DTYPE = pd.Series(["text"]).dtype
TIME_DTYPE = "datetime64[us, UTC]"
_EVENT_TEXT = (
    "event_id", "user_id", "event_type", "item_id", "campaign_id", "query", "session_id",
    "order_id", "device", "page", "policy", "variant",
)  # fmt: skip
_COUPON_LIKE = frozenset({"coupon", "member_exclusive", "bundle", "free_shipping", "custom"})


# ---- configuration and results ---------------------------------------------------------------------
@dataclass(frozen=True)
class ShopConfig:
    """Size and knobs of a synthetic shop.

    Parameters
    ----------
    n_users, n_items, n_events, n_campaigns, days
        Sizes. ``n_events`` is exact; ``n_items`` >= 26 (one per sub-category); ``n_campaigns`` >= 7
        covers every campaign type.
    seed
        Everything is determined by the config: same config, identical frames.
    start
        Start of the observed window (timezone-aware; converted to UTC).
    type_shares
        Share of each of :data:`SHOPPER_TYPES` (same order); ``None`` uses the defaults
        (0.25, 0.15, 0.25, 0.15, 0.20).
    impression_rate
        Probability that a session with at least one eligible, running campaign logs an exposure.
    holdout_share
        Share of exposures assigned to the ``control`` variant (the offer is not shown).
    pair_rate
        Probability that an order line of a pair's anchor item brings the partner into the order.
    n_pairs
        Number of planted complementary pairs (``None``: ``n_items // 8``).
    new_item_share
        Share of items created during the window ("new arrivals").
    currency
        ISO currency code of prices.
    """

    n_users: int = 2_000
    n_items: int = 500
    n_events: int = 100_000
    n_campaigns: int = 12
    days: int = 60
    seed: int = 0
    start: datetime = datetime(2025, 1, 1, tzinfo=UTC)
    type_shares: tuple[float, ...] | None = None
    impression_rate: float = 0.3
    holdout_share: float = 0.3
    pair_rate: float = 0.5
    n_pairs: int | None = None
    new_item_share: float = 0.1
    currency: str = "CNY"

    def __post_init__(self) -> None:
        for name, low in (
            ("n_users", 1),
            ("n_items", _N_SUBS),
            ("n_events", 0),
            ("n_campaigns", 0),
        ):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or value < low:
                raise ValidationError(name, f"must be an integer >= {low}", value=value)
        if not isinstance(self.days, int | np.integer) or self.days < 1:
            raise ValidationError("days", "must be an integer >= 1", value=self.days)
        if not isinstance(self.start, datetime) or self.start.tzinfo is None:
            raise ValidationError(
                "start",
                "must be a timezone-aware datetime",
                value=self.start,
                hint="pass e.g. datetime(2025, 1, 1, tzinfo=UTC)",
            )
        object.__setattr__(self, "start", self.start.astimezone(UTC))
        if self.type_shares is not None:
            shares = tuple(float(x) for x in self.type_shares)
            if len(shares) != len(SHOPPER_TYPES) or min(shares) < 0 or sum(shares) <= 0:
                raise ValidationError(
                    "type_shares",
                    f"needs {len(SHOPPER_TYPES)} non-negative shares "
                    f"(order: {', '.join(SHOPPER_TYPES)})",
                    value=self.type_shares,
                )
            object.__setattr__(self, "type_shares", shares)
        for name in ("impression_rate", "holdout_share", "pair_rate", "new_item_share"):
            value = getattr(self, name)
            if not 0.0 <= float(value) <= 1.0:
                raise ValidationError(name, "must be a probability in [0, 1]", value=value)
        if not 0.0 < self.holdout_share < 1.0 and self.n_campaigns > 0:
            raise ValidationError(
                "holdout_share",
                "must be strictly between 0 and 1 (both variants are logged)",
                value=self.holdout_share,
            )
        if self.n_pairs is not None and self.n_pairs < 0:
            raise ValidationError("n_pairs", "must be >= 0 or None", value=self.n_pairs)
        if len(self.currency) != 3:
            raise ValidationError("currency", "must be a 3-letter ISO code", value=self.currency)

    @property
    def end(self) -> datetime:
        """End of the observed window (exclusive)."""
        return self.start + timedelta(days=self.days)

    def shares(self) -> NDArray[np.float64]:
        """Normalised type shares in :data:`SHOPPER_TYPES` order."""
        raw = self.type_shares or tuple(TYPE_PARAMS[t].share for t in SHOPPER_TYPES)
        arr = np.asarray(raw, dtype=np.float64)
        return arr / arr.sum()


@dataclass(frozen=True, eq=False)
class ShopTruth:
    """What the generator planted (documented in docs/synthetic.md).

    Attributes
    ----------
    user_type
        ``user_id -> shopper type name``.
    user_taste
        ``user_id -> tuple of preferred top-level categories`` (e.g. ``("apparel", "sports")``).
    complementary_pairs
        Columns ``item_a`` (anchor), ``item_b`` (partner): buying ``item_a`` puts ``item_b`` in
        the same order with probability ``ShopConfig.pair_rate``.
    campaign_effect
        One row per (user, campaign): ``eligible`` (audience rule and marketing consent),
        ``p_click`` (banner click when shown), ``p_control`` / ``p_treated`` (probability of buying a
        covered item in an exposure session without / with the campaign) and ``uplift``.
    user_params
        Per-user latent parameters: type, activity multiplier, peak hour, active window
        (``active_from`` / ``active_to`` UTC), focus-keeping probability.
    type_params
        The behaviour table of each shopper type (one row per type).
    item_category
        ``item_id -> sub-category path`` plus ``popularity`` (the latent weight) and ``is_new``.
    transition
        The sequential process as numbers: ``p_stay`` per type; given a stay, ``p_neighbour``
        (a price-adjacent neighbour of the previous item, ``neighbour_steps`` positions away) and
        ``p_same_brand`` (an item of the previous item's brand); ``p_taste`` (a new
        sub-category comes from the user's preferred categories).
    """

    user_type: pd.Series
    user_taste: pd.Series
    complementary_pairs: pd.DataFrame
    campaign_effect: pd.DataFrame
    user_params: pd.DataFrame
    type_params: pd.DataFrame
    item_category: pd.DataFrame
    transition: Mapping[str, Any] = field(default_factory=dict)

    def frames(self) -> dict[str, pd.DataFrame]:
        """Every truth table as a DataFrame (what :func:`write_shop` saves under ``truth/``)."""
        taste = self.user_taste.map(lambda t: "|".join(t))
        return {
            "user_type": self.user_type.rename("user_type").reset_index(),
            "user_taste": taste.rename("categories").reset_index(),
            "complementary_pairs": self.complementary_pairs,
            "campaign_effect": self.campaign_effect,
            "user_params": self.user_params,
            "type_params": self.type_params,
            "item_category": self.item_category,
        }


@dataclass(frozen=True, eq=False)
class SyntheticShop:
    """A generated shop: canonical tables (see :mod:`campaignrec.data.schema`) and its truth."""

    config: ShopConfig
    users: pd.DataFrame
    items: pd.DataFrame
    campaigns: pd.DataFrame
    events: pd.DataFrame
    truth: ShopTruth


# ---- helpers ------------------------------------------------------------------------------------------
def _rng(cfg: ShopConfig, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(cfg.seed) & 0xFFFFFFFF, *key]))


def _ids(prefix: str, n: int) -> NDArray[np.object_]:
    width = max(4, len(str(max(n - 1, 0))))
    return np.array([f"{prefix}{i:0{width}d}" for i in range(n)], dtype=object)


def _segment_cdf(group: NDArray[np.int64], weight: NDArray[np.float64], n_groups: int) -> Any:
    """Keys for sampling within groups: ``searchsorted(keys, g + u)`` picks an element of group g.

    ``group`` must be sorted. Returns the key array (group index + cumulative share within group).
    """
    w = np.asarray(weight, dtype=np.float64)
    total = np.bincount(group, weights=w, minlength=n_groups)
    cum = np.cumsum(w)
    start = np.concatenate([[0.0], np.cumsum(total)])[group]
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(total[group] > 0, (cum - start) / total[group], 1.0)
    return group + np.minimum(share, 1.0)


def _pick_in_group(keys: NDArray[np.float64], g: NDArray[np.int64], u: NDArray[np.float64]) -> Any:
    idx = np.searchsorted(keys, g + u * (1.0 - 1e-12), side="right")
    return np.minimum(idx, len(keys) - 1)


def _choice_rows(probs: NDArray[np.float64], u: NDArray[np.float64]) -> Any:
    """Row-wise categorical draw: index of the first cumulative prob above u."""
    cum = np.cumsum(probs, axis=1)
    cum /= cum[:, -1:]
    return (u[:, None] > cum).sum(axis=1)


def _rank_within(session: NDArray[np.int64], key: NDArray[np.float64]) -> Any:
    """Rank (0-based) of each element's ``key`` inside its session (session-major layout)."""
    order = np.lexsort((key, session))
    first = np.searchsorted(session[order], session[order], side="left")
    rank = np.empty(len(session), dtype=np.int64)
    rank[order] = np.arange(len(session)) - first
    return rank


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


def _eval_rule_vec(rule: Any, attrs: pd.DataFrame) -> NDArray[np.bool_]:
    """Vectorised evaluation of the rule forms the generator writes (agrees with rules.evaluate)."""
    n = len(attrs)
    if rule is None:
        return np.ones(n, dtype=bool)
    if "all" in rule:
        out = np.ones(n, dtype=bool)
        for child in rule["all"]:
            out &= _eval_rule_vec(child, attrs)
        return out
    if "any" in rule:
        out = np.zeros(n, dtype=bool)
        for child in rule["any"]:
            out |= _eval_rule_vec(child, attrs)
        return out
    if "not" in rule:
        return ~_eval_rule_vec(rule["not"], attrs)
    col = attrs[rule["field"]].to_numpy()
    op, v = rule["op"], rule.get("value")
    if op == "eq":
        return np.asarray(col == v, dtype=bool)
    if op == "ne":
        return np.asarray(col != v, dtype=bool)
    if op == "in":
        return np.isin(col, v)
    if op == "not_in":
        return ~np.isin(col, v)
    if op == "between":
        return np.asarray((col >= v[0]) & (col <= v[1]), dtype=bool)
    if op == "gte":
        return np.asarray(col >= v, dtype=bool)
    if op == "lte":
        return np.asarray(col <= v, dtype=bool)
    if op == "lt":
        return np.asarray(col < v, dtype=bool)
    if op == "gt":
        return np.asarray(col > v, dtype=bool)
    raise ValidationError("audience.op", "not supported by the synthetic generator", value=op)


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
        eligible[:, c] = _eval_rule_vec(rows[c]["audience"], users.attrs) & consent
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


# ---- files ---------------------------------------------------------------------------------------------
_LIST_COLUMNS = ("tags", "item_ids", "categories")
_DICT_COLUMNS = ("attributes", "audience")


def _canonical_text(frame: pd.DataFrame) -> pd.DataFrame:
    """The canonical CSV layout: lists joined with '|', dicts as JSON, ISO UTC times, true/false."""
    out = frame.copy()
    for name in out.columns:
        col = out[name]
        if name in _LIST_COLUMNS:
            out[name] = col.map(lambda v: "|".join(str(x) for x in v) if isinstance(v, list) else v)
        elif name in _DICT_COLUMNS:
            out[name] = col.map(
                lambda v: (
                    json.dumps(v, ensure_ascii=False, sort_keys=True)
                    if isinstance(v, dict)
                    else None
                )
            )
        elif isinstance(col.dtype, pd.DatetimeTZDtype):
            text = col.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            out[name] = text.where(col.notna(), None)
        elif pd.api.types.is_bool_dtype(col.dtype):
            out[name] = np.where(col.to_numpy(), "true", "false")
    return out


def _for_parquet(frame: pd.DataFrame) -> pd.DataFrame:
    """Parquet keeps lists as list columns; dicts become JSON text (schemas differ per row)."""
    out = frame.copy()
    for name in out.columns:
        if name in _DICT_COLUMNS:
            out[name] = out[name].map(
                lambda v: (
                    json.dumps(v, ensure_ascii=False, sort_keys=True)
                    if isinstance(v, dict)
                    else None
                )
            )
    return out


def _write_table(frame: pd.DataFrame, path: Path, fmt: str) -> None:
    if fmt == "csv":
        _canonical_text(frame).to_csv(path, index=False)
    else:
        _for_parquet(frame).to_parquet(path, index=False)


def write_shop(
    shop: SyntheticShop | ShopConfig,
    out_dir: str | Path,
    fmt: str = "csv",
    *,
    chunk_rows: int = 250_000,
) -> dict[str, Path]:
    """Write a shop as canonical files: ``users``, ``items``, ``campaigns``, ``events`` + ``truth/``.

    Parameters
    ----------
    shop
        A generated :class:`SyntheticShop`, or a :class:`ShopConfig`: then the events are generated
        and written chunk by chunk, so memory stays bounded whatever ``n_events`` is.
    out_dir
        Folder to write into (created when missing; existing files are replaced).
    fmt
        ``"csv"`` (header row, canonical column names, lists joined with ``|``, dicts as JSON,
        times as ``YYYY-MM-DDTHH:MM:SSZ``) or ``"parquet"`` (lists as list columns, dicts as JSON).
    chunk_rows
        Rows per written chunk when streaming from a config.

    Returns
    -------
    dict
        Name (``users``, ``items``, ``campaigns``, ``events``, ``truth/<table>``) -> path written.
        The truth tables are always Parquet.
    """
    if fmt not in ("csv", "parquet"):
        raise ValidationError("fmt", "must be 'csv' or 'parquet'", value=fmt)
    out = Path(out_dir)
    (out / "truth").mkdir(parents=True, exist_ok=True)
    if isinstance(shop, ShopConfig):
        world = _build_world(shop)
        tables = {"users": world.users_df, "items": world.items_df, "campaigns": world.campaigns_df}
        truth = world.truth
        chunks: Any = _iter_blocks(world, chunk_rows)
        transition = world.truth.transition
    else:
        tables = {"users": shop.users, "items": shop.items, "campaigns": shop.campaigns}
        truth = shop.truth
        chunks = (
            shop.events.iloc[i : i + chunk_rows]
            for i in range(0, max(len(shop.events), 1), chunk_rows)
        )
        transition = shop.truth.transition
    written: dict[str, Path] = {}
    for name, frame in tables.items():
        path = out / f"{name}.{fmt}"
        _write_table(frame, path, fmt)
        written[name] = path
    events_path = out / f"events.{fmt}"
    _write_events(chunks, events_path, fmt)
    written["events"] = events_path
    for name, frame in truth.frames().items():
        path = out / "truth" / f"{name}.parquet"
        frame.to_parquet(path, index=False)
        written[f"truth/{name}"] = path
    meta = out / "truth" / "transition.json"
    meta.write_text(json.dumps(transition, indent=2, sort_keys=True), encoding="utf-8")
    written["truth/transition"] = meta
    return written


def _write_events(chunks: Iterator[pd.DataFrame], path: Path, fmt: str) -> None:
    if fmt == "csv":
        with path.open("wb") as fh:
            header = True
            for chunk in chunks:
                fh.write(_events_csv(chunk, header=header))
                header = False
            if header:
                fh.write(_events_csv(_empty_events(), header=True))
        return
    writer: Any = None
    schema: Any = None
    try:
        for chunk in chunks:
            table = pa.Table.from_pandas(chunk, preserve_index=False, schema=schema)
            if writer is None:
                schema = _events_schema(table.schema)
                table = table.cast(schema)
                writer = pq.ParquetWriter(path, schema)
            writer.write_table(table)
        if writer is None:
            _empty_events().to_parquet(path, index=False)
    finally:
        if writer is not None:
            writer.close()


def _events_csv(chunk: pd.DataFrame, *, header: bool) -> bytes:
    """One chunk of events in the canonical CSV layout (pyarrow's writer; pandas when quoting)."""
    table = pa.Table.from_pandas(chunk, preserve_index=False)
    table = table.cast(_events_schema(table.schema))
    at = table.schema.get_field_index("timestamp")
    seconds = pc.cast(table.column(at), pa.timestamp("s", tz="UTC"))
    table = table.set_column(at, "timestamp", pc.strftime(seconds, format="%Y-%m-%dT%H:%M:%SZ"))
    out = pa.BufferOutputStream()
    options = pacsv.WriteOptions(include_header=header, quoting_style="none", quoting_header="none")
    try:
        pacsv.write_csv(table, out, options)
    except pa.ArrowInvalid:  # a value needs quoting (a comma or quote in a query, say)
        return _canonical_text(chunk).to_csv(index=False, header=header).encode("utf-8")
    return bytes(out.getvalue())


def _events_schema(inferred: Any) -> Any:
    """A fixed schema for every chunk (an all-null column in the first chunk must not pin it)."""
    text = {
        "event_id",
        "user_id",
        "event_type",
        "item_id",
        "campaign_id",
        "query",
        "session_id",
        "order_id",
        "device",
        "page",
        "policy",
        "variant",
    }
    fields = []
    for f in inferred:
        if f.name in text:
            fields.append(pa.field(f.name, pa.string()))
        elif f.name in ("quantity", "price", "revenue", "propensity"):
            fields.append(pa.field(f.name, pa.float64()))
        elif f.name == "position":
            fields.append(pa.field(f.name, pa.int64()))
        else:
            fields.append(f)
    return pa.schema(fields)
