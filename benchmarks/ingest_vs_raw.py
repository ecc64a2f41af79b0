"""End-to-end import through the CLI against sqlite3's raw ``.import`` of the same file.

Writes a Taobao-layout file (``user_id,item_id,category_id,behavior_type,timestamp``, no header,
epoch seconds; seeded), then, in the same run and in this order, for ``--repeats`` rounds:
1. ``sqlite3 DB '.mode csv' '.import FILE t'`` into an untyped table (the floor: parsing and
   page writes, no validation);
2. ``campaignrec --data-dir DIR import events FILE --preset taobao`` into a fresh data directory
   (start-up, validation, id derivation, deduplication, the store's writes).
Prints each wall time and the ratio of the medians, and writes JSON under benchmarks/results/.

    .venv/bin/python benchmarks/ingest_vs_raw.py --events 1000000 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _datasets import machine

ROOT = Path(__file__).resolve().parents[1]
BEHAVIOURS = np.array(["pv", "cart", "fav", "buy"])


def write_taobao(path: Path, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    users = rng.integers(1, 200_000, n)
    items = rng.integers(1, 50_000, n)
    cats = items % 997
    kinds = BEHAVIOURS[rng.choice(4, n, p=[0.89, 0.055, 0.03, 0.025])]
    ts = 1_511_539_200 + np.sort(rng.integers(0, 9 * 86_400, n))
    with path.open("w", encoding="utf-8") as fh:
        for start in range(0, n, 200_000):
            sl = slice(start, start + 200_000)
            fh.write(
                "\n".join(
                    f"{u},{i},{c},{k},{t}"
                    for u, i, c, k, t in zip(
                        users[sl], items[sl], cats[sl], kinds[sl], ts[sl], strict=True
                    )
                )
                + "\n"
            )


def timed(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ingest_vs_raw.json"))
    args = ap.parse_args()
    cli = str(Path(sys.executable).parent / "campaignrec")
    work = Path(tempfile.mkdtemp(prefix="ingest_vs_raw_"))
    try:
        csv = work / "UserBehavior.csv"
        write_taobao(csv, args.events)
        raw, ours = [], []
        for r in range(args.repeats):
            db = work / f"raw{r}.db"
            raw.append(timed(["sqlite3", str(db), ".mode csv", f".import {csv} t"]))
            home = work / f"home{r}"
            ours.append(
                timed(
                    [
                        cli,
                        "--data-dir",
                        str(home),
                        "import",
                        "events",
                        str(csv),
                        "--preset",
                        "taobao",
                    ]
                )
            )
        result = {
            "machine": machine(),
            "command": " ".join(sys.argv),
            "events": args.events,
            "raw_sqlite_import_s": raw,
            "campaignrec_cli_import_s": ours,
            "ratio_of_medians": statistics.median(ours) / statistics.median(raw),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"sqlite3 .import (untyped table): {', '.join(f'{x:.2f}' for x in raw)} s")
    print(f"campaignrec import events --preset taobao: {', '.join(f'{x:.2f}' for x in ours)} s")
    print(f"ratio of medians: {result['ratio_of_medians']:.2f}x")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
