"""Benchmark: what the default time budget costs in quality against the unbounded selection.

Per protocol of ``benchmarks/ranking.py`` (its data, its split):

* ``A``: MovieLens-100k (``../shared/data/ml-100k``), every rating a view, each user's last 20 %
  by time as test;
* ``B``: the Taobao subset (``../shared/data/taobao``, ranking.py's loader: behaviours as event
  types, item categories), the last two days as test;
* ``C``: MovieLens-100k as ranking.py loads it (ratings, item categories, user features), each
  user's last event as test (leave-one-out).

``select_default`` runs on train with its own validation (what ``campaignrec train`` does, test
never seen): with the default time budget and the one-standard-error rule, unbounded with the
same rule, and (``--runs`` with it) unbounded with the rule before (the leaderboard's top). Test
NDCG@10 per user, the ratio of the default to each unbounded run and a paired t-test. Protocol
A keeps its first loader (every rating a view, no features), so its figures compare with the
first run of this script. Protocol D is ranking.py's (800 households of The Complete Journey,
products of 10+ buyers, each household's last 20 % of baskets; repeat items count, lists may
hold them); E (60 small shops) is not run here. The cold-item fallback is off, as in ranking.py
(``--cold-fallback`` keeps it). Writes
``benchmarks/results/train_budget_quality.json`` (or ``--results``)::

    .venv/bin/python benchmarks/train_budget_quality.py [--data DIR] [--protocols A B C]
        [--runs ...] [--results FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from _datasets import data_dir, load_ml100k_views, machine

from campaignrec.evaluation.metrics import ranking_metrics
from campaignrec.evaluation.selection import select_default
from campaignrec.evaluation.splits import ground_truth, make_split, user_temporal_split
from campaignrec.evaluation.stats import paired_test

RESULTS = Path(__file__).resolve().parent / "results"
RUNS: dict[str, dict[str, Any]] = {
    "default budget, one_se": {},
    "unbounded, one_se": {"time_budget": math.inf},
    "unbounded, best (before)": {"time_budget": math.inf, "rule": "best"},
}
DEFAULT_RUN = "default budget, one_se"


def _protocol_data(name: str, data: str | None) -> tuple[Any, Any, str, bool]:
    """(train, test, title, repeats) of protocol ``name``; KeyError when it is not available.

    ``repeats`` (protocol D): test counts items bought before too, and lists may hold them.
    """
    if name == "A":
        inter = load_ml100k_views(data_dir(data, "ml-100k"))
        train, test = user_temporal_split(inter, test_fraction=0.2).apply(inter)
        return train, test, "ML-100k, per-user temporal 80/20 (every rating a view)", False
    import ranking

    proto = ranking.PROTOCOLS[name]
    root = ranking.find_data(data)
    if proto.get("data") == "completejourney":  # D: ranking.py's loader and basket split
        opts = argparse.Namespace(cj_households=800, cj_min_buyers=10)
        inter, split = ranking.protocol_data(name, root, opts)
        train, test = split.apply(inter)
        return train, test, str(proto["title"]), bool(proto.get("repeats"))
    loaders = {"ml-100k": ranking.load_ml100k, "taobao": ranking.load_taobao}
    if proto.get("data") not in loaders:
        raise KeyError(f"{name}: data {proto.get('data')!r} has no loader here")
    inter = loaders[proto["data"]](root)
    kind, sparams = proto["split"]
    train, test = make_split(inter, kind, **sparams).apply(inter)
    return train, test, str(proto["title"]), False


def run_protocol(name: str, data: str | None, runs: list[str]) -> dict[str, Any]:
    """Every run of ``runs`` on protocol ``name``: rows, ratios and paired tests."""
    train, test, title, repeats = _protocol_data(name, data)
    truth = ground_truth(train, test, exclude_train_items=not repeats)
    print(
        f"== {name}: {title} | train {len(train):,} events, {train.n_users:,} users x "
        f"{train.n_items:,} items | {truth.n_users:,} test users",
        flush=True,
    )
    per_user: dict[str, np.ndarray] = {}
    rows: list[dict[str, Any]] = []
    for label in runs:
        kwargs = RUNS[label]
        t0 = time.perf_counter()
        sel = select_default(train, seed=0, **kwargs)
        seconds = time.perf_counter() - t0
        recs, _ = sel.model.recommend_idx(truth.user_idx, 10, exclude_seen=not repeats)
        per_user[label] = np.asarray(ranking_metrics(recs, truth.items, [10], ["ndcg"])["ndcg@10"])
        rows.append(
            {
                "run": label,
                "chosen": sel.name,
                "ndcg@10": float(per_user[label].mean()),
                "select_s": seconds,
                "budget_s": sel.report["budget"]["seconds"],
                "skipped": [s["name"] for s in sel.report["budget"]["skipped"]],
                "decision": sel.report["decision"],
            }
        )
        print(f"{label:<26} {sel.name:<60} {rows[-1]['ndcg@10']:.4f} {seconds:6.1f} s", flush=True)
    base = per_user[DEFAULT_RUN]
    for label in runs:
        if label == DEFAULT_RUN:
            continue
        test_ = paired_test(base, per_user[label])
        ratio = float(base.mean() / per_user[label].mean()) if per_user[label].mean() else math.nan
        print(f"default / {label}: {ratio:.3f} (p = {test_.p_value:.3f})")
        rows.append({"ratio_to": label, "ratio": ratio, "p_value": test_.p_value})
    return {
        "protocol": name,
        "title": title,
        "train_events": len(train),
        "test_users": int(truth.n_users),
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--protocols", nargs="*", default=["A", "B", "C"])
    parser.add_argument(
        "--runs", nargs="*", choices=list(RUNS), default=list(RUNS), help="the default run first"
    )
    parser.add_argument(
        "--results", default="train_budget_quality.json", help="file under results/"
    )
    parser.add_argument(
        "--cold-fallback",
        action="store_true",
        help="keep the cold-item fallback on (off by default, as in ranking.py: BENCH_COLD)",
    )
    opts = parser.parse_args()
    if not opts.cold_fallback:
        from ranking import BENCH_COLD

        os.environ[BENCH_COLD[0]] = BENCH_COLD[1]
    runs = [DEFAULT_RUN] + [r for r in opts.runs if r != DEFAULT_RUN]
    load_start = os.getloadavg()
    protocols: list[dict[str, Any]] = []
    for name in opts.protocols:
        try:
            protocols.append(run_protocol(name, opts.data, runs))
        except KeyError as exc:
            print(f"== {name}: not available ({exc})", flush=True)
            protocols.append({"protocol": name, "not_available": str(exc)})
    result = {
        "benchmark": "train_budget_quality",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(load_start),
        "command": "benchmarks/train_budget_quality.py " + " ".join(sys.argv[1:]),
        "protocols": protocols,
        "cold_fallback": bool(opts.cold_fallback),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / opts.results
    out.write_text(json.dumps(result, indent=2, default=str), "utf-8")


if __name__ == "__main__":
    main()
