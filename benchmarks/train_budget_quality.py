"""Benchmark: what the default time budget costs in quality against the unbounded selection.

MovieLens-100k (``../shared/data/ml-100k``), every rating a view, each user's last 20 % by time
as test (protocol A's split). ``select_default`` runs on train three times: with the default
time budget and the one-standard-error rule (what ``campaignrec train`` does), unbounded with the
same rule, and unbounded with the rule before (the leaderboard's top). Test NDCG@10 per user, the
ratio of the default to each unbounded run and a paired t-test. Writes
``benchmarks/results/train_budget_quality.json``::

    .venv/bin/python benchmarks/train_budget_quality.py [--data DIR]
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
from campaignrec.evaluation.splits import ground_truth, user_temporal_split
from campaignrec.evaluation.stats import paired_test

RESULTS = Path(__file__).resolve().parent / "results"
RUNS: dict[str, dict[str, Any]] = {
    "default budget, one_se": {},
    "unbounded, one_se": {"time_budget": math.inf},
    "unbounded, best (before)": {"time_budget": math.inf, "rule": "best"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None)
    opts = parser.parse_args()
    load_start = os.getloadavg()
    inter = load_ml100k_views(data_dir(opts.data, "ml-100k"))
    train, test = user_temporal_split(inter, test_fraction=0.2).apply(inter)
    truth = ground_truth(train, test)
    per_user: dict[str, np.ndarray] = {}
    rows = []
    for label, kwargs in RUNS.items():
        t0 = time.perf_counter()
        sel = select_default(train, seed=0, **kwargs)
        seconds = time.perf_counter() - t0
        recs, _ = sel.model.recommend_idx(truth.user_idx, 10, exclude_seen=True)
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
    base = per_user["default budget, one_se"]
    for label in list(RUNS)[1:]:
        test_ = paired_test(base, per_user[label])
        ratio = float(base.mean() / per_user[label].mean())
        print(f"default / {label}: {ratio:.3f} (p = {test_.p_value:.3f})")
        rows.append({"ratio_to": label, "ratio": ratio, "p_value": test_.p_value})
    result = {
        "benchmark": "train_budget_quality",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(load_start),
        "command": "benchmarks/train_budget_quality.py " + " ".join(sys.argv[1:]),
        "rows": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "train_budget_quality.json"
    out.write_text(json.dumps(result, indent=2, default=str), "utf-8")


if __name__ == "__main__":
    main()
