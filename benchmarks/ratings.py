"""Explicit ratings: ``rating_mf`` against Surprise's SVD, SVD++ and KNNBaseline on MovieLens-100k.

Protocol: random 80/20 splits of the 100,000 ratings, one per seed (5 seeds); every model is fitted
on the same 80 % and predicts the same 20 %; RMSE and MAE on the test ratings. ``rating_mf``'s
parameters are chosen on a validation split of the first seed's train part (a random 10 % of it,
never the test part), from a small grid, and then used on every seed unchanged. Surprise runs with
its documented defaults (SVD: 100 factors, 20 epochs; SVD++: 20 factors, 20 epochs; KNNBaseline:
40 neighbours, MSD user similarity, ALS baselines) plus KNNBaseline with the item-based
pearson_baseline similarity its documentation recommends.

Surprise lives in a separate benchmark virtualenv (it is never a dependency of campaignrec)::

    python3 -m venv /work/benchvenv && /work/benchvenv/bin/pip install 'numpy<2' scikit-surprise
    PYTHONPATH=src nice -n 10 python benchmarks/ratings.py --data ../shared/data \\
        --surprise-python /work/benchvenv/bin/python

Our model runs in this process; the splits go to Surprise's interpreter as index files and its
predictions come back the same way (``--worker`` is that subprocess's entry point).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

SURPRISE_MODELS = ("SVD", "SVDpp", "KNNBaseline", "KNNBaseline-item-pearson")
GRID = {
    "factors": (50,),
    "regularization": (0.12, 0.15, 0.2),
    "bias_regularization": (2.0, 5.0),
}


def _rmse_mae(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    err = pred.astype(np.float64) - truth
    return float(np.sqrt(np.mean(err**2))), float(np.mean(np.abs(err)))


# ---- the Surprise side (runs inside the benchmark virtualenv) ----------------------------------
def worker(path: Path) -> None:
    """Fit each Surprise model on each split in ``path``/job.json; write its predictions."""
    import surprise
    from surprise import SVD, Dataset, KNNBaseline, Reader, SVDpp

    job = json.loads((path / "job.json").read_text())
    ratings = np.load(path / "ratings.npz")
    u, i, r = ratings["user"], ratings["item"], ratings["rating"]
    import pandas as pd

    frame = pd.DataFrame({"u": u, "i": i, "r": r})
    reader = Reader(rating_scale=(1, 5))
    out: dict[str, Any] = {"surprise": surprise.__version__, "runs": []}
    for seed in job["seeds"]:
        test = np.load(path / f"test_{seed}.npy")
        train_rows = np.setdiff1d(np.arange(len(r)), test)
        data = Dataset.load_from_df(frame.iloc[train_rows], reader)
        trainset = data.build_full_trainset()
        pairs = list(zip(u[test].tolist(), i[test].tolist(), r[test].tolist(), strict=True))
        for name in job["models"]:
            if name == "SVD":
                algo: Any = SVD(random_state=seed)
            elif name == "SVDpp":
                algo = SVDpp(random_state=seed, cache_ratings=True)
            elif name == "KNNBaseline":
                algo = KNNBaseline(verbose=False)
            else:
                algo = KNNBaseline(
                    sim_options={"name": "pearson_baseline", "user_based": False}, verbose=False
                )
            t0 = time.perf_counter()
            algo.fit(trainset)
            fit_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            pred = np.array([p.est for p in algo.test(pairs)], dtype=np.float64)
            pred_s = time.perf_counter() - t0
            np.save(path / f"pred_{name}_{seed}.npy", pred)
            out["runs"].append({"model": name, "seed": seed, "fit_s": fit_s, "predict_s": pred_s})
            print(f"surprise {name} seed {seed}: fit {fit_s:.1f}s", flush=True)
    (path / "done.json").write_text(json.dumps(out))


# ---- our side ---------------------------------------------------------------------------------
def _load(data: Path) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
    import pandas as pd

    from campaignrec.data.interactions import Interactions

    df = pd.read_csv(data / "ml-100k" / "ml-100k.inter", sep="\t")
    df.columns = ["user_id", "item_id", "rating", "timestamp"]
    df["event_type"] = "rating"
    inter = Interactions.from_frame(df)
    u, i, r = inter.ratings()
    return inter, u, i, r.astype(np.float64)


def _tune(inter: Any, train_mask: np.ndarray, seed: int) -> tuple[dict[str, Any], list[Any]]:
    """Grid search of rating_mf on a random 10 % of the train ratings (the test part unseen)."""
    from campaignrec.models.rating import RatingMF

    rng = np.random.default_rng(1_000 + seed)
    rows = np.flatnonzero(train_mask)
    val = np.zeros(len(train_mask), dtype=bool)
    val[rng.choice(rows, size=len(rows) // 10, replace=False)] = True
    fit_on, held = inter.subset(train_mask & ~val), inter.subset(val)
    hu, hi, hr = held.ratings()
    trials = []
    for values in itertools.product(*GRID.values()):
        params = dict(zip(GRID, values, strict=True))
        model = RatingMF(**params, seed=seed).fit(fit_on)
        rmse, _ = _rmse_mae(model.predict_idx(hu, hi), hr.astype(np.float64))
        trials.append({"params": params, "validation_rmse": rmse})
        print(f"  tune {params}: validation RMSE {rmse:.4f}", flush=True)
    best = min(trials, key=lambda t: t["validation_rmse"])
    return dict(best["params"]), trials


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--surprise-python", default=os.environ.get("SURPRISE_PYTHON"))
    parser.add_argument("--out", default="benchmarks/results/ratings.json")
    parser.add_argument(
        "--cache",
        default=None,
        help="folder for the splits and Surprise's predictions; a finished Surprise run there "
        "on the same splits is reused (default: a fresh temporary folder, Surprise runs again)",
    )
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(Path(args.worker))
        return

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _datasets import data_dir, machine

    from campaignrec.models.rating import RatingMF

    load0 = os.getloadavg()
    inter, u, i, r = _load(data_dir(args.data, "ml-100k"))
    seeds = list(range(args.seeds))
    n = len(r)
    tests = {}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        tests[seed] = np.sort(rng.choice(n, size=n // 5, replace=False))
    # the log keeps one row per rating, so ratings() rows are the log's rows
    assert len(inter) == n

    train0 = np.ones(n, dtype=bool)
    train0[tests[0]] = False
    best, trials = _tune(inter, train0, 0)
    print(f"chosen on validation: {best}", flush=True)

    surprise_proc = None
    tmp = Path(args.cache) if args.cache else Path(tempfile.mkdtemp(prefix="ratings-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    job = {"seeds": seeds, "models": list(SURPRISE_MODELS)}
    reused = (
        (tmp / "done.json").exists()
        and (tmp / "job.json").exists()
        and json.loads((tmp / "job.json").read_text()) == job
        and all(np.array_equal(np.load(tmp / f"test_{s}.npy"), tests[s]) for s in seeds)
    )
    if reused:
        print(f"reusing Surprise's predictions in {tmp}", flush=True)
    elif args.surprise_python:
        (tmp / "done.json").unlink(missing_ok=True)
        raw_u = inter.users.ids[u].astype(str)
        raw_i = inter.items.ids[i].astype(str)
        np.savez(tmp / "ratings.npz", user=raw_u, item=raw_i, rating=r)
        for seed in seeds:
            np.save(tmp / f"test_{seed}.npy", tests[seed])
        (tmp / "job.json").write_text(json.dumps(job))
        surprise_proc = subprocess.Popen(
            [args.surprise_python, __file__, "--worker", str(tmp)], env=os.environ | {}
        )
        surprise_proc.wait()  # one at a time: the machine has 2 cores, timings stay comparable

    rows: list[dict[str, Any]] = []
    for seed in seeds:
        mask = np.ones(n, dtype=bool)
        mask[tests[seed]] = False
        t0 = time.perf_counter()
        model = RatingMF(**best, seed=seed).fit(inter.subset(mask))
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        pred = model.predict_idx(u[tests[seed]], i[tests[seed]])
        pred_s = time.perf_counter() - t0
        rmse, mae = _rmse_mae(pred, r[tests[seed]])
        rows.append(
            {
                "model": "rating_mf",
                "seed": seed,
                "rmse": rmse,
                "mae": mae,
                "fit_s": fit_s,
                "predict_s": pred_s,
            }
        )
        print(f"rating_mf seed {seed}: RMSE {rmse:.4f} MAE {mae:.4f} fit {fit_s:.1f}s", flush=True)
    surprise_version = None
    if surprise_proc is not None or reused:
        if (surprise_proc is not None and surprise_proc.returncode != 0) or not (
            tmp / "done.json"
        ).exists():
            raise SystemExit("the Surprise worker failed (see its output above)")
        done = json.loads((tmp / "done.json").read_text())
        surprise_version = done["surprise"]
        for run in done["runs"]:
            pred = np.load(tmp / f"pred_{run['model']}_{run['seed']}.npy")
            rmse, mae = _rmse_mae(pred, r[tests[run["seed"]]])
            rows.append(run | {"rmse": rmse, "mae": mae})

    summary = {}
    for name in dict.fromkeys(row["model"] for row in rows):
        mine = [row for row in rows if row["model"] == name]
        rm = np.array([row["rmse"] for row in mine])
        summary[name] = {
            "rmse_mean": float(rm.mean()),
            "rmse_std": float(rm.std(ddof=1)) if len(rm) > 1 else 0.0,
            "mae_mean": float(np.mean([row["mae"] for row in mine])),
            "fit_s_mean": float(np.mean([row["fit_s"] for row in mine])),
            "seeds": len(mine),
        }
    refs = {k: v for k, v in summary.items() if k != "rating_mf"}
    paired = {}
    for name in refs:
        diffs = [
            a["rmse"] - b["rmse"]
            for a in rows
            if a["model"] == "rating_mf"
            for b in rows
            if b["model"] == name and b["seed"] == a["seed"]
        ]
        paired[name] = {"rmse_diff_mean": float(np.mean(diffs)), "rmse_diff_max": float(max(diffs))}
    print("\n| model | RMSE (mean ± sd over seeds) | MAE | fit s |")
    print("|---|---|---|---|")
    for name, s in sorted(summary.items(), key=lambda kv: kv[1]["rmse_mean"]):
        print(
            f"| {name} | {s['rmse_mean']:.4f} ± {s['rmse_std']:.4f} | {s['mae_mean']:.4f} | "
            f"{s['fit_s_mean']:.1f} |"
        )
    result = {
        "benchmark": "ratings",
        "data": "MovieLens-100k (ml-100k.inter), random 80/20 per seed",
        "seeds": seeds,
        "chosen_params": best,
        "tuning": trials,
        "summary": summary,
        "paired_rmse_diff_vs_rating_mf": paired,
        "runs": rows,
        "surprise_version": surprise_version,
        "surprise_reused_from_cache": bool(reused),
        "machine": machine(load0),
        "command": " ".join(["python", *sys.argv]),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
