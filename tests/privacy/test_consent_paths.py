"""Consent on every path, end to end: consent changes arrive as events over the API, and then

* recommendations (API and ``campaignrec recommend``) are non-personalised for the shopper who
  withdrew personalisation, and personalised for the others;
* campaigns (API and ``campaignrec campaigns check``) skip the shopper who withdrew marketing,
  at once, and come back when they grant it again;
* push planning (``campaignrec push plan``) leaves out the shopper without marketing consent (out
  of the audience already; the push gate also reads a live withdrawal) and the one who
  consented to no channel;
* the profiles export leaves out the shopper without personalisation consent.
"""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from campaignrec.config import load_settings
from campaignrec.privacy.consent import record_consent
from campaignrec.push.run import plan_push
from campaignrec.store.online import MemoryOnlineState
from campaignrec.store.sql import SQLStore
from tests.service.conftest import auth, make_keys

with warnings.catch_warnings():  # starlette warns that it prefers httpx2 over httpx
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

NOW = datetime.now(UTC).replace(microsecond=0)
NO_CHANNEL = json.dumps({f"consent_{c}": False for c in ("app_push", "in_app", "email", "sms")})
SHOPPERS = ["ok", "p_out", "m_out", "no_channel"] + [f"h{i}" for i in range(16)]


def _files(folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True)
    users = [
        {"user_id": u, "region": "east", "attributes": NO_CHANNEL if u == "no_channel" else "{}"}
        for u in SHOPPERS
    ]
    items = [{"item_id": f"i{n}", "title": f"Item {n}", "category": f"c{n % 3}"} for n in range(12)]
    events = []
    for n, u in enumerate(SHOPPERS):
        for k in range(6):
            events.append(
                {
                    "user_id": u,
                    "item_id": f"i{(n + 2 * k) % 12}",
                    "event_type": "view",
                    "timestamp": (NOW - timedelta(days=3, hours=n, minutes=k)).isoformat(),
                }
            )
    campaigns = [
        {
            "campaign_id": "spring",
            "name": "Spring sale",
            "type": "coupon",
            "start_time": (NOW - timedelta(days=1)).isoformat(),
            "end_time": (NOW + timedelta(days=10)).isoformat(),
            "title_en": "Spring sale",
            "title_zh": "春季促销",
        }
    ]
    out = {}
    for name, rows in (("users", users), ("items", items), ("events", events)):
        out[name] = folder / f"{name}.csv"
        pd.DataFrame(rows).to_csv(out[name], index=False)
    out["campaigns"] = folder / "campaigns.csv"
    pd.DataFrame(campaigns).to_csv(out["campaigns"], index=False)
    out["uplift"] = folder / "uplift.csv"
    pd.DataFrame({"user_id": SHOPPERS, "p_control": 0.05, "p_treated": 0.3}).to_csv(
        out["uplift"], index=False
    )
    return out


def _consent(kind: str, user: str, minutes: int) -> dict[str, str]:
    at = NOW + timedelta(minutes=minutes)
    return {"user_id": user, "event_type": f"consent_{kind}", "timestamp": at.isoformat()}


@pytest.fixture
def home(tmp_path: Path, cli) -> Path:
    files = _files(tmp_path / "incoming")
    home = tmp_path / "home"
    home.mkdir()
    (home / "campaignrec.toml").write_text("[push]\nholdout_share = 0.0\n", encoding="utf-8")
    d = ["--data-dir", str(home)]
    for entity in ("users", "items", "campaigns", "events"):
        code, out, err = cli(*d, "import", entity, str(files[entity]))
        assert code == 0, out + err
    assert cli(*d, "train", "--model", "item_knn")[0] == 0
    (home / "uplift.csv").write_bytes(files["uplift"].read_bytes())
    return home


