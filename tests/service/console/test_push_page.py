"""The Push page: plans awaiting review made through the console or the API, one plan's
recipients, channels and send-time histogram, approving and sending it (through the API's
functions, CSRF on every form), the report against the holdout; both languages."""

from __future__ import annotations

import html as html_lib
import json
import os
import re
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from campaignrec.service.console.i18n import translate
from tests.push.helpers import webhook
from tests.service.console.conftest import add_push_shop, chart_of, csrf_of, log_in


@pytest.fixture
def shop(console_home: Path, console_keys: dict[str, str]) -> TestClient:
    from campaignrec.config import load_settings
    from campaignrec.service.app import create_app

    add_push_shop(console_home)
    settings = load_settings(console_home, model_check_seconds=0.0, api_rate_per_second=1e6)
    with TestClient(create_app(settings), follow_redirects=False) as c:
        log_in(c, console_keys["admin"])
        yield c


def _api(client: TestClient, keys: dict[str, str], path: str) -> dict:
    r = client.get(path, headers={"Authorization": f"Bearer {keys['read']}"})
    assert r.status_code == 200, r.text
    return r.json()


def _plan_from_console(client: TestClient, campaign: str = "pushy", lang: str = "en") -> str:
    token = csrf_of(client.get("/console/push").text)
    r = client.post(
        f"/console/push/plans?lang={lang}", data={"csrf": token, "campaign_id": campaign}
    )
    assert r.status_code == 303, r.text
    found = re.match(r"/console/push/(pp_[0-9a-f]{12})\?done=push_planned$", r.headers["location"])
    assert found
    return found.group(1)


def test_a_plan_made_in_the_console_awaits_review_in_the_list_and_the_api(
    shop: TestClient, console_keys: dict[str, str]
) -> None:
    pid = _plan_from_console(shop)
    listed = _api(shop, console_keys, "/v1/push/plans")["plans"]
    assert [p["plan_id"] for p in listed] == [pid] and listed[0]["status"] == "draft"
    summary = listed[0]["summary"]
    assert summary["pushes"] > 0 and summary["holdout"] > 0, json.dumps(summary)
    for lang in ("en", "zh"):
        html = shop.get(f"/console/push?lang={lang}").text
        row = re.search(rf'<tr data-plan="{pid}" data-status="draft">(.*?)</tr>', html, re.S)
        assert row, html[:2000]
        assert translate(lang, "push_status_draft") in row.group(1)
        cells = re.findall(r"<td>(.*?)</td>", row.group(1), re.S)
        assert cells[4] == str(summary["pushes"]) and cells[5] == str(summary["holdout"])
        assert translate(lang, "push_title") in html


def test_the_plan_page_shows_recipients_channels_and_the_send_time_histogram(
    shop: TestClient, console_keys: dict[str, str]
) -> None:
    pid = _plan_from_console(shop)
    api = _api(shop, console_keys, f"/v1/push/plans/{pid}?rows=1000")
    rows = api["rows"]
    for lang in ("en", "zh"):
        html = shop.get(f"/console/push/{pid}?lang={lang}").text
        shown = dict(re.findall(r'data-push="(\w+)">([^<]+)<', html))
        assert shown["pushes"] == str(api["summary"]["pushes"]) == str(len(rows))
        assert shown["holdout"] == str(api["summary"]["holdout"])
        hours = chart_of(html, "chart-push-hours")["data"][0]
        want = Counter(datetime.fromisoformat(r["send_at"]).hour for r in rows)
        assert hours["x"] == list(range(24))
        assert hours["y"] == [want.get(h, 0) for h in range(24)]
        channels = chart_of(html, "chart-push-channels")["data"][0]
        assert dict(zip(channels["x"], channels["y"], strict=True)) == api["summary"]["by_channel"]
        assert translate(lang, "push_skip_holdout") in html  # why the holdout got nothing
        table = re.search(r'id="push-rows">(.*?)</table>', html, re.S)
        assert table and table.group(1).count("<tr>") == min(len(rows), 50) + 1  # + header
        assert 'id="approve-push"' in html


def test_approve_then_send_goes_through_the_api_and_the_report_follows(
    shop: TestClient, console_keys: dict[str, str]
) -> None:
    pid = _plan_from_console(shop)
    page = shop.get(f"/console/push/{pid}").text
    token = csrf_of(page)
    assert 'id="send-push"' not in page  # a draft cannot be sent
    assert shop.post(f"/console/push/{pid}/approve", data={}).status_code == 403  # no token
    assert _api(shop, console_keys, f"/v1/push/plans/{pid}")["status"] == "draft"
    r = shop.post(f"/console/push/{pid}/approve", data={"csrf": token})
    assert r.status_code == 303 and r.headers["location"].endswith("done=push_approved")
    assert _api(shop, console_keys, f"/v1/push/plans/{pid}")["status"] == "approved"
    page = shop.get(f"/console/push/{pid}?lang=zh&done=push_approved").text
    assert 'data-status="approved"' in page and 'id="send-push"' in page
    assert translate("zh", "push_approved") in page
    with webhook() as hook:
        os.environ["CAMPAIGNREC_PUSH_TARGETS"] = json.dumps({"hook": {"url": hook.url}})
        try:
            assert (
                shop.post(f"/console/push/{pid}/send", data={"target": "hook"}).status_code == 403
            )
            r = shop.post(f"/console/push/{pid}/send", data={"csrf": token, "target": "hook"})
        finally:
            del os.environ["CAMPAIGNREC_PUSH_TARGETS"]
        assert r.status_code == 303, r.text
    after = _api(shop, console_keys, f"/v1/push/plans/{pid}")
    send = after["sends"][-1]
    # the plan's slots lie ahead: nothing is due yet, so nothing was delivered, none lost
    assert send["sent"] + send["not_due"] + send["already_sent"] == after["summary"]["pushes"]
    assert len(hook.received) == send["sent"]
    done = "push_sent" if after["status"] == "sent" else "push_sending"
    assert r.headers["location"].endswith(f"done={done}")
    page = shop.get(f"/console/push/{pid}?lang=en").text
    report = _api(shop, console_keys, "/v1/push/reports/pushy")
    assert report["sentences"]["en"] in page.replace("&#39;", "'")
    metrics = re.findall(r'<tr data-metric="(\w+)">', page)
    assert metrics == [m["metric"] for m in report["metrics"]]
    zh = shop.get(f"/console/push/{pid}?lang=zh").text
    assert report["sentences"]["zh"] in zh


