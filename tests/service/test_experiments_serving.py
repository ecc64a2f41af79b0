"""Experiments in the serving path, end to end through the API on the synthetic shop.

Two model versions are trained on a synthetic shop: ``item_knn`` (it learns each shopper's planted
taste) and ``random`` (deliberately weak); ``most_popular`` is the active model. Shoppers click
the served items according to the planted truth (an item of one of their preferred categories is
clicked far more often, less so further down the list), the clicks go through ``POST /v1/events``,
and ``/v1/experiments/{id}/results`` must name ``item_knn``: as an A/B split and as a team-draft
interleaving.
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from campaignrec.config import load_settings
from campaignrec.data.importer import import_frame
from campaignrec.data.synthetic import ShopConfig, generate_shop
from campaignrec.experiments.registry import Experiment, assign_user
from campaignrec.experiments.simulation import taste_clicks
from campaignrec.pipeline import train
from campaignrec.service.app import create_app
from campaignrec.service.state import ServiceState
from campaignrec.store.sql import SQLStore
from tests.service.conftest import auth, make_keys

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

CFG = ShopConfig(n_users=600, n_items=150, n_events=30_000, days=30, n_campaigns=0, seed=5)


#: no model check during a test, no rate limit on the simulated traffic
FAST: dict[str, Any] = {
    "model_check_seconds": 60.0, "api_rate_per_second": 1e6, "api_rate_burst": 1_000_000
}  # fmt: skip


@pytest.fixture(scope="module")
def synthetic_template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("synthetic-shop")
    shop = generate_shop(CFG)
    settings = load_settings(home)
    store = SQLStore(settings.resolved_database_url)
    import_frame(store, "items", shop.items)
    import_frame(store, "users", shop.users)
    import_frame(store, "events", shop.events)
    versions = {m: train(store, settings, model=m).version for m in ("random", "item_knn")}
    versions["active"] = train(store, settings, model="most_popular").version
    store.close()
    top = shop.items["category"].str.split("/").str[0]
    return {
        "home": home,
        "versions": versions,
        "taste": shop.truth.user_taste.to_dict(),
        "category": dict(zip(shop.items["item_id"], top, strict=True)),
        "users": list(shop.users["user_id"]),
    }


@pytest.fixture
def shop(synthetic_template: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    home = tmp_path / "home"
    shutil.copytree(synthetic_template["home"], home)
    return {**synthetic_template, "home": home, "keys": make_keys(home)}


@pytest.fixture
def api(shop: dict[str, Any]) -> Iterator[TestClient]:
    with TestClient(create_app(load_settings(shop["home"], **FAST))) as c:
        yield c


def _experiment(eid: str, versions: dict[str, str], **kw: Any) -> dict[str, Any]:
    out = {
        "experiment_id": eid,
        "layer": "recommendations",
        "variants": [
            {"name": "random", "share": 1, "config": {"model_version": versions["random"]}},
            {"name": "item_knn", "share": 1, "config": {"model_version": versions["item_knn"]}},
        ],
        "control": "random",
        "start_time": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "primary_metric": "ctr",
        "pre_period_days": 0,
        "minimum_detectable_effect": 0.3,
    }
    out.update(kw)
    return out


def _clicks(
    shop: dict[str, Any], user: str, items: list[str], rng: np.random.Generator
) -> list[dict[str, Any]]:
    """The shopper's clicks on a served list, drawn from the planted taste."""
    when = datetime.now(UTC).isoformat()  # after the list was served and logged
    got = taste_clicks(items, shop["taste"][user], shop["category"], rng)
    return [{"user_id": user, "event_type": "click", "item_id": i, "timestamp": when} for i in got]


def _post(api: TestClient, key: str, events: list[dict[str, Any]]) -> None:
    for i in range(0, len(events), 500):
        r = api.post("/v1/events", json={"events": events[i : i + 500]}, headers=auth(key))
        assert r.status_code == 200, r.text
        assert r.json()["rejected"] == []


def _decision_log(home: Path, eid: str) -> pd.DataFrame:
    store = SQLStore(load_settings(home).resolved_database_url)
    ev = store.read_table("events")
    store.close()
    return ev[ev["policy"] == eid]


