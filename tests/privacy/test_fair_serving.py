"""The fairness step of the serving path: with ``fairness_strength`` on, every prefix of a served
list holds the FA*IR minimum of the protected item group (the API and ``campaignrec recommend``
serve the same lists); off (the default, or ``fair_strength=0``) the lists are unchanged."""

from __future__ import annotations

import json
import random
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from campaignrec.config import load_settings
from campaignrec.data.importer import import_frame
from campaignrec.errors import ConfigError, ValidationError
from campaignrec.pipeline import train
from campaignrec.ranking import Ranker, RankingRequest
from campaignrec.ranking.fairness import ProtectedGroup, minimum_protected
from campaignrec.service.app import create_app
from campaignrec.store.online import MemoryOnlineState
from campaignrec.store.sql import SQLStore
from tests.service.conftest import auth, make_keys

with warnings.catch_warnings():  # starlette warns that it prefers httpx2 over httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

K, P = 6, 0.5
SMALL = {f"i{n:02d}" for n in range(12, 20)}  # the small brand nobody looks at much


def _build(home: Path) -> None:
    """20 items: 12 of brand "big" viewed by everyone, 8 of brand "small" rarely."""
    rng = random.Random(5)
    home.mkdir(parents=True)
    store = SQLStore(load_settings(home).resolved_database_url)
    items = pd.DataFrame(
        {
            "item_id": [f"i{n:02d}" for n in range(20)],
            "title": [f"Item {n}" for n in range(20)],
            "brand": ["big"] * 12 + ["small"] * 8,
            "category": ["c"] * 20,
        }
    )
    now = datetime.now(UTC)
    rows = []
    for u in range(40):
        for k in range(8):
            pool = range(12) if rng.random() < 0.92 else range(12, 20)
            rows.append(
                {
                    "user_id": f"u{u}",
                    "item_id": f"i{rng.choice(list(pool)):02d}",
                    "event_type": "view",
                    "timestamp": (now - timedelta(days=2, minutes=u * 10 + k)).isoformat(),
                }
            )
    import_frame(store, "items", items)
    import_frame(store, "users", pd.DataFrame({"user_id": [f"u{u}" for u in range(40)]}))
    import_frame(store, "events", pd.DataFrame(rows))
    train(store, load_settings(home), model="item_knn")
    store.close()


@pytest.fixture(scope="module")
def fair_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("fair") / "home"
    _build(home)
    (home / "campaignrec.toml").write_text(
        f'fairness_protected_group = "brand:small"\nfairness_strength = {P}\n', encoding="utf-8"
    )
    return home


def _meets(items: list[str], k: int = K, p: float = P) -> bool:
    need = minimum_protected(len(items), p, 0.1)
    have = np.cumsum([i in SMALL for i in items])
    return bool(np.all(have >= need[: len(items)])) and len(items) == k


def _ranker(home: Path, **overrides: object) -> Ranker:
    settings = load_settings(home, **overrides)
    return Ranker.from_store(
        SQLStore(settings.resolved_database_url), settings, MemoryOnlineState()
    )


USERS = [f"u{u}" for u in range(40)]


def test_served_lists_hold_the_minimum_and_off_changes_nothing(fair_home):
    on = _ranker(fair_home)
    plain = _ranker(fair_home, fairness_protected_group=None, fairness_strength=0.0)
    fair = {u: on.recommend(RankingRequest(u, k=K)) for u in USERS}
    base = {u: plain.recommend(RankingRequest(u, k=K)) for u in USERS}
    ids = {u: [i.item_id for i in r.items] for u, r in fair.items()}
    base_ids = {u: [i.item_id for i in r.items] for u, r in base.items()}
    assert not all(_meets(b) for b in base_ids.values())  # without it, the minimum fails
    assert all(_meets(i) for i in ids.values())
    for u in USERS:
        # the others keep the model's order; what moved up says so, in both languages
        assert [i for i in ids[u] if i not in SMALL] == [i for i in base_ids[u] if i not in SMALL][
            : len([i for i in ids[u] if i not in SMALL])
        ]
        for item in fair[u].items:
            assert item.fair_boost == ("fair exposure" in item.text)
            assert not item.fair_boost or item.item_id in SMALL
    assert any(it.fair_boost for r in fair.values() for it in r.items)
    zh = on.recommend(RankingRequest(USERS[0], k=K, lang="zh"))
    boosted = [it for it in zh.items if it.fair_boost]
    assert all("公平曝光" in it.text and "品牌small" in it.text for it in boosted)
    # strength 0 for one request, or no group at all: the model's lists exactly
    for u in USERS[:10]:
        off = on.recommend(RankingRequest(u, k=K, fair_strength=0.0))
        assert [(i.item_id, i.text) for i in off.items] == [
            (i.item_id, i.text) for i in base[u].items
        ]
        assert not any(i.fair_boost for i in off.items)


