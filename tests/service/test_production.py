"""Production mode: PostgreSQL + Redis, two uvicorn worker processes sharing caps and budgets.

Runs when ``CAMPAIGNREC_TEST_POSTGRES_URL`` and ``CAMPAIGNREC_TEST_REDIS_URL`` are set (``.ci/run``
sets both), against a fresh database and a fresh Redis key prefix; skipped otherwise.
Traffic goes only to 127.0.0.1, bounded in requests and time.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from campaignrec.campaigns.catalog import load_campaigns, unit_cost
from campaignrec.config import load_settings
from campaignrec.data.importer import import_frame
from campaignrec.pipeline import train
from campaignrec.service.auth import KeyStore
from campaignrec.store.sql import SQLStore

PG = os.environ.get("CAMPAIGNREC_TEST_POSTGRES_URL", "").strip()
REDIS = os.environ.get("CAMPAIGNREC_TEST_REDIS_URL", "").strip()
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.skipif(
        not (PG and REDIS),
        reason="set CAMPAIGNREC_TEST_POSTGRES_URL and CAMPAIGNREC_TEST_REDIS_URL to run",
    ),
]
NOW = datetime.now(UTC)
N_USERS = 120


@pytest.fixture
def database() -> Iterator[str]:
    """A fresh PostgreSQL database (dropped afterwards)."""
    name = f"cr_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(PG).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _shop(home: Path, env: dict[str, str], model: str = "most_popular") -> str:
    settings = load_settings(
        home,
        database_url=env["CAMPAIGNREC_DATABASE_URL"],
        online_url=REDIS,
        online_prefix=env["CAMPAIGNREC_ONLINE_PREFIX"],
    )
    store = SQLStore(settings.resolved_database_url)
    users = pd.DataFrame({"user_id": [f"u{n}" for n in range(N_USERS)]})
    items = pd.DataFrame({"item_id": [f"i{n}" for n in range(10)], "category": ["a"] * 10})
    events = pd.DataFrame(
        [
            {
                "user_id": f"u{u}",
                "item_id": f"i{(u + j) % 10}",
                "event_type": "view",
                "timestamp": (NOW - timedelta(hours=u + j)).isoformat(),
            }
            for u in range(N_USERS)
            for j in range(3)
        ]
    )
    window = {
        "status": "active",
        "start_time": (NOW - timedelta(days=1)).isoformat(),
        "end_time": (NOW + timedelta(days=1)).isoformat(),
    }
    campaigns = pd.DataFrame(
        [
            # inventory binds: 30 coupons for 120 shoppers
            {
                "campaign_id": "inv",
                "name": "Inventory",
                "type": "coupon",
                "inventory": 30,
                "frequency_cap": 1,
                "discount_type": "amount",
                "discount_value": 1.0,
                "priority": 3,
                **window,
            },
            # budget binds: 25 / (5 + 0) = 5 redemptions
            {
                "campaign_id": "bud",
                "name": "Budget",
                "type": "coupon",
                "budget": 25.0,
                "frequency_cap": 5,
                "discount_type": "amount",
                "discount_value": 5.0,
                "priority": 2,
                **window,
            },
            # the per-user cap binds: at most 2 each
            {
                "campaign_id": "cap",
                "name": "Cap",
                "type": "coupon",
                "frequency_cap": 2,
                "discount_type": "amount",
                "discount_value": 2.0,
                "priority": 1,
                **window,
            },
        ]
    )
    for entity, frame in (
        ("users", users),
        ("items", items),
        ("events", events),
        ("campaigns", campaigns),
    ):
        import_frame(store, entity, frame)
    train(store, settings, model=model)
    key, _ = KeyStore(store).create("read")
    store.close()
    return key


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _fire(base: str, key: str, n: int, concurrency: int) -> list[dict[str, Any]]:
    sem = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:

        async def one(i: int) -> dict[str, Any]:
            async with sem:
                r = await client.get(f"/v1/users/u{i % N_USERS}/campaigns?k=3")
                assert r.status_code == 200, r.text
                body: dict[str, Any] = r.json()
                return body

        return list(await asyncio.gather(*(one(i) for i in range(n))))


def test_two_workers_never_exceed_inventory_cap_or_budget(database: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CAMPAIGNREC_HOME": str(tmp_path / "home"),
        "CAMPAIGNREC_DATABASE_URL": database,
        "CAMPAIGNREC_ONLINE_URL": REDIS,
        "CAMPAIGNREC_ONLINE_PREFIX": f"t{uuid.uuid4().hex[:10]}:",
        "CAMPAIGNREC_API_RATE_PER_SECOND": "100000",
        "CAMPAIGNREC_API_RATE_BURST": "100000",
    }
    key = _shop(tmp_path / "home", env)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "campaignrec", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        ready = 0
        while ready < 4:  # several answers: both workers up (the kernel spreads connections)
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the service did not become ready in 60 s"
            try:
                ready += httpx.get(base + "/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                time.sleep(0.2)

        async def both() -> list[list[dict[str, Any]]]:
            return list(await asyncio.gather(_fire(base, key, 500, 32), _fire(base, key, 500, 32)))

        bodies = [b for batch in asyncio.run(both()) for b in batch]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    assert len(bodies) == 1000
    granted = [(b["user_id"], c["campaign_id"]) for b in bodies for c in b["campaigns"]]
    per_campaign = Counter(cid for _, cid in granted)
    per_pair = Counter(granted)
    assert per_campaign["inv"] == 30  # demand far above supply: all given, none over
    store = SQLStore(database)
    catalog = {c.campaign_id: c for c in load_campaigns(store.read_table("campaigns"))}
    assert per_campaign["bud"] * unit_cost(catalog["bud"]) <= 25.0
    assert per_campaign["bud"] == 5
    assert max(n for (_, cid), n in per_pair.items() if cid == "inv") == 1
    assert max(n for (_, cid), n in per_pair.items() if cid == "cap") == 2
    assert per_campaign["cap"] == 2 * N_USERS
    events = store.read_table("events")
    store.close()
    log = events[events["event_type"] == "campaign_impression"]
    logged = Counter(zip(log["user_id"], log["campaign_id"], strict=True))
    assert logged == per_pair  # every granted coupon is in the decision log, nothing else
    assert set(log["policy"]) and log["propensity"].notna().all()


def test_two_workers_the_feedback_loop_with_the_result_cache_on(
    database: str, tmp_path: Path
) -> None:
    """Both workers cache the shopper's list; views posted to either change the next answer of
    both (the per-shopper version in Redis), never the list cached before."""
    env = {
        **os.environ,
        "CAMPAIGNREC_HOME": str(tmp_path / "home"),
        "CAMPAIGNREC_DATABASE_URL": database,
        "CAMPAIGNREC_ONLINE_URL": REDIS,
        "CAMPAIGNREC_ONLINE_PREFIX": f"t{uuid.uuid4().hex[:10]}:",
        "CAMPAIGNREC_API_RATE_PER_SECOND": "100000",
        "CAMPAIGNREC_API_RATE_BURST": "100000",
        "CAMPAIGNREC_RESULT_CACHE_SECONDS": "300",
    }
    read = _shop(tmp_path / "home", env, model="item_knn")
    store = SQLStore(database)
    ingest, _ = KeyStore(store).create("ingest")
    store.close()
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "campaignrec", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    url = base + "/v1/users/newcomer/recommendations?k=5"

    def lists(n: int) -> list[dict[str, Any]]:  # a new connection each: both workers answer
        out = []
        for _ in range(n):
            r = httpx.get(url, headers={"Authorization": f"Bearer {read}"}, timeout=10)
            assert r.status_code == 200, r.text
            out.append(r.json())
        return out

    try:
        deadline = time.monotonic() + 60
        ready = 0
        while ready < 4:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "the service did not become ready in 60 s"
            try:
                ready += httpx.get(base + "/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                time.sleep(0.2)
        before = lists(12)
        assert all(b["items"] == before[0]["items"] for b in before)
        assert {i["reason"] for i in before[0]["items"]} <= {"popular", "segment_popular"}
        events = [
            {"user_id": "newcomer", "item_id": i, "event_type": "view",
             "timestamp": NOW.isoformat()}
            for i in ("i2", "i3")
        ]  # fmt: skip
        r = httpx.post(base + "/v1/events", json={"events": events},
                       headers={"Authorization": f"Bearer {ingest}"}, timeout=10)  # fmt: skip
        assert r.status_code == 200 and r.json()["accepted"] == 2, r.text
        after = lists(12)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    for body in after:
        ids = {i["item_id"] for i in body["items"]}
        assert not ids & {"i2", "i3"}  # seen: not recommended back, by either worker
        assert {i["reason"] for i in body["items"]} & {"because_viewed", "session"}