def test_ab_between_two_model_versions_names_the_truly_better_one(
    api: TestClient, shop: dict[str, Any]
) -> None:
    keys, versions = shop["keys"], shop["versions"]
    body = _experiment("knn-vs-random", versions, traffic=0.8)
    made = api.post("/v1/experiments", json=body, headers=auth(keys["admin"]))
    assert made.status_code == 201, made.text
    exp = Experiment.model_validate(made.json())
    assert exp.surface == "recommendations" and exp.kind == "ab"
    rng = np.random.default_rng(7)
    clicks: list[dict[str, Any]] = []
    outside = arms = 0
    for user in shop["users"]:
        got = api.get(f"/v1/users/{user}/recommendations?k=10", headers=auth(keys["read"]))
        assert got.status_code == 200, got.text
        out = got.json()
        expected = assign_user(user, [exp])  # the CLI's `experiments assign`: the same hash
        if not expected:
            outside += 1  # not in the experiment: the active model, nothing logged
            assert out["experiment"] is None and out["variant"] is None
            assert (out["model_name"], out["model_version"]) == ("most_popular", versions["active"])
            continue
        arms += 1
        arm = expected[0].variant
        assert (out["experiment"], out["variant"]) == ("knn-vs-random", arm)
        assert (out["model_name"], out["model_version"]) == (arm, versions[arm])
        assert all(i["variant"] is None for i in out["items"])
        clicks += _clicks(shop, user, [i["item_id"] for i in out["items"]], rng)
    assert outside > 60 and arms > 400  # traffic 0.8 of 600 shoppers
    _post(api, keys["ingest"], clicks)

    res = api.get("/v1/experiments/knn-vs-random/results", headers=auth(keys["read"]))
    assert res.status_code == 200, res.text
    out = res.json()
    assert out["variants"]["item_knn"]["users"] + out["variants"]["random"]["users"] == arms
    knn, rand = out["variants"]["item_knn"]["ctr"], out["variants"]["random"]["ctr"]
    assert knn["ci_low"] > rand["ci_high"]  # the planted taste: knn's items are clicked more
    assert not out["srm"]["mismatch"] and out["crossed_users"] == 0
    assert out["decision"]["verdict"] == "winner" and out["decision"]["winner"] == "item_knn"
    assert out["decision"]["en"].startswith("item_knn wins on CTR")

    log = _decision_log(shop["home"], "knn-vs-random")
    assert set(log["event_type"]) == {"recommendation_impression"}
    assert len(log) == 10 * arms and set(log["propensity"]) == {1.0}
    assert sorted(set(log["position"].astype(int))) == list(range(10))
    assert set(log["variant"]) == {"random", "item_knn"}


def test_interleaving_two_model_versions_credits_the_right_ranker(
    api: TestClient, shop: dict[str, Any]
) -> None:
    keys, versions = shop["keys"], shop["versions"]
    body = _experiment("knn-vs-random-tdi", versions, kind="interleaving")
    made = api.post("/v1/experiments", json=body, headers=auth(keys["admin"]))
    assert made.status_code == 201, made.text
    rng = np.random.default_rng(3)
    api.app.state.service.rng = np.random.default_rng(4)  # type: ignore[attr-defined]
    clicks: list[dict[str, Any]] = []
    teams_seen: set[str] = set()
    users = shop["users"][:250]  # interleaving needs far fewer shoppers than the split
    for user in users:
        out = api.get(f"/v1/users/{user}/recommendations?k=10", headers=auth(keys["read"])).json()
        assert (out["experiment"], out["variant"]) == ("knn-vs-random-tdi", "interleaved")
        teams = [i["variant"] for i in out["items"]]
        assert set(teams) <= {"random", "item_knn"} and len(out["items"]) == 10
        assert abs(teams.count("random") - teams.count("item_knn")) <= 1  # a fair draft
        teams_seen |= set(teams)
        clicks += _clicks(shop, user, [i["item_id"] for i in out["items"]], rng)
    assert teams_seen == {"random", "item_knn"}
    _post(api, keys["ingest"], clicks)

    out = api.get("/v1/experiments/knn-vs-random-tdi/results", headers=auth(keys["read"])).json()
    assert out["kind"] == "interleaving" and out["shoppers"] == len(users)
    v = out["variants"]
    assert v["item_knn"]["clicks"] + v["random"]["clicks"] == len(clicks)  # every click credited
    assert v["item_knn"]["clicks"] > 1.5 * v["random"]["clicks"]
    assert out["preference"]["treatment"] == "item_knn" and out["preference"]["ci_low"] > 0
    assert out["decision"]["verdict"] == "winner" and out["decision"]["winner"] == "item_knn"
    assert "item_knn" in out["decision"]["zh"]

    log = _decision_log(shop["home"], "knn-vs-random-tdi")
    assert len(log) == 10 * len(users)
    assert set(log["propensity"]) == {0.5, 1.0}  # the coin's positions and the forced picks
    # a click on an item the shopper was never shown under the experiment credits nobody
    _post(api, keys["ingest"], [{"user_id": users[0], "event_type": "click", "item_id": item,
                                 "timestamp": datetime.now(UTC).isoformat()}
                                for item in set(shop["category"]) - set(log["item_id"])][:3])  # fmt: skip
    again = api.get("/v1/experiments/knn-vs-random-tdi/results", headers=auth(keys["read"]))
    w = again.json()["variants"]
    assert w["item_knn"]["clicks"] + w["random"]["clicks"] == len(clicks)

    from typer.testing import CliRunner

    from campaignrec.cli.main import app

    cli = CliRunner().invoke(
        app, ["--data-dir", str(shop["home"]), "experiments", "results", "knn-vs-random-tdi"],
        catch_exceptions=False, env={"COLUMNS": "200"},
    )  # fmt: skip
    assert cli.exit_code == 0 and "item_knn wins the interleaving" in cli.stdout


