"""Run every benchmark script in turn (``make bench``).

Each script prints its own table and writes JSON under ``benchmarks/results/``; figures are
recorded in ``docs/benchmarks.md``. Real data sets are read from ``$CAMPAIGNREC_DATA`` or
``../shared/data``; a benchmark whose data is missing says so and is skipped.
Usage: ``python benchmarks/run_all.py [NAME ...]`` (default: all, in the order below).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = [
    "synthetic",
    "ingest",
    "ingest_vs_raw",
    "ranking_rules",
    "profiles",
    "segments",
    "ranking",
    "models_scale",
    "allocation",
    "uplift_from_store",
    "retrain_gate",
    "push",
    "ope_synthetic",
    "ope_obd",
    "uplift_hillstrom",
    "experiments_interleaving",
    "experiments_aa",
]


def main(argv: list[str]) -> int:
    names = argv or ORDER
    failed = []
    for name in names:
        script = HERE / f"{name}.py"
        if not script.exists():
            print(f"== {name}: no such benchmark script, skipped")
            continue
        print(f"== {name}", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, str(script)])
        print(f"== {name}: exit {code} after {time.perf_counter() - started:.0f}s", flush=True)
        if code != 0:
            failed.append(name)
    if failed:
        print("failed: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
