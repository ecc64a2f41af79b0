"""Drift and health figures on a store with planted drift: volume doubles, the mix moves to
purchases, a fifth of this week's shoppers are new, and two model versions served decisions
with different click rates."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import update

from campaignrec.config import load_settings
from campaignrec.data.importer import import_frame
from campaignrec.pipeline import train
from campaignrec.pipeline.health import health_report, psi
from campaignrec.store.sql import SQLStore

NOW = datetime.now(UTC).replace(microsecond=0)


def _events(users: range, start: datetime, n_views: int, n_buys: int, tag: str) -> list[dict]:
    rows = []
    for k, u in enumerate(users):
        for j in range(n_views + n_buys):
            rows.append(
                {
                    "user_id": f"u{u:03d}",
                    "item_id": f"i{(u + j) % 20:02d}",
                    "event_type": "view" if j < n_views else "purchase",
                    "timestamp": (start + timedelta(minutes=10 * k + j)).isoformat(),
                    "session_id": f"{tag}-{u}",
                }
            )
    return rows


def _decisions(start: datetime, n: int, clicked: int, tag: str) -> list[dict]:
    rows = []
    for k in range(n):
        at = start + timedelta(minutes=5 * k)
        user = f"u{k % 40:03d}"
        rows.append({"user_id": user, "event_type": "campaign_impression", "campaign_id": "c1",
                     "timestamp": at.isoformat(), "propensity": 0.5, "policy": "priority",
                     "session_id": f"d{tag}{k}"})  # fmt: skip
        if k < clicked:
            rows.append({"user_id": user, "event_type": "campaign_click", "campaign_id": "c1",
                         "timestamp": (at + timedelta(minutes=1)).isoformat(),
                         "session_id": f"d{tag}{k}"})  # fmt: skip
    return rows


@pytest.fixture(scope="module")
def drifted(tmp_path_factory: pytest.TempPathFactory) -> tuple[SQLStore, Path]:
    home = tmp_path_factory.mktemp("health")
    settings = load_settings(home)
    store = SQLStore(settings.resolved_database_url)
    items = pd.DataFrame({"item_id": [f"i{n:02d}" for n in range(20)], "category": ["a"] * 20})
    import_frame(store, "items", items)
    last_week = NOW - timedelta(days=13)
    import_frame(store, "events", pd.DataFrame(_events(range(40), last_week, 4, 1, "a")))
    first = train(store, settings, model="most_popular")  # data ends last week
    meta = store.list_models().iloc[0]["meta"]
    store.register_model("most_popular", "v2", first.path, meta)
    store.activate_model("most_popular", "v2")
    models = store.tables.models
    with store.engine.begin() as conn:  # v1 served from 10 days ago, v2 from 3 days ago
        for version, days in ((first.version, 10), ("v2", 3)):
            at = int((NOW - timedelta(days=days)).timestamp() * 1e6)
            conn.execute(update(models).where(models.c.version == version).values(activated_at=at))
    this_week = NOW - timedelta(days=6)
    rows = _events(range(50), this_week, 4, 4, "b")  # 40 known + 10 new shoppers, more buying
    rows += _decisions(NOW - timedelta(days=8), 100, 10, "x")  # v1: 10 % CTR
    rows += _decisions(NOW - timedelta(days=2), 100, 30, "y")  # v2: 30 % CTR
    import_frame(store, "events", pd.DataFrame(rows))
    return store, home


def test_volume_mix_and_cold_share_against_last_week(drifted) -> None:
    store, _ = drifted
    r = health_report(store, as_of=NOW)
    assert r.mix_last_week == {"view": 160, "purchase": 40, "campaign_impression": 100,
                               "campaign_click": 10}  # fmt: skip
    assert r.mix_this_week["purchase"] == 200 and r.mix_this_week["view"] == 200
    assert r.volume_change == pytest.approx(r.events_this_week / r.events_last_week - 1)
    assert r.events_this_week > r.events_last_week
    assert r.mix_psi > 0.1  # a moderate-to-large shift of the mix
    assert r.active_users == 50 and r.cold_users == 10
    assert r.cold_user_share == pytest.approx(0.2)
    assert r.cold_event_share == pytest.approx(80 / sum(r.mix_this_week.values()))


def test_served_ctr_by_model_version_and_model_age(drifted) -> None:
    store, _ = drifted
    r = health_report(store, as_of=NOW)
    by = {row["version"]: row for row in r.ctr_by_version}
    v1 = next(v for v in by if v.startswith("most_popular:") and not v.endswith(":v2"))
    assert by[v1]["decisions"] == 100 and by[v1]["ctr"] == pytest.approx(0.10)
    assert by["most_popular:v2"]["decisions"] == 100 and by["most_popular:v2"][
        "ctr"
    ] == pytest.approx(0.30)
    m = r.active_model
    assert m is not None and m["version"] == "v2"
    assert m["data_age_days"] == pytest.approx(13, abs=0.5)
    assert abs(m["age_days"]) < 1  # trained by this test (NOW is this test's start)


def test_psi_is_zero_for_the_same_mix_and_nan_for_an_empty_one() -> None:
    assert psi({"view": 10, "click": 5}, {"view": 20, "click": 10}) == pytest.approx(0.0)
    assert psi({}, {"view": 1}) != psi({}, {"view": 1})  # NaN


def test_metrics_serves_the_health_gauges(drifted) -> None:
    from campaignrec.service.app import create_app
    from campaignrec.service.auth import KeyStore

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    store, home = drifted
    key = KeyStore(store).create("admin")[0]
    with TestClient(create_app(load_settings(home))) as client:
        text = client.get("/metrics", headers={"Authorization": f"Bearer {key}"}).text
    assert 'campaignrec_events_window{event_type="purchase",window="this_week"} 200.0' in text
    assert "campaignrec_cold_user_share 0.2" in text
    assert 'campaignrec_served_ctr{version="most_popular:v2"} 0.3' in text
    assert 'campaignrec_active_model_data_age_seconds{name="most_popular",version="v2"}' in text
