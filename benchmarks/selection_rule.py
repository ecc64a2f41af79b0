"""Benchmark: does the one-standard-error rule of ``select_default`` generalise on small shops?

Small shops drawn from The Complete Journey (``../shared/data/completejourney``): ``--sizes``
households sampled at random (``--seeds`` draws each), every purchase line of theirs as an
event. Each household's last 20 % of lines by time is test (items already bought in train are
not targets, as in every protocol here). ``select_default`` (default time budget, seed 0) runs on
train once; from the same run come three models, each refitted on all of train:

* ``one_se``: what ``campaignrec train`` now chooses (the one-standard-error rule, two windows);
* ``best``: the top of the validation leaderboard (the rule before);
* ``most_popular``: plain popularity.

Test NDCG@10 per user, the ratio of means, and a paired t-test of ``one_se`` against ``best``
and against popularity. Prints a table and writes ``benchmarks/results/selection_rule.json``::

    .venv/bin/python benchmarks/selection_rule.py [--sizes 100 200] [--seeds 3] [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _datasets import data_dir, machine

from campaignrec.data.interactions import Interactions
from campaignrec.evaluation.selection import model_from_row, select_default
from campaignrec.evaluation.splits import ground_truth, user_temporal_split
from campaignrec.evaluation.stats import paired_test
from campaignrec.models.registry import create

RESULTS = Path(__file__).resolve().parent / "results"
K = 10


def small_shop(tx: pd.DataFrame, n: int, seed: int) -> Interactions:
    households = np.sort(tx["household_id"].unique())
    keep = np.random.default_rng(seed).choice(households, size=n, replace=False)
    sub = tx[tx["household_id"].isin(keep)]
    frame = pd.DataFrame(
        {
            "user_id": sub["household_id"].astype(str),
            "item_id": sub["product_id"].astype(str),
            "event_type": "purchase",
            "timestamp": pd.to_datetime(sub["transaction_timestamp"], utc=True),
        }
    )
    return Interactions.from_frame(frame)


def test_ndcg(model: Any, train: Interactions, truth: Any) -> np.ndarray:
    from campaignrec.evaluation.metrics import ranking_metrics

    recs, _ = model.recommend_idx(truth.user_idx, K, exclude_seen=True)
    return np.asarray(ranking_metrics(recs, truth.items, [K], ["ndcg"])[f"ndcg@{K}"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[100, 200])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--data", default=None)
    parser.add_argument("--results", default="selection_rule.json")
    opts = parser.parse_args()
    load_start = os.getloadavg()
    tx = pd.read_parquet(
        data_dir(opts.data, "completejourney") / "completejourney" / "transactions.parquet",
        columns=["household_id", "product_id", "transaction_timestamp"],
    )
    rows = []
    for n in opts.sizes:
        for seed in range(opts.seeds):
            inter = small_shop(tx, n, seed)
            split = user_temporal_split(inter, test_fraction=0.2)
            train, test = split.apply(inter)
            truth = ground_truth(train, test)
            t0 = time.perf_counter()
            sel = select_default(train, seed=0)
            seconds = time.perf_counter() - t0
            decision = sel.report["decision"]
            board = {r["name"]: r for r in sel.report["leaderboard"]}
            best_model = (
                sel.model
                if decision["best"] == sel.name
                else model_from_row(board[decision["best"]]).fit(train)
            )
            pop = create("most_popular").fit(train)
            s_rule = test_ndcg(sel.model, train, truth)
            s_best = test_ndcg(best_model, train, truth)
            s_pop = test_ndcg(pop, train, truth)
            row = {
                "households": n,
                "seed": seed,
                "events": len(inter),
                "items": inter.n_items,
                "test_users": int(truth.n_users),
                "validation_users": sel.report["validation"]["users"],
                "chosen": sel.name,
                "best_on_validation": decision["best"],
                "windows": decision.get("windows"),
                "ndcg_one_se": float(s_rule.mean()),
                "ndcg_best": float(s_best.mean()),
                "ndcg_popularity": float(s_pop.mean()),
                "p_vs_best": paired_test(s_rule, s_best).p_value
                if decision["best"] != sel.name
                else 1.0,
                "p_vs_popularity": paired_test(s_rule, s_pop).p_value,
                "select_s": seconds,
            }
            rows.append(row)
            print(
                f"{n:>4} households seed {seed}: chosen {row['chosen']} (best on validation "
                f"{row['best_on_validation']}); test ndcg@10 one_se {row['ndcg_one_se']:.4f} "
                f"best {row['ndcg_best']:.4f} popularity {row['ndcg_popularity']:.4f} "
                f"({seconds:.0f} s)",
                flush=True,
            )
    result = {
        "benchmark": "selection_rule",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(load_start),
        "command": "benchmarks/selection_rule.py " + " ".join(sys.argv[1:]),
        "rows": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / opts.results).write_text(json.dumps(result, indent=2, default=str), "utf-8")


if __name__ == "__main__":
    main()