def test_assignment_is_stable_across_two_workers(shop: dict[str, Any]) -> None:
    from typer.testing import CliRunner

    from campaignrec.cli.main import app

    keys, versions = shop["keys"], shop["versions"]
    settings = load_settings(shop["home"], **FAST)
    with TestClient(create_app(settings)) as first:
        body = _experiment("two-workers", versions, traffic=0.5)
        assert (
            first.post("/v1/experiments", json=body, headers=auth(keys["admin"])).status_code == 201
        )
        second = ServiceState(settings)  # another worker, started after the experiment exists
        try:
            served = {}
            for user in shop["users"][:80]:
                a = first.get(
                    f"/v1/users/{user}/recommendations", headers=auth(keys["read"])
                ).json()
                b = second.live.assignment(user, "recommendations", datetime.now(UTC))
                assert a["variant"] == (None if b is None else b.variant)
                served[user] = a["variant"]
        finally:
            second.close()
    assert {v for v in served.values()} == {None, "random", "item_knn"}
    runner = CliRunner()
    for user in list(served)[:5]:
        cli = runner.invoke(
            app, ["--data-dir", str(shop["home"]), "experiments", "assign", user, "--json"],
            catch_exceptions=False,
        )  # fmt: skip
        found = json.loads(cli.stdout)["assignments"]
        assert (found[0]["variant"] if found else None) == served[user]


def test_ranking_settings_and_the_holdout(api: TestClient, shop: dict[str, Any]) -> None:
    keys = shop["keys"]
    body = {
        "experiment_id": "category-cap",
        "layer": "recommendations",
        "variants": [
            {"name": "free", "share": 1, "config": {}},
            {"name": "capped", "share": 1, "config": {"max_per_category": 1, "diversity": 0.5}},
        ],
        "holdout_share": 0.3,
        "start_time": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
    }
    assert api.post("/v1/experiments", json=body, headers=auth(keys["admin"])).status_code == 201
    seen: dict[str, int] = {}
    personal = 0
    for user in shop["users"][:90]:
        out = api.get(f"/v1/users/{user}/recommendations?k=5", headers=auth(keys["read"])).json()
        arm = out["variant"]
        seen[arm] = seen.get(arm, 0) + 1
        assert out["model_name"] == "most_popular"  # every arm serves the active model
        if arm == "holdout":
            assert out["personalised"] is False
            assert {i["reason"] for i in out["items"]} == {"non_personalised"}
        else:  # as the shopper's consent says
            personal += out["personalised"]
        if arm == "capped":  # one item per top-level category at most
            tops = [shop["category"][i["item_id"]] for i in out["items"]]
            assert len(tops) == len(set(tops))
    assert set(seen) == {"free", "capped", "holdout"} and personal > 0.5 * (90 - seen["holdout"])
    log = _decision_log(shop["home"], "category-cap")
    assert set(log["variant"]) == {"free", "capped", "holdout"}


def test_bad_variant_settings_are_named(api: TestClient, shop: dict[str, Any]) -> None:
    admin = auth(shop["keys"]["admin"])
    for config, word in (
        ({"colour": "red"}, "colour"),
        ({"policy": "uplift"}, "policy"),
        ({"diversity": 3}, "diversity"),
        ({"max_per_brand": "two"}, "max_per_brand"),
    ):
        body = _experiment("bad", shop["versions"])
        body["variants"][1]["config"] = config
        r = api.post("/v1/experiments", json=body, headers=admin)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["field"] == "variants" and word in r.json()["error"]["message"]
    body = _experiment("bad", shop["versions"], kind="interleaving", holdout_share=0.1)
    r = api.post("/v1/experiments", json=body, headers=admin)
    assert r.status_code == 422 and r.json()["error"]["field"] == "holdout_share"


def test_an_experiment_on_a_missing_version_is_not_served(
    api: TestClient, shop: dict[str, Any]
) -> None:
    keys = shop["keys"]
    body = _experiment("missing", {"random": "20000101T000000Z", "item_knn": "nope"})
    assert api.post("/v1/experiments", json=body, headers=auth(keys["admin"])).status_code == 201
    out = api.get(f"/v1/users/{shop['users'][0]}/recommendations", headers=auth(keys["read"]))
    assert out.status_code == 200
    assert out.json()["experiment"] is None and out.json()["model_name"] == "most_popular"
    assert api.app.state.service.live.skipped.keys() == {"missing"}  # type: ignore[attr-defined]


