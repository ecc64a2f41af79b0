"""``/v1/push``: a plan made for review, listed, read, approved, sent to a local webhook (twice:
nothing twice), the report; admin key on writes; 4xx naming the field."""

from __future__ import annotations

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


def test_plan_review_approve_send_and_report(api) -> None:  # type: ignore[no-untyped-def]
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
        send = {"to": hook.url, "now": "2025-03-20T00:00:00Z"}
        # a draft is not sent
        res = c.post(f"/v1/push/plans/{pid}/send", json=send, headers=admin)
        assert res.status_code == 409 and res.json()["error"]["field"] == "status"
        assert not hook.received
        assert c.post(f"/v1/push/plans/{pid}/approve", headers=read).status_code == 403
        ok = c.post(f"/v1/push/plans/{pid}/approve", headers=admin).json()
        assert ok["status"] == "approved" and ok["approved_by"]
        for bad in ("http://[", "http://:80/x", "amqp://h:port/"):
            res = c.post(f"/v1/push/plans/{pid}/send", json={"to": bad}, headers=admin)
            assert res.status_code == 422 and res.json()["error"]["field"] == "to", res.text
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
        ("post", "/v1/push/plans/pp_000000000000/send", {"to": "ftp://x"}, 422, "to"),
        ("post", "/v1/push/plans/pp_000000000000/send", {"to": "http://x"}, 404, "push plan"),
        (
            "post",
            "/v1/push/plans/pp_000000000000/send",
            {"to": "http://x", "queue": "q"},
            422,
            "queue",
        ),
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
