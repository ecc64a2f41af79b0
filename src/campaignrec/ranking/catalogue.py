"""The catalogue as arrays aligned with a model's items: category, brand, price, stock, hidden, title.

Built once per (model, items table); every rule and explanation reads these arrays, so a request
never touches the DataFrame. Optional columns (``hidden``, ``in_stock``, ``price``, ...) default
to "no restriction" when the table lacks them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from campaignrec.data.interactions import IdMap


def _bool_column(table: pd.DataFrame, name: str, default: bool) -> NDArray[np.bool_]:
    if name not in table.columns:
        return np.full(len(table), default, dtype=bool)
    values = table[name].map(lambda v: default if v is None or v != v else bool(v))
    return values.to_numpy(dtype=bool)


@dataclass(frozen=True, eq=False)
class CatalogueView:
    """Item attributes aligned with ``items`` (row i describes item index i)."""

    items: IdMap
    category: NDArray[np.object_]
    brand: NDArray[np.object_]
    price: NDArray[np.float64]
    in_stock: NDArray[np.bool_]
    hidden: NDArray[np.bool_]
    known: NDArray[np.bool_]
    titles: dict[str, str]

    @classmethod
    def build(cls, items: IdMap, catalogue: pd.DataFrame | None) -> CatalogueView:
        """Align ``catalogue`` (the items table) with ``items``; items it lacks stay unrestricted."""
        table = catalogue if catalogue is not None else pd.DataFrame({"item_id": []})
        table = table.copy()
        table["item_id"] = table["item_id"].astype(str)
        table = table.drop_duplicates("item_id", keep="last")
        titles = {}
        if "title" in table.columns:
            for item_id, title in zip(table["item_id"], table["title"], strict=True):
                if isinstance(title, str) and title.strip():
                    titles[item_id] = title.strip()
        in_stock = _bool_column(table, "in_stock", True)
        hidden = _bool_column(table, "hidden", False)
        pos = pd.Index(table["item_id"]).get_indexer(pd.Index(items.ids, dtype=object))
        have = pos >= 0

        def take(name: str) -> NDArray[np.object_]:
            out = np.full(len(items), None, dtype=object)
            if name in table.columns:
                col = table[name].to_numpy(dtype=object)
                vals = col[pos[have]]
                out[have] = [v if isinstance(v, str) and v else None for v in vals]
            return out

        price = np.full(len(items), np.nan)
        if "price" in table.columns:
            p = pd.to_numeric(table["price"], errors="coerce").to_numpy(dtype=np.float64)
            price[have] = p[pos[have]]
        stock = np.ones(len(items), dtype=bool)
        stock[have] = in_stock[pos[have]]
        hide = np.zeros(len(items), dtype=bool)
        hide[have] = hidden[pos[have]]
        return cls(items, take("category"), take("brand"), price, stock, hide, have, titles)

    def __len__(self) -> int:
        return len(self.items)

    def title(self, item_id: str) -> str:
        """The item's title (its id when the catalogue has none)."""
        return self.titles.get(str(item_id), str(item_id))

    @cached_property
    def top_categories(self) -> NDArray[np.object_]:
        """The first level of every item's category path (None where unknown)."""
        return np.asarray(
            [None if c is None else str(c).split("/")[0] for c in self.category], dtype=object
        )

    def top_category(self, idx: int) -> str | None:
        """The first level of the item's category path."""
        cat = self.top_categories[idx]
        return None if cat is None else str(cat)

    @cached_property
    def _category_codes(self) -> tuple[NDArray[np.int64], NDArray[np.object_]]:
        codes, uniques = pd.factorize(pd.Series(self.category, dtype=object).fillna("").astype(str))
        return np.asarray(codes, dtype=np.int64), np.asarray(uniques, dtype=object)

    @cached_property
    def _brand_codes(self) -> tuple[NDArray[np.int64], NDArray[np.object_]]:
        lower = pd.Series(self.brand, dtype=object).map(
            lambda b: None if b is None else str(b).lower()
        )
        codes, uniques = pd.factorize(lower)  # None -> -1
        return np.asarray(codes, dtype=np.int64), np.asarray(uniques, dtype=object)

    def in_category(
        self, categories: tuple[str, ...], at: NDArray[np.int64] | None = None
    ) -> NDArray[np.bool_]:
        """Items whose category equals one of ``categories`` or lies below it in the path.

        The paths are matched once per distinct category, then looked up by code, so a filter on
        a large catalogue costs one pass over integer codes. ``at``: only those item indices
        (the answer is aligned with ``at``).
        """
        codes, uniques = self._category_codes
        if at is not None:
            codes = codes[at]
        names = pd.Series(uniques, dtype=object).astype(str)
        hit = np.zeros(len(uniques), dtype=bool)
        for c in categories:
            hit |= ((names == c) | names.str.startswith(c + "/")).to_numpy()
        return hit[codes] if len(codes) else np.zeros(0, dtype=bool)

    def in_brands(
        self, brands: tuple[str, ...], at: NDArray[np.int64] | None = None
    ) -> NDArray[np.bool_]:
        """Items of one of ``brands`` (case-insensitive); items without a brand never match.
        ``at``: only those item indices (the answer is aligned with ``at``)."""
        codes, uniques = self._brand_codes
        if at is not None:
            codes = codes[at]
        wanted = {b.lower() for b in brands}
        hit = np.asarray([u in wanted for u in uniques], dtype=bool)
        out = np.zeros(len(codes), dtype=bool)
        known = codes >= 0
        out[known] = hit[codes[known]]
        return out
