"""Where a request's wall time goes: py-spy samples of one service worker under load.

Builds the demo shop (``serve.py``'s shop) in ``embedded`` (SQLite, in-process online state) or
``production`` (PostgreSQL + Redis) mode, serves it with one worker, sends ``wrk`` traffic from
another process to 127.0.0.1 (8 connections, 10 s, bounded) and records the worker with py-spy
(``pip install py-spy``; not a dependency). Prints the share of samples spent waiting on
PostgreSQL / SQLite and on Redis, and the ranking path's top frames.

    python benchmarks/serve_profile.py production recommendations
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import serve as S


def _shares(path: Path) -> tuple[int, dict[str, float], list[tuple[str, float]]]:
    total, waits, frames = 0, collections.Counter(), collections.Counter()
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack:
            continue
        count = int(n)
        total += count
        parts = stack.split(";")
        for f in parts:
            kind = (
                "redis"
                if "redis/" in f
                else "sql"
                if ("psycopg/" in f or "sqlalchemy/" in f)
                else None
            )
            if kind:
                waits[kind] += count
                break
        seen = set()
        for f in parts:
            m = re.match(r"(.*) \((.*):\d+\)", f)
            if m and "campaignrec" in m.group(2) and m.group(1) not in seen:
                frames[m.group(1)] += count
                seen.add(m.group(1))
    share = {k: 100 * v / max(total, 1) for k, v in waits.items()}
    top = [(k, 100 * v / max(total, 1)) for k, v in frames.most_common(25)]
    return total, share, top


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["embedded", "production"])
    ap.add_argument(
        "route", choices=["recommendations", "campaigns"], nargs="?", default="recommendations"
    )
    args = ap.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    work = Path(tempfile.mkdtemp(prefix="serve_profile_"))
    home = work / "home"
    env = {
        **os.environ,
        "CAMPAIGNREC_HOME": str(home),
        "CAMPAIGNREC_API_RATE_PER_SECOND": "1e9",
        "CAMPAIGNREC_API_RATE_BURST": "1000000000",
        "CAMPAIGNREC_LOG_LEVEL": "WARNING",
    }
    drop = None
    if args.mode == "production":
        url, drop = S._pg_database()
        env.update(
            {
                "CAMPAIGNREC_DATABASE_URL": url,
                "CAMPAIGNREC_ONLINE_URL": S.REDIS_URL,
                "CAMPAIGNREC_ONLINE_PREFIX": f"prof{uuid.uuid4().hex[:8]}:",
            }
        )
    try:
        info = S._build_shop(home, "demo", argparse.Namespace(million_items=1_000_000), env)
        path = {
            "recommendations": "/v1/users/{user}/recommendations?k=10",
            "campaigns": "/v1/users/{user}/campaigns?k=3",
        }[args.route]
        lua = work / "r.lua"
        lua.write_text(S._get_lua(info["users"], info["key"], path))
        proc, base = S._serve(env, 1)
        out = work / "samples.txt"
        try:
            S._wrk(base, lua, 8, 3)  # warm
            rec = subprocess.Popen(
                [
                    spy,
                    "record",
                    "-r",
                    "200",
                    "-d",
                    "12",
                    "-f",
                    "raw",
                    "-o",
                    str(out),
                    "--pid",
                    str(proc.pid),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1)
            r = S._wrk(base, lua, 8, 10)
            rec.wait(timeout=60)
        finally:
            S._stop(proc)
        total, share, top = _shares(out)
        print(
            f"{args.mode} {args.route}: {r['rps']:.0f} req/s, p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms; "
            f"in-process recommend {info['in_process_ms']:.2f} ms; load {os.getloadavg()[0]:.1f}"
        )
        print(
            f"{total} samples; waiting on SQL {share.get('sql', 0):.1f} %, on Redis {share.get('redis', 0):.1f} %"
        )
        for name, pct in top:
            print(f"  {pct:5.1f} %  {name}")
    finally:
        if drop is not None:
            drop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
