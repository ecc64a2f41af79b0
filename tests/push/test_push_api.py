"""``/v1/push``: a plan made for review, listed, read, approved, sent to a local webhook (twice:
nothing twice), the report; admin key on writes; 4xx naming the field."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from campaignrec.cli.main import app as cli
from campaignrec.config import load_settings
from campaignrec.service.app import create_app
from tests.push.helpers import webhook
from tests.push.test_push_cli import _shop
from tests.service.conftest import TestClient, auth, make_keys

AT = "2025-03-03T01:00:00Z"


@pytest.fixture()
def api(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str], dict[str, Any]]]:
    files = _shop(tmp_path)
    home = tmp_path / "home"
    runner = CliRunner()
    for kind in ("users", "campaigns", "events"):
        res = runner.invoke(cli, ["--data-dir", str(home), "import", kind, str(files[kind])])
        assert res.exit_code == 0, res.output
    keys = make_keys(home)
    up = pd.read_csv(files["uplift"])
    uplift = up.assign(user_id=up["user_id"].astype(str)).to_dict("records")
    with TestClient(create_app(load_settings(home, api_rate_per_second=1e6))) as c:
        yield c, keys, {"campaign_id": "spring", "at": AT, "uplift": uplift}


def test_plan_review_approve_send_and_report(api, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    c, keys, body = api
    admin, read = auth(keys["admin"]), auth(keys["read"])
    assert c.post("/v1/push/plans", json=body, headers=read).status_code == 403
    res = c.post("/v1/push/plans", json=body, headers=admin)
    assert res.status_code == 201, res.text
    made = res.json()
    pid = made["plan_id"]
    assert made["status"] == "draft" and made["summary"]["pushes"] >= 2
    assert made["summary"]["holdout"] >= 1 and made["summary"]["by_channel"]["sms"] == 1
    listed = c.get("/v1/push/plans", headers=read).json()["plans"]
    assert [p["plan_id"] for p in listed] == [pid]
    assert c.get("/v1/push/plans?campaign_id=other", headers=read).json()["plans"] == []
    one = c.get(f"/v1/push/plans/{pid}?rows=5", headers=read).json()
    assert len(one["rows"]) == 5 and one["rows"][0]["send_at"][-6:-3] in ("+08", "+00")
    assert {"user_id", "channel", "send_at", "content", "expected_value"} <= set(one["rows"][0])
    with webhook() as hook:
        targets = {"hook": {"url": hook.url}, "bad": {"url": "amqp://h:port/"}}
        monkeypatch.setenv("CAMPAIGNREC_PUSH_TARGETS", json.dumps(targets))
        send = {"target": "hook", "now": "2025-03-20T00:00:00Z"}
        # a draft is not sent
        res = c.post(f"/v1/push/plans/{pid}/send", json=send, headers=admin)
        assert res.status_code == 409 and res.json()["error"]["field"] == "status"
        assert not hook.received
        assert c.post(f"/v1/push/plans/{pid}/approve", headers=read).status_code == 403
        ok = c.post(f"/v1/push/plans/{pid}/approve", headers=admin).json()
        assert ok["status"] == "approved" and ok["approved_by"]
        # a URL in the body is refused: the body names a configured target
        res = c.post(
            f"/v1/push/plans/{pid}/send", json={"target": "hook", "to": hook.url}, headers=admin
        )
        assert res.status_code == 422 and res.json()["error"]["field"] == "to", res.text
        for bad, field in (("nope", "target"), ("bad", "to"), ("a b", "target")):
            res = c.post(f"/v1/push/plans/{pid}/send", json={"target": bad}, headers=admin)
            assert res.status_code == 422 and res.json()["error"]["field"] == field, res.text
        assert not hook.received
        res = c.post(f"/v1/push/plans/{pid}/send", json=send, headers=admin)
        assert res.status_code == 200, res.text
        sent = res.json()
        assert sent["status"] == "sent" and sent["sent"] == made["summary"]["pushes"]
        again = c.post(f"/v1/push/plans/{pid}/send", json=send, headers=admin).json()
        assert again["sent"] == 0 and again["already_sent"] == sent["sent"]
        assert len(hook.received) == sent["sent"] == len(set(hook.keys()))
    rep = c.get("/v1/push/reports/spring?at=2025-04-01T00:00:00Z", headers=read)
    assert rep.status_code == 200, rep.text
    r = rep.json()
    assert r["basis"] == "sent" and r["pushed"] == sent["sent"] and r["holdout"] >= 1
    assert r["treatment"] == r["pushed"] + r["left_out"]
    assert {m["metric"] for m in r["metrics"]} == {
        "opened",
        "clicked",
        "converted",
        "revenue",
        "opted_out",
    }
    assert r["sentences"]["zh"]


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "field"),
    [
        ("post", "/v1/push/plans", {"campaign_id": ""}, 422, "campaign_id"),
        ("post", "/v1/push/plans", {"campaign_id": "spring", "at": "2025-03-03T01:00"}, 422, "at"),
        ("post", "/v1/push/plans", {"campaign_id": "spring", "at": "1900-01-01T00:00Z"}, 422, "at"),
        ("post", "/v1/push/plans", {"campaign_id": "nope"}, 404, "campaign"),
        ("post", "/v1/push/plans", {"campaign_id": "spring", "colour": 1}, 422, "colour"),
        (
            "post",
            "/v1/push/plans",
            {"campaign_id": "spring", "uplift": [{"user_id": "a", "p_control": 2, "p_treated": 0}]},
            422,
            "uplift.0.p_control",
        ),
        (
            "post",
            "/v1/push/plans",
            {"campaign_id": "spring", "uplift": [{"user_id": "x", "p_control": 0, "p_treated": 1}]},
            422,
            "uplift",
        ),
        ("get", "/v1/push/plans/pp_000000000000", None, 404, "push plan"),
        ("get", "/v1/push/plans/..%2Fetc", None, 404, None),  # no route: never a file
        (
            "post",
            "/v1/push/plans/pp_000000000000/send",
            {"target": "x", "to": "ftp://x"},
            422,
            "to",
        ),
        ("post", "/v1/push/plans/pp_000000000000/send", {"target": "x/y"}, 422, "target"),
        ("post", "/v1/push/plans/pp_000000000000/send", {"target": "x"}, 422, "target"),
        ("get", "/v1/push/reports/spring", None, 422, "campaign_id"),
        ("get", "/v1/push/reports/spring?window_days=0", None, 422, "window_days"),
    ],
)
def test_bad_requests_are_4xx_naming_the_field(api, method, path, payload, status, field) -> None:  # type: ignore[no-untyped-def]
    c, keys, _ = api
    kw: dict[str, Any] = {"headers": auth(keys["admin"])}
    if payload is not None:
        kw["json"] = payload
    res = getattr(c, method)(path, **kw)
    assert res.status_code == status, res.text
    assert res.json()["error"]["field"] == field, res.text


def test_a_named_target_keeps_its_credentials_out_of_responses_logs_and_files(
    api, monkeypatch, caplog, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    """The body names the target; the password of its broker URL and a webhook's token never
    appear in a response, the log or any file of the data directory."""
    c, keys, body = api
    admin = auth(keys["admin"])
    secret, token = "pw-S3cretXYZ", "T0kenQRS"
    pid = c.post("/v1/push/plans", json=body, headers=admin).json()["plan_id"]
    c.post(f"/v1/push/plans/{pid}/approve", headers=admin)
    caplog.set_level(logging.DEBUG)
    with webhook() as hook:
        targets = {
            # nothing listens on port 1: the broker cannot be reached (503)
            "broker": {"url": f"amqp://shop:{secret}@127.0.0.1:1/%2F", "queue": "q"},
            "hook": {"url": f"{hook.url}?token={token}"},
        }
        monkeypatch.setenv("CAMPAIGNREC_PUSH_TARGETS", json.dumps(targets))
        down = c.post(
            f"/v1/push/plans/{pid}/send",
            json={"target": "broker", "now": "2025-03-20T00:00:00Z"},
            headers=admin,
        )
        assert down.status_code == 503, down.text
        ok = c.post(
            f"/v1/push/plans/{pid}/send",
            json={"target": "hook", "now": "2025-03-20T00:00:00Z"},
            headers=admin,
        )
        assert ok.status_code == 200 and ok.json()["sent"] >= 2, ok.text
        assert hook.received  # the token did reach the webhook's URL
        listed = c.get(f"/v1/push/plans/{pid}", headers=admin).text
    seen = down.text + ok.text + listed + caplog.text
    files = [p for p in (tmp_path / "home").rglob("*") if p.is_file()]
    seen += "".join(p.read_bytes().decode("utf-8", "replace") for p in files)
    assert "127.0.0.1:1" in seen and "/push?" in ok.text  # the log and responses were read
    assert secret not in seen and token not in seen
