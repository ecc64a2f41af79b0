"""The access audit: a console login, a campaign made in the console and an API erasure are in
the audit log with who made them (the console user, the admin key), refused writes too; reads of
recommendations by ordinary keys too (``audit_reads``, on by default), the shopper as a keyed hash;
no raw user id reaches the audit table; ``GET
/v1/audit`` (admin) and ``campaignrec audit [--since] [--json]`` read it."""

from __future__ import annotations

import json
import re
import warnings

from sqlalchemy import select

from campaignrec.config import load_settings
from campaignrec.privacy.audit import AccessAuditor, audited, parse_since
from campaignrec.service.app import create_app
from campaignrec.service.auth import KeyStore
from campaignrec.service.console.users import ConsoleUsers
from campaignrec.store.privacy import PrivacyRepository
from campaignrec.store.sql import SQLStore
from tests.service.conftest import auth, build_shop, make_keys
from tests.service.console.conftest import csrf_of

with warnings.catch_warnings():  # starlette warns that it prefers httpx2 over httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

PASSWORD = "a long console password"
RAW_IDS = ("u0", "u1", "u2", "u3")


def _no_raw_id(text: str) -> bool:
    return not any(re.search(rf"(?<![0-9A-Za-z]){u}(?![0-9A-Za-z])", text) for u in RAW_IDS)


def test_console_and_api_actions_are_audited_with_their_actor(tmp_path, cli):
    home = tmp_path / "home"
    build_shop(home)
    keys = make_keys(home)
    store = SQLStore(load_settings(home).resolved_database_url)
    ids = {k.scopes[0]: k.id for k in KeyStore(store).list()}
    ConsoleUsers(store).create("alice", PASSWORD)
    store.close()
    with TestClient(
        create_app(load_settings(home, model_check_seconds=0.0)), follow_redirects=False
    ) as client:
        token = csrf_of(client.get("/console/login").text)
        r = client.post(
            "/console/login", data={"username": "alice", "password": PASSWORD, "csrf": token}
        )
        assert r.status_code == 303
        token = csrf_of(client.get("/console/campaigns/new").text)
        form = {
            "csrf": token,
            "campaign_id": "a1",
            "name": "Tea week",
            "type": "coupon",
            "status": "active",
            "discount_type": "percent",
            "discount_value": "10",
            "cap_window_hours": "168",
            "priority": "0",
        }
        assert client.post("/console/campaigns", data=form).status_code == 303
        read, admin = auth(keys["read"]), auth(keys["admin"])
        for user in RAW_IDS:  # the read path: audited too (audit_reads, the default)
            assert client.get(f"/v1/users/{user}/recommendations?k=2", headers=read).is_success
        refused = client.post("/v1/campaigns", json={"campaign_id": "x"}, headers=read)
        assert refused.status_code == 403
        assert client.get("/console/lookup?user_id=u2").status_code == 200
        r = client.delete("/v1/users/u1", headers=admin)
        assert r.status_code == 200, r.text
        erased_as = r.json()["subjects"][0]
        assert client.get("/v1/audit", headers=read).status_code == 403
        listed = client.get("/v1/audit", headers=admin)
        assert listed.status_code == 200
        actions = [(x["actor"], x["action"]) for x in listed.json()["records"]]
        assert (f"api-key:{ids['admin']}", "DELETE /v1/users/{user_id}") in actions

    store = SQLStore(load_settings(home).resolved_database_url)
    records = PrivacyRepository(store).audit_records()
    rows = {(r.actor, r.action): r for r in records.itertuples()}
    login = rows[("console-user:alice", "POST /console/login")]
    assert login.detail["status"] == 303 and login.detail["channel"] == "console"
    made = rows[("console-user:alice", "POST /console/campaigns")]
    assert made.detail["status"] == 303
    erase = rows[(f"api-key:{ids['admin']}", "DELETE /v1/users/{user_id}")]
    assert erase.detail["status"] == 200 and erase.detail["channel"] == "api"
    assert erase.subject == erased_as == erase.detail["targets"]["user_id"]  # as erasure names
    assert rows[(f"api-key:{ids['admin']}", "erase")].subject == erased_as
    no = rows[(f"api-key:{ids['read']}", "POST /v1/campaigns")]
    assert no.detail["status"] == 403
    looked = rows[("console-user:alice", "GET /console/lookup")]
    assert looked.subject.startswith("sh_")
    assert ("console-user:alice", "GET /console/campaigns/new") in rows  # a console page read
    reads = records[records["action"] == "GET /v1/users/{user_id}/recommendations"]
    assert len(reads) == len(RAW_IDS) and set(reads["actor"]) == {f"api-key:{ids['read']}"}
    assert reads["subject"].str.startswith("sh_").all() and reads["subject"].nunique() == 4
    assert not any(a.startswith("GET /console/static") for _, a in rows)
    # no raw user id in any column of the audit table, nor a key's secret
    repo = PrivacyRepository(store)
    with store.engine.connect() as conn:
        dump = json.dumps([list(map(str, row)) for row in conn.execute(select(repo.audit)).all()])
    assert _no_raw_id(dump) and not any(secret in dump for secret in keys.values())
    assert PASSWORD not in dump
    store.close()

    d = ["--data-dir", str(home)]
    code, out, _ = cli(*d, "audit", "--json", "--since", "1h")
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert {"POST /console/campaigns", "DELETE /v1/users/{user_id}", "erase"} <= {
        x["action"] for x in lines
    }
    code, out, _ = cli(*d, "audit", "--json", "--since", "2999-01-01")
    assert code == 0 and out.strip() == ""
    code, out, err = cli(*d, "audit", "--since", "yesterday-ish")
    assert code != 0 and "--since" in out + err
    code, out, _ = cli(*d, "audit")
    assert code == 0 and f"审计日志 ({len(lines)})" in out


