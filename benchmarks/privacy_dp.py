"""Benchmark of campaignrec.privacy.dp: the error of ε-DP releases against the exact figures.

On the demo shop (the ``campaignrec demo`` configuration: 3,000 shoppers, 600 items, 150,000
events, 12 campaigns, 60 days, seed 0), the aggregates that leave the engine are computed
exactly and released with OpenDP's discrete Laplace at ε = 0.5, 1 and 2, ``--reps`` times each:

- segment sizes (engine segments and RFM segments of the computed profiles; sensitivity 1);
- funnel stage counts, heatmap (weekday x hour) and campaign report counts, each shopper's
  events clipped to ``--max-events`` (sensitivity = that bound); the clipping error (clipped
  exact against unclipped exact) is reported apart from the noise.

Per table: mean absolute error per cell, median relative error over cells with a count, the
theoretical mean absolute noise (E|X| = 2t / (1 - t^2), t = exp(-ε / Δ)), and the relative error
of the table's total. Writes ``benchmarks/results/privacy_dp.json`` and prints a table.

    .venv/bin/python benchmarks/privacy_dp.py
    .venv/bin/python benchmarks/privacy_dp.py --reps 50 --users 500 --events 20000   # quick
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
from _datasets import machine

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
sys.path.insert(0, str(REPO / "src"))

from campaignrec.data.synthetic import ShopConfig, generate_shop  # noqa: E402
from campaignrec.privacy.dp import (  # noqa: E402
    campaign_report_counts,
    funnel_counts,
    heatmap_counts,
    noisy_counts,
    segment_size_counts,
)
from campaignrec.profiles.pipeline import build_profiles  # noqa: E402

EPSILONS = (0.5, 1.0, 2.0)


def errors(exact: dict[str, int], sensitivity: int, epsilon: float, reps: int) -> dict[str, Any]:
    keys = list(exact)
    truth = np.array([exact[k] for k in keys], dtype=float)
    abs_err, rel_err, total_err = [], [], []
    for _ in range(reps):
        noisy = np.array(list(noisy_counts(exact, sensitivity, epsilon).values()), dtype=float)
        diff = np.abs(noisy - truth)
        abs_err.append(diff.mean())
        pos = truth > 0
        rel_err.append(np.median(diff[pos] / truth[pos]) if pos.any() else np.nan)
        total_err.append(abs(noisy.sum() - truth.sum()) / max(truth.sum(), 1.0))
    t = np.exp(-epsilon / sensitivity)
    return {
        "epsilon": epsilon,
        "sensitivity": sensitivity,
        "cells": len(keys),
        "mean_cell": float(truth.mean()),
        "mae": float(np.mean(abs_err)),
        "theory_mae": float(2 * t / (1 - t * t)),
        "median_rel_err": float(np.nanmean(rel_err)),
        "total_rel_err": float(np.mean(total_err)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=3_000)
    ap.add_argument("--items", type=int, default=600)
    ap.add_argument("--events", type=int, default=150_000)
    ap.add_argument("--reps", type=int, default=200)
    ap.add_argument("--max-events", type=int, default=0, help="clip bound (0: 95th percentile)")
    args = ap.parse_args()
    load = os.getloadavg()
    started = time.perf_counter()
    cfg = ShopConfig(
        n_users=args.users,
        n_items=args.items,
        n_events=args.events,
        n_campaigns=12,
        days=60,
        seed=0,
    )
    shop = generate_shop(cfg)
    events = shop.events
    t_prof = time.perf_counter()
    profiles = build_profiles(lambda: [events], users=shop.users, items=shop.items).profiles
    t_prof = time.perf_counter() - t_prof
    from campaignrec.data.schema import CAMPAIGN_EVENT_TYPES
    from campaignrec.profiles.analytics import FUNNEL_STAGES

    def bound(kinds: set[str] | None, q: float) -> int:
        ev = events if kinds is None else events[events["event_type"].isin(kinds)]
        per_user = ev.groupby("user_id").size()
        return max(int(np.ceil(per_user.quantile(q))), 1)

    campaign_ids = sorted(shop.campaigns["campaign_id"].astype(str))
    event_tables = {
        "funnel stages": (funnel_counts, set(FUNNEL_STAGES)),
        "heatmap (168 cells)": (heatmap_counts, None),
        "campaign report": (
            lambda ev, b: campaign_report_counts(ev, b, campaign_ids),
            set(CAMPAIGN_EVENT_TYPES),
        ),
    }
    rows = []
    seg = segment_size_counts(profiles)
    for name, counts in (
        ("segment sizes", seg),
        ("RFM segment sizes", segment_size_counts(profiles, "rfm_segment")),
    ):
        for eps in EPSILONS:
            r = errors(counts, 1, eps, args.reps)
            r.update({"table": name, "bound": "-", "clip_rel_l1": 0.0})
            rows.append(r)
    for name, (fn, kinds) in event_tables.items():
        full = fn(events, 10**9)
        quantiles = (0.5, 0.95) if not args.max_events else (None,)
        for q in quantiles:
            b = args.max_events or bound(kinds, q)  # type: ignore[arg-type]
            clipped = fn(events, b)
            keys = set(full) | set(clipped)
            clip_err = sum(abs(full.get(k, 0) - clipped.get(k, 0)) for k in keys) / max(
                sum(full.values()), 1
            )
            for eps in EPSILONS:
                r = errors(clipped, b, eps, args.reps)
                label = f"p{int(q * 100)} = {b}" if q is not None else str(b)
                r.update({"table": name, "bound": label, "clip_rel_l1": float(clip_err)})
                rows.append(r)
    per_user_all = events.groupby("user_id").size()
    out = {
        "config": {
            "users": args.users,
            "items": args.items,
            "events": args.events,
            "reps": args.reps,
            "max_events": args.max_events or "per-user quantiles",
            "events_per_user_p50": float(per_user_all.median()),
            "events_per_user_p95": float(per_user_all.quantile(0.95)),
            "segments": len(seg),
        },
        "rows": rows,
        "profile_seconds": round(t_prof, 1),
        "seconds": round(time.perf_counter() - started, 1),
        "machine": machine(load),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "privacy_dp.json").write_text(json.dumps(out, indent=2))
    frame = pd.DataFrame(rows)[
        [
            "table",
            "bound",
            "epsilon",
            "cells",
            "mean_cell",
            "mae",
            "theory_mae",
            "median_rel_err",
            "total_rel_err",
            "clip_rel_l1",
        ]
    ]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(frame.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(json.dumps(out["config"]), f"seconds={out['seconds']}")


if __name__ == "__main__":
    main()
