"""Benchmark: off-policy evaluation of a learned campaign policy on the Open Bandit Dataset.

For each OBD campaign (``all``, ``men``, ``women``; 10,000 uniformly random rounds each, about
40 clicks) and each of several random half-splits:

1. on half A, fit a reward model (logistic regression over user features, item one-hot, item
   features and slot) and turn its predicted click rates on half B's contexts into a stochastic
   policy: a softmax over the per-round standardised predictions (temperature 0.5) mixed with a
   uniform floor of 10% (every item keeps probability >= 0.1 / n_items);
2. on half B, estimate with IPS, SNIPS, DM, DR and Switch-DR (reward model cross-fitted on half B)
   the policy's click rate and its lift over the uniform policy (paired bootstrap 95% intervals),
   with the effective sample size of each estimator;
3. check agreement: for each pair of estimators, does each point estimate of the lift fall within
   the other's interval?

Usage::

    .venv/bin/python benchmarks/ope_obd.py [--data DIR] [--splits 5] [--n-boot 500]

Writes ``benchmarks/results/ope_obd.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from _datasets import data_dir

from campaignrec.experiments.logs_io import read_obd_csv
from campaignrec.experiments.ope import (
    ESTIMATORS,
    OPESettings,
    fit_reward_model,
    learned_softmax_policy,
    predict_rewards,
    uniform_policy,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
CAMPAIGNS = ("all", "men", "women")


def run_campaign(
    path: Path, splits: int, n_boot: int, temperature: float, floor: float
) -> dict[str, Any]:
    loaded = read_obd_csv(path)
    log = loaded.log
    out: dict[str, Any] = {
        "rounds": log.n_rounds,
        "clicks": int(log.reward.sum()),
        "n_actions": log.n_actions,
        "splits": [],
    }
    for s in range(splits):
        rng = np.random.default_rng(1000 + s)
        perm = rng.permutation(log.n_rounds)
        half = log.n_rounds // 2
        train, test = log.subset(np.sort(perm[:half])), log.subset(np.sort(perm[half:]))
        q_policy = predict_rewards(train, test, model="logistic", seed=s)
        pi = learned_softmax_policy(q_policy, temperature=temperature, floor=floor)
        base = uniform_policy(test.n_rounds, test.n_actions)
        q_eval = fit_reward_model(test, model="logistic", seed=s)
        split: dict[str, Any] = {
            "seed": 1000 + s,
            "uniform_ctr": float(test.reward.mean()),
            "min_prob": float(pi.min()),
            "estimates": {},
        }
        settings = OPESettings(n_boot=n_boot, seed=s)
        for name, cls in ESTIMATORS.items():
            est = cls()
            value = est.estimate(test, pi, estimated_rewards=q_eval, settings=settings)
            lift = est.estimate_lift(test, pi, base, estimated_rewards=q_eval, settings=settings)
            split["estimates"][name] = {
                "value": value.value,
                "value_ci": [value.ci_low, value.ci_high],
                "lift": lift.value,
                "lift_ci": [lift.ci_low, lift.ci_high],
                "ess": value.ess,
            }
        pairs = []
        for a, b in itertools.combinations(ESTIMATORS, 2):
            ea, eb = split["estimates"][a], split["estimates"][b]
            ok = (
                eb["lift_ci"][0] <= ea["lift"] <= eb["lift_ci"][1]
                and ea["lift_ci"][0] <= eb["lift"] <= ea["lift_ci"][1]
            )
            overlap = max(ea["lift_ci"][0], eb["lift_ci"][0]) <= min(
                ea["lift_ci"][1], eb["lift_ci"][1]
            )
            pairs.append({"pair": [a, b], "points_inside": ok, "intervals_overlap": overlap})
        split["agreement"] = pairs
        out["splits"].append(split)
        print(f"  {path.stem} split {s}: uniform CTR {split['uniform_ctr']:.4f}", flush=True)
    return out


def summarise(name: str, res: dict[str, Any]) -> list[str]:
    rows = []
    splits = res["splits"]
    base = np.array([s["uniform_ctr"] for s in splits])
    for est in ESTIMATORS:
        e = [s["estimates"][est] for s in splits]
        lifts = np.array([x["lift"] for x in e])
        lows = np.array([x["lift_ci"][0] for x in e])
        highs = np.array([x["lift_ci"][1] for x in e])
        ess = np.array([x["ess"] for x in e])
        vals = np.array([x["value"] for x in e])
        sd = lifts.std(ddof=1) if len(lifts) > 1 else 0.0
        rows.append(
            f"| {name} | {est} | {vals.mean():.4f} | {lifts.mean():+.4f} ± {sd:.4f} | "
            f"{lifts.mean() / base.mean():+.0%} | "
            f"{lifts[0]:+.4f} [{lows[0]:+.4f}, {highs[0]:+.4f}] | "
            f"{int((lows > 0).sum())} / {int((highs < 0).sum())} | {ess.mean():.0f} |"
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="data directory (default: $CAMPAIGNREC_DATA)")
    ap.add_argument("--splits", type=int, default=5)
    ap.add_argument("--n-boot", type=int, default=500)
    ap.add_argument("--temperature", type=float, default=0.5)
    ap.add_argument("--floor", type=float, default=0.1)
    ap.add_argument("--campaigns", nargs="*", default=list(CAMPAIGNS))
    args = ap.parse_args(argv)
    root = data_dir(args.data, "obd/random", "OBD data") / "obd" / "random"
    started = time.perf_counter()
    results: dict[str, Any] = {}
    for c in args.campaigns:
        results[c] = run_campaign(
            root / c / f"{c}.csv", args.splits, args.n_boot, args.temperature, args.floor
        )
    elapsed = time.perf_counter() - started
    lines = [
        "| campaign | estimator | policy CTR (mean over splits) | lift over uniform (mean ± sd) "
        "| relative lift | split 0: lift [95% CI] | splits with CI > 0 / < 0 | ESS (mean) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in args.campaigns:
        lines += summarise(c, results[c])
    print()
    print("\n".join(lines))
    agree = [p for c in args.campaigns for s in results[c]["splits"] for p in s["agreement"]]
    share_inside = float(np.mean([p["points_inside"] for p in agree]))
    share_overlap = float(np.mean([p["intervals_overlap"] for p in agree]))
    no_dm = [p for p in agree if "dm" not in p["pair"]]
    share_inside_no_dm = float(np.mean([p["points_inside"] for p in no_dm]))
    print(
        f"\nagreement over {len(agree)} estimator pairs x splits: intervals overlap "
        f"{share_overlap:.0%}; each point inside the other's interval {share_inside:.0%} "
        f"({share_inside_no_dm:.0%} without DM)"
    )
    for c in args.campaigns:
        r = results[c]
        print(f"{c}: {r['rounds']} rounds, {r['clicks']} clicks, {r['n_actions']} items")
    print(f"elapsed {elapsed:.0f}s")
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "ope_obd",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python " + " ".join(["benchmarks/ope_obd.py", *(argv or sys.argv[1:])]),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "settings": vars(args) | {"data": str(root)},
        "elapsed_s": elapsed,
        "agreement": {
            "pairs": len(agree),
            "intervals_overlap": share_overlap,
            "points_inside": share_inside,
            "points_inside_without_dm": share_inside_no_dm,
        },
        "table": lines,
        "results": results,
    }
    (RESULTS / "ope_obd.json").write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
