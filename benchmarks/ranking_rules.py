"""What the serving rules and MMR diversity cost and buy: NDCG@10, ILD@10 and coverage of the
lists the ranking path serves, model-only vs with rules, at diversity weights 0, 0.3 and 0.6.

The synthetic shop (seeded) is split per user by time (last 20 % of each shopper's events are the
test); an item-KNN model is fitted on the train part; every test user's list comes from
``Ranker.recommend``. "with rules" = out-of-stock items dropped (the shop's ``in_stock``), at most
3 items per brand and 4 per top-level category. Figures go to ``docs/benchmarks/serving_ranking.md``
and ``benchmarks/results/ranking_rules.json``.

    python benchmarks/ranking_rules.py [--users 1500] [--items 400] [--events 60000] [--eval 600]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from _datasets import ROOT, machine

from campaignrec.data.interactions import Interactions
from campaignrec.data.synthetic import ShopConfig, generate_shop
from campaignrec.evaluation.metrics import intra_list_diversity, item_coverage, ranking_metrics
from campaignrec.evaluation.splits import ground_truth, user_temporal_split
from campaignrec.models.knn import ItemKNN
from campaignrec.ranking import Ranker, RankingConfig, RankingRequest
from campaignrec.store.online import MemoryOnlineState

K = 10


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=1500)
    ap.add_argument("--items", type=int, default=400)
    ap.add_argument("--events", type=int, default=60_000)
    ap.add_argument("--eval", type=int, default=600, help="test users evaluated")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    load = __import__("os").getloadavg()
    shop = generate_shop(
        ShopConfig(n_users=args.users, n_items=args.items, n_events=args.events, seed=args.seed)
    )
    inter = Interactions.from_frame(shop.events, items=shop.items, users=shop.users)
    train, test = user_temporal_split(inter, test_fraction=0.2).apply(inter)
    truth = ground_truth(train, test)
    rng = np.random.default_rng(args.seed)
    rows = rng.choice(len(truth.user_idx), min(args.eval, len(truth.user_idx)), replace=False)
    rows.sort()
    users = inter.users.ids[truth.user_idx[rows]]
    relevant = truth.items[rows]
    model = ItemKNN().fit(train)
    cats = pd.Categorical(train.item_features["category"].astype(str).str.split("/").str[0]).codes
    all_in_stock = shop.items.assign(in_stock=True)
    setups = {
        "model-only": (all_in_stock, RankingConfig()),
        "with rules": (shop.items, RankingConfig(max_per_brand=3, max_per_category=4)),
    }
    results = []
    for label, (items, config) in setups.items():
        ranker = Ranker(model, items, MemoryOnlineState(), config=config)
        for weight in (0.0, 0.3, 0.6):
            started = time.perf_counter()
            recs = np.full((len(users), K), -1, dtype=np.int64)
            for r, user in enumerate(users):
                got = ranker.recommend(RankingRequest(str(user), k=K, diversity=weight))
                ids = [it.item_id for it in got.items]
                recs[r, : len(ids)] = model.items_.index(ids)
            seconds = time.perf_counter() - started
            ndcg = float(
                ranking_metrics(recs, relevant, ks=(K,), metrics=("ndcg",))[f"ndcg@{K}"].mean()
            )
            results.append(
                {
                    "setup": label,
                    "diversity": weight,
                    "ndcg@10": ndcg,
                    "ild@10": float(intra_list_diversity(recs, K, cats).mean()),
                    "coverage@10": item_coverage(recs, K, model.n_items),
                    "ms_per_request": 1000 * seconds / len(users),
                }
            )
            print(
                f"{label:11s} w={weight:.1f}  NDCG@10 {ndcg:.4f}  ILD@10 "
                f"{results[-1]['ild@10']:.3f}  coverage {results[-1]['coverage@10']:.3f}  "
                f"{results[-1]['ms_per_request']:.2f} ms/request"
            )
    info = {
        "machine": machine(load),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "shop": vars(args),
        "n_eval_users": len(users),
        "results": results,
    }
    out = ROOT / "benchmarks" / "results" / "ranking_rules.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(info, indent=2))
    write_doc(info, ROOT / "docs" / "benchmarks" / "serving_ranking.md")


def write_doc(info: dict, path: Path) -> None:
    m = info["machine"]
    lines = [
        "# Serving: the ranking path's rules and diversity, measured",
        "",
        f"Measured {info['date']} on {m['platform']}, Python {m['python']}, {m['cpus']} CPUs, "
        f"{m['mem_gib']} GiB (load average at start {m['loadavg_start']}).",
        "",
        "Command: `PYTHONPATH=src python benchmarks/ranking_rules.py "
        + " ".join(f"--{k} {v}" for k, v in info["shop"].items() if k != "eval")
        + f" --eval {info['shop']['eval']}`",
        "",
        f"Synthetic shop ({info['shop']['users']} users, {info['shop']['items']} items, "
        f"{info['shop']['events']} events, seed {info['shop']['seed']}); per-user temporal split "
        f"(last 20 % of each shopper's events); item-KNN on the train part; {info['n_eval_users']} "
        "test shoppers, each list served by `Ranker.recommend` (k = 10). *model-only*: every item "
        "in stock, no caps. *with rules*: the shop's out-of-stock items dropped, at most 3 items "
        "per brand and 4 per top-level category. ILD = share of item pairs of a list in different "
        "top-level categories; coverage = share of the catalogue served to anyone.",
        "",
        "| setup | MMR weight | NDCG@10 | ILD@10 | coverage@10 | ms / request |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in info["results"]:
        lines.append(
            f"| {r['setup']} | {r['diversity']:.1f} | {r['ndcg@10']:.4f} | {r['ild@10']:.3f} | "
            f"{r['coverage@10']:.3f} | {r['ms_per_request']:.2f} |"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