def test_wrong_input_is_refused_with_the_field_named(shop: TestClient) -> None:
    token = csrf_of(shop.get("/console/push").text)
    r = shop.post("/console/push/plans?lang=zh", data={"csrf": token, "campaign_id": "nope"})
    assert r.status_code == 422
    assert re.search(r'id="err-campaign_id">[^<]+<', r.text)
    r = shop.post("/console/push/plans", data={"csrf": token, "campaign_id": ""})
    assert r.status_code == 422 and 'id="err-campaign_id"' in r.text
    for at in ("yesterday", "1900-01-01T00:00"):
        r = shop.post("/console/push/plans", data={"csrf": token, "campaign_id": "pushy", "at": at})
        assert r.status_code == 422 and 'id="err-at"' in r.text, at
        assert f'value="{at}"' in r.text  # the typed value is kept
    pid = _plan_from_console(shop)
    shop.post(f"/console/push/{pid}/approve", data={"csrf": token})
    r = shop.post(f"/console/push/{pid}/send", data={"csrf": token, "target": "nope"})
    assert r.status_code == 422 and "target:" in r.text
    assert shop.get("/console/push/pp_000000000000").status_code == 404
    assert shop.get("/console/push/not-a-plan").status_code == 404


def test_a_plan_can_be_made_as_of_a_later_moment(
    shop: TestClient, console_keys: dict[str, str]
) -> None:
    from datetime import UTC, timedelta

    later = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
    token = csrf_of(shop.get("/console/push").text)
    r = shop.post(
        "/console/push/plans",
        data={"csrf": token, "campaign_id": "pushy", "at": later.strftime("%Y-%m-%dT%H:%M")},
    )
    assert r.status_code == 303, r.text
    made = _api(shop, console_keys, "/v1/push/plans")["plans"][0]
    assert datetime.fromisoformat(made["planned_at"]) == later


def test_a_draft_is_not_sent(shop: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    # a configured target, so the draft status is what refuses the send
    monkeypatch.setenv(
        "CAMPAIGNREC_PUSH_TARGETS", json.dumps({"hook": {"url": "http://127.0.0.1:9/"}})
    )
    pid = _plan_from_console(shop)
    token = csrf_of(shop.get(f"/console/push/{pid}").text)
    r = shop.post(f"/console/push/{pid}/send", data={"csrf": token, "target": "hook"})
    assert r.status_code == 409 and "status" in r.text


def _tomorrow_in_shanghai() -> str:
    from datetime import UTC, timedelta
    from zoneinfo import ZoneInfo

    return (
        (datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")) + timedelta(days=1))
        .date()
        .isoformat()
    )


def test_the_push_page_plans_a_product_push_beside_a_campaign(
    shop: TestClient, console_keys: dict[str, str]
) -> None:
    for lang in ("en", "zh"):
        html = html_lib.unescape(shop.get(f"/console/push?lang={lang}").text)
        assert 'name="push_kind"' in html and 'value="products"' in html
        for key in ("push_kind_campaign", "push_kind_products", "f_k", "f_day"):
            assert translate(lang, key) in html, key
    day = _tomorrow_in_shanghai()
    token = csrf_of(shop.get("/console/push").text)
    r = shop.post(
        "/console/push/plans",
        data={"csrf": token, "push_kind": "products", "k": "2", "day": day, "campaign_id": "pushy"},
    )
    assert r.status_code == 303, r.text
    pid = re.match(r"/console/push/(pp_[0-9a-f]{12})\?", r.headers["location"]).group(1)  # type: ignore[union-attr]
    made = _api(shop, console_keys, f"/v1/push/plans/{pid}?rows=1000")
    assert made["campaign_id"] == f"products-{day}" and made["kind"] == "products"
    assert made["summary"]["pushes"] > 0 and made["products"]["k"] == 2
    assert all(len(row["item_ids"].split()) == 2 for row in made["rows"])
    assert all(row["content"].startswith("Recommended for you: ") for row in made["rows"])
    zh = shop.get(f"/console/push/{pid}?lang=zh").text
    assert f"products-{day}" in zh and "每位顾客的前 2 件商品" in zh  # the value source, in Chinese


def test_a_product_push_with_bad_input_is_refused_on_the_form(shop: TestClient) -> None:
    token = csrf_of(shop.get("/console/push").text)
    for data, field in (
        ({"k": "0"}, "k"),
        ({"k": "many"}, "k"),
        ({"day": "2025/01/01"}, "day"),
        ({"day": "2020-01-01"}, "day"),  # no time left on that day
        ({"push_kind": "both"}, "push_kind"),
    ):
        body = {"csrf": token, "push_kind": "products", **data}
        r = shop.post("/console/push/plans?lang=zh", data=body)
        assert r.status_code == 422, (data, r.text[:500])
        assert re.search(rf'id="err-{field}">[^<]+<', r.text), (data, field)
        for name, value in data.items():
            if name != "push_kind":  # a select shows its own options
                assert f'value="{value}"' in r.text  # the typed value is kept
