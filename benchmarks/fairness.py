"""Benchmark of fairness in serving: NDCG@10 against the exposure of a protected item group.

For each data set a model ranks 200 candidates per test user; the FA*IR-style re-ranker
(:mod:`campaignrec.ranking.fairness`) then guarantees a minimum share of the protected group in
every prefix, at strengths ``p`` = 0 (off), 0.3 ... 0.9 (``alpha`` = 0.1). Per strength: NDCG@10,
recall@10, the protected group's exposure share at 10 (position-weighted), its relevance share in
the test items, and the lists that could not meet the minimum.

- ML-100k (every rating a view; each shopper's last 20 % are test), EASE; protected:
  long-tail movies (outside the 20 % most popular in train), the "small sellers" of a catalogue.
- Taobao UserBehavior subset (84k events; the last two days are test, as ranking protocol B),
  EASE; protected: new items (first seen among the last 20 % of the train events).

Quality by shopper group for the unconstrained model: new vs returning shoppers (train history
at most / above the median), and on ML-100k gender and age band.

Writes ``benchmarks/results/fairness.json``, the plot ``docs/benchmarks/fairness.png`` and
prints the tables.

    .venv/bin/python benchmarks/fairness.py [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _datasets import data_dir, load_ml100k_views, load_taobao_events, machine

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
PLOT = REPO / "docs" / "benchmarks" / "fairness.png"
sys.path.insert(0, str(REPO / "src"))

from campaignrec.evaluation.fairness import (  # noqa: E402
    exposure_report,
    new_item_groups,
    popularity_groups,
    quality_by_user_group,
)
from campaignrec.evaluation.metrics import ranking_metrics  # noqa: E402
from campaignrec.evaluation.splits import (  # noqa: E402
    global_temporal_split,
    ground_truth,
    user_temporal_split,
)
from campaignrec.models.registry import create  # noqa: E402
from campaignrec.ranking.fairness import FairRankingConfig, fair_rerank  # noqa: E402

STRENGTHS = (0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9)
K, CANDIDATES = 10, 200


def run(
    name: str, inter: Any, model: str, groups_of: Any, protected_name: str, split: Any
) -> dict[str, Any]:
    train, test = split.apply(inter)
    truth = ground_truth(train, test)
    t0 = time.perf_counter()
    m = create(model).fit(train)
    cand, scores = m.recommend_idx(truth.user_idx, CANDIDATES, exclude_seen=True)
    fit_s = time.perf_counter() - t0
    cand = np.asarray(cand, dtype=np.int64)
    scores = np.nan_to_num(np.asarray(scores, dtype=np.float64), nan=-np.inf)
    groups = groups_of(train)
    protected = groups == 1
    rows = []
    for p in STRENGTHS:
        t1 = time.perf_counter()
        fair = fair_rerank(cand, scores, protected, K, FairRankingConfig(p=p, alpha=0.1))
        rerank_s = time.perf_counter() - t1
        met = ranking_metrics(fair.items, truth.items, ks=[K], metrics=("ndcg", "recall"))
        rep = exposure_report(fair.items, truth.items, groups, ["other", protected_name], k=K)
        rows.append(
            {
                "p": p,
                f"ndcg@{K}": float(met[f"ndcg@{K}"].mean()),
                f"recall@{K}": float(met[f"recall@{K}"].mean()),
                "protected_exposure": float(rep[f"exposure_share@{K}"].iloc[1]),
                "protected_relevance": float(rep["relevance_share"].iloc[1]),
                "protected_catalogue": float(rep["catalogue_share"].iloc[1]),
                "shortfall_lists": int(fair.shortfall_lists),
                "rerank_ms_per_user": 1000 * rerank_s / max(len(cand), 1),
            }
        )
    base = rows[0][f"ndcg@{K}"]
    for r in rows:
        r["ndcg_cost"] = 1 - r[f"ndcg@{K}"] / base if base > 0 else 0.0
    hist = np.diff(train.binary.indptr)[truth.user_idx]
    returning = (hist > np.median(hist)).astype(np.int64)
    quality = {
        "history": quality_by_user_group(
            cand[:, :K],
            truth.items,
            returning,
            ["new (<= median history)", "returning"],
            train.n_items,
            K,
        ).to_dict("records")
    }
    return {
        "dataset": name,
        "model": model,
        "protected": protected_name,
        "users": int(truth.n_users),
        "items": int(train.n_items),
        "fit_recommend_seconds": round(fit_s, 2),
        "rows": rows,
        "quality": quality,
        "_users": (train, truth, cand),
    }


def ml_demographics(root: Path, result: dict[str, Any]) -> None:
    train, truth, cand = result.pop("_users")
    users = pd.read_csv(root / "ml-100k" / "ml-100k.user", sep="\t")
    users.columns = ["user_id", "age", "gender", "occupation", "zip"]
    users["user_id"] = users["user_id"].astype(str)
    by_id = users.set_index("user_id")
    ids = [str(train.users.ids[u]) for u in truth.user_idx]
    gender = np.array([0 if by_id.loc[i, "gender"] == "F" else 1 for i in ids])
    bands = [(0, 25, "< 25"), (25, 35, "25-34"), (35, 50, "35-49"), (50, 200, "50+")]
    ages = by_id.loc[ids, "age"].to_numpy()
    band = np.array([next(k for k, (lo, hi, _) in enumerate(bands) if lo <= a < hi) for a in ages])
    result["quality"]["gender"] = quality_by_user_group(
        cand[:, :K], truth.items, gender, ["female", "male"], train.n_items, K
    ).to_dict("records")
    result["quality"]["age band"] = quality_by_user_group(
        cand[:, :K], truth.items, band, [b[2] for b in bands], train.n_items, K
    ).to_dict("records")


def plot(results: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(5.2 * len(results), 4.0))
    for ax, res in zip(np.atleast_1d(axes), results, strict=True):
        xs = [r["protected_exposure"] for r in res["rows"]]
        ys = [r[f"ndcg@{K}"] for r in res["rows"]]
        ax.plot(xs, ys, marker="o")
        for r, x, y in zip(res["rows"], xs, ys, strict=True):
            ax.annotate(
                f"p={r['p']:g}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8
            )
        rel = res["rows"][0]["protected_relevance"]
        ax.axvline(rel, linestyle="--", color="grey", linewidth=1)
        ax.text(
            rel, min(ys), " relevance share", color="grey", fontsize=8, rotation=90, va="bottom"
        )
        ax.set_xlabel(f"exposure share@{K} of {res['protected']}")
        ax.set_ylabel(f"NDCG@{K}")
        ax.set_title(f"{res['dataset']} ({res['model']})")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOT, dpi=110)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None)
    args = ap.parse_args()
    root = data_dir(args.data, needs="ml-100k")
    load = os.getloadavg()
    started = time.perf_counter()
    ml_inter = load_ml100k_views(root)
    ml = run(
        "ML-100k",
        ml_inter,
        "ease",
        lambda tr: popularity_groups(tr, 0.2),
        "long-tail items",
        user_temporal_split(ml_inter, test_fraction=0.2),
    )
    ml_demographics(root, ml)
    tb_inter = load_taobao_events(root)
    tb = run(
        "Taobao subset",
        tb_inter,
        "ease",
        lambda tr: new_item_groups(tr, 0.2),
        "new items",
        global_temporal_split(tb_inter, test_days=2),
    )
    tb.pop("_users")
    results = [ml, tb]
    plot(results)
    out = {
        "results": results,
        "seconds": round(time.perf_counter() - started, 1),
        "machine": machine(load),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "fairness.json").write_text(json.dumps(out, indent=2, default=float))
    for res in results:
        print(
            f"\n{res['dataset']} ({res['model']}), protected: {res['protected']}, "
            f"{res['users']} test users, {res['items']} items"
        )
        print(pd.DataFrame(res["rows"]).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
        for name, q in res["quality"].items():
            print(f"quality by {name}:")
            print(pd.DataFrame(q).to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    print(f"seconds={out['seconds']}")


if __name__ == "__main__":
    main()