def test_api_and_cli_serve_the_same_fair_lists(fair_home, cli):
    keys = make_keys(fair_home)
    d = ["--data-dir", str(fair_home)]
    with TestClient(create_app(load_settings(fair_home, model_check_seconds=0.0))) as client:
        for user in USERS[:6]:
            r = client.get(f"/v1/users/{user}/recommendations?k={K}", headers=auth(keys["read"]))
            assert r.status_code == 200, r.text
            api = [i["item_id"] for i in r.json()["items"]]
            assert _meets(api)
            code, out, _ = cli(*d, "recommend", user, "--k", str(K), "--json")
            assert code == 0
            assert [i["item_id"] for i in json.loads(out)["items"]] == api
            r0 = client.get(
                f"/v1/users/{user}/recommendations?k={K}&fair_strength=0",
                headers=auth(keys["read"]),
            )
            code, out, _ = cli(
                *d, "recommend", user, "--k", str(K), "--json", "--fair-strength", "0"
            )
            assert [i["item_id"] for i in json.loads(out)["items"]] == [
                i["item_id"] for i in r0.json()["items"]
            ]
            assert not any(i["fair_boost"] for i in r0.json()["items"])
        r = client.get("/v1/users/u1/recommendations?fair_strength=1.5", headers=auth(keys["read"]))
        assert r.status_code == 422 and "fair_strength" in r.text


def test_a_request_strength_without_a_group_is_refused(fair_home):
    plain = _ranker(fair_home, fairness_protected_group=None, fairness_strength=0.0)
    with pytest.raises(ValidationError) as info:
        plain.recommend(RankingRequest("u1", k=K, fair_strength=0.4))
    assert info.value.field == "fair_strength"
    with pytest.raises(ConfigError, match="fairness_protected_group"):
        _ranker(fair_home, fairness_protected_group="sellers")
    with pytest.raises(ConfigError, match="fairness_protected_group"):
        _ranker(fair_home, fairness_protected_group=None, fairness_strength=0.3)


def test_protected_groups():
    ids = np.asarray(["a", "b", "c", "d", "e"], dtype=object)
    brand = np.asarray(["x", "y", None, "x", "z"], dtype=object)
    cat = np.asarray(["Books", "Books/Kids", "Home", None, "Bookshelf"], dtype=object)
    pop = np.asarray([9.0, 5.0, 0.0, 3.0, 1.0])
    now = datetime(2025, 6, 1, tzinfo=UTC)
    table = pd.DataFrame(
        {
            "item_id": list(ids),
            "created_time": [now - timedelta(days=d) for d in (400, 3, 50, 10, 90)],
        }
    )

    def mask(spec: str) -> list[bool]:
        return ProtectedGroup.parse(spec).mask(ids, brand, cat, pop, table, now).tolist()

    assert mask("brand:x|z") == [True, False, False, True, True]
    assert mask("category:Books") == [True, True, False, False, False]
    assert mask("long_tail") == [False, True, True, True, True]
    # created in the last 30 days, or never interacted with in training
    assert mask("new_items") == [False, True, True, True, False]
    for bad in ("brand", "new_items:x", "nope"):
        with pytest.raises(ConfigError):
            ProtectedGroup.parse(bad)
