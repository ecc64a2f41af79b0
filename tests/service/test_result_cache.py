"""The per-worker result cache of the list routes: answers a repeated request, and never once the
shopper's events, consent, the catalogue, an import, an erasure or the model changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from campaignrec.config import load_settings
from campaignrec.data.importer import import_frame
from campaignrec.service.app import create_app
from campaignrec.service.result_cache import ResultCache
from campaignrec.store.sql import SQLStore
from tests.service.conftest import NOW, TestClient, auth


def _get(client: TestClient, key: str, url: str, **headers: str) -> dict[str, Any]:
    r = client.get(url, headers={**auth(key), **headers})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _cache(client: TestClient) -> ResultCache:
    cache: ResultCache = client.app.state.service.results  # type: ignore[attr-defined]
    return cache


def _view(client: TestClient, key: str, user: str, items: tuple[str, ...]) -> None:
    events = [
        {"user_id": user, "item_id": i, "event_type": "view", "timestamp": NOW.isoformat()}
        for i in items
    ]
    r = client.post("/v1/events", json={"events": events}, headers=auth(key))
    assert r.status_code == 200 and r.json()["accepted"] == len(items), r.text


def test_a_repeated_request_is_answered_from_the_cache_with_the_same_body(
    client: TestClient, keys: dict[str, str]
) -> None:
    cache = _cache(client)
    assert cache.enabled  # on by default
    url = "/v1/users/u0/recommendations?k=4"
    first = _get(client, keys["read"], url)
    hits = cache.hits
    assert _get(client, keys["read"], url) == first
    assert cache.hits == hits + 1
    # another parameter, another language: computed, not the cached list
    zh = _get(client, keys["read"], url, **{"Accept-Language": "zh-CN"})
    assert zh["items"] and all(
        any("\u4e00" <= c <= "\u9fff" for c in i["text"]) for i in zh["items"]
    )
    assert cache.hits == hits + 1
    assert len(_get(client, keys["read"], "/v1/users/u0/recommendations?k=2")["items"]) == 2
    ex = _get(client, keys["read"], url + "&exclude=" + first["items"][0]["item_id"])
    assert first["items"][0]["item_id"] not in {i["item_id"] for i in ex["items"]}
    sim = _get(client, keys["read"], "/v1/items/i1/similar?k=3")
    assert _get(client, keys["read"], "/v1/items/i1/similar?k=3") == sim
    assert cache.hits == hits + 2


def test_the_feedback_loop_with_the_cache_on(client: TestClient, keys: dict[str, str]) -> None:
    """A newcomer views items of category b: the next request shows it, not the cached list."""
    url = "/v1/users/newcomer/recommendations?k=4"
    before = _get(client, keys["read"], url)
    assert _get(client, keys["read"], url) == before  # cached
    assert {i["reason"] for i in before["items"]} <= {"popular", "segment_popular"}
    _view(client, keys["ingest"], "newcomer", ("i4", "i5"))
    after = _get(client, keys["read"], url)
    ids = [i["item_id"] for i in after["items"]]
    assert "i4" not in ids and "i5" not in ids
    assert {i["reason"] for i in after["items"]} & {"because_viewed", "session"}
    assert any({"i4", "i5"} & set(i["evidence"]) for i in after["items"])  # the views explain it


def test_consent_stock_imports_and_erasure_drop_cached_lists(
    client: TestClient, keys: dict[str, str], home: Path
) -> None:
    read, ingest = keys["read"], keys["ingest"]
    url = "/v1/users/u3/recommendations?k=8"
    assert _get(client, read, url)["personalised"] is True
    assert _get(client, read, url)["personalised"] is True  # cached
    ev = {"user_id": "u3", "event_type": "consent_personalisation_withdrawn"}
    r = client.post("/v1/events", json={"events": [{**ev, "timestamp": NOW.isoformat()}]},
                    headers=auth(ingest))  # fmt: skip
    assert r.status_code == 200 and r.json()["accepted"] == 1
    assert _get(client, read, url)["personalised"] is False

    # a users file with changed consent, imported by another process: at once
    url = "/v1/users/u2/recommendations?k=3"
    assert _get(client, read, url)["personalised"] is True
    assert _get(client, read, url)["personalised"] is True
    store = SQLStore(load_settings(home).resolved_database_url)
    import_frame(
        store, "users", pd.DataFrame({"user_id": ["u2"], "consent_personalisation": [False]})
    )
    store.close()
    assert _get(client, read, url)["personalised"] is False

    # stock: an item out of stock is not answered from a list cached while it was in stock
    url = "/v1/users/u1/recommendations?k=8"
    shown = [i["item_id"] for i in _get(client, read, url)["items"]]
    assert shown and [i["item_id"] for i in _get(client, read, url)["items"]] == shown
    gone = {"item_id": shown[0], "in_stock": False}
    assert client.post("/v1/items", json={"items": [gone]}, headers=auth(ingest)).is_success
    cache = _cache(client)
    hits = cache.hits
    _get(client, read, url)
    assert cache.hits == hits  # the epoch changed: computed again

    # erasure: the other workers learn it from the epoch; this one clears its own
    _get(client, read, "/v1/users/u0/recommendations?k=3")
    assert len(cache) > 0
    r = client.delete("/v1/users/u0", headers=auth(keys["admin"]))
    assert r.status_code == 200, r.text
    hits = cache.hits
    _get(client, read, "/v1/users/u0/recommendations?k=3")
    assert cache.hits == hits


def test_the_result_cache_off_computes_every_request(home: Path, keys: dict[str, str]) -> None:
    settings = load_settings(home, model_check_seconds=0.0, result_cache_seconds=0)
    with TestClient(create_app(settings)) as client:
        url = "/v1/users/u0/recommendations?k=4"
        assert _get(client, keys["read"], url) == _get(client, keys["read"], url)
        assert _cache(client).hits == 0 and len(_cache(client)) == 0


def test_the_ttl_bounds_an_entry_and_a_stamp_change_misses() -> None:
    now = [0.0]
    cache = ResultCache(30, max_entries=2, clock=lambda: now[0])
    cache.put("a", (1,), b"A")
    assert cache.get("a", (1,)) == b"A"
    assert cache.get("a", (2,)) is None  # the shopper's version moved on
    now[0] = 30.0
    assert cache.get("a", (1,)) is None  # older than the TTL
    cache.put("b", (1,), b"B")
    cache.put("c", (1,), b"C")
    cache.put("d", (1,), b"D")
    assert len(cache) == 2 and cache.get("b", (1,)) is None


def test_experiment_assigned_requests_are_not_cached(
    client: TestClient, keys: dict[str, str]
) -> None:
    body = {
        "experiment_id": "div",
        "layer": "recommendations",
        "variants": [
            {"name": "free", "share": 1, "config": {}},
            {"name": "diverse", "share": 1, "config": {"diversity": 0.5}},
        ],
        "start_time": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
    }
    r = client.post("/v1/experiments", json=body, headers=auth(keys["admin"]))
    assert r.status_code == 201, r.text
    cache = _cache(client)
    cache.clear()
    hits = cache.hits
    for _ in range(3):
        out = _get(client, keys["read"], "/v1/users/u1/recommendations?k=4")
        assert out["experiment"] == "div"
    assert cache.hits == hits and len(cache) == 0  # each request went through the arm's logging
