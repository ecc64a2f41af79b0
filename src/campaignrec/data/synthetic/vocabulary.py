"""Vocabulary of the synthetic shop: shopper types and their parameters, the catalogue
(categories, brands, colours, regions) and the event and page codes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

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
