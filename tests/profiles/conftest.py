"""Small hand-made shops for the profile tests."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from campaignrec.data.schema import EVENT_COLUMNS

T0 = pd.Timestamp("2024-03-01T00:00:00Z")


def events(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Canonical events from partial rows (``t`` = days after T0 may replace ``timestamp``)."""
    out = []
    for r in rows:
        r = dict(r)
        if "t" in r:
            r["timestamp"] = T0 + pd.Timedelta(days=r.pop("t"))
        out.append(r)
    df = pd.DataFrame(out)
    for c in EVENT_COLUMNS:
        if c not in df.columns:
            df[c] = None
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    return df[list(EVENT_COLUMNS)]


@pytest.fixture
def items() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "item_id": ["i1", "i2", "i3", "i4"],
            "category": ["shoes", "shoes", "socks", "books"],
            "brand": ["acme", "acme", "bolt", "cato"],
            "price": [100.0, 80.0, 10.0, 20.0],
        }
    )