def test_consent_holds_on_every_path(home, cli):
    keys = make_keys(home)
    read, ingest = auth(keys["read"]), auth(keys["ingest"])
    d = ["--data-dir", str(home)]
    with TestClient(create_app_for(home)) as client:
        # before: everyone is personalised and may get the campaign
        for user in ("p_out", "m_out"):
            r = client.get(f"/v1/users/{user}/recommendations?k=4", headers=read).json()
            assert r["personalised"] is True
            got = client.get(f"/v1/users/{user}/campaigns", headers=read).json()
            assert [c["campaign_id"] for c in got["campaigns"]] == ["spring"]
        batch = {
            "events": [
                _consent("personalisation_withdrawn", "p_out", 1),
                _consent("marketing_withdrawn", "m_out", 1),
            ]
        }
        r = client.post("/v1/events", json=batch, headers=ingest)
        assert r.status_code == 200 and r.json()["accepted"] == 2, r.text
        # recommendations: at once, for the next request
        out = client.get("/v1/users/p_out/recommendations?k=4", headers=read).json()
        assert out["personalised"] is False and out["items"]
        assert {i["reason"] for i in out["items"]} == {"non_personalised"}
        ok = client.get("/v1/users/ok/recommendations?k=4", headers=read).json()
        assert ok["personalised"] is True
        # campaigns: at once; personalisation consent does not stop marketing
        got = client.get("/v1/users/m_out/campaigns", headers=read).json()
        assert got["campaigns"] == []
        got = client.get("/v1/users/p_out/campaigns", headers=read).json()
        assert [c["campaign_id"] for c in got["campaigns"]] == ["spring"]

    # the CLI reads the users table the API wrote: the same answers
    code, out, _ = cli(*d, "recommend", "p_out", "--k", "4", "--json")
    assert code == 0
    assert {i["reason"] for i in json.loads(out)["items"]} == {"non_personalised"}
    code, out, _ = cli(*d, "recommend", "ok", "--k", "4", "--json")
    assert "non_personalised" not in {i["reason"] for i in json.loads(out)["items"]}
    code, out, _ = cli(*d, "campaigns", "check", "m_out", "spring", "--json")
    res = json.loads(out)
    assert res["eligible"] is False and [r["code"] for r in res["reasons"]] == ["consent"]
    code, out, _ = cli(*d, "campaigns", "check", "p_out", "spring", "--json")
    assert json.loads(out)["eligible"] is True

    # push: no marketing consent, or no consented channel: no push
    plan_file = home / "plan.csv"
    code, out, err = cli(
        *d,
        "push",
        "plan",
        "spring",
        "--out",
        str(plan_file),
        "--uplift",
        str(home / "uplift.csv"),
        "--dry-run",
        "--json",
    )
    assert code == 0, out + err
    summary = json.loads(out)
    pushed = set(pd.read_csv(plan_file)["user_id"].astype(str))
    assert "m_out" not in pushed and "no_channel" not in pushed
    assert {"ok", "p_out"} <= pushed
    assert summary["skipped"]["no_consented_channel"] >= 1  # m_out is not even in the audience
    # the push gate itself reads live consent: a withdrawal the users table has not seen yet
    online = MemoryOnlineState()
    assert record_consent(
        online,
        {**_consent("marketing_withdrawn", "ok", 2), "timestamp": NOW + timedelta(minutes=2)},
    )
    settings = load_settings(home)
    store = SQLStore(settings.resolved_database_url)
    live = plan_push(
        store,
        "spring",
        now=NOW,
        settings=settings.push,
        ledger=home / "push" / "ledger.parquet",
        uplift=home / "uplift.csv",
        state=online,
        record=False,
    )
    store.close()
    assert "ok" not in set(live.plan.table["user_id"].astype(str))
    assert live.plan.skipped["no_marketing_consent"] == 1

    # profiles export: no personalisation consent, no profile row
    export = home / "profiles.csv"
    code, _, err = cli(*d, "profiles", "export", "--out", str(export), "--refresh")
    assert code == 0, err
    exported = set(pd.read_csv(export)["user_id"].astype(str))
    assert "p_out" not in exported and {"ok", "m_out"} <= exported

    # a later grant restores marketing at once
    with TestClient(create_app_for(home)) as client:
        batch = {"events": [_consent("marketing_granted", "m_out", 5)]}
        assert client.post("/v1/events", json=batch, headers=ingest).status_code == 200
        got = client.get("/v1/users/m_out/campaigns", headers=read).json()
        assert [c["campaign_id"] for c in got["campaigns"]] == ["spring"]


def create_app_for(home: Path):
    from campaignrec.service.app import create_app

    return create_app(load_settings(home, model_check_seconds=0.0))
