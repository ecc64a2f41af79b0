"""A small seeded synthetic shop, an item-KNN model on it and a fresh online state."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pytest

from campaignrec.data.interactions import Interactions
from campaignrec.data.synthetic import ShopConfig, generate_shop
from campaignrec.models.knn import ItemKNN
from campaignrec.ranking import Ranker, RankingConfig
from campaignrec.store.online import MemoryOnlineState


@dataclass(frozen=True)
class Shop:
    items: pd.DataFrame
    users: pd.DataFrame
    inter: Interactions
    model: ItemKNN


@pytest.fixture(scope="session")
def shop() -> Shop:
    s = generate_shop(ShopConfig(n_users=300, n_items=150, n_events=8000, seed=3))
    inter = Interactions.from_frame(s.events, items=s.items, users=s.users)
    return Shop(s.items, s.users, inter, ItemKNN().fit(inter))


def top(category: object) -> str:
    return str(category).split("/")[0]


def make_ranker(
    shop: Shop,
    *,
    items: pd.DataFrame | None = None,
    config: RankingConfig | None = None,
    online: MemoryOnlineState | None = None,
    **kwargs: object,
) -> Ranker:
    return Ranker(
        shop.model,
        shop.items if items is None else items,
        online if online is not None else MemoryOnlineState(),
        config=config,
        **kwargs,  # type: ignore[arg-type]
    )


def warm_user(shop: Shop, n: int = 0) -> str:
    return str(shop.inter.users.ids[shop.inter.active_users[n]])