def test_campaign_policies_as_variants(
    client: TestClient, keys: dict[str, str], home: Path
) -> None:
    """The conftest shop: one coupon c1 (inventory 2, one per shopper). The ``off`` arm serves no
    campaign but logs what priority would have shown (its exposures); ``on`` serves by priority."""
    body = {
        "experiment_id": "coupon-on-off",
        "layer": "campaigns",
        "variants": [
            {"name": "off", "share": 1, "config": {"policy": "none"}},
            {"name": "on", "share": 1, "config": {"policy": "random"}},
        ],
        "start_time": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
    }
    made = client.post("/v1/experiments", json=body, headers=auth(keys["admin"]))
    assert made.status_code == 201 and made.json()["surface"] == "campaigns"
    exp = Experiment.model_validate(made.json())
    served: dict[str, list[str]] = {}
    for n in range(12):
        user = f"x{n}"
        out = client.get(f"/v1/users/{user}/campaigns?k=2", headers=auth(keys["read"])).json()
        arm = assign_user(user, [exp])[0].variant
        assert (out["experiment"], out["variant"]) == ("coupon-on-off", arm)
        served[user] = [c["campaign_id"] for c in out["campaigns"]]
        if arm == "off":
            assert served[user] == [] and out["policy"] == "none"
        else:
            assert out["policy"] == "random"
    on = [u for u in served if assign_user(u, [exp])[0].variant == "on"]
    off = [u for u in served if u not in on]
    assert on and off
    assert sum(len(served[u]) for u in on) == min(2, len(on))  # the coupon's inventory is 2
    log = _decision_log(home, "coupon-on-off")
    assert set(log["event_type"]) == {"campaign_impression"} and set(log["campaign_id"]) == {"c1"}
    assert sorted(log.loc[log["variant"] == "off", "user_id"]) == sorted(off)  # shadow exposures
    assert set(log.loc[log["variant"] == "on", "propensity"]) == {1.0}  # one eligible campaign
    # a campaign click of an 'on' shopper rewards that arm's own bandit statistics
    winner = next(u for u in on if served[u])
    click = {"user_id": winner, "event_type": "campaign_click", "campaign_id": "c1",
             "timestamp": datetime.now(UTC).isoformat()}  # fmt: skip
    assert (
        client.post("/v1/events", json={"events": [click]}, headers=auth(keys["ingest"])).json()[
            "accepted"
        ]
        == 1
    )
    online = client.app.state.service.online  # type: ignore[attr-defined]
    stats = online.hgetall("bandit:coupon-on-off:on:random:arms")
    assert stats["n:c1"] == min(2, len(on)) and stats["r:c1"] == 1.0


def test_with_a_pseudonymisation_key_the_service_and_the_cli_assign_alike(
    home: Path, keys: dict[str, str]
) -> None:
    from typer.testing import CliRunner

    from campaignrec.cli.main import app
    from campaignrec.privacy import pseudonymise_user_id

    secret = "a-test-key-of-some-length-0123456789"
    settings = load_settings(home, pseudonymisation_key=secret, **FAST)
    body = {
        "experiment_id": "aa-diversity",
        "variants": [{"name": "a", "share": 1}, {"name": "b", "share": 1, "config": {"diversity": 0.2}}],
        "start_time": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
    }  # fmt: skip
    with TestClient(create_app(settings)) as client:
        made = client.post("/v1/experiments", json=body, headers=auth(keys["admin"]))
        exp = Experiment.model_validate(made.json())
        served = {}
        for n in range(16):
            out = client.get(f"/v1/users/x{n}/recommendations?k=3", headers=auth(keys["read"]))
            served[f"x{n}"] = out.json()["variant"]
    stored = {u: pseudonymise_user_id(settings, u) for u in served}
    assert all(served[u] == assign_user(stored[u], [exp])[0].variant for u in served)
    assert set(served.values()) == {"a", "b"}
    log = _decision_log(home, "aa-diversity")
    assert set(log["user_id"]) == set(stored.values())  # the decision log holds no raw id
    runner = CliRunner()
    for user in list(served)[:4]:
        cli = runner.invoke(
            app, ["--data-dir", str(home), "experiments", "assign", user, "--json"],
            env={"CAMPAIGNREC_PSEUDONYMISATION_KEY": secret}, catch_exceptions=False,
        )  # fmt: skip
        assert json.loads(cli.stdout)["assignments"][0]["variant"] == served[user]
