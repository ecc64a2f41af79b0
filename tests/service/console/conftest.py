"""A shop the console pages can show in full: the service's tiny shop plus logged campaign
exposures with a control group (so the planner's preview has figures) and computed profiles."""

from __future__ import annotations

import html as html_lib
import json
import re
import shutil
import warnings
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from campaignrec.config import load_settings
from campaignrec.data.importer import import_frame
from campaignrec.pipeline.profiles import compute_profiles, profiles_dir
from campaignrec.service.app import create_app
from campaignrec.store.sql import SQLStore
from tests.service.conftest import NOW, build_shop, make_keys

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

USERS = [f"u{n}" for n in range(4)]


def add_exposures(home: Path) -> None:
    """Campaign c2 (category ``a``) shown to u2, u3 and held out from u0, u1; u2 and u3 buy in
    the session of their impression, u0 does too: a response with and without the offer; u2
    redeems the coupon. Each
    shopper also has a view 40 days back, so the profiles' purchase model has a training window
    (an empty one makes pandas warn, and tests treat warnings as errors)."""
    settings = load_settings(home)
    store = SQLStore(settings.resolved_database_url)
    start = NOW - timedelta(days=3)
    campaign = pd.DataFrame(
        [
            {
                "campaign_id": "c2",
                "name": "Category A week",
                "title_zh": "A 类周",
                "type": "coupon",
                "status": "active",
                "discount_type": "amount",
                "discount_value": 5.0,
                "categories": '["a"]',
                "budget": 100.0,
                "cost_per_redemption": 5.0,
                "audience": '{"field": "region", "op": "eq", "value": "south"}',
                "start_time": start.isoformat(),
                "end_time": (NOW + timedelta(days=3)).isoformat(),
            }
        ]
    )
    rows = []
    for n, user in enumerate(USERS):
        t = start + timedelta(hours=n)
        variant = "control" if n < 2 else "treatment"
        rows.append(
            {
                "user_id": user,
                "event_type": "campaign_impression",
                "campaign_id": "c2",
                "timestamp": t.isoformat(),
                "session_id": f"s{n}",
                "variant": variant,
                "device": "mobile",
            }
        )
        rows.append(  # history before the purchase model's 30-day training cutoff
            {
                "user_id": user,
                "event_type": "view",
                "item_id": f"i{n + 4}",
                "timestamp": (NOW - timedelta(days=40 + n)).isoformat(),
                "device": "desktop",
            }
        )
        if n == 2:  # one shown shopper redeems the coupon (cost: 5 off + 5 handling)
            rows.append(
                {
                    "user_id": user,
                    "event_type": "coupon_redeem",
                    "campaign_id": "c2",
                    "timestamp": (t + timedelta(minutes=6)).isoformat(),
                    "session_id": f"s{n}",
                    "device": "mobile",
                }
            )
        if n != 1:
            rows.append(
                {
                    "user_id": user,
                    "event_type": "purchase",
                    "item_id": "i0",
                    "price": 20.0,
                    "timestamp": (t + timedelta(minutes=5)).isoformat(),
                    "session_id": f"s{n}",
                    "device": "mobile",
                }
            )
    import_frame(store, "campaigns", campaign)
    import_frame(store, "events", pd.DataFrame(rows))
    compute_profiles(store, profiles_dir(home))
    store.close()


PUSH_USERS = [f"p{n:02d}" for n in range(16)]


def add_push_shop(home: Path) -> None:
    """A campaign ``pushy`` live from an hour ago for five days, and 16 more shoppers who were
    active at every hour of the last two days (so every send slot has some response), plus a
    push holdout of half the eligible shoppers (``[push] holdout_share`` in the shop's settings):
    a push plan made now has recipients and a holdout."""
    from datetime import UTC, datetime

    toml = home / "campaignrec.toml"
    with toml.open("a", encoding="utf-8") as f:
        f.write("\n[push]\nholdout_share = 0.5\n")
    settings = load_settings(home)
    store = SQLStore(settings.resolved_database_url)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    import_frame(store, "users", pd.DataFrame({"user_id": PUSH_USERS, "region": "north"}))
    rows = [
        {
            "user_id": user,
            "item_id": "i1",
            "event_type": "view",
            "timestamp": (now - timedelta(hours=h)).isoformat(),
        }
        for user in PUSH_USERS
        for h in range(1, 49)
    ]
    import_frame(store, "events", pd.DataFrame(rows))
    campaign = {
        "campaign_id": "pushy",
        "name": "Push week",
        "title_zh": "推送周",
        "type": "coupon",
        "status": "active",
        "discount_type": "amount",
        "discount_value": 1.0,
        "start_time": (now - timedelta(hours=1)).isoformat(),
        "end_time": (now + timedelta(days=5)).isoformat(),
    }
    import_frame(store, "campaigns", pd.DataFrame([campaign]))
    store.close()


@pytest.fixture(scope="session")
def console_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("console_shop")
    build_shop(home)
    add_exposures(home)
    return home


@pytest.fixture
def console_home(console_template: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "home"
    shutil.copytree(console_template, dst)
    return dst


@pytest.fixture
def console_keys(console_home: Path) -> dict[str, str]:
    return make_keys(console_home)


@pytest.fixture
def anon(console_home: Path, console_keys: dict[str, str]) -> Iterator[TestClient]:
    settings = load_settings(console_home, model_check_seconds=0.0)
    with TestClient(create_app(settings), follow_redirects=False) as c:
        yield c


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html) or re.search(
        r'data-csrf="([^"]+)"', html
    )
    assert found, "the page carries no CSRF token"
    return found.group(1)


def chart_of(html: str, chart_id: str) -> dict[str, Any]:
    """The plotly figure a page hands its script for the chart ``chart_id``."""
    found = re.search(rf'id="{chart_id}" data-chart="([^"]+)"', html)
    assert found, f"no chart {chart_id}"
    figure: dict[str, Any] = json.loads(html_lib.unescape(found.group(1)))
    return figure


def log_in(client: TestClient, key: str) -> None:
    page = client.get("/console/login")
    r = client.post("/console/login", data={"key": key, "csrf": csrf_of(page.text)})
    assert r.status_code == 303, r.text


@pytest.fixture
def admin(anon: TestClient, console_keys: dict[str, str]) -> TestClient:
    log_in(anon, console_keys["admin"])
    return anon
