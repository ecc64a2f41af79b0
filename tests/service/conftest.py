from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from campaignrec.config import load_settings
from campaignrec.data.importer import import_frame
from campaignrec.pipeline import train
from campaignrec.service.app import create_app
from campaignrec.service.auth import KeyStore
from campaignrec.store.sql import SQLStore

with warnings.catch_warnings():  # starlette warns that it prefers httpx2 over httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

NOW = datetime.now(UTC)


def build_shop(home: Path) -> None:
    settings = load_settings(home)
    home.mkdir(parents=True, exist_ok=True)
    store = SQLStore(settings.resolved_database_url)
    items = pd.DataFrame(
        {
            "item_id": [f"i{n}" for n in range(8)],
            "title": [f"Item {n}" for n in range(8)],
            "category": ["a"] * 4 + ["b"] * 4,
        }
    )
    users = pd.DataFrame({"user_id": [f"u{n}" for n in range(4)], "region": ["north"] * 4})
    rows = []
    for u in range(4):
        for i in range(8):
            if (u + i) % 2 == 0:
                rows.append(
                    {
                        "user_id": f"u{u}",
                        "item_id": f"i{i}",
                        "event_type": "view",
                        "timestamp": (NOW - timedelta(days=1, minutes=u * 10 + i)).isoformat(),
                    }
                )
    campaigns = pd.DataFrame(
        [
            {
                "campaign_id": "c1",
                "name": "Ten off",
                "type": "coupon",
                "status": "active",
                "discount_type": "percent",
                "discount_value": 10.0,
                "inventory": 2,
                "frequency_cap": 1,
                "start_time": (NOW - timedelta(days=2)).isoformat(),
                "end_time": (NOW + timedelta(days=2)).isoformat(),
            }
        ]
    )
    import_frame(store, "items", items)
    import_frame(store, "users", users)
    import_frame(store, "events", pd.DataFrame(rows))
    import_frame(store, "campaigns", campaigns)
    train(store, settings, model="item_knn")
    store.close()


@pytest.fixture(scope="session")
def shop_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("shop")
    build_shop(home)
    return home


@pytest.fixture
def home(shop_template: Path, tmp_path: Path) -> Path:
    import shutil

    dst = tmp_path / "home"
    shutil.copytree(shop_template, dst)
    return dst


def make_keys(home: Path) -> dict[str, str]:
    settings = load_settings(home)
    store = SQLStore(settings.resolved_database_url)
    ks = KeyStore(store)
    out = {s: ks.create(s)[0] for s in ("read", "ingest", "admin")}
    store.close()
    return out


@pytest.fixture
def keys(home: Path) -> dict[str, str]:
    return make_keys(home)


@pytest.fixture
def client(home: Path, keys: dict[str, str]) -> Iterator[TestClient]:
    settings = load_settings(home, model_check_seconds=0.0)
    with TestClient(create_app(settings)) as c:
        yield c


def auth(key: str) -> dict[str, Any]:
    return {"Authorization": f"Bearer {key}"}
