"""Sequence-proximity models (EASE, item KNN) against recency-weighted EASE, tuned on validation.

MovieLens-100k, Protocol A (per-user temporal split: each user's last 20 % by time is test) and
Protocol C (leave-one-out: each user's last rating). For each protocol a validation split is
carved from train by the same rule; each family's small grid is searched on validation, the best
setting is refitted on train and scored once on test (NDCG@10, full ranking over unseen items),
then a paired t-test over users compares each family with recency-weighted EASE (the strong
simple baseline of the issue). Prints a table and writes
``benchmarks/results/sequence_proximity.json``.

    .venv/bin/python benchmarks/sequence_proximity.py [--data DIR] [--protocols A C]
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from _datasets import data_dir, load_ml100k_views, machine
from numpy.typing import NDArray
from scipy import stats

from campaignrec.data.interactions import Interactions
from campaignrec.models.base import Recommender
from campaignrec.models.blend import Blend
from campaignrec.models.ease import EASE
from campaignrec.models.factorization import ALS
from campaignrec.models.knn import ItemKNN

ROOT = Path(__file__).resolve().parents[1]
K = 10
REFERENCE = "ease (recency)"
FAMILIES: dict[str, type[Recommender]] = {
    "ease (recency)": EASE,
    "ease (recency + proximity)": EASE,
    "item_knn (sequential)": ItemKNN,
}
GRIDS: dict[str, list[dict[str, Any]]] = {
    "ease (recency)": [
        {"l2": l2, "recency_half_life": h}
        for l2 in (300.0, 500.0, 1000.0, 2000.0)
        for h in (3, 5, 10)
    ],
    "ease (recency + proximity)": [
        {"l2": l2, "recency_half_life": h, "proximity_half_life": p}
        for l2 in (300.0, 600.0, 1200.0)
        for h in (3, 6)
        for p in (8, 20, 60)
    ],
    "item_knn (sequential)": [
        {"proximity_half_life": p, "backward_weight": b, "recency_half_life": h, "neighbours": 200}
        for p in (5.0, 20.0)
        for b in (0.3, 1.0)
        for h in (2.0, 5.0)
    ],
}


ALS_PARAMS: dict[str, Any] = {
    "factors": 64,
    "regularization": 0.1,
    "alpha": 5.0,
    "iterations": 15,
    "seed": 0,
}


def split(inter: Interactions, protocol: str) -> tuple[Interactions, Interactions]:
    """(train, test) by each user's position in time (ties in time keep log order)."""
    order = np.lexsort((inter.timestamp, inter.user_idx))
    counts = np.bincount(inter.user_idx, minlength=inter.n_users)
    indptr = np.zeros(inter.n_users + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    pos = np.empty(len(inter), dtype=np.int64)
    pos[order] = np.arange(len(inter)) - indptr[inter.user_idx[order]]
    n_u = counts[inter.user_idx]
    test = (pos >= np.ceil(n_u * 0.8)) if protocol == "A" else (pos == n_u - 1) & (n_u > 1)
    return inter.subset(~test), inter.subset(test)


def ndcg_per_user(
    model: Recommender, train: Interactions, test: Interactions
) -> NDArray[np.float64]:
    truth = test.binary
    users = np.flatnonzero(np.diff(truth.indptr) > 0)
    users = users[np.diff(train.binary.indptr)[users] > 0]
    idx, _ = model.recommend_idx(users, k=K)
    disc = 1.0 / np.log2(np.arange(2, K + 2))
    out = np.empty(len(users))
    for r, u in enumerate(users):
        rel = truth.indices[truth.indptr[u] : truth.indptr[u + 1]]
        out[r] = (np.isin(idx[r], rel) * disc).sum() / disc[: min(len(rel), K)].sum()
    return out


def run(inter: Interactions, protocol: str) -> dict[str, Any]:
    train, test = split(inter, protocol)
    fit_part, val = split(train, protocol)
    per_user: dict[str, NDArray[np.float64]] = {}
    rows: dict[str, Any] = {}
    for family, grid in GRIDS.items():
        t0 = time.perf_counter()
        cls = FAMILIES[family]
        scored = [(ndcg_per_user(cls(**q).fit(fit_part), fit_part, val).mean(), q) for q in grid]
        best_val, best = max(scored, key=lambda s: s[0])
        t1 = time.perf_counter()
        model = cls(**best).fit(train)
        fit_s = time.perf_counter() - t1
        per_user[family] = ndcg_per_user(model, train, test)
        rows[family] = {
            "params": best,
            "validation_ndcg": float(best_val),
            "test_ndcg": float(per_user[family].mean()),
            "stderr": float(per_user[family].std(ddof=1) / np.sqrt(len(per_user[family]))),
            "fit_s": fit_s,
            "tuning_s": t1 - t0,
        }
    # blend of the two tuned sequence families and ALS; weights chosen on validation
    label = "blend (proximity ease + sequential knn + als)"
    t0 = time.perf_counter()
    parts = ("ease (recency + proximity)", "item_knn (sequential)")

    def components() -> list[Recommender]:
        return [
            EASE(**rows[parts[0]]["params"]),
            ItemKNN(**rows[parts[1]]["params"]),
            ALS(**ALS_PARAMS),
        ]

    blend = Blend(components=components()).fit(fit_part)
    grid = [(1.0, a, b) for a in (0.0, 0.5, 1.0, 2.0) for b in (0.0, 0.2, 0.5)]
    scored_w = [(ndcg_per_user(blend.with_weights(w), fit_part, val).mean(), w) for w in grid]
    best_val_w, weights = max(scored_w, key=lambda s: s[0])
    t1 = time.perf_counter()
    final = Blend(components=components(), weights=weights).fit(train)
    fit_s = time.perf_counter() - t1
    per_user[label] = ndcg_per_user(final, train, test)
    rows[label] = {
        "params": {"weights": list(weights), "components": [*parts, f"als {ALS_PARAMS}"]},
        "validation_ndcg": float(best_val_w),
        "test_ndcg": float(per_user[label].mean()),
        "stderr": float(per_user[label].std(ddof=1) / np.sqrt(len(per_user[label]))),
        "fit_s": fit_s,
        "tuning_s": t1 - t0,
    }

    ref = per_user[REFERENCE]
    for family, scores in per_user.items():
        if family != REFERENCE:
            rows[family]["lift_vs_reference"] = float(scores.mean() / ref.mean() - 1.0)
            rows[family]["paired_t_p"] = float(stats.ttest_rel(scores, ref).pvalue)
    return {"protocol": protocol, "users": len(ref), "reference": REFERENCE, "models": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--protocols", nargs="+", default=["A", "C"], choices=["A", "C"])
    args = ap.parse_args()
    inter = load_ml100k_views(data_dir(args.data))
    results = [run(inter, p) for p in args.protocols]
    print(
        f"{'protocol':8s} {'model':46s} {'NDCG@10':>8s} {'± se':>7s} {'lift':>7s} {'p':>8s}  params"
    )
    for res in results:
        for family, row in res["models"].items():
            lift = f"{row['lift_vs_reference']:+.1%}" if "lift_vs_reference" in row else "ref"
            p = f"{row['paired_t_p']:.1e}" if "paired_t_p" in row else ""
            print(
                f"{res['protocol']:8s} {family:46s} {row['test_ndcg']:8.4f} "
                f"{row['stderr']:7.4f} {lift:>7s} {p:>8s}  {row['params']}"
            )
    out = ROOT / "benchmarks" / "results" / "sequence_proximity.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
    }
    out.write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
