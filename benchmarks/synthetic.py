"""Benchmark: speed and memory of the synthetic shop generator.

Measures, each in a fresh subprocess (so peak RSS belongs to that run alone):

1. ``generate_shop`` at 1M events in memory: wall time, events/s, peak RSS;
2. ``write_shop(config, ...)`` at 10M events streamed chunk by chunk to a file: wall time,
   events/s, peak RSS, file size.

Reference systems, run in the same script on the same 1M events, so that ratios can be quoted
on a noisy shared machine:

* ``derive_event_id`` row by row (the schema's own per-event function) on a 100k-event sample,
  extrapolated to 1M: what the per-event Python path costs for the ids alone;
* pandas/pyarrow writing the generated 1M events to Parquet: the cost of I/O alone.

Usage::

    .venv/bin/python benchmarks/synthetic.py [--events 1000000] [--big-events 10000000]
        [--fmt parquet] [--out DIR]

Writes ``benchmarks/results/synthetic.json`` (``synthetic_csv.json`` with ``--fmt csv``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"

_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from campaignrec.data.synthetic import ShopConfig, generate_shop, write_shop
args = json.loads(sys.argv[1])
cfg = ShopConfig(**args["config"])
out = {}
t0 = time.perf_counter()
if args["mode"] == "memory":
    shop = generate_shop(cfg)
    out["seconds"] = time.perf_counter() - t0
    out["rows"] = len(shop.events)
    out["rss_after_generate_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # reference 1: per-row derive_event_id on a sample
    from campaignrec.data.schema import derive_event_id
    ev = shop.events.iloc[: args["id_sample"]]
    cols = [ev[c].astype(object).where(ev[c].notna(), None).tolist()
            for c in ("user_id", "event_type", "item_id", "campaign_id", "query", "session_id",
                      "order_id")]
    stamps = ev["timestamp"].dt.to_pydatetime().tolist()
    t1 = time.perf_counter()
    for u, e, ts, i, c, q, s, o in zip(cols[0], cols[1], stamps, *cols[2:]):
        derive_event_id(u, e, ts, i, c, q, s, o)
    out["ref_ids_seconds_sample"] = time.perf_counter() - t1
    out["ref_ids_sample_rows"] = len(ev)
    # reference 2: writing the same events to Parquet
    t2 = time.perf_counter()
    shop.events.to_parquet(Path(args["dir"]) / "events_ref.parquet", index=False)
    out["ref_parquet_seconds"] = time.perf_counter() - t2
else:
    written = write_shop(cfg, args["dir"], fmt=args["fmt"], chunk_rows=args["chunk_rows"])
    out["seconds"] = time.perf_counter() - t0
    out["file_mib"] = written["events"].stat().st_size / 2**20
    out["rows"] = cfg.n_events
out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def _run(args: dict[str, Any]) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(args)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def _config(n_events: int) -> dict[str, Any]:
    # 50 events per user, 10 per item, as in the default shop (2,000 users, 500 items, 100k)
    return {
        "n_users": max(n_events // 50, 100),
        "n_items": max(n_events // 500, 100),
        "n_events": n_events,
        "n_campaigns": 20,
        "days": 90,
        "seed": 0,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print a table and write the JSON results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--big-events", type=int, default=10_000_000)
    parser.add_argument("--fmt", default="parquet", choices=("csv", "parquet"))
    parser.add_argument("--chunk-rows", type=int, default=250_000)
    parser.add_argument("--id-sample", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=None, help="scratch folder (default: temp)")
    opts = parser.parse_args(argv)
    scratch = Path(opts.out or tempfile.mkdtemp(prefix="campaignrec-synth-"))
    scratch.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    try:
        mem = _run(
            {
                "mode": "memory",
                "config": _config(opts.events),
                "dir": str(scratch),
                "id_sample": min(opts.id_sample, opts.events),
            }
        )
        per_row_ids = mem["ref_ids_seconds_sample"] / mem["ref_ids_sample_rows"] * mem["rows"]
        rows.append(
            {
                "case": f"generate_shop in memory, {mem['rows']:,} events",
                "seconds": mem["seconds"],
                "events_per_s": mem["rows"] / mem["seconds"],
                "peak_rss_mib": mem["peak_rss_mib"],
                "rss_after_generate_mib": mem["rss_after_generate_mib"],
                "ref_per_row_event_ids_seconds": per_row_ids,
                "ref_parquet_write_seconds": mem["ref_parquet_seconds"],
                "ratio_generate_vs_per_row_ids": mem["seconds"] / per_row_ids,
                "ratio_generate_vs_parquet_write": mem["seconds"] / mem["ref_parquet_seconds"],
                "config": _config(opts.events),
            }
        )
        big_dir = scratch / "big"
        big = _run(
            {
                "mode": "stream",
                "config": _config(opts.big_events),
                "dir": str(big_dir),
                "fmt": opts.fmt,
                "chunk_rows": opts.chunk_rows,
            }
        )
        rows.append(
            {
                "case": f"write_shop streaming ({opts.fmt}), {big['rows']:,} events",
                "seconds": big["seconds"],
                "events_per_s": big["rows"] / big["seconds"],
                "peak_rss_mib": big["peak_rss_mib"],
                "events_file_mib": big["file_mib"],
                "chunk_rows": opts.chunk_rows,
                "config": _config(opts.big_events),
            }
        )
    finally:
        if opts.out is None:
            shutil.rmtree(scratch, ignore_errors=True)
    print(f"{'case':<48} {'seconds':>8} {'events/s':>10} {'peak RSS MiB':>13}")
    for r in rows:
        print(
            f"{r['case']:<48} {r['seconds']:>8.1f} {r['events_per_s']:>10,.0f} "
            f"{r['peak_rss_mib']:>13,.0f}"
        )
    m = rows[0]
    print(
        f"references at {opts.events:,}: per-row derive_event_id alone "
        f"{m['ref_per_row_event_ids_seconds']:.1f} s (generate/ids = "
        f"{m['ratio_generate_vs_per_row_ids']:.2f}); Parquet write "
        f"{m['ref_parquet_write_seconds']:.1f} s (generate/write = "
        f"{m['ratio_generate_vs_parquet_write']:.1f})"
    )
    result = {
        "benchmark": "synthetic",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
        },
        "command": "benchmarks/synthetic.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "rows": rows,
        "parent_peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = "synthetic.json" if opts.fmt == "parquet" else f"synthetic_{opts.fmt}.json"
    (RESULTS / name).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


if __name__ == "__main__":
    main()
