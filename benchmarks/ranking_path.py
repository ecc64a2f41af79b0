"""The ranking path's own cost: ``Ranker.recommend`` in one process, without HTTP.

Builds ``serve.py``'s two shops in memory -- *demo* (3,000 shoppers, 600 items, 150,000 events)
and *million* (20,000 shoppers, 1,000,000 items, 300,000 events), 12 campaigns each, seed 0 --
fits item-KNN on each, and times ``Ranker.recommend(RankingRequest(user_id, k=10))`` (what
``GET /v1/users/{id}/recommendations?k=10`` asks) for the first ``--users`` shoppers of the users
table, after ``--warm`` warm-up requests. The ranker is built as the service builds it (users
table, campaigns, the in-process online state); the shopper attributes come from a dict, so no
database read is timed. Prints the median and p99 in milliseconds.

``--compare REV`` also measures the code of git revision ``REV`` (extracted with ``git archive``
into a temporary folder and run as a subprocess on the same cached shops), so the "before" and
"after" figures come from one run on one machine.

    python benchmarks/ranking_path.py [--shops demo,million] [--users 1000] [--compare main]

The generated shops are cached as Parquet under the temporary folder
(``campaignrec-ranking-path-<shop>``); the first run of the million shop takes about a minute
to generate it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

SHOPS = {
    "demo": {"n_users": 3000, "n_items": 600, "n_events": 150_000},
    "million": {"n_users": 20_000, "n_items": 1_000_000, "n_events": 300_000},
}


def _cache(shop: str) -> Path:
    return Path(tempfile.gettempdir()) / f"campaignrec-ranking-path-{shop}"


def _ensure_shop(shop: str) -> Path:
    """The shop's users, items, campaigns and events as Parquet (generated once)."""
    import pandas as pd

    from campaignrec.data.synthetic import ShopConfig, generate_shop

    out = _cache(shop)
    if (out / "events.parquet").exists():
        return out
    out.mkdir(parents=True, exist_ok=True)
    cfg = ShopConfig(n_campaigns=12, days=60, seed=0, **SHOPS[shop])
    s = generate_shop(cfg)
    for name in ("users", "items", "campaigns", "events"):
        frame: pd.DataFrame = getattr(s, name).copy()
        for col in frame.columns:  # nested values as JSON text: Parquet keeps them as strings
            if frame[col].dtype == object and frame[col].map(lambda v: isinstance(v, dict)).any():
                frame[col] = frame[col].map(lambda v: json.dumps(v) if isinstance(v, dict) else v)
        frame.to_parquet(out / f"{name}.parquet", index=False)
    return out


def _measure(shop: str, n_users: int, warm: int) -> dict[str, Any]:
    import pandas as pd

    from campaignrec.campaigns.catalog import load_campaigns
    from campaignrec.data.interactions import Interactions
    from campaignrec.models.knn import ItemKNN
    from campaignrec.ranking import Ranker, RankingRequest
    from campaignrec.store.online import MemoryOnlineState

    folder = _cache(shop)
    tables = {n: pd.read_parquet(folder / f"{n}.parquet") for n in ("users", "items", "events")}
    campaigns = pd.read_parquet(folder / "campaigns.parquet")
    users, items = tables["users"], tables["items"]
    inter = Interactions.from_frame(tables["events"], items=items, users=users)
    model = ItemKNN().fit(inter)
    attrs = {str(r["user_id"]): dict(r) for r in users.to_dict("records")}
    ranker = Ranker(
        model,
        items,
        MemoryOnlineState(),
        user_attributes=attrs.get,
        model_version="bench",
        users=users,
        campaigns=load_campaigns(campaigns) if len(campaigns) else None,
    )
    ids = [str(u) for u in users["user_id"].head(n_users)]
    for user in ids[:warm]:
        ranker.recommend(RankingRequest(user_id=user, k=10))
    times = []
    digest = []
    for user in ids:
        t0 = time.perf_counter()
        out = ranker.recommend(RankingRequest(user_id=user, k=10))
        times.append((time.perf_counter() - t0) * 1000)
        digest.append([it.item_id for it in out.items])
    times.sort()
    return {
        "shop": shop,
        "requests": len(times),
        "median_ms": statistics.median(times),
        "p99_ms": times[min(len(times) - 1, int(0.99 * len(times)))],
        "mean_ms": statistics.fmean(times),
        "lists": digest,
    }


def _run_rev(rev: str, shops: list[str], args: argparse.Namespace) -> list[dict[str, Any]]:
    """This script's measurement on the ``src/`` of git revision ``rev`` (a subprocess)."""
    with tempfile.TemporaryDirectory(prefix="ranking_path_") as tmp:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", rev, "src"], check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        env = {**os.environ, "PYTHONPATH": str(Path(tmp) / "src")}
        cmd = [sys.executable, __file__, "--shops", ",".join(shops), "--users", str(args.users)]
        cmd += ["--warm", str(args.warm), "--json-only"]
        done = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
        return list(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shops", default="demo,million")
    ap.add_argument("--users", type=int, default=1000, help="timed requests (one per shopper)")
    ap.add_argument("--warm", type=int, default=50, help="untimed warm-up requests")
    ap.add_argument("--compare", default=None, help="a git revision to measure as 'before'")
    ap.add_argument("--out", default=None, help="write the figures as JSON here")
    ap.add_argument("--json-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    shops = [s for s in args.shops.split(",") if s]
    for s in shops:
        if s not in SHOPS:
            raise SystemExit(f"--shops: unknown shop {s!r} (use {', '.join(SHOPS)})")
        _ensure_shop(s)
    if args.json_only:
        print(json.dumps([_measure(s, args.users, args.warm) for s in shops]))
        return
    load = os.getloadavg()
    rows: list[dict[str, Any]] = []
    if args.compare:
        for r in _run_rev(args.compare, shops, args):
            rows.append({"code": args.compare, **r})
    for s in shops:
        rows.append({"code": "working tree", **_measure(s, args.users, args.warm)})
    print(f"load average at start {load}, cpus {os.cpu_count()}")
    print("| code | shop | requests | median ms | p99 ms | mean ms |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['code']} | {r['shop']} | {r['requests']} | {r['median_ms']:.3f} "
            f"| {r['p99_ms']:.3f} | {r['mean_ms']:.3f} |"
        )
    if args.compare:
        for s in shops:
            a = next(r for r in rows if r["shop"] == s and r["code"] == args.compare)
            b = next(r for r in rows if r["shop"] == s and r["code"] == "working tree")
            same = a["lists"] == b["lists"]
            print(
                f"{s}: median {a['median_ms'] / b['median_ms']:.1f}x faster, "
                f"p99 {a['p99_ms'] / b['p99_ms']:.1f}x; identical lists: {same}"
            )
    if args.out:
        slim = [{k: v for k, v in r.items() if k != "lists"} for r in rows]
        Path(args.out).write_text(json.dumps({"load_start": load, "rows": slim}, indent=2) + "\n")


if __name__ == "__main__":
    main()
