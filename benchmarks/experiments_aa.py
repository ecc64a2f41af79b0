"""Benchmark: A/A experiments through the whole results path (simulated events -> decision).

``--runs`` A/A experiments (both arms convert at 6 %, shoppers' propensities gamma-distributed with
variance 1 and a pre-period, 3,000 shoppers over 14 days, read on day 16) go through
:func:`campaignrec.experiments.results.analyse_experiment`: the share of runs whose always-valid
sequential p-value (16 daily looks) and whose fixed-horizon p-value fall below 0.05, and the
decisions reached (a "winner" here is a false positive).

Usage::

    .venv/bin/python benchmarks/experiments_aa.py [--runs 100]

Writes ``benchmarks/results/experiments_aa.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from campaignrec.experiments.registry import Experiment
from campaignrec.experiments.results import analyse_experiment
from campaignrec.experiments.simulation import ArmTruth, simulate_experiment_events

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=100)
    args = ap.parse_args()
    exp = Experiment(
        experiment_id="aa",
        variants=[{"name": "A", "share": 1}, {"name": "B", "share": 1}],  # type: ignore[list-item]
        start_time=T0,
        minimum_detectable_effect=0.2,
        range_low=0.0,
        range_high=1.0,
    )
    truths = {"A": ArmTruth(0.06), "B": ArmTruth(0.06)}
    verdicts: Counter[str] = Counter()
    seq, fixed = [], []
    t0 = time.perf_counter()
    for run in range(args.runs):
        ev = simulate_experiment_events(
            exp, truths, n_users=3000, days=14, seed=300 + run, heterogeneity=1.0
        )
        r = analyse_experiment(exp, ev, at=T0 + timedelta(days=16))
        verdicts[r["decision"]["verdict"]] += 1
        c = next(c for c in r["comparisons"] if c["primary"])
        seq.append(c["sequential_p_value"])
        fixed.append(c["p_value"])
    out = {
        "runs": args.runs,
        "sequential_rejections": float(np.mean(np.array(seq) < 0.05)),
        "fixed_horizon_rejections": float(np.mean(np.array(fixed) < 0.05)),
        "verdicts": dict(verdicts),
        "seconds": time.perf_counter() - t0,
    }
    print(json.dumps(out))
    path = Path(__file__).resolve().parent / "results" / "experiments_aa.json"
    path.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
