"""Tiny seeded shops for the evaluation tests."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from campaignrec.data.interactions import Interactions


def make_shop(
    n_users: int = 30, n_items: int = 20, per_user: int = 8, seed: int = 0
) -> Interactions:
    """Each user touches ``per_user`` distinct items at distinct, increasing times."""
    rng = np.random.default_rng(seed)
    rows = []
    t0 = 1_700_000_000
    for u in range(n_users):
        items = rng.choice(n_items, size=per_user, replace=False)
        times = t0 + np.sort(rng.choice(100_000, size=per_user, replace=False)) * 60
        for i, t in zip(items, times, strict=True):
            rows.append(
                {"user_id": f"u{u}", "item_id": f"i{i}", "event_type": "view", "timestamp": int(t)}
            )
    cats = pd.DataFrame(
        {
            "item_id": [f"i{i}" for i in range(n_items)],
            "category": [f"c{i % 3}" for i in range(n_items)],
        }
    )
    return Interactions.from_frame(pd.DataFrame(rows), items=cats)


@pytest.fixture
def shop() -> Interactions:
    return make_shop()
