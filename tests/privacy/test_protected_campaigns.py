"""A campaign declares the protected attributes it is about: an audience on gender or age without
the declaration is refused wherever a campaign is saved (API 422 naming ``audience``, the
console's form, ``campaignrec import campaigns``); declared use passes, and the planner still
reports selection rates by group."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from campaignrec.campaigns.catalog import load_campaigns_file
from campaignrec.campaigns.fairness import check_protected_use
from campaignrec.config import load_settings
from campaignrec.data.importer import import_frame
from campaignrec.data.schema import Campaign
from campaignrec.errors import ValidationError
from campaignrec.service.app import create_app
from campaignrec.store.sql import SQLStore
from tests.service.conftest import auth, build_shop, make_keys
from tests.service.console.conftest import add_exposures, csrf_of, log_in

with warnings.catch_warnings():  # starlette warns that it prefers httpx2 over httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

NOW = datetime.now(UTC)
WOMEN = {"field": "gender", "op": "eq", "value": "female"}
BASE = {
    "name": "Spring dresses",
    "type": "coupon",
    "discount_type": "percent",
    "discount_value": 10.0,
    "start_time": (NOW - timedelta(days=1)).isoformat(),
    "end_time": (NOW + timedelta(days=6)).isoformat(),
}
DECLARED = {
    "protected_attributes": ["gender"],
    "protected_reason": "a women's-wear launch",
}


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("protected") / "home"
    build_shop(home)
    store = SQLStore(load_settings(home).resolved_database_url)
    users = pd.DataFrame(
        {
            "user_id": [f"u{n}" for n in range(4)],
            "region": ["north"] * 4,
            "gender": ["female", "male", "female", "male"],
        }
    )
    import_frame(store, "users", users)
    store.close()
    add_exposures(home)  # logged exposures with a control group: the planner has figures
    return home


@pytest.fixture
def api(shop: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    keys = make_keys(shop)
    with TestClient(create_app(load_settings(shop, model_check_seconds=0.0))) as client:
        yield client, auth(keys["admin"])


def test_the_model_needs_a_reason_with_a_declaration():
    c = Campaign(campaign_id="x", **BASE, audience=WOMEN, **DECLARED)
    assert c.protected_attributes == ["gender"]
    check_protected_use(c)  # its own declaration
    with pytest.raises(ValidationError) as info:
        check_protected_use(c, protected=["gender"], declared=[])
    assert info.value.field == "audience"
    check_protected_use(c.model_copy(update={"protected_attributes": []}), protected=["age"])
    with pytest.raises(ValueError, match="protected_reason"):
        Campaign(campaign_id="x", **BASE, protected_attributes=["gender"])


def test_api_refuses_an_undeclared_protected_audience(api):
    client, admin = api
    r = client.post(
        "/v1/campaigns", json={"campaign_id": "p1", **BASE, "audience": WOMEN}, headers=admin
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == "audience" and "gender" in r.json()["error"]["message"]
    r = client.post(
        "/v1/campaigns",
        json={"campaign_id": "p1", **BASE, "audience": WOMEN, "protected_attributes": ["gender"]},
        headers=admin,
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "protected_reason"
    r = client.post(
        "/v1/campaigns",
        json={"campaign_id": "p1", **BASE, "audience": WOMEN, **DECLARED},
        headers=admin,
    )
    assert r.status_code == 201, r.text
    got = client.get("/v1/campaigns/p1", headers=admin).json()
    assert got["protected_attributes"] == ["gender"]
    assert got["protected_reason"] == "a women's-wear launch"
    # taking the declaration away, or adding an age rule to a plain campaign, is refused
    r = client.patch("/v1/campaigns/p1", json={"protected_attributes": []}, headers=admin)
    assert r.status_code == 422 and r.json()["error"]["field"] == "audience"
    r = client.post("/v1/campaigns", json={"campaign_id": "p2", **BASE}, headers=admin)
    assert r.status_code == 201
    aged = {"field": "age", "op": "gte", "value": 30}
    r = client.put(
        "/v1/campaigns/p2", json={"campaign_id": "p2", **BASE, "audience": aged}, headers=admin
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "audience"
    assert client.get("/v1/campaigns/p2", headers=admin).json()["audience"] is None
    # the planner still reports who the declared audience selects, by gender
    plan = client.get("/v1/campaigns/p1/preview", headers=admin)
    assert plan.status_code == 200, plan.text
    body = plan.json()["plan"]
    assert body["protected_attributes_used"] == ["gender"]
    rates = {(r["field"], r["group"]): r["rate"] for r in body["selection_rates"]}
    assert rates[("gender", "female")] == 1.0 and rates[("gender", "male")] == 0.0


def test_the_configured_list_decides_what_is_protected(shop):
    with TestClient(
        create_app(load_settings(shop, model_check_seconds=0.0, protected_attributes=["region"]))
    ) as client:
        admin = auth(make_keys(shop)["admin"])
        north = {"field": "region", "op": "eq", "value": "north"}
        r = client.post(
            "/v1/campaigns", json={"campaign_id": "p3", **BASE, "audience": north}, headers=admin
        )
        assert r.status_code == 422 and r.json()["error"]["field"] == "audience"
        r = client.post(
            "/v1/campaigns", json={"campaign_id": "p3", **BASE, "audience": WOMEN}, headers=admin
        )
        assert r.status_code == 201  # gender is not on this shop's list


def test_cli_import_quarantines_an_undeclared_protected_audience(tmp_path, cli, shop):
    import shutil

    home = tmp_path / "home"
    shutil.copytree(shop, home)
    rows = [
        {"campaign_id": "f1", **BASE, "audience": json.dumps(WOMEN)},
        {
            "campaign_id": "f2",
            **BASE,
            "audience": json.dumps(WOMEN),
            "protected_attributes": "gender",
            "protected_reason": "a women's-wear launch",
        },
    ]
    path = tmp_path / "campaigns.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    d = ["--data-dir", str(home)]
    code, out, err = cli(*d, "import", "campaigns", str(path), "--reject-threshold", "0.6")
    assert code == 0, out + err
    assert "protected_attribute" in out + err
    code, out, _ = cli(*d, "quarantine", "--json")
    assert code == 0
    rows = json.loads(out)["rows"]
    assert [(q["field"], q["reason"], q["line"]) for q in rows] == [
        ("audience", "protected_attribute", 2)
    ]
    code, out, _ = cli(*d, "campaigns", "show", "f2", "--json")
    assert code == 0 and json.loads(out)["protected_attributes"] == ["gender"]
    assert cli(*d, "campaigns", "show", "f1", "--json")[0] != 0
    code, out, _ = cli(*d, "campaigns", "plan", "f2", "--json")
    assert code == 0
    plan = json.loads(out)
    assert plan["protected_attributes_used"] == ["gender"]
    assert {r["group"] for r in plan["selection_rates"] if r["field"] == "gender"} == {
        "female",
        "male",
    }


def test_campaign_files_carry_the_declaration(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text(
        '[[campaign]]\ncampaign_id = "t1"\nname = "Launch"\ntype = "coupon"\n'
        'protected_attributes = ["gender"]\nprotected_reason = "women\'s wear"\n'
        'audience = { field = "gender", op = "eq", value = "female" }\n',
        encoding="utf-8",
    )
    c = load_campaigns_file(toml).get("t1")
    assert c.protected_attributes == ["gender"] and c.protected_reason == "women's wear"
    check_protected_use(c)


def test_console_form_refuses_and_accepts(shop):
    keys = make_keys(shop)
    settings = load_settings(shop, model_check_seconds=0.0)
    with TestClient(create_app(settings), follow_redirects=False) as client:
        log_in(client, keys["admin"])
        token = csrf_of(client.get("/console/campaigns/new").text)
        form = {
            "csrf": token,
            "campaign_id": "k1",
            "name": "Dresses",
            "type": "coupon",
            "status": "active",
            "discount_type": "percent",
            "discount_value": "10",
            "cap_window_hours": "168",
            "priority": "0",
            "audience_json": json.dumps(WOMEN),
        }
        r = client.post("/console/campaigns", data=form)
        assert r.status_code == 422 and 'id="err-audience"' in r.text and "gender" in r.text
        ok = {**form, "protected_attributes": "gender", "protected_reason": "launch"}
        r = client.post("/console/campaigns", data=ok)
        assert r.status_code == 303, r.text
        got = client.get("/v1/campaigns/k1", headers=auth(keys["admin"])).json()
        assert got["protected_attributes"] == ["gender"]
        page = client.get("/console/campaigns/k1/edit")
        assert 'name="protected_reason" type="text" value="launch"' in page.text
