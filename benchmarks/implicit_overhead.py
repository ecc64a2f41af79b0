"""Overhead of campaignrec's ALS / BPR wrappers over calling ``implicit`` directly.

Same data, same parameters, same thread settings; the timed steps are fit and recommend-all
(top 10 for every user, seen items excluded). Prints a table and writes JSON under
``benchmarks/results/implicit_overhead.json``. The target is ours / implicit <= 1.2.

    .venv/bin/python benchmarks/implicit_overhead.py [--data DIR] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from _datasets import data_dir, load_ml100k_views, load_taobao_events, machine
from threadpoolctl import threadpool_limits

from campaignrec.data.interactions import Interactions
from campaignrec.models.factorization import ALS, BPR

ROOT = Path(__file__).resolve().parents[1]


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def bench(name: str, inter: Interactions, repeats: int) -> list[dict[str, Any]]:
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    user_items = inter.matrix.astype(np.float32).tocsr()
    binary = inter.binary.astype(np.float32).tocsr()
    users = inter.active_users
    user_ids = list(inter.users.ids[users])
    rows = []
    cases: list[tuple[str, Callable[[], Any], Callable[[], Any]]] = [
        (
            "als",
            lambda: ALS(factors=64, iterations=15, seed=0),
            lambda: AlternatingLeastSquares(factors=64, iterations=15, random_state=0),
        ),
        (
            "bpr",
            lambda: BPR(factors=64, iterations=50, seed=0),
            lambda: BayesianPersonalizedRanking(factors=64, iterations=50, random_state=0),
        ),
    ]
    for model_name, ours_factory, ref_factory in cases:
        matrix = user_items if model_name == "als" else binary

        def ref_fit(factory: Callable[[], Any] = ref_factory, m: Any = matrix) -> Any:
            with threadpool_limits(1, "blas"):
                model = factory()
                model.fit(m, show_progress=False)
            return model

        def ours_fit(factory: Callable[[], Any] = ours_factory) -> Any:
            return factory().fit(inter)

        t_ref_fit, ref = timed(ref_fit, repeats)
        t_our_fit, ours = timed(ours_fit, repeats)
        t_ref_rec, _ = timed(lambda r=ref: r.recommend(users, binary[users], N=10), repeats)
        t_our_rec, _ = timed(lambda o=ours: o.recommend_idx(users, k=10), repeats)
        t_our_ext, _ = timed(lambda o=ours: o.recommend(user_ids, k=10), repeats)
        rows.append(
            {
                "data": name,
                "model": model_name,
                "users": len(users),
                "items": inter.n_items,
                "implicit_fit_s": t_ref_fit,
                "ours_fit_s": t_our_fit,
                "fit_ratio": t_our_fit / t_ref_fit,
                "implicit_recommend_s": t_ref_rec,
                "ours_recommend_idx_s": t_our_rec,
                "recommend_idx_ratio": t_our_rec / t_ref_rec,
                "ours_recommend_ids_s": t_our_ext,
                "recommend_ids_ratio": t_our_ext / t_ref_rec,
            }
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    root = data_dir(args.data)
    rows = bench("ml-100k", load_ml100k_views(root), args.repeats)
    rows += bench("taobao", load_taobao_events(root), args.repeats)
    head = f"{'data':8s} {'model':5s} {'fit impl':>9s} {'fit ours':>9s} {'ratio':>6s} "
    head += f"{'rec impl':>9s} {'rec ours':>9s} {'ratio':>6s} {'rec ids':>8s} {'ratio':>6s}"
    print(head)
    for r in rows:
        print(
            f"{r['data']:8s} {r['model']:5s} {r['implicit_fit_s']:9.3f} {r['ours_fit_s']:9.3f} "
            f"{r['fit_ratio']:6.2f} {r['implicit_recommend_s']:9.3f} "
            f"{r['ours_recommend_idx_s']:9.3f} {r['recommend_idx_ratio']:6.2f} "
            f"{r['ours_recommend_ids_s']:8.3f} {r['recommend_ids_ratio']:6.2f}"
        )
    out = ROOT / "benchmarks" / "results" / "implicit_overhead.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "repeats": args.repeats,
    }
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
