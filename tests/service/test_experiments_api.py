"""``/v1/experiments`` end to end: define an experiment between two model versions, send its
simulated traffic through ``POST /v1/events``, and read the results that name the better one."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from campaignrec.experiments.registry import Experiment
from campaignrec.experiments.simulation import ArmTruth, simulate_experiment_events
from tests.service.conftest import auth

START = (datetime.now(UTC) - timedelta(days=15)).replace(microsecond=0)


def body(eid: str = "models-v1-v2", **kw):  # type: ignore[no-untyped-def]
    out = {
        "experiment_id": eid,
        "layer": "recommendations",
        "variants": [
            {"name": "v1", "share": 1, "config": {"model_version": "v1"}},
            {"name": "v2", "share": 1, "config": {"model_version": "v2"}},
        ],
        "start_time": START.isoformat(),
        "primary_metric": "conversion",
        "guardrail_metrics": ["revenue_per_user"],
        "minimum_detectable_effect": 0.3,
    }
    out.update(kw)
    return out


def _plain(row: dict) -> dict:  # type: ignore[type-arg]
    out = {}
    for k, v in row.items():
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        out[k] = v.isoformat() if hasattr(v, "isoformat") else v
    return out


def test_experiment_results_name_the_better_model(client, keys) -> None:  # type: ignore[no-untyped-def]
    admin, read, ingest = auth(keys["admin"]), auth(keys["read"]), auth(keys["ingest"])
    r = client.post("/v1/experiments", json=body(), headers=admin)
    assert r.status_code == 201, r.text
    made = r.json()
    assert (made["range_low"], made["range_high"]) == (0.0, 1.0)
    assert client.post("/v1/experiments", json=body(), headers=admin).status_code == 409
    assert client.post("/v1/experiments", json=body(), headers=read).status_code == 403
    listed = client.get("/v1/experiments", headers=read).json()["experiments"]
    assert [e["experiment_id"] for e in listed] == ["models-v1-v2"]
    assert client.get("/v1/experiments/models-v1-v2", headers=read).json() == made

    exp = Experiment.model_validate(made)
    truths = {"v1": ArmTruth(0.04, mean_order_value=40), "v2": ArmTruth(0.08, mean_order_value=40)}
    ev = simulate_experiment_events(exp, truths, n_users=3000, days=12, seed=11)
    ev["item_id"] = ev["item_id"].map({"shelf": "i0", "i1": "i1"})
    rows = [_plain(x) for x in ev.to_dict("records")]
    for i in range(0, len(rows), 500):
        sent = client.post("/v1/events", json={"events": rows[i : i + 500]}, headers=ingest)
        assert sent.status_code == 200, sent.text
        assert sent.json()["rejected"] == []

    res = client.get("/v1/experiments/models-v1-v2/results", headers=read)
    assert res.status_code == 200, res.text
    out = res.json()
    assert out["variants"]["v1"]["users"] + out["variants"]["v2"]["users"] > 2500
    assert out["decision"]["verdict"] == "winner" and out["decision"]["winner"] == "v2"
    assert out["decision"]["en"].startswith("v2 wins on conversion")
    assert out["decision"]["zh"].startswith("v2 在转化率上胜出")


def test_errors_are_named(client, keys) -> None:  # type: ignore[no-untyped-def]
    admin, read = auth(keys["admin"]), auth(keys["read"])
    r = client.post(
        "/v1/experiments", json=body(variants=[{"name": "a", "share": 1}]), headers=admin
    )
    assert r.status_code == 422 and r.json()["error"]["field"] == "variants"
    r = client.post("/v1/experiments", json=body(colour="red"), headers=admin)
    assert r.status_code == 422 and r.json()["error"]["field"] == "colour"
    assert client.post("/v1/experiments", json=body("a1", traffic=0.7), headers=admin).is_success
    r = client.post("/v1/experiments", json=body("a2", traffic=0.7), headers=admin)
    assert r.status_code == 422 and r.json()["error"]["field"] == "traffic"
    r = client.get("/v1/experiments/nope", headers=read)
    assert r.status_code == 404
    r = client.get("/v1/experiments/nope/results", headers=read)
    assert r.status_code == 404
    r = client.get("/v1/experiments/a1/results?at=2026-01-01T00:00:00", headers=read)
    assert r.status_code == 422
    assert client.get("/v1/experiments", headers={}).status_code == 401
