"""The demo runs the whole offline pipeline end to end (small shop) and leaves its outputs."""

import json

import pandas as pd
import pytest

from campaignrec.cli.main import main


def test_demo_runs_to_the_end_on_a_small_shop(tmp_path, capsys):
    home = tmp_path / "demo"
    with pytest.raises(SystemExit) as info:
        main(
            [
                "--data-dir",
                str(home),
                "demo",
                "--users",
                "300",
                "--items",
                "120",
                "--events",
                "20000",
                "--trials",
                "1",
            ]
        )
    out = capsys.readouterr().out
    assert info.value.code == 0, out
    assert "done" in out and "bad_rows.csv" in out
    recs = pd.read_csv(home / "recommendations.csv")
    assert list(recs.columns) == ["user_id", "rank", "item_id", "score", "reason"]
    assert recs.groupby("user_id").size().max() <= 10
    assert not recs.duplicated(["user_id", "item_id"]).any()
    # step 6: uplift models fitted on the shop's own logged exposures, used by the plan
    assert "6. campaign uplift models from the logged exposures" in out
    assert (home / "campaign_models" / "CURRENT").is_file()
    assert "uplift model fitted on the store's logged exposures" in out
    # step 7: a push plan for one campaign, recorded in the push ledger
    assert "7. a push plan for one campaign" in out
    plan = pd.read_csv(home / "push_plan.csv")
    assert list(plan.columns[:6]) == [
        "user_id",
        "campaign_id",
        "channel",
        "send_at",
        "content",
        "expected_value",
    ]
    assert len(plan) > 0 and plan["user_id"].is_unique
    assert (home / "push" / "ledger.parquet").is_file()
    # and the next day's plan of the same campaign waits for review on the console's Push page
    from campaignrec.push.reviews import list_reviews

    kept = list_reviews(home)
    assert [k["status"] for k in kept] == ["draft"] and kept[0]["summary"]["pushes"] > 0
    assert kept[0]["campaign_id"] == plan["campaign_id"].iloc[0]
    # the five bad rows are kept in the quarantine, and the model registry has an active version
    with pytest.raises(SystemExit):
        main(["--data-dir", str(home), "stats", "--json"])
    counts = json.loads(capsys.readouterr().out)["counts"]
    assert counts["quarantine"] == 5 and counts["users"] == 300


def test_demo_serve_prints_a_working_key_and_curl_line(tmp_path, capsys, monkeypatch):
    """``demo --serve`` (what ``make demo`` runs) ends by serving: URL, docs, key, a curl line.

    The server itself is replaced by an ASGI client so that the test does not block; the printed
    key must open the printed recommendations URL.
    """
    import re
    import warnings

    from campaignrec.service import runner
    from campaignrec.service.app import create_app

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    served = {}

    def fake_run(settings, *, host, port, workers):
        served.update(host=host, port=port, workers=workers, settings=settings)

    monkeypatch.setattr(runner, "run", fake_run)
    home = tmp_path / "demo"
    argv = ["--data-dir", str(home), "demo", "--users", "200", "--items", "80", "--events", "8000"]
    with pytest.raises(SystemExit) as info:
        main([*argv, "--trials", "1", "--serve", "--port", "8123"])
    out = capsys.readouterr().out
    assert info.value.code == 0, out
    assert served["port"] == 8123 and served["host"] == "127.0.0.1"
    assert "http://127.0.0.1:8123/docs" in out
    curl = re.search(
        r'curl -s -H "Authorization: Bearer (crk_\S+)" "http://127.0.0.1:8123(\S+)"', out
    )
    assert curl, out
    key, path = curl.group(1), curl.group(2)
    assert "http://127.0.0.1:8123/console" in out
    with TestClient(create_app(served["settings"]), follow_redirects=False) as client:
        r = client.get(path, headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200 and r.json()["items"]
        # the printed key opens the console, and every page shows the demo shop
        page = client.get("/console/login")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        login = client.post("/console/login", data={"key": key, "csrf": token})
        assert login.status_code == 303
        user = re.search(r"/v1/users/([^/]+)/recommendations", path).group(1)
        populated = {
            "/console/overview": 'id="chart-events"',
            "/console/campaigns": "data-campaign=",
            "/console/shoppers": 'id="chart-segments"',
            f"/console/lookup?user_id={user}": "<td>1</td>",
            "/console/models": "data-model=",
        }
        for url, marker in populated.items():
            shown = client.get(url)
            assert shown.status_code == 200 and marker in shown.text, url
