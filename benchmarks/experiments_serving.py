"""Benchmark: experiments in the serving path, end to end through the API on the synthetic shop.

For each seed a synthetic shop (``--users`` shoppers, 150 items, 50 events per shopper, 30 days)
is imported and three models are trained: ``random`` (deliberately weak), ``item_knn`` (learns each
shopper's planted taste) and ``most_popular`` (the active model). Through the ASGI client:

* **A/B**: an experiment ``random`` (control) against ``item_knn`` on all shoppers; every shopper
  asks for 10 recommendations once and clicks them by the planted taste
  (:func:`campaignrec.experiments.simulation.taste_clicks`), the clicks go to ``POST /v1/events``,
  and ``GET /v1/experiments/{id}/results`` gives each arm's CTR, the lift with its 95 % interval,
  the sequential p-value and the decision;
* **interleaving**: the same two versions as a team-draft interleaving experiment on the first
  ``--interleaved`` shoppers: the preference (clicks per shopper credited to ``item_knn`` minus
  ``random``) with its interval and the decision;
* **request cost** (in process, the route function called directly, ``--requests`` each): three
  shoppers (one outside a running experiment, one in an A/B arm, one in an interleaved
  experiment) timed with no experiment served (the reference), with the experiments running,
  and running with the decision log switched off; the conditions alternate over ``--rounds``
  rounds (median of the rounds' medians, microseconds, and the ratio to the reference), so the
  load of a shared machine drifts out of the ratios. An arm serves another model than the
  reference, so its ratio includes that model's own cost.

Usage::

    nice -n 10 .venv/bin/python benchmarks/experiments_serving.py [--seeds 3] [--users 600]

Writes ``benchmarks/results/experiments_serving.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from campaignrec.config import load_settings
from campaignrec.data.importer import import_frame
from campaignrec.data.synthetic import ShopConfig, generate_shop
from campaignrec.experiments.live import LiveExperiments
from campaignrec.experiments.registry import Experiment, ExperimentSpec, assign_user
from campaignrec.experiments.simulation import taste_clicks
from campaignrec.pipeline import train
from campaignrec.service.app import create_app
from campaignrec.service.auth import KeyStore
from campaignrec.service.routers.users import recommendations
from campaignrec.store.sql import SQLStore

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


#: no model checks during a run, no rate limit on the simulated traffic
FAST: dict[str, Any] = {
    "model_check_seconds": 3600.0, "api_rate_per_second": 1e6, "api_rate_burst": 1_000_000
}  # fmt: skip


def build(home: Path, users: int, seed: int) -> dict[str, Any]:
    shop = generate_shop(
        ShopConfig(
            n_users=users, n_items=150, n_events=50 * users, days=30, n_campaigns=0, seed=seed
        )
    )
    settings = load_settings(home)
    store = SQLStore(settings.resolved_database_url)
    for table in ("items", "users", "events"):
        import_frame(store, table, getattr(shop, table))
    versions = {m: train(store, settings, model=m).version for m in ("random", "item_knn")}
    versions["active"] = train(store, settings, model="most_popular").version
    keys = KeyStore(store)
    tokens = {s: keys.create(s)[0] for s in ("read", "ingest", "admin")}
    store.close()
    return {
        "versions": versions,
        "keys": tokens,
        "taste": shop.truth.user_taste.to_dict(),
        "category": dict(
            zip(shop.items["item_id"], shop.items["category"].str.split("/").str[0], strict=True)
        ),
        "users": list(shop.users["user_id"]),
    }


def experiment(eid: str, versions: dict[str, str], **kw: Any) -> dict[str, Any]:
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


def run_traffic(
    client: TestClient, shop: dict[str, Any], users: list[str], seed: int
) -> tuple[int, int]:
    read = {"Authorization": f"Bearer {shop['keys']['read']}"}
    ingest = {"Authorization": f"Bearer {shop['keys']['ingest']}"}
    rng = np.random.default_rng(seed)
    events: list[dict[str, Any]] = []
    for user in users:
        out = client.get(f"/v1/users/{user}/recommendations?k=10", headers=read).json()
        when = datetime.now(UTC).isoformat()
        got = taste_clicks([i["item_id"] for i in out["items"]], shop["taste"][user],
                           shop["category"], rng)  # fmt: skip
        events += [{"user_id": user, "event_type": "click", "item_id": i, "timestamp": when}
                   for i in got]  # fmt: skip
    for i in range(0, len(events), 500):
        client.post("/v1/events", json={"events": events[i : i + 500]}, headers=ingest)
    return len(users), len(events)


def cost(state: Any, user: str, n: int) -> float:
    """Median microseconds of the recommendations route for ``user`` (in process)."""
    times = []
    for _ in range(n):
        t = time.perf_counter()
        recommendations(user, state, None, k=10)  # type: ignore[arg-type]
        times.append((time.perf_counter() - t) * 1e6)
    state.exposures.flush()
    return statistics.median(times)


def _spec(body: dict[str, Any]) -> Experiment:
    """The stored form of ``body`` (its layer to itself: the whole range)."""
    return Experiment(**ExperimentSpec.model_validate(body).model_dump(), range_low=0.0,
                      range_high=float(body.get("traffic", 1.0)))  # fmt: skip


def one_seed(seed: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    template = work / f"shop-{seed}"
    t0 = time.perf_counter()
    shop = build(template, args.users, seed)
    built = time.perf_counter() - t0
    out: dict[str, Any] = {"seed": seed, "build_seconds": built}
    admin = {"Authorization": f"Bearer {shop['keys']['admin']}"}
    read = {"Authorization": f"Bearer {shop['keys']['read']}"}

    # -- request cost: the reference first, with no experiment stored
    home = work / f"cost-{seed}"
    shutil.copytree(template, home)
    with TestClient(create_app(load_settings(home, **FAST))) as client:
        state = client.app.state.service  # type: ignore[attr-defined]
        users = shop["users"][:60]
        for u in users:
            cost(state, u, 2)  # warm the caches
        half = experiment("half", shop["versions"], traffic=0.5)
        tdi = experiment("tdi", shop["versions"], layer="other", kind="interleaving", traffic=0.5)
        arms = {u: (assign_user(u, [_spec(half)]), assign_user(u, [_spec(tdi)])) for u in users}
        outside = next(u for u in users if not arms[u][0] and not arms[u][1])
        inside = next(u for u in users if arms[u][0] and not arms[u][1])
        both = next(u for u in users if arms[u][1] and not arms[u][0])
        client.post("/v1/experiments", json=half, headers=admin)
        client.post("/v1/experiments", json=tdi, headers=admin)
        running, none = state.live, LiveExperiments()
        t = time.perf_counter()
        for _ in range(10_000):  # what a shopper outside the experiment pays: the assignment
            running.assignment(outside, "recommendations", datetime.now(UTC))
        out["assignment_us"] = (time.perf_counter() - t) * 100.0
        cases = {"outside_a_running_experiment": outside, "in_ab_arm": inside,
                 "interleaved": both}  # fmt: skip
        rounds: dict[str, list[list[float]]] = {k: [] for k in cases}
        write = state.exposures.write
        for _ in range(args.rounds):  # the conditions alternate, so the load drifts out
            for name, user in cases.items():
                state.live = none
                ref = cost(state, user, args.requests)
                state.live = running
                served = cost(state, user, args.requests)
                state.exposures.write = lambda events: None
                unlogged = cost(state, user, args.requests)
                state.exposures.write = write
                rounds[name].append([ref, served, unlogged])
        # median over rounds of [no experiment, experiment running, running without the log]
        out["cost_us"] = {k: [statistics.median(r[i] for r in v) for i in range(3)]
                          for k, v in rounds.items()}  # fmt: skip
        out["cost_rounds_us"] = rounds

    # -- A/B through the API
    home = work / f"ab-{seed}"
    shutil.copytree(template, home)
    with TestClient(create_app(load_settings(home, **FAST))) as client:
        client.post("/v1/experiments", json=experiment("ab", shop["versions"]), headers=admin)
        n, clicks = run_traffic(client, shop, shop["users"], seed + 100)
        res = client.get("/v1/experiments/ab/results", headers=read).json()
    ctr = next(c for c in res["comparisons"] if c["metric"] == "ctr")
    out["ab"] = {
        "shoppers": n,
        "clicks": clicks,
        "ctr": {k: res["variants"][k]["ctr"] for k in ("random", "item_knn")},
        "lift": ctr["lift"], "ci_low": ctr["ci_low"], "ci_high": ctr["ci_high"],
        "relative_lift": ctr["relative_lift"], "sequential_p_value": ctr["sequential_p_value"],
        "srm_p_value": res["srm"]["p_value"], "decision": res["decision"],
    }  # fmt: skip

    # -- interleaving through the API
    home = work / f"tdi-{seed}"
    shutil.copytree(template, home)
    with TestClient(create_app(load_settings(home, **FAST))) as client:
        client.post("/v1/experiments", json=experiment("tdi", shop["versions"],
                    kind="interleaving"), headers=admin)  # fmt: skip
        n, clicks = run_traffic(client, shop, shop["users"][: args.interleaved], seed + 200)
        res = client.get("/v1/experiments/tdi/results", headers=read).json()
    out["interleaving"] = {"shoppers": n, "clicks": clicks, "variants": res["variants"],
                           "preference": res["preference"], "decision": res["decision"]}  # fmt: skip
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--users", type=int, default=600)
    ap.add_argument("--interleaved", type=int, default=250, help="shoppers of the interleaving")
    ap.add_argument("--requests", type=int, default=100, help="requests per request-cost case")
    ap.add_argument("--rounds", type=int, default=5, help="alternating rounds of the cost cases")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/experiments_serving.json"))
    args = ap.parse_args()
    started = time.perf_counter()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(1, args.seeds + 1):
            runs.append(one_seed(seed, args, Path(tmp)))
            r = runs[-1]
            ab, il, c = r["ab"], r["interleaving"], r["cost_us"]
            print(
                f"seed {seed}: A/B {ab['shoppers']} shoppers, CTR random "
                f"{ab['ctr']['random']['value']:.4f} item_knn {ab['ctr']['item_knn']['value']:.4f}, "
                f"lift {ab['lift']:+.4f} [{ab['ci_low']:+.4f}, {ab['ci_high']:+.4f}] "
                f"({100 * ab['relative_lift']:+.0f} %), seq p {ab['sequential_p_value']:.2g}: "
                f"{ab['decision']['en']}"
            )
            p = il["preference"]
            print(
                f"        interleaving {il['shoppers']} shoppers, preference {p['value']:+.3f} "
                f"[{p['ci_low']:+.3f}, {p['ci_high']:+.3f}] clicks/shopper: {il['decision']['en']}"
            )
            print(f"        assignment of a shopper outside: {r['assignment_us']:.1f} us")
            print(
                "        route us (median of rounds; same shopper: no experiment -> running "
                "(ratio); running without the decision log): "
                + ", ".join(
                    f"{k} {a:.0f} -> {b:.0f} ({b / a:.2f}x; {n:.0f})" for k, (a, b, n) in c.items()
                )
            )
    payload = {
        "benchmark": "experiments_serving",
        "date": datetime.now(UTC).isoformat(),
        "machine": f"{platform.machine()} {os.cpu_count()} CPUs, Python {sys.version.split()[0]}",
        "load_average": os.getloadavg(),
        "args": {k: str(v) for k, v in vars(args).items()},
        "seconds": time.perf_counter() - started,
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2, default=str))
    print(f"wrote {args.out} ({payload['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
