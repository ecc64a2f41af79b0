"""Benchmark of the privacy edge of the importer: what pseudonymisation costs an events import.

One synthetic events CSV (``--events`` rows, default 300,000) is imported into a fresh SQLite
store three times: without the edge (``edge=None``, as before issue 14), with the edge of a shop
without a key (personal-field policy only: what ``campaignrec import`` does by default), and with
a ``pseudonymisation_key`` (every user id an HMAC-SHA256). Best of ``--repeat`` runs each;
prints events/s and the ratios to the run without the edge; writes
``benchmarks/results/privacy_edge.json``.

    .venv/bin/python benchmarks/privacy_edge.py [--events 300000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from _datasets import machine

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
sys.path.insert(0, str(REPO / "src"))

from campaignrec.config import load_settings  # noqa: E402
from campaignrec.data.importer import import_file  # noqa: E402
from campaignrec.data.synthetic import ShopConfig, write_shop  # noqa: E402
from campaignrec.privacy.edge import privacy_edge  # noqa: E402
from campaignrec.store.sql import SQLStore  # noqa: E402


def once(csv: Path, work: Path, mode: str) -> float:
    home = work / f"{mode}-{time.monotonic_ns()}"
    key = "bench-pseudonymisation-key-0123456789" if mode == "key" else None
    settings = load_settings(home, pseudonymisation_key=key)
    home.mkdir(parents=True)
    store = SQLStore(settings.resolved_database_url)
    edge = None if mode == "none" else privacy_edge(settings, store)
    t0 = time.perf_counter()
    summary = import_file(store, "events", csv, edge=edge)
    seconds = time.perf_counter() - t0
    store.close()
    assert summary.accepted > 0
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cfg = ShopConfig(n_users=20_000, n_items=5_000, n_events=args.events, seed=0)
        csv = Path(write_shop(cfg, work / "shop", fmt="csv")["events"])
        best = {
            mode: min(once(csv, work, mode) for _ in range(args.repeat))
            for mode in ("none", "policy", "key")
        }
    out = {
        "events": args.events,
        "seconds": best,
        "events_per_second": {m: args.events / s for m, s in best.items()},
        "ratio_to_no_edge": {m: s / best["none"] for m, s in best.items()},
        "machine": machine(load),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "privacy_edge.json").write_text(json.dumps(out, indent=2))
    for m in best:
        print(
            f"{m:>7}: {best[m]:6.2f} s  {out['events_per_second'][m]:>10,.0f} events/s  "
            f"x{out['ratio_to_no_edge'][m]:.3f}"
        )


if __name__ == "__main__":
    main()
