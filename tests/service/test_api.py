from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest

from campaignrec.config import load_settings
from campaignrec.pipeline import train
from campaignrec.service.app import create_app
from campaignrec.store.sql import SQLStore
from tests.service.conftest import NOW, TestClient, auth


def test_health_needs_no_key(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["checks"] == {
        "store": True,
        "online": True,
        "model": True,
    }
    assert r.headers["X-Request-ID"]


def test_recommendations(client: TestClient, keys: dict[str, str]) -> None:
    r = client.get("/v1/users/u0/recommendations?k=3", headers=auth(keys["read"]))
    assert r.status_code == 200
    body = r.json()
    assert body["user_id"] == "u0" and body["model_version"]
    assert 0 < len(body["items"]) <= 3
    assert {"item_id", "score", "reason", "text", "evidence"} <= set(body["items"][0])


def test_unknown_user_is_cold_start(client: TestClient, keys: dict[str, str]) -> None:
    r = client.get("/v1/users/nobody/recommendations", headers=auth(keys["read"]))
    assert r.status_code == 200
    items = r.json()["items"]
    assert items and {i["reason"] for i in items} <= {"popular", "segment_popular", "trending"}


def test_similar(client: TestClient, keys: dict[str, str]) -> None:
    r = client.get("/v1/items/i0/similar?k=2", headers=auth(keys["read"]))
    assert r.status_code == 200 and len(r.json()["items"]) <= 2
    unknown = client.get("/v1/items/unknown/similar", headers=auth(keys["read"])).json()["items"]
    assert unknown and {i["reason"] for i in unknown} == {"popular"}  # cold item: not an error


def test_validation_error_names_field(client: TestClient, keys: dict[str, str]) -> None:
    r = client.get("/v1/users/u0/recommendations?k=0", headers=auth(keys["read"]))
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["field"] == "k" and err["code"] == "validation_error" and err["request_id"]


def test_auth_failures(client: TestClient, keys: dict[str, str]) -> None:
    url = "/v1/users/u0/recommendations"
    assert client.get(url).status_code == 401
    assert client.get(url, headers=auth("crk_nope.nope")).status_code == 401
    assert client.get(url, headers=auth(keys["ingest"])).status_code == 403
    r = client.post("/v1/events", json={"events": [{}]}, headers=auth(keys["read"]))
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


def _event(i: int, item: str = "i1", user: str = "u9") -> dict[str, object]:
    return {
        "user_id": user,
        "item_id": item,
        "event_type": "view",
        "timestamp": NOW.replace(microsecond=i).isoformat(),
    }


def test_events_idempotent_and_applied(client: TestClient, keys: dict[str, str]) -> None:
    batch = {"events": [_event(1), _event(2, "i3")]}
    r = client.post("/v1/events", json=batch, headers=auth(keys["ingest"]))
    assert r.status_code == 200
    assert r.json() == {"accepted": 2, "duplicates": 0, "rejected": []}
    again = client.post("/v1/events", json=batch, headers=auth(keys["ingest"])).json()
    assert again["accepted"] == 0 and again["duplicates"] == 2
    prof = client.get("/v1/users/u9/profile", headers=auth(keys["read"])).json()
    assert prof["recent_items"][:2] == ["i3", "i1"]


def test_bad_event_rejected_with_index_and_quarantined(
    client: TestClient, keys: dict[str, str], home: Path
) -> None:
    bad = {"user_id": "u9", "item_id": "i1", "event_type": "teleport", "timestamp": NOW.isoformat()}
    r = client.post(
        "/v1/events",
        json={"events": [_event(5), bad, _event(6, "i2")]},
        headers=auth(keys["ingest"]),
    )
    body = r.json()
    assert r.status_code == 200 and body["accepted"] == 2
    assert body["rejected"][0]["index"] == 1
    assert body["rejected"][0]["field"] == "event_type"
    assert body["rejected"][0]["reason"] == "unknown_event_type"
    store = SQLStore(load_settings(home).resolved_database_url)
    q = store.read_table("quarantine")
    store.close()
    assert "unknown_event_type" in set(q["reason"])


def test_batch_and_body_limits(home: Path, keys: dict[str, str]) -> None:
    settings = load_settings(home, api_max_body_bytes=5_000)
    with TestClient(create_app(settings)) as c:
        r = c.post(
            "/v1/events",
            json={"events": [_event(i) for i in range(200)]},
            headers=auth(keys["ingest"]),
        )
        assert r.status_code == 413 and r.json()["error"]["code"] == "body_too_large"
    with TestClient(create_app(load_settings(home))) as c:
        r = c.post(
            "/v1/events",
            json={"events": [_event(i % 999_999) for i in range(1001)]},
            headers=auth(keys["ingest"]),
        )
        assert r.status_code == 413 and r.json()["error"]["field"] == "events"


def test_rate_limit(home: Path, keys: dict[str, str]) -> None:
    settings = load_settings(home, api_rate_per_second=0.01, api_rate_burst=2)
    with TestClient(create_app(settings)) as c:
        url = "/v1/users/u0/recommendations"
        codes = [c.get(url, headers=auth(keys["read"])).status_code for _ in range(3)]
        assert codes == [200, 200, 429]
        r = c.get(url, headers=auth(keys["read"]))
        assert int(r.headers["Retry-After"]) >= 1


def test_campaigns_consume_inventory_and_log(
    client: TestClient, keys: dict[str, str], home: Path
) -> None:
    got = []
    for user in ("u0", "u0", "u1", "u2"):
        body = client.get(f"/v1/users/{user}/campaigns?k=2", headers=auth(keys["read"])).json()
        got.extend((user, c["campaign_id"]) for c in body["campaigns"])
        if body["campaigns"]:
            assert body["campaigns"][0]["offer"]["discount_value"] == 10.0
    assert got == [("u0", "c1"), ("u1", "c1")]  # cap 1 per user, inventory 2
    store = SQLStore(load_settings(home).resolved_database_url)
    ev = store.read_table("events")
    store.close()
    logged = ev[ev["event_type"] == "campaign_impression"]
    assert sorted(logged["user_id"]) == ["u0", "u1"]
    assert set(logged["policy"]) == {"priority"} and set(logged["propensity"]) == {1.0}


def test_models_and_activation_swap(client: TestClient, keys: dict[str, str], home: Path) -> None:
    before = client.get("/v1/models", headers=auth(keys["read"])).json()["models"]
    store = SQLStore(load_settings(home).resolved_database_url)
    res = train(store, load_settings(home), model="most_popular")
    store.close()
    seen = []
    for _ in range(200):  # loaded in the background: old or new version, never an error
        r = client.get("/v1/users/u0/recommendations", headers=auth(keys["read"]))
        assert r.status_code == 200
        seen.append(r.json()["model_version"])
        if seen[-1] == res.version:
            break
        time.sleep(0.02)
    assert seen[-1] == res.version
    assert set(seen) <= {before[0]["version"], res.version}
    assert (
        client.post(
            "/v1/models/item_knn/activate",
            json={"version": before[0]["version"]},
            headers=auth(keys["read"]),
        ).status_code
        == 403
    )
    r = client.post(
        "/v1/models/most_popular/activate", json={"version": "nope"}, headers=auth(keys["admin"])
    )
    assert r.status_code == 404
    r = client.post(
        "/v1/models/item_knn/activate",
        json={"version": before[0]["version"]},
        headers=auth(keys["admin"]),
    )
    assert r.status_code == 200
    r = client.get("/v1/users/u0/recommendations", headers=auth(keys["read"]))
    assert r.json()["model_version"] == before[0]["version"]


def test_metrics_and_no_secrets_in_logs(
    client: TestClient, keys: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        client.get("/v1/users/secret-user-42/recommendations", headers=auth(keys["read"]))
    # the test client's own httpx log names the URL; the service's records must not
    ours = [r for r in caplog.records if not r.name.startswith("httpx")]
    assert ours
    text = "".join(r.getMessage() + str(r.__dict__) for r in ours)
    assert "secret-user-42" not in text and keys["read"] not in text
    m = client.get("/metrics", headers=auth(keys["admin"]))
    assert m.status_code == 200
    assert 'route="/v1/users/{user_id}/recommendations"' in m.text
    assert "campaignrec_model_info" in m.text
