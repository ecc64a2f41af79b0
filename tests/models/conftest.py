"""Small seeded synthetic shops whose right answers are known.

``block_shop``: two disjoint blocks of shoppers and items. Shoppers in block A only ever touch
A items (running shoes, Chinese + English titles), shoppers in block B only B items (coffee mugs).
Any sensible model must recommend A items to A shoppers and B items to B shoppers. Each block also
has one item nobody has touched yet (``a_new`` / ``b_new``), and one known shopper per block has a
segment but no events (``ua_cold`` / ``ub_cold``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from campaignrec.data.interactions import Interactions

N_ITEMS_PER_BLOCK = 12
N_USERS_PER_BLOCK = 20
MIN_ITEMS_PER_USER, MAX_ITEMS_PER_USER = 3, 9
EVENT_TYPES = ("view", "click", "add_to_cart", "purchase")
START = pd.Timestamp("2026-01-01", tz="UTC")


def _items() -> pd.DataFrame:
    rows = []
    for i in range(N_ITEMS_PER_BLOCK):
        rows.append(
            {
                "item_id": f"a{i}",
                "title": f"Trail running shoe model {i} 轻便跑鞋",
                "description": "Light shoe for running on trails 透气 运动鞋",
                "category": "sports/shoes/running",
                "brand": "Swift",
                "tags": ["running", "outdoor"],
            }
        )
        rows.append(
            {
                "item_id": f"b{i}",
                "title": f"Ceramic coffee mug {i} 陶瓷咖啡杯",
                "description": "Mug for coffee and tea 厨房 杯子",
                "category": "home/kitchen/mugs",
                "brand": "Clay",
                "tags": ["kitchen", "coffee"],
            }
        )
    rows.append(
        {
            "item_id": "a_new",
            "title": "New trail running shoe 新款跑鞋",
            "description": "Running shoe for trails 运动鞋",
            "category": "sports/shoes/running",
            "brand": "Swift",
            "tags": ["running"],
        }
    )
    rows.append(
        {
            "item_id": "b_new",
            "title": "New coffee mug 新款咖啡杯",
            "description": "Mug for coffee 杯子",
            "category": "home/kitchen/mugs",
            "brand": "Clay",
            "tags": ["coffee"],
        }
    )
    return pd.DataFrame(rows)


def _users() -> pd.DataFrame:
    rows = [
        {"user_id": f"u{b}{n}", "region": "north" if b == "a" else "south"}
        for b in "ab"
        for n in range(N_USERS_PER_BLOCK)
    ]
    rows += [{"user_id": "ua_cold", "region": "north"}, {"user_id": "ub_cold", "region": "south"}]
    return pd.DataFrame(rows)


def _events(seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    t = 0
    for n in range(N_USERS_PER_BLOCK):
        for b in "ab":
            size = int(rng.integers(MIN_ITEMS_PER_USER, MAX_ITEMS_PER_USER + 1))
            items = rng.choice(N_ITEMS_PER_BLOCK, size, replace=False)
            for i in items:
                t += 1
                rows.append(
                    {
                        "user_id": f"u{b}{n}",
                        "item_id": f"{b}{i}",
                        "event_type": EVENT_TYPES[int(rng.integers(len(EVENT_TYPES)))],
                        "timestamp": START + pd.Timedelta(hours=t),
                    }
                )
    return pd.DataFrame(rows)


def make_block_shop(seed: int = 7) -> Interactions:
    """The two-block shop (see the module docstring)."""
    return Interactions.from_frame(_events(seed), items=_items(), users=_users())


@pytest.fixture(scope="session")
def block_shop() -> Interactions:
    return make_block_shop()


def block_of(item_id: str) -> str:
    """'a' or 'b': the block an item id belongs to."""
    return item_id[0]
