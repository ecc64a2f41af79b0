"""``DELETE /v1/users/{id}``: admin only; the shopper is gone from the store, the service's own
online state and the model it serves, and the audit record names the key that asked."""

from __future__ import annotations

import warnings

from campaignrec.config import load_settings
from campaignrec.service.app import create_app
from campaignrec.store.privacy import PrivacyRepository
from tests.service.conftest import auth, build_shop, make_keys

with warnings.catch_warnings():  # starlette warns that it prefers httpx2 over httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


def test_delete_user_erases_and_is_admin_only(tmp_path):
    home = tmp_path / "home"  # a shop of its own: erasure rewrites the model files in place
    build_shop(home)
    keys = make_keys(home)
    with TestClient(create_app(load_settings(home, model_check_seconds=0.0))) as client:
        _check(client, keys)


def _check(client, keys):
    r = client.delete("/v1/users/u1", headers=auth(keys["read"]))
    assert r.status_code == 403
    state = client.app.state.service
    state.online.push_recent("u1", "i3")
    state.online.push_recent("u2", "i3")
    r = client.delete("/v1/users/u1", headers=auth(keys["admin"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["verified"] is True and body["removed"]["store"]["events"] == 4
    assert body["removed"]["online_keys"] >= 1 and body["online_note"] is None
    assert [s[:3] for s in body["subjects"]] == ["sh_"] and '"u1"' not in r.text  # keyed hash
    assert state.online.recent("u1") == [] and state.online.recent("u2") == ["i3"]
    assert "u1" not in state.ranker.model.users_  # the served model was reloaded, rewritten
    assert "u1" not in set(state.store.read_table("events")["user_id"])
    audit = PrivacyRepository(state.store).audit_records()
    erased = audit[audit["action"] == "erase"]  # beside it, maybe already: the access records
    assert len(erased) == 1 and erased.iloc[-1]["actor"].startswith("api-key:")
    r = client.get("/v1/users/u2/recommendations?k=3", headers=auth(keys["read"]))
    assert r.status_code == 200 and r.json()["items"]
