"""Benchmark: fit time, recommend time, peak memory and saved size of every recommender at scale.

One seeded synthetic shop (default 1,000,000 events, 50,000 users, 20,000 items with categories) is
built with ``generate_shop`` and turned into one ``Interactions`` snapshot (timed), saved to a
scratch folder. Each model then runs in its own subprocess, so that the peak RSS is that model's
alone: load the snapshot, fit, recommend top 10 for 10,000 users in one call, recommend top 10 for
every user of the snapshot in one call, save the model. BLAS is pinned to the same number of
threads for every model (``--threads``, default 2). A model that runs past ``--timeout`` seconds
or fails is reported as skipped, with the reason (the phase it reached, or its error line).

Load (serving) measurement: once saved, ``--load-workers`` processes (default 2) load the same
artifact at the same time, as API workers would; each reports its load time, its resident memory
after the load and after its first ``recommend`` (1,000 users), and, while all of them are still
alive, its Rss and Pss from ``/proc/<pid>/smaps_rollup`` (Pss splits shared pages between the
processes that map them, so memory-mapped arrays show up there). ``--artifact-format npz``
saves the way models were saved before (every array in the compressed ``state.npz``) to compare.

Usage::

    .venv/bin/python benchmarks/models_scale.py [--events 1000000] [--users 50000]
        [--items 20000] [--timeout 600] [--threads 2] [--only NAME ...]
        [--load-workers 2] [--artifact-format npy|npz] [--results models_scale.json]

Prints a table and writes ``benchmarks/results/models_scale.json`` (or ``--results``).

``--train-default`` measures instead what a user runs: ``campaignrec train`` with no model named
(the default's selection under its default time budget, or ``--time-budget``), through the CLI
in a fresh process on a fresh data directory, on two shops:

* ``cj100k``: The Complete Journey grocery baskets (``../shared/data/completejourney``): 600
  households drawn at random (seed 0), lines of the 16,000 most bought products, the first
  100,000 lines by time (about 560 households x 13,000 products, purchase events);
* ``synthetic1m``: the 1M-event synthetic shop (``campaignrec generate --events 1000000
  --users 50000 --items 20000 --load``).

The import is timed apart; for ``train`` it records the wall time, the peak RSS of the process
(``wait4``), the chosen model, the budget and what the selection skipped (from the artifact's
``meta.json``)::

    .venv/bin/python benchmarks/models_scale.py --train-default [--shops cj100k synthetic1m]
        [--time-budget S] [--results models_scale_train.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _datasets import machine

RESULTS = Path(__file__).resolve().parent / "results"
SAMPLE_USERS = 10_000
K = 10

#: label -> (registry name, parameters); the order is the table's.
MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "most_popular": ("most_popular", {"half_life_days": 7.0}),
    "category_popular": ("category_popular", {}),
    "item_knn": ("item_knn", {"similarity": "cosine", "neighbours": 100}),
    "item_knn_sequential": (
        "item_knn",
        {
            "similarity": "cosine",
            "neighbours": 100,
            "proximity_half_life": 5.0,
            "backward_weight": 0.3,
            "recency_half_life": 2.0,
        },
    ),
    "ease": ("ease", {}),
    "ease_proximity": ("ease", {"proximity_half_life": 20.0}),
    "transition": ("transition", {}),
    "als": ("als", {"factors": 64, "iterations": 15}),
    "bpr": ("bpr", {"factors": 64}),
}


def _peak_rss_mib() -> float:
    """This process's peak resident memory (VmHWM, MiB).

    Not ``ru_maxrss``: Linux carries it across fork and exec, so a child of a big parent would
    report at least the parent's size.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _memory_mib() -> dict[str, float]:
    """This process's current VmRSS and, from smaps_rollup, its Rss and Pss (MiB)."""
    out: dict[str, float] = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            out["vm_rss_mib"] = int(line.split()[1]) / 1024
    rollup = Path("/proc/self/smaps_rollup")
    if rollup.exists():
        for line in rollup.read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("Rss", "Pss", "Shared_Clean", "Private_Clean", "Private_Dirty"):
                out[f"{key.lower()}_mib"] = int(rest.split()[0]) / 1024
    return out


