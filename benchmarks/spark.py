"""Benchmark of the Spark engine against the local one: profiles (and ALS) of the synthetic shop.

For each size (events; users = events / 10, items = max(500, events / 2000)) the synthetic shop is
streamed to Parquet in a child process, then each engine runs in its own child process:

- ``local``: the events read in Parquet row batches, validated (``validate_frame``) and folded
  into ``build_profiles`` (no purchase model, no segments), the profile table written to Parquet;
  peak RSS of the process. ``--local-mem-gib`` caps its address space (RLIMIT_AS) to find where
  the local engine stops for memory.
- ``spark``: ``read_shop`` + ``spark_profiles`` in Spark local mode (``--master``), the profile
  table written as a Parquet dataset; peak memory of the driver = the Python driver's peak RSS +
  the JVM's (VmHWM; executors run inside it in local mode).

Reported: wall time and peak memory per engine and size, the Spark/local time ratio where both
finish, and the growth exponent b of ``time ~ events^b`` (least squares over the sizes).
``--als`` adds implicit's ALS against MLlib's on the largest size (same factors and iterations).

    PYTHONPATH=src .venv/bin/python benchmarks/spark.py                      # 250k, 500k, 1M
    PYTHONPATH=src .venv/bin/python benchmarks/spark.py --sizes 1e6,1e7 --als

Writes ``benchmarks/results/spark.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from _datasets import machine

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"

GEN_CHILD = r"""
import json, sys, time
from campaignrec.data.synthetic import ShopConfig
from campaignrec.data.synthetic.writing import write_shop
n_users, n_items, n_events, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
t = time.perf_counter()
write_shop(ShopConfig(n_users=n_users, n_items=n_items, n_events=n_events, days=90, seed=0),
           out, "parquet", chunk_rows=500_000)
print(json.dumps({"status": "ok", "seconds": time.perf_counter() - t}))
"""

LOCAL_CHILD = r"""
import json, resource, sys, time
shop, out, cap = sys.argv[1], sys.argv[2], float(sys.argv[3])
if cap > 0:
    limit = int(cap * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
t = time.perf_counter()
try:
    import polars as pl, pyarrow.parquet as pq
    from campaignrec.data.validation import SeenIds, validate_frame
    from campaignrec.profiles.pipeline import build_profiles

    def table(name):
        return validate_frame(name, pl.read_parquet(f"{shop}/{name}.parquet"), source=name).valid

    def chunks():
        seen = SeenIds()
        pf = pq.ParquetFile(f"{shop}/events.parquet")
        done = 0
        for batch in pf.iter_batches(batch_size=500_000):
            frame = pl.from_arrow(batch)
            lines = range(done + 1, done + frame.height + 1)
            done += frame.height
            yield validate_frame("events", frame, source="events", lines=lines, seen=seen).valid

    res = build_profiles(chunks, users=table("users"), items=table("items"),
                         predict=False, segment=False)
    res.profiles.to_parquet(out, index=False)
    status, n = "ok", len(res.profiles)
except MemoryError:
    status, n = "out of memory", 0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"status": status, "seconds": time.perf_counter() - t,
                  "peak_bytes": rss, "users": n}))
"""

SPARK_CHILD = r"""
import json, resource, sys, time
shop, out, master, mem = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
t = time.perf_counter()
from campaignrec.engines.spark.session import get_session
from campaignrec.engines.spark.io import read_shop
from campaignrec.engines.spark.profiles import spark_profiles
spark = get_session(master, {"spark.driver.memory": mem,
                             "spark.sql.shuffle.partitions": "16"})
spark.sparkContext.setLogLevel("ERROR")
started = time.perf_counter() - t
shop_in = read_shop(spark, shop)
table = spark_profiles(spark, shop_in)
table.write.mode("overwrite").parquet(out)
n = spark.read.parquet(out).count()
seconds = time.perf_counter() - t
pid = spark._jvm.java.lang.ProcessHandle.current().pid()
jvm = 0
with open(f"/proc/{pid}/status") as fh:
    for line in fh:
        if line.startswith("VmHWM:"):
            jvm = int(line.split()[1]) * 1024
spark.stop()
py = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"status": "ok", "seconds": seconds, "session_seconds": started,
                  "peak_bytes": py + jvm, "jvm_peak_bytes": jvm, "python_peak_bytes": py,
                  "users": n}))
"""

ALS_CHILD = r"""
import json, sys, time
shop, engine, master, factors, iters = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
t = time.perf_counter()
if engine == "local":
    import pandas as pd
    from campaignrec.data.interactions import Interactions
    from campaignrec.models.factorization import ALS
    ev = pd.read_parquet(f"{shop}/events.parquet", columns=["user_id", "item_id", "event_type", "timestamp"])
    inter = Interactions.from_frame(ev[ev["item_id"].notna()])
    ready = time.perf_counter()
    ALS(factors=factors, iterations=iters, regularization=0.05).fit(inter)
