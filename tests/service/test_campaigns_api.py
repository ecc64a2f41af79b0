"""``/v1/campaigns``: CRUD with the canonical rules, admin-only writes, and the audience preview."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd

from campaignrec.config import load_settings
from campaignrec.data.importer import import_frame
from campaignrec.store.sql import SQLStore
from tests.service.conftest import NOW, TestClient, auth

NEW = {
    "campaign_id": "c2",
    "name": "Spring sale",
    "type": "flash_sale",
    "discount_type": "percent",
    "discount_value": 20.0,
    "categories": ["b"],
    "audience": {"field": "region", "op": "eq", "value": "north"},
    "start_time": (NOW - timedelta(hours=1)).isoformat(),
    "end_time": (NOW + timedelta(days=3)).isoformat(),
}


def test_list_and_get(client: TestClient, keys: dict[str, str]) -> None:
    body = client.get("/v1/campaigns", headers=auth(keys["read"])).json()
    assert [c["campaign_id"] for c in body["campaigns"]] == ["c1"]
    one = client.get("/v1/campaigns/c1", headers=auth(keys["read"])).json()
    assert one["name"] == "Ten off" and one["inventory"] == 2
    missing = client.get("/v1/campaigns/nope", headers=auth(keys["read"]))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_create_replace_change_end(client: TestClient, keys: dict[str, str]) -> None:
    admin = auth(keys["admin"])
    assert client.post("/v1/campaigns", json=NEW, headers=auth(keys["read"])).status_code == 403
    made = client.post("/v1/campaigns", json=NEW, headers=admin)
    assert made.status_code == 201, made.text
    assert made.json()["audience"] == NEW["audience"] and made.json()["categories"] == ["b"]
    again = client.post("/v1/campaigns", json=NEW, headers=admin)
    assert again.status_code == 409 and again.json()["error"]["field"] == "campaign_id"
    put = client.put("/v1/campaigns/c2", json={**NEW, "name": "Spring sale II"}, headers=admin)
    assert put.status_code == 200 and put.json()["name"] == "Spring sale II"
    assert (
        client.put("/v1/campaigns/c2", json={**NEW, "name": "Spring sale II"}, headers=admin).json()
        == put.json()
    )
    paused = client.patch("/v1/campaigns/c2", json={"status": "paused"}, headers=admin)
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    assert paused.json()["name"] == "Spring sale II"  # the other fields stay
    ended = client.delete("/v1/campaigns/c2", headers=admin)
    assert ended.status_code == 200 and ended.json()["status"] == "ended"
    listed = client.get("/v1/campaigns?status=ended", headers=auth(keys["read"])).json()
    assert [c["campaign_id"] for c in listed["campaigns"]] == ["c2"]


def test_bad_campaigns_name_the_field(client: TestClient, keys: dict[str, str]) -> None:
    admin = auth(keys["admin"])
    bad_type = client.post("/v1/campaigns", json={**NEW, "type": "lottery"}, headers=admin)
    assert bad_type.status_code == 422 and bad_type.json()["error"]["field"] == "type"
    bad_rule = client.post(
        "/v1/campaigns", json={**NEW, "audience": {"field": "region", "op": "nope"}}, headers=admin
    )
    assert bad_rule.status_code == 422 and "audience" in bad_rule.json()["error"]["field"]
    window = client.post(
        "/v1/campaigns", json={**NEW, "end_time": NEW["start_time"]}, headers=admin
    )
    assert window.status_code == 422
    other_id = client.put("/v1/campaigns/zz", json=NEW, headers=admin)
    assert other_id.status_code == 422 and other_id.json()["error"]["field"] == "campaign_id"
    patch = client.patch("/v1/campaigns/c1", json={"discount_value": -1}, headers=admin)
    assert patch.status_code == 422 and patch.json()["error"]["field"] == "discount_value"
    assert (
        client.get("/v1/campaigns/c1", headers=auth(keys["read"])).json()["discount_value"] == 10.0
    )


def test_preview_without_logged_exposures_says_what_is_missing(
    client: TestClient, keys: dict[str, str]
) -> None:
    r = client.get("/v1/campaigns/c1/preview", headers=auth(keys["read"]))
    assert r.status_code == 422 and r.json()["error"]["field"] == "events"


def test_preview_of_a_stored_campaign_and_of_a_draft(
    home: Path, keys: dict[str, str], client: TestClient
) -> None:
    # a logged test: c1 shown to u0 and u1 (u0 bought), held out from u2 and u3 (u3 bought)
    rows = []
    for n, variant in enumerate(["treatment", "treatment", "control", "control"]):
        at = NOW - timedelta(hours=5)
        rows.append(
            {
                "user_id": f"u{n}",
                "event_type": "campaign_impression",
                "campaign_id": "c1",
                "variant": variant,
                "timestamp": at.isoformat(),
            }
        )
    rows.append(
        {
            "user_id": "u0",
            "event_type": "purchase",
            "item_id": "i1",
            "timestamp": (NOW - timedelta(hours=4)).isoformat(),
        }
    )
    rows.append(
        {
            "user_id": "u3",
            "event_type": "purchase",
            "item_id": "i2",
            "timestamp": (NOW - timedelta(hours=4)).isoformat(),
        }
    )
    store = SQLStore(load_settings(home).resolved_database_url)
    import_frame(store, "events", pd.DataFrame(rows))
    store.close()
    r = client.get("/v1/campaigns/c1/preview", headers=auth(keys["read"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["audience_size"] == 4 and body["plan"]["strategies"]
    assert {"expected_cost", "incremental_conversions", "roi"} <= set(body["plan"]["strategies"][0])
    draft = client.post("/v1/campaigns/preview", json=NEW, headers=auth(keys["read"]))
    assert draft.status_code == 200, draft.text
    assert draft.json()["audience_size"] == 4  # every shopper is in the north
    assert (
        client.get("/v1/campaigns/c2", headers=auth(keys["read"])).status_code == 404
    )  # not saved


def test_an_ingested_impression_counts_against_the_cap(
    client: TestClient, keys: dict[str, str]
) -> None:
    shown = {
        "user_id": "u0",
        "event_type": "campaign_impression",
        "campaign_id": "c1",
        "timestamp": NOW.isoformat(),
    }
    r = client.post("/v1/events", json={"events": [shown]}, headers=auth(keys["ingest"]))
    assert r.status_code == 200 and r.json()["accepted"] == 1
    body = client.get("/v1/users/u0/campaigns", headers=auth(keys["read"])).json()
    assert body["campaigns"] == []  # cap 1: the shop showed it already
    other = client.get("/v1/users/u1/campaigns", headers=auth(keys["read"])).json()
    assert [c["campaign_id"] for c in other["campaigns"]] == ["c1"]


def test_a_bandit_serves_the_first_slot_and_learns_from_clicks(
    home: Path, keys: dict[str, str]
) -> None:
    from campaignrec.service.app import create_app

    settings = load_settings(home, campaign_policy="bernoulli_ts", model_check_seconds=0.0)
    with TestClient(create_app(settings)) as client:
        second = {k: v for k, v in NEW.items() if k != "audience"}
        made = client.post("/v1/campaigns", json=second, headers=auth(keys["admin"]))
        assert made.status_code == 201
        body = client.get("/v1/users/u2/campaigns?k=1", headers=auth(keys["read"])).json()
        assert body["policy"] == "bernoulli_ts" and len(body["campaigns"]) == 1
        served = body["campaigns"][0]
        assert 0 < served["propensity"] < 1  # two eligible: a real draw
        click = {
            "user_id": "u2",
            "event_type": "campaign_click",
            "campaign_id": served["campaign_id"],
            "timestamp": NOW.isoformat(),
        }
        r = client.post("/v1/events", json={"events": [click]}, headers=auth(keys["ingest"]))
        assert r.status_code == 200
        arms = client.app.state.service.online.hgetall("bandit:bernoulli_ts:arms")
        assert arms[f"n:{served['campaign_id']}"] == 1.0
        assert arms[f"r:{served['campaign_id']}"] == 1.0
    store = SQLStore(settings.resolved_database_url)
    ev = store.read_table("events")
    store.close()
    logged = ev[(ev["event_type"] == "campaign_impression") & (ev["user_id"] == "u2")]
    assert list(logged["policy"]) == ["bernoulli_ts"]
    assert float(logged["propensity"].iloc[0]) == served["propensity"]