def load_worker(spec: dict[str, Any]) -> None:
    """One serving worker: load the artifact, recommend once, then wait (stdin) and report."""
    from campaignrec.models.registry import load_model

    _emit(phase="start", **_memory_mib())
    t0 = time.perf_counter()
    model = load_model(Path(spec["path"]))
    _emit(phase="loaded", load_s=time.perf_counter() - t0, **_memory_mib())
    users = list(model.users_.ids)[:1000]
    t0 = time.perf_counter()
    model.recommend(users, k=K)
    _emit(phase="recommended", first_rec_s=time.perf_counter() - t0, **_memory_mib())
    sys.stdin.readline()  # the parent reads everyone's memory while all workers are alive
    _emit(phase="together", **_memory_mib())


def measure_load(path: Path, workers: int, env: dict[str, str]) -> list[dict[str, Any]]:
    """Start ``workers`` processes loading ``path`` at once; each one's phase records."""
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--load-worker", json.dumps({"path": str(path)})],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(workers)
    ]
    records: list[dict[str, Any]] = [{} for _ in procs]
    for rec, proc in zip(records, procs, strict=True):
        assert proc.stdout is not None
        for line in proc.stdout:  # until this worker has recommended once
            phase = json.loads(line)
            rec[phase.pop("phase")] = phase
            if "recommended" in rec:
                break
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("\n")
        proc.stdin.flush()
    for rec, proc in zip(records, procs, strict=True):
        out, _ = proc.communicate(timeout=120)
        for line in out.splitlines():
            if line.startswith("{"):
                phase = json.loads(line)
                rec[phase.pop("phase")] = phase
    return records


def _dir_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def _emit(**fields: Any) -> None:
    """One JSON line per phase, flushed, so a timed-out child still tells how far it got."""
    print(json.dumps(fields), flush=True)