else:
    from campaignrec.engines.spark.session import get_session
    from campaignrec.engines.spark.io import read_shop
    from campaignrec.engines.spark.models import fit_als, spark_snapshot
    from campaignrec.models.factorization import ALSParams
    spark = get_session(master, {"spark.driver.memory": "8g", "spark.sql.shuffle.partitions": "16"})
    spark.sparkContext.setLogLevel("ERROR")
    snap = spark_snapshot(spark, read_shop(spark, shop))
    ready = time.perf_counter()
    fit_als(spark, snap, ALSParams(factors=factors, iterations=iters, regularization=0.05))
print(json.dumps({"seconds": time.perf_counter() - t, "fit_seconds": time.perf_counter() - ready}))
"""


def _child(code: str, *args: str, timeout: float | None = None) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), PYTHONWARNINGS="ignore")
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return {"status": f"timeout after {timeout:.0f}s"}
    lines = [x for x in done.stdout.strip().splitlines() if x.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or "").strip().splitlines()[-3:]
        killed = done.returncode in (-9, 137)
        # polars (Rust) aborts with "memory allocation of N bytes failed" under RLIMIT_AS
        oom = killed or any("memory allocation of" in x or "MemoryError" in x for x in tail)
        return {
            "status": "out of memory" if oom else "failed",
            "seconds_to_failure": time.perf_counter() - started,
            "error": tail,
        }
    return json.loads(lines[-1])  # type: ignore[no-any-return]


def _exponent(sizes: list[int], seconds: list[float]) -> float | None:
    if len(sizes) < 2:
        return None
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="2.5e5,5e5,1e6", help="events per shop, comma-separated")
    ap.add_argument("--master", default="local[*]")
    ap.add_argument("--driver-memory", default="8g")
    ap.add_argument("--local-mem-gib", type=float, default=0.0, help="cap of the local run")
    ap.add_argument("--timeout", type=float, default=3600.0, help="per engine run, seconds")
    ap.add_argument("--als", action="store_true", help="ALS local vs MLlib on the largest size")
    ap.add_argument("--als-factors", type=int, default=64)
    ap.add_argument("--als-iterations", type=int, default=15)
    ap.add_argument("--out", default=str(RESULTS / "spark.json"))
    args = ap.parse_args()
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    load_start = os.getloadavg()
    runs: list[dict[str, Any]] = []
    als: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        for n in sizes:
            shop = Path(tmp) / f"shop_{n}"
            users, items = max(n // 10, 100), max(500, n // 2000)
            gen = _child(GEN_CHILD, str(users), str(items), str(n), str(shop))
            row: dict[str, Any] = {"events": n, "users": users, "items": items, "generate": gen}
            row["parquet_bytes"] = (shop / "events.parquet").stat().st_size
            for engine, code, extra in (
                ("local", LOCAL_CHILD, [str(args.local_mem_gib)]),
                ("spark", SPARK_CHILD, [args.master, args.driver_memory]),
            ):
                out = Path(tmp) / f"{engine}_{n}.parquet"
                row[engine] = _child(code, str(shop), str(out), *extra, timeout=args.timeout)
                print(n, engine, json.dumps(row[engine]), flush=True)
            runs.append(row)
            if args.als and n == sizes[-1]:
                for engine in ("local", "spark"):
                    als[engine] = _child(
                        ALS_CHILD,
                        str(shop),
                        engine,
                        args.master,
                        str(args.als_factors),
                        str(args.als_iterations),
                        timeout=args.timeout,
                    )
                    print("als", engine, json.dumps(als[engine]), flush=True)
    both = [
        r for r in runs if r["local"].get("status") == "ok" and r["spark"].get("status") == "ok"
    ]
    summary: dict[str, Any] = {
        "spark_over_local_time": {
            str(r["events"]): r["spark"]["seconds"] / r["local"]["seconds"] for r in both
        },
        "spark_over_local_peak_memory": {
            str(r["events"]): r["spark"]["peak_bytes"] / r["local"]["peak_bytes"] for r in both
        },
    }
    for engine in ("local", "spark"):
        ok = [r for r in runs if r[engine].get("status") == "ok"]
        summary[f"{engine}_time_exponent"] = _exponent(
            [r["events"] for r in ok], [r[engine]["seconds"] for r in ok]
        )
        stopped = [r["events"] for r in runs if r[engine].get("status") != "ok"]
        summary[f"{engine}_stopped_at"] = stopped[0] if stopped else None
    if als.get("local", {}).get("fit_seconds") and als.get("spark", {}).get("fit_seconds"):
        summary["als_mllib_over_implicit_fit"] = (
            als["spark"]["fit_seconds"] / als["local"]["fit_seconds"]
        )
    report = {
        "machine": machine(load_start),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python", *sys.argv]),
        "master": args.master,
        "runs": runs,
        "als": als,
        "summary": summary,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2, default=str))
    print(f"{'events':>10} {'local s':>9} {'local GiB':>9} {'spark s':>9} {'spark GiB':>9}")
    for r in runs:
        cells = []
        for engine in ("local", "spark"):
            x = r[engine]
            if x.get("status") == "ok":
                cells += [f"{x['seconds']:9.1f}", f"{x['peak_bytes'] / 2**30:9.2f}"]
            else:
                cells += [f"{x.get('status', '?')[:9]:>9}", f"{'':>9}"]
        print(f"{r['events']:>10,} " + " ".join(cells))
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
