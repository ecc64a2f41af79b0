"""Ingestion benchmark: CSV -> SQLite and CSV -> PostgreSQL throughput, peak memory at 10M events.

Generates a synthetic canonical events CSV (numpy + polars, seeded), imports it with
``campaignrec.data.importer.import_file`` in a child process, and reports events/s and the child's
peak resident memory (ru_maxrss of that child from ``os.wait4``; ``getrusage(RUSAGE_CHILDREN)``
is recorded too, and equals it for the memory run, which is the first child). PostgreSQL runs in
a scratch table prefix that is dropped afterwards.

Usage::

    python benchmarks/ingest.py                         # 1M events each store, 10M memory run
    python benchmarks/ingest.py --events 200000 --rss-events 0 --no-pg   # quick

``--datasets`` also imports the public data sets (``--data DIR`` / CAMPAIGNREC_DATA /
../shared/data) with their adapters and records accepted/quarantined counts per table.

Reference figures (published, not measured here): Gorse documents inserting feedback at about
16,000 rows/s; Metarank's docs quote 1,000-3,000 events/s for its import.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
EVENT_TYPES = np.array(["view", "click", "add_to_cart", "purchase", "favorite"])
EVENT_P = np.array([0.70, 0.12, 0.08, 0.05, 0.05])
REFERENCE = {
    "gorse_feedback_insert_per_s": 16_000,
    "metarank_import_per_s": [1_000, 3_000],
}


def write_events_csv(path: Path, n: int, *, seed: int = 0, chunk: int = 1_000_000) -> int:
    """A canonical events CSV of ``n`` rows (header + rows), written chunk by chunk."""
    rng = np.random.default_rng(seed)
    start = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp())
    with open(path, "wb") as f:
        for lo in range(0, n, chunk):
            m = min(chunk, n - lo)
            etype = EVENT_TYPES[rng.choice(len(EVENT_TYPES), size=m, p=EVENT_P)]
            ts = start + np.sort(rng.integers(0, 180 * 86_400, size=m)) + lo  # distinct-ish
            df = pl.DataFrame(
                {
                    "user_id": pl.Series(rng.integers(0, 200_000, size=m)).cast(pl.String),
                    "event_type": etype,
                    "timestamp": pl.Series(ts * 1_000_000).cast(pl.Datetime("us", "UTC")),
                    "item_id": pl.Series(rng.integers(0, 50_000, size=m)).cast(pl.String),
                    "price": np.round(rng.gamma(2.0, 15.0, size=m), 2),
                    "quantity": rng.integers(1, 4, size=m),
                    "session_id": pl.Series(np.arange(lo, lo + m) // 20).cast(pl.String),
                }
            ).with_columns(
                ("u" + pl.col("user_id")).alias("user_id"),
                ("i" + pl.col("item_id")).alias("item_id"),
                ("s" + pl.col("session_id")).alias("session_id"),
            )
            df.write_csv(f, include_header=lo == 0, datetime_format="%Y-%m-%dT%H:%M:%SZ")
    return n


class NullStore:
    """Accepts every write and keeps nothing: measures reading + mapping + validation alone."""

    def __init__(self) -> None:
        self.events = 0

    def insert_events(self, df: Any) -> int:
        self.events += len(df)
        return len(df)

    def insert_quarantine(self, df: Any) -> int:
        return len(df)

    def record_import(self, *args: Any) -> None:
        return None

    def count(self, name: str) -> int:
        return self.events

    def drop_tables(self) -> None:
        return None

    def close(self) -> None:
        return None


def child(url: str, csv: str, prefix: str, chunk_rows: int) -> None:
    """Import ``csv`` into a fresh store (run in a subprocess); prints a JSON summary."""
    sys.path.insert(0, str(ROOT / "src"))
    from campaignrec.data.importer import import_file
    from campaignrec.store.sql import SQLStore

    store: Any = NullStore() if url == "null://" else SQLStore(url, table_prefix=prefix)
    try:
        t0 = time.perf_counter()
        s = import_file(store, "events", csv, chunk_rows=chunk_rows, reject_threshold=1.0)
        wall = time.perf_counter() - t0
        stored = store.count("events")
    finally:
        if prefix:
            store.drop_tables()
        store.close()
    print(json.dumps({"summary": s.to_dict(), "wall_s": wall, "stored": stored}))


def run_child(url: str, csv: Path, prefix: str, chunk_rows: int) -> dict[str, Any]:
    """Run one import in a child; its own peak RSS comes from wait4 (the per-child form of
    ``getrusage(RUSAGE_CHILDREN)``), which is also cross-checked against RUSAGE_CHILDREN."""
    cmd = [sys.executable, __file__, "--child", url, str(csv), prefix, str(chunk_rows)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, cmd, out, out)
    res = json.loads(out.strip().splitlines()[-1])
    res["maxrss_mib"] = usage.ru_maxrss / 1024
    res["children_maxrss_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return res


def find_data(arg: str | None) -> Path | None:
    from _datasets import find_data as lookup

    return lookup(arg)


DATASETS = {
    "movielens": "ml-100k",
    "obd": "obd/random/all",
    "taobao": "taobao",
    "cdnow": "cdnow",
    "hillstrom": "hillstrom",
    "completejourney": "completejourney",
}


def run_datasets(data: Path, workdir: Path) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT / "src"))
    from campaignrec.data.adapters import read_dataset
    from campaignrec.data.importer import import_dataset
    from campaignrec.store.sql import SQLStore

    results: dict[str, Any] = {}
    for name, rel in DATASETS.items():
        path = data / rel
        if not path.exists():
            continue
        store = SQLStore(f"sqlite:///{workdir / f'{name}.db'}")
        t0 = time.perf_counter()
        ds = read_dataset(name, path)
        out = import_dataset(store, ds, reject_threshold=1.0)
        results[name] = {
            "path": rel,
            "seconds": round(time.perf_counter() - t0, 1),
            "tables": {
                e: {
                    "rows": s.rows,
                    "accepted": s.accepted,
                    "duplicates": s.duplicates,
                    "quarantined": s.quarantined,
                    "by_reason": s.by_reason,
                }
                for e, s in out.items()
            },
        }
        store.close()
        print(f"{name:16s} {json.dumps(results[name]['tables'])}", flush=True)
    return results


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--rss-events", type=int, default=10_000_000, help="0 skips the memory run")
    ap.add_argument("--chunk-rows", type=int, default=200_000)
    ap.add_argument("--pg-url", default=os.environ.get("CAMPAIGNREC_TEST_POSTGRES_URL", DEFAULT_PG))
    ap.add_argument("--no-pg", action="store_true")
    ap.add_argument(
        "--rss-store",
        default="sqlite",
        choices=["sqlite", "null"],
        help="store of the memory run (null: pipeline without a database)",
    )
    ap.add_argument("--datasets", action="store_true", help="also import the public data sets")
    ap.add_argument("--data", default=None)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "ingest.json"))
    args = ap.parse_args()

    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "reference_published": REFERENCE,
        "runs": [],
    }
    with tempfile.TemporaryDirectory(prefix="campaignrec-ingest-") as tmp:
        work = Path(tmp)
        if args.rss_events:
            big = work / "events_big.csv"
            t0 = time.perf_counter()
            write_events_csv(big, args.rss_events, seed=1)
            gen = time.perf_counter() - t0
            print(f"generated {args.rss_events:,} events ({big.stat().st_size / 2**20:,.0f} MiB) "
                  f"in {gen:.0f} s", flush=True)  # fmt: skip
            # first child: RUSAGE_CHILDREN's max RSS is this import's own peak
            url = "null://" if args.rss_store == "null" else f"sqlite:///{work / 'big.db'}"
            r = run_child(url, big, "", args.chunk_rows)
            big.unlink()
            (work / "big.db").unlink(missing_ok=True)
            results["runs"].append(_row(args.rss_store, args.rss_events, r))
            _print(results["runs"][-1])
        csv = work / "events.csv"
        write_events_csv(csv, args.events, seed=0)
        if args.rss_store == "null" or not args.rss_events:
            r = run_child("null://", csv, "", args.chunk_rows)
            results["runs"].append(_row("null", args.events, r))
            _print(results["runs"][-1])
        r = run_child(f"sqlite:///{work / 'bench.db'}", csv, "", args.chunk_rows)
        results["runs"].append(_row("sqlite", args.events, r))
        _print(results["runs"][-1])
        if not args.no_pg:
            prefix = f"bench{uuid.uuid4().hex[:8]}_"
            try:
                r = run_child(args.pg_url, csv, prefix, args.chunk_rows)
                results["runs"].append(_row("postgresql", args.events, r))
                _print(results["runs"][-1])
            except subprocess.CalledProcessError as exc:
                print(f"postgresql run failed: {str(exc.stderr).strip().splitlines()[-1:]}")
        if args.datasets:
            data = find_data(args.data)
            if data is None:
                print("no data directory found (--data, CAMPAIGNREC_DATA or ../shared/data)")
            else:
                results["datasets"] = run_datasets(data, work)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    g = REFERENCE["gorse_feedback_insert_per_s"]
    for run in results["runs"]:
        rate = run["events_per_s"]
        print(f"{run['store']:10s} {run['events']:>11,} events: {rate:>9,.0f} /s "
              f"= {rate / g:.1f}x Gorse's published 16k/s")  # fmt: skip
    print(f"wrote {out}")


def _row(store: str, n: int, r: dict[str, Any]) -> dict[str, Any]:
    s = r["summary"]
    return {
        "store": store,
        "events": n,
        "accepted": s["accepted"],
        "duplicates": s["duplicates"],
        "quarantined": s["quarantined"],
        "stored": r["stored"],
        "seconds": round(r["wall_s"], 2),
        "validate_s": round(s["validate_seconds"], 2),
        "store_write_s": round(s["write_seconds"], 2),
        "events_per_s": round(n / r["wall_s"]),
        "peak_rss_mib": round(r["maxrss_mib"], 1),
        "all_children_peak_rss_mib": round(r["children_maxrss_mib"], 1),
    }


def _print(row: dict[str, Any]) -> None:
    rss = f", peak RSS {row['peak_rss_mib']:,.0f} MiB" if row["peak_rss_mib"] else ""
    print(f"{row['store']:10s} {row['events']:>11,} events in {row['seconds']:7.1f} s "
          f"({row['events_per_s']:,}/s; validate {row['validate_s']:.1f} s, store write "
          f"{row['store_write_s']:.1f} s; stored {row['stored']:,}){rss}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