def child(spec: dict[str, Any]) -> None:
    """Run one model: load, fit, recommend (sample, all), save; print a JSON line per phase."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    from campaignrec.data.interactions import Interactions
    from campaignrec.models import base
    from campaignrec.models.registry import create

    if spec.get("artifact_format") == "npz":  # the format before: every array compressed
        base.MMAP_MIN_BYTES = 2**62
    with threadpool_limits(spec["threads"]):
        t0 = time.perf_counter()
        inter = Interactions.load(spec["snapshot"])
        _emit(phase="load", load_s=time.perf_counter() - t0, rss_after_load_mib=_peak_rss_mib())
        model = create(spec["model"], **spec["params"])
        t0 = time.perf_counter()
        model.fit(inter)
        fit_s = time.perf_counter() - t0
        extra = {"solver": getattr(model, "solver_", None)}
        kept = getattr(model, "kept_items_", None)
        if kept is not None:
            extra["items_modelled"] = len(kept)
            # what a cut-off leaves out: those items only get popularity-floor scores
            extra["item_events_outside_modelled"] = float(1 - np.isin(inter.item_idx, kept).mean())
        _emit(phase="fit", fit_s=fit_s, rss_after_fit_mib=_peak_rss_mib(), **extra)
        user_ids = list(inter.users.ids)
        rng = np.random.default_rng(0)
        sample = [user_ids[i] for i in rng.choice(len(user_ids), spec["sample"], replace=False)]
        t0 = time.perf_counter()
        model.recommend(sample, k=K)
        _emit(phase="recommend_sample", rec_sample_s=time.perf_counter() - t0)
        t0 = time.perf_counter()
        ids, _ = model.recommend(user_ids, k=K)
        _emit(
            phase="recommend_all",
            rec_all_s=time.perf_counter() - t0,
            rec_all_users=len(user_ids),
            empty_slots=int(sum(x is None for x in ids.ravel())),
        )
        model.save(Path(spec["out"]))
        _emit(phase="done", model_mib=_dir_mib(Path(spec["out"])), peak_rss_mib=_peak_rss_mib())


def run_model(
    label: str, snapshot: Path, scratch: Path, opts: argparse.Namespace
) -> dict[str, Any]:
    """One model in a fresh subprocess; the merged phase records, or a row saying why it stopped."""
    name, params = MODELS[label]
    spec = {
        "model": name,
        "params": params,
        "snapshot": str(snapshot),
        "out": str(scratch / f"model_{label}"),
        "sample": opts.sample,
        "threads": opts.threads,
        "artifact_format": opts.artifact_format,
    }
    threads = str(opts.threads)
    env = {
        **os.environ,
        "OMP_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
    }
    row: dict[str, Any] = {"model": label, "registry_name": name, "params": params}
    started = time.perf_counter()
    try:
        proc = subprocess.run(
            [sys.executable, __file__, "--child", json.dumps(spec)],
            capture_output=True,
            text=True,
            env=env,
            timeout=opts.timeout,
        )
        stdout, stderr, code = proc.stdout, proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        stdout, stderr, code = _text(exc.stdout), _text(exc.stderr), None
    row["wall_s"] = time.perf_counter() - started
    phases = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    for rec in phases:
        row.update({k: v for k, v in rec.items() if k != "phase"})
    reached = phases[-1]["phase"] if phases else "start"
    if code is None:
        row["skipped"] = f"timeout after {opts.timeout:.0f} s (last phase finished: {reached})"
    elif code != 0:
        lines = [ln for ln in stderr.splitlines() if ln.strip()]
        row["skipped"] = f"failed after {reached}: {lines[-1] if lines else f'exit {code}'}"
    if opts.load_workers > 0 and "skipped" not in row:
        row["load_workers"] = measure_load(Path(spec["out"]), opts.load_workers, env)
        first = row["load_workers"][0]
        row["load_s"] = max(w["loaded"]["load_s"] for w in row["load_workers"])
        row["rss_before_load_mib"] = first["start"]["vm_rss_mib"]  # Python + imports
        row["rss_after_load_mib"] = first["loaded"]["vm_rss_mib"]
        row["rss_after_first_rec_mib"] = first["recommended"]["vm_rss_mib"]
        row["pss_together_mib"] = sum(w["together"]["pss_mib"] for w in row["load_workers"])
        row["rss_together_mib"] = sum(w["together"]["rss_mib"] for w in row["load_workers"])
    shutil.rmtree(spec["out"], ignore_errors=True)
    return row


def _text(out: str | bytes | None) -> str:
    return out.decode(errors="replace") if isinstance(out, bytes) else (out or "")


def build_snapshot(opts: argparse.Namespace, scratch: Path) -> tuple[Path, dict[str, Any]]:
    """Generate the shop, build and save the snapshot; the data sizes and the times taken."""
    from campaignrec.data.interactions import Interactions
    from campaignrec.data.synthetic import ShopConfig, generate_shop

    config = ShopConfig(n_users=opts.users, n_items=opts.items, n_events=opts.events, seed=0)
    t0 = time.perf_counter()
    shop = generate_shop(config)
    generate_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    inter = Interactions.from_frame(shop.events, items=shop.items)
    from_frame_s = time.perf_counter() - t0
    path = inter.save(scratch / "snapshot")
    data = {
        "config": {
            "n_users": opts.users,
            "n_items": opts.items,
            "n_events": opts.events,
            "seed": 0,
        },
        "generate_s": generate_s,
        "from_frame_s": from_frame_s,
        "events_generated": len(shop.events),
        "item_events_in_snapshot": len(inter),
        "snapshot_users": inter.n_users,
        "snapshot_items": inter.n_items,
        "items_with_events": int((inter.item_popularity > 0).sum()),
        "categories": int(shop.items["category"].nunique()),
        "snapshot_mib": _dir_mib(path),
        "parent_rss_after_build_mib": _peak_rss_mib(),
    }
    return path, data


def _fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_table(rows: list[dict[str, Any]], sample: int) -> None:
    head = (
        f"{'model':<20} {'fit s':>7} {f'rec {sample:,} s':>11} {'rec all s':>9} "
        f"{'peak MiB':>9} {'saved MiB':>9} {'load s':>7} {'RSS load':>8} {'RSS rec':>8} "
        f"{'Pss 2w':>7} {'Rss 2w':>7}  note"
    )
    print(head)
    for r in rows:
        note = r.get("skipped") or (
            f"solver {r['solver']}, {r.get('items_modelled', '?')} items" if r.get("solver") else ""
        )
        print(
            f"{r['model']:<20} {_fmt(r.get('fit_s'), '7.1f')} {_fmt(r.get('rec_sample_s'), '11.1f')} "
            f"{_fmt(r.get('rec_all_s'), '9.1f')} {_fmt(r.get('peak_rss_mib'), '9,.0f')} "
            f"{_fmt(r.get('model_mib'), '9.1f')} {_fmt(r.get('load_s'), '7.2f')} "
            f"{_fmt(r.get('rss_after_load_mib'), '8,.0f')} "
            f"{_fmt(r.get('rss_after_first_rec_mib'), '8,.0f')} "
            f"{_fmt(r.get('pss_together_mib'), '7,.0f')} {_fmt(r.get('rss_together_mib'), '7,.0f')}"
            f"  {note}"
        )


# ---- the default `campaignrec train` -------------------------------------------------------------
TRAIN_TARGETS_S = {"cj100k": 60.0, "synthetic1m": 300.0, "synthetic10m": 1800.0}
#: synthetic shops of ``--train-default``: events, users, items (``campaignrec generate``)
SYNTHETIC_SHOPS = {
    "synthetic1m": (1_000_000, 50_000, 20_000),
    "synthetic10m": (10_000_000, 500_000, 100_000),
}
#: the issue's memory target per shop (MiB of peak RSS), where it sets one
TRAIN_TARGETS_MIB = {"synthetic10m": 8 * 1024.0}


def _cli(home: Path, *args: str, env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Run ``campaignrec --data-dir home ARGS`` in a fresh process: rc, wall s, peak RSS MiB."""
    entry = "import sys; from campaignrec.cli import main; sys.argv[0] = 'campaignrec'; main()"
    cmd = [sys.executable, "-c", entry, "--data-dir", str(home), *args]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    deadline = t0 + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.05)
    wall = time.perf_counter() - t0
    out = proc.stdout.read().decode("utf-8", "replace") if proc.stdout else ""
    return {
        "rc": os.waitstatus_to_exitcode(status),
        "wall_s": wall,
        "peak_rss_mib": usage.ru_maxrss / 1024,
        # user + sys CPU seconds: what a busy machine does not inflate (wall time it does)
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "timed_out": wall > timeout,
        "tail": out[-3000:],
    }


