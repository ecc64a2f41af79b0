"""The API serves the ranking path: the same list as the CLI, the rules, context and feedback."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from campaignrec.cli.context import STATE
from campaignrec.cli.main import app as cli_app
from campaignrec.config import load_settings
from campaignrec.data.importer import import_frame
from campaignrec.service.app import create_app
from campaignrec.store.sql import SQLStore
from tests.service.conftest import NOW, TestClient, auth


def _get(client: TestClient, key: str, url: str) -> dict[str, Any]:
    r = client.get(url, headers=auth(key))
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_cli_recommend_and_api_return_the_same_list(
    client: TestClient, keys: dict[str, str], home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(STATE, "data_dir", home)
    monkeypatch.setattr(STATE, "_settings", None)
    r = CliRunner().invoke(
        cli_app, ["--data-dir", str(home), "recommend", "u0", "u1", "-k", "4", "--json"]
    )
    assert r.exit_code == 0, r.output
    cli = {d["user_id"]: d for d in map(json.loads, r.output.strip().splitlines())}
    for user in ("u0", "u1"):
        api = _get(client, keys["read"], f"/v1/users/{user}/recommendations?k=4")
        assert api["items"], user
        assert [(i["item_id"], i["reason"], i["text"]) for i in api["items"]] == [
            (i["item_id"], i["reason"], i["text"]) for i in cli[user]["items"]
        ]
        assert [round(i["score"], 6) for i in api["items"]] == [
            round(i["score"], 6) for i in cli[user]["items"]
        ]
        assert api["model_version"] == cli[user]["model_version"]


def test_posted_views_change_the_next_list(client: TestClient, keys: dict[str, str]) -> None:
    url = "/v1/users/newcomer/recommendations?k=4"
    before = _get(client, keys["read"], url)
    assert {i["reason"] for i in before["items"]} <= {"popular", "segment_popular"}
    events = [
        {
            "user_id": "newcomer",
            "item_id": item,
            "event_type": "view",
            "timestamp": (NOW).isoformat(),
            "session_id": "s1",
        }
        for item in ("i1", "i3")
    ]
    r = client.post("/v1/events", json={"events": events}, headers=auth(keys["ingest"]))
    assert r.status_code == 200 and r.json()["accepted"] == 2
    after = _get(client, keys["read"], url)
    ids = [i["item_id"] for i in after["items"]]
    assert "i1" not in ids and "i3" not in ids  # seen items are not recommended back
    assert {i["reason"] for i in after["items"]} & {"because_viewed", "session"}
    assert ids != [i["item_id"] for i in before["items"]]


def test_request_filters_and_context(client: TestClient, keys: dict[str, str]) -> None:
    key = keys["read"]
    only_b = _get(client, key, "/v1/users/u0/recommendations?k=5&categories=b")
    assert only_b["items"] and all(int(i["item_id"][1:]) >= 4 for i in only_b["items"])
    ex = _get(client, key, "/v1/users/u1/recommendations?k=8&exclude=i0&exclude=i2")
    assert not {"i0", "i2"} & {i["item_id"] for i in ex["items"]}
    ctx = _get(client, key, "/v1/users/u0/recommendations?k=3&context=item_id:i5")
    assert "i5" not in {i["item_id"] for i in ctx["items"]}
    assert any("i5" in i["evidence"] for i in ctx["items"])
    bad = client.get("/v1/users/u0/recommendations?context=colour:red", headers=auth(key))
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "context"
    band = client.get("/v1/users/u0/recommendations?price_min=9&price_max=1", headers=auth(key))
    assert band.status_code == 422 and band.json()["error"]["field"] == "price_min"


def test_chinese_explanations_by_header_or_query(client: TestClient, keys: dict[str, str]) -> None:
    zh = client.get(
        "/v1/users/u0/recommendations?k=2",
        headers={**auth(keys["read"]), "Accept-Language": "zh-CN"},
    ).json()
    en = _get(client, keys["read"], "/v1/users/u0/recommendations?k=2&lang=en")
    assert zh["items"] and all(
        any("\u4e00" <= ch <= "\u9fff" for ch in i["text"]) for i in zh["items"]
    )
    assert all(i["text"].isascii() for i in en["items"])


def test_consent_withheld_is_not_personalised_and_takes_effect_at_once(
    client: TestClient, keys: dict[str, str], home: Path
) -> None:
    url = "/v1/users/u2/recommendations?k=3"
    assert _get(client, keys["read"], url)["personalised"] is True
    store = SQLStore(load_settings(home).resolved_database_url)
    import_frame(
        store, "users", pd.DataFrame({"user_id": ["u2"], "consent_personalisation": [False]})
    )
    store.close()
    body = _get(client, keys["read"], url)
    assert body["personalised"] is False
    assert {i["reason"] for i in body["items"]} == {"non_personalised"}


def test_a_newly_trained_version_is_served_without_restart(
    home: Path, keys: dict[str, str]
) -> None:
    from campaignrec.pipeline import train

    settings = load_settings(home, model_check_seconds=0.0)
    with TestClient(create_app(settings)) as client:
        first = _get(client, keys["read"], "/v1/users/u0/recommendations")["model_version"]
        store = SQLStore(settings.resolved_database_url)
        new = train(store, settings, model="ease").version
        store.close()
        deadline = time.monotonic() + 10
        served = first
        while served != new and time.monotonic() < deadline:
            served = _get(client, keys["read"], "/v1/users/u0/recommendations")["model_version"]
            time.sleep(0.02)
        assert served == new != first
        assert _get(client, keys["read"], "/v1/users/u0/recommendations")["model_name"] == "ease"


def test_a_posted_item_gets_content_neighbours_and_stock_changes_apply(
    client: TestClient, keys: dict[str, str]
) -> None:
    new = {"item_id": "i_new", "title": "Item 5 deluxe", "category": "b", "price": 9.5}
    bad = {"item_id": "i_bad", "price": -3}
    r = client.post("/v1/items", json={"items": [new, bad]}, headers=auth(keys["ingest"]))
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1
    assert [(x["index"], x["field"]) for x in r.json()["rejected"]] == [(1, "price")]
    deadline = time.monotonic() + 10
    similar: list[dict[str, Any]] = []
    while time.monotonic() < deadline:  # picked up by the next check, off the request path
        similar = _get(client, keys["read"], "/v1/items/i_new/similar?k=3")["items"]
        if similar and similar[0]["reason"] == "similar":
            break
        time.sleep(0.05)
    assert similar and {s["reason"] for s in similar} == {"similar"}
    assert {s["item_id"] for s in similar} <= {"i4", "i5", "i6", "i7"}  # its category, b
    gone = {"item_id": "i5", "in_stock": False}
    assert (
        client.post("/v1/items", json={"items": [gone]}, headers=auth(keys["ingest"])).json()[
            "accepted"
        ]
        == 1
    )
    deadline = time.monotonic() + 10
    ids = ["i5"]
    while "i5" in ids and time.monotonic() < deadline:
        ids = [
            i["item_id"]
            for i in _get(client, keys["read"], "/v1/users/u1/recommendations?k=8")["items"]
        ]
        time.sleep(0.05)
    assert "i5" not in ids


def test_consent_events_take_effect_on_the_next_request(
    client: TestClient, keys: dict[str, str], home: Path
) -> None:
    def consent(kind: str) -> None:
        ev = {"user_id": "u3", "event_type": kind, "timestamp": NOW.isoformat()}
        r = client.post("/v1/events", json={"events": [ev]}, headers=auth(keys["ingest"]))
        assert r.status_code == 200 and r.json()["accepted"] == 1, r.text

    recs = "/v1/users/u3/recommendations?k=3"
    assert _get(client, keys["read"], recs)["personalised"] is True
    consent("consent_personalisation_withdrawn")
    body = _get(client, keys["read"], recs)
    assert body["personalised"] is False
    assert {i["reason"] for i in body["items"]} == {"non_personalised"}
    consent("consent_marketing_withdrawn")
    assert _get(client, keys["read"], "/v1/users/u3/campaigns")["campaigns"] == []
    store = SQLStore(load_settings(home).resolved_database_url)
    users = store.read_table("users").set_index("user_id")
    store.close()
    assert not users.loc["u3", "consent_marketing"]  # the users table too (batch paths)
    assert not users.loc["u3", "consent_personalisation"]


def test_with_a_pseudonymisation_key_no_raw_id_is_stored(home: Path, keys: dict[str, str]) -> None:
    settings = load_settings(
        home, model_check_seconds=0.0, pseudonymisation_key="a-test-key-of-some-length-0123456789"
    )
    events = [
        {
            "user_id": "alice@example.com",
            "item_id": i,
            "event_type": "view",
            "timestamp": NOW.isoformat(),
        }
        for i in ("i1", "i3")
    ]
    with TestClient(create_app(settings)) as client:
        r = client.post("/v1/events", json={"events": events}, headers=auth(keys["ingest"]))
        assert r.status_code == 200 and r.json()["accepted"] == 2
        body = _get(client, keys["read"], "/v1/users/alice@example.com/recommendations?k=3")
        assert body["user_id"] == "alice@example.com"  # the caller's id comes back
        assert {i["reason"] for i in body["items"]} & {"because_viewed", "session"}
        profile = _get(client, keys["read"], "/v1/users/alice@example.com/profile")
        assert set(profile["recent_items"]) == {"i1", "i3"}
    store = SQLStore(settings.resolved_database_url)
    stored = set(store.read_table("events")["user_id"])
    store.close()
    assert "alice@example.com" not in stored
    raw = (home / "campaignrec.db").read_bytes()
    assert b"alice@example.com" not in raw