def test_auditor_batches_hashes_and_survives_a_failing_store(tmp_path):
    settings = load_settings(tmp_path / "h")
    (tmp_path / "h").mkdir()
    store = SQLStore(settings.resolved_database_url)
    auditor = AccessAuditor(store, settings, flush_seconds=60)
    rec = auditor.record(
        actor="api-key:7",
        method="post",
        route="/v1/users/{user_id}/x",
        status=201,
        channel="api",
        params={"user_id": "shopper-1", "campaign_id": "c9"},
    )
    assert rec.subject == auditor.name_user("shopper-1") and rec.subject.startswith("sh_")
    assert rec.targets == {"user_id": rec.subject, "campaign_id": "c9"}
    assert len(PrivacyRepository(store).audit_records()) == 0  # queued, not yet written
    real = auditor.repo.record_many

    def down(rows):
        raise OSError("store down")

    auditor.repo.record_many = down  # type: ignore[method-assign]
    assert auditor.flush() == 0  # kept for the next flush
    auditor.repo.record_many = real  # type: ignore[method-assign]
    auditor.close()
    got = PrivacyRepository(store).audit_records()
    assert list(got["action"]) == ["POST /v1/users/{user_id}/x"] and "shopper-1" not in str(
        got.to_dict("records")
    )
    store.close()


def test_what_is_audited():
    assert audited("POST", "/v1/events", False, False)
    assert audited("DELETE", "/v1/users/u1", False, False)
    assert audited("GET", "/metrics", True, False)
    assert audited("GET", "/console/shoppers", False, True)
    assert not audited("GET", "/v1/users/u1/recommendations", False, False)  # audit_reads off
    assert audited("GET", "/v1/users/u1/recommendations", False, False, key_read=True)
    assert not audited("GET", "/healthz", False, False, key_read=True)
    assert not audited("GET", "/console/static/app.css", False, True)
    assert not audited("GET", "/console/login", False, False)
    assert parse_since("2025-01-02T03:04").tzinfo is not None
    assert parse_since(None) is None
