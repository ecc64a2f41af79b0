"""``GET /v1/search``: search terms to items through the ASGI client (the same library function
as ``campaignrec search``), its validation, its auth and its 409 without a content model."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from campaignrec.config import load_settings
from campaignrec.data.importer import import_frame
from campaignrec.pipeline import train
from campaignrec.pipeline.search import search_items
from campaignrec.service.app import create_app
from campaignrec.store.sql import SQLStore
from tests.service.conftest import auth

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture
def searchable(home: Path, keys: dict[str, str]) -> Iterator[TestClient]:
    """The shop with real titles (one hidden) and a trained content model (TF-IDF)."""
    settings = load_settings(home)
    store = SQLStore(settings.resolved_database_url)
    items = pd.DataFrame(
        {
            "item_id": [f"i{n}" for n in range(8)],
            "title": [
                "trail running shoes",
                "running socks",
                "ceramic coffee mug",
                "porcelain tea cup",
                "男士跑步鞋",
                "陶瓷咖啡杯",
                "yoga mat",
                "hidden running shoes",
            ],
            "category": ["a"] * 4 + ["b"] * 4,
            "hidden": [False] * 7 + [True],
        }
    )
    import_frame(store, "items", items)
    train(store, settings, model="content", params={"text_encoder": "tfidf"})
    store.close()
    with TestClient(create_app(load_settings(home, model_check_seconds=0.0))) as c:
        yield c


def test_search_finds_matching_items_and_skips_hidden(
    searchable: TestClient, keys: dict[str, str], home: Path
) -> None:
    r = searchable.get(
        "/v1/search", params={"q": "running shoes", "k": 5}, headers=auth(keys["read"])
    )
    assert r.status_code == 200, r.text
    body = r.json()
    ids = [h["item_id"] for h in body["items"]]
    assert ids[0] == "i0" and "i1" in ids  # both words, then one
    assert "i7" not in ids  # hidden
    assert {"i2", "i3", "i6"}.isdisjoint(ids)  # no shared term: not listed
    assert [h["rank"] for h in body["items"]] == list(range(1, len(ids) + 1))
    assert body["items"][0]["title"] == "trail running shoes" and body["model_name"] == "content"
    # the same answer as the library function the CLI calls
    store = SQLStore(load_settings(home).resolved_database_url)
    try:
        assert search_items(store, "running shoes", 5)["item_id"].tolist() == ids
    finally:
        store.close()
    zh = searchable.get(
        "/v1/search", params={"q": "咖啡杯", "lang": "zh"}, headers=auth(keys["read"])
    ).json()
    assert zh["items"][0]["item_id"] == "i5" and "搜索" in zh["items"][0]["text"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": ""}, "q"),
        ({"q": "   "}, "q"),
        ({}, "q"),
        ({"q": "x" * 257}, "q"),
        ({"q": "mug", "k": 0}, "k"),
        ({"q": "mug", "k": 101}, "k"),
        ({"q": "mug", "lang": "x" * 17}, "lang"),
    ],
)
def test_search_validation_names_the_field(
    searchable: TestClient, keys: dict[str, str], params: dict[str, object], field: str
) -> None:
    r = searchable.get("/v1/search", params=params, headers=auth(keys["read"]))
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["field"] == field and err["code"] == "validation_error"


def test_search_needs_a_read_key(client: TestClient, keys: dict[str, str]) -> None:
    assert client.get("/v1/search?q=mug").status_code == 401
    assert client.get("/v1/search?q=mug", headers=auth("crk_nope.nope")).status_code == 401
    r = client.get("/v1/search?q=mug", headers=auth(keys["ingest"]))
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"


def test_search_without_a_content_model_is_409(client: TestClient, keys: dict[str, str]) -> None:
    r = client.get("/v1/search?q=mug", headers=auth(keys["read"]))  # the shop trained item_knn
    assert r.status_code == 409 and r.json()["error"]["code"] == "no_model"


def test_search_is_in_the_openapi_schema(client: TestClient) -> None:
    op = client.get("/openapi.json").json()["paths"]["/v1/search"]["get"]
    names = {p["name"] for p in op["parameters"]}
    assert {"q", "k", "lang"} <= names
    assert "SearchOut" in str(op["responses"]["200"])