def _cj_events(data: Path, out: Path) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    t = pd.read_parquet(
        data / "completejourney" / "transactions.parquet",
        columns=["household_id", "product_id", "transaction_timestamp"],
    )
    top = t["product_id"].value_counts().index[:16_000]
    households = t["household_id"].unique()
    np.random.default_rng(0).shuffle(households)
    sub = t[t["household_id"].isin(households[:600]) & t["product_id"].isin(top)]
    sub = sub.sort_values("transaction_timestamp", kind="stable").iloc[:100_000]
    ts = pd.to_datetime(sub["transaction_timestamp"], utc=True)
    frame = pd.DataFrame(
        {
            "user_id": sub["household_id"].astype(str),
            "item_id": sub["product_id"].astype(str),
            "event_type": "purchase",
            "timestamp": ts.astype("int64") // 10**9,
        }
    )
    frame.to_csv(out, index=False)
    return {
        "events": len(frame),
        "users": int(frame["user_id"].nunique()),
        "items": int(frame["item_id"].nunique()),
    }


def train_default(opts: argparse.Namespace) -> dict[str, Any]:
    """Import each shop into a fresh data directory, then time ``campaignrec train``."""
    from _datasets import data_dir

    src = str(Path(__file__).resolve().parents[1] / "src")
    env = dict(os.environ)
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(opts.threads)
    load_start = os.getloadavg()
    scratch = Path(opts.out or tempfile.mkdtemp(prefix="campaignrec-train-default-"))
    scratch.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    try:
        for shop in opts.shops:
            home = scratch / shop
            row: dict[str, Any] = {
                "shop": shop,
                "target_s": TRAIN_TARGETS_S.get(shop),
                "target_mib": TRAIN_TARGETS_MIB.get(shop),
            }
            if opts.reuse_import and (home / "campaignrec.db").exists():
                row["import"] = {"reused": str(home), "rc": 0, "wall_s": 0.0}
            elif shop == "cj100k":
                shutil.rmtree(home, ignore_errors=True)
                csv = scratch / "cj100k.csv"
                row["data"] = _cj_events(data_dir(opts.data, "completejourney"), csv)
                row["import"] = _cli(home, "import", "events", str(csv), env=env, timeout=1800)
            else:
                shutil.rmtree(home, ignore_errors=True)
                n_events, n_users, n_items = SYNTHETIC_SHOPS[shop]
                row["import"] = _cli(
                    home,
                    "generate",
                    str(scratch / f"{shop}-files"),
                    "--events",
                    str(n_events),
                    "--users",
                    str(n_users),
                    "--items",
                    str(n_items),
                    "--load",
                    env=env,
                    timeout=3600,
                )
            print(
                f"  {shop}: import rc {row['import']['rc']} in {row['import']['wall_s']:.0f} s",
                flush=True,
            )
            row["load_before_train"] = os.getloadavg()
            args = ["train"]
            if opts.time_budget is not None:
                args += ["--time-budget", str(opts.time_budget)]
            row["train"] = _cli(home, *args, env=env, timeout=opts.timeout)
            row["load_after_train"] = os.getloadavg()
            metas = sorted((home / "artifacts").rglob("meta.json"))
            if metas:
                meta = json.loads(metas[-1].read_text())
                sel = meta.get("metrics", {}).get("selection", {})
                row |= {
                    "n_events": meta.get("n_events"),
                    "n_users": meta.get("n_users"),
                    "n_items": meta.get("n_items"),
                    "chosen": sel.get("chosen"),
                    "budget": sel.get("budget"),
                    "validation": sel.get("validation"),
                    "leaderboard": sel.get("leaderboard"),
                }
            rows.append(row)
            print(
                f"  {shop}: train rc {row['train']['rc']} in {row['train']['wall_s']:.1f} s, "
                f"peak {row['train']['peak_rss_mib']:,.0f} MiB, chosen {row.get('chosen')}",
                flush=True,
            )
    finally:
        if opts.out is None:
            shutil.rmtree(scratch, ignore_errors=True)
    print(
        f"{'shop':<12} {'events':>9} {'users':>7} {'items':>7} {'budget s':>9} "
        f"{'train s':>8} {'target s':>8} {'peak MiB':>9}  chosen / skipped"
    )
    for r in rows:
        b = r.get("budget") or {}
        skipped = ", ".join(x["name"] for x in b.get("skipped", []))
        print(
            f"{r['shop']:<12} {r.get('n_events') or 0:>9,} {r.get('n_users') or 0:>7,} "
            f"{r.get('n_items') or 0:>7,} {b.get('seconds', 0):>9.0f} "
            f"{r['train']['wall_s']:>8.1f} {r['target_s'] or 0:>8.0f} "
            f"{r['train']['peak_rss_mib']:>9,.0f}  {r.get('chosen')} / {skipped or '-'}"
        )
    return {
        "benchmark": "models_scale_train_default",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(load_start),
        "command": "benchmarks/models_scale.py " + " ".join(sys.argv[1:]),
        "threads": opts.threads,
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Build the snapshot, run every model in its own subprocess, print and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per model")
    parser.add_argument("--threads", type=int, default=2, help="BLAS threads, every model")
    parser.add_argument("--sample", type=int, default=SAMPLE_USERS, help="users in one call")
    parser.add_argument("--only", nargs="*", choices=list(MODELS), default=None)
    parser.add_argument("--out", type=Path, default=None, help="scratch folder (default: temp)")
    parser.add_argument(
        "--load-workers", type=int, default=2, help="processes loading each artifact at once"
    )
    parser.add_argument(
        "--artifact-format",
        choices=("npy", "npz"),
        default="npy",
        help="npy: large arrays memory-mapped (now); npz: all compressed (before)",
    )
    parser.add_argument("--results", default=None, help="file under results/")
    parser.add_argument(
        "--train-default", action="store_true", help="time `campaignrec train` (no model)"
    )
    parser.add_argument(
        "--shops",
        nargs="*",
        choices=list(TRAIN_TARGETS_S),
        default=["cj100k", "synthetic1m"],
        help="synthetic10m (10M events, 500,000 users, 100,000 items) only when named",
    )
    parser.add_argument("--time-budget", type=float, default=None, help="with --train-default")
    parser.add_argument(
        "--reuse-import",
        action="store_true",
        help="with --train-default and --out: keep a shop already imported under --out",
    )
    parser.add_argument("--data", default=None, help="folder of the public data sets")
    opts = parser.parse_args(argv)
    if opts.train_default:
        if opts.timeout == 600.0:
            opts.timeout = 1800.0
        result = train_default(opts)
        RESULTS.mkdir(parents=True, exist_ok=True)
        name = opts.results or "models_scale_train.json"
        (RESULTS / name).write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
        return result
    opts.results = opts.results or "models_scale.json"
    load_start = os.getloadavg()
    scratch = Path(opts.out or tempfile.mkdtemp(prefix="campaignrec-models-scale-"))
    scratch.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    try:
        snapshot, data = build_snapshot(opts, scratch)
        opts.sample = min(opts.sample, data["snapshot_users"])
        print(
            f"shop: {data['events_generated']:,} events generated in {data['generate_s']:.1f} s; "
            f"snapshot {data['item_events_in_snapshot']:,} item events, "
            f"{data['snapshot_users']:,} users x {data['snapshot_items']:,} items, "
            f"from_frame {data['from_frame_s']:.1f} s",
            flush=True,
        )
        for label in opts.only or list(MODELS):
            rows.append(run_model(label, snapshot, scratch, opts))
            print(f"  {label}: {rows[-1].get('skipped') or 'ok'}", flush=True)
    finally:
        if opts.out is None:
            shutil.rmtree(scratch, ignore_errors=True)
    print_table(rows, opts.sample)
    result = {
        "benchmark": "models_scale",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(load_start),
        "command": "benchmarks/models_scale.py "
        + " ".join(argv if argv is not None else sys.argv[1:]),
        "threads": opts.threads,
        "k": K,
        "sample_users": opts.sample,
        "timeout_s": opts.timeout,
        "artifact_format": opts.artifact_format,
        "load_workers": opts.load_workers,
        "data": data,
        "rows": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / opts.results).write_text(json.dumps(result, indent=2), encoding="utf-8")
    return result


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(json.loads(sys.argv[2]))
    elif len(sys.argv) == 3 and sys.argv[1] == "--load-worker":
        load_worker(json.loads(sys.argv[2]))
    else:
        main()
