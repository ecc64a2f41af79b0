"""Benchmark: uplift learners on the Hillstrom e-mail campaign (any e-mail vs none).

Kevin Hillstrom's MineThatData data set: 64,000 customers randomly sent a men's e-mail, a women's
e-mail or nothing; outcomes over two weeks. Treatment = any e-mail (two thirds of customers).
Features: recency, history (dollars and segment rank), mens, womens, newbie, zip_code and channel
(one-hot). For each outcome (``visit``, ``conversion``) and each random half-split:

* uplift learners from :mod:`campaignrec.campaigns.uplift` (S, T, X, transformed outcome, with
  LightGBM; T with logistic regression) are fitted on one half;
* "response": a calibrated response model (:class:`~campaignrec.campaigns.response.ResponseModel`)
  of P(outcome | e-mailed) fitted on the treated rows of that half: targeting who responds;
* "random": one random ranking (scored like the others), plus a permutation null of
  ``--n-null`` random rankings per split: a targeting "beats random" in a split when its Qini
  exceeds the null's 97.5% quantile;

and every ranking is scored on the other half with the Qini coefficient (area between the Qini
curve and the random line, outcomes per customer; see :mod:`campaignrec.campaigns.uplift_metrics`),
its normalised form, and uplift@30%, with a stratified bootstrap 95% interval on the first split.

Usage::

    .venv/bin/python benchmarks/uplift_hillstrom.py [--data DIR] [--splits 5] [--n-boot 300]

Writes ``benchmarks/results/uplift_hillstrom.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _datasets import data_dir

from campaignrec.campaigns.response import ResponseModel
from campaignrec.campaigns.uplift import make_uplift_learner
from campaignrec.campaigns.uplift_metrics import (
    bootstrap_uplift_metric,
    qini_coefficient,
    uplift_at_k,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
OUTCOMES = ("visit", "conversion")
# strongly regularised: conversions are rare (about 1%) and the uplift signal is weak
LGB = {"n_estimators": 100, "learning_rate": 0.03, "num_leaves": 7, "min_child_samples": 500}
LEARNERS: dict[str, tuple[str, dict[str, Any]]] = {
    "S-learner (LightGBM)": ("s", LGB),
    "T-learner (LightGBM)": ("t", LGB),
    "X-learner (LightGBM)": ("x", LGB),
    "transformed outcome (LightGBM)": ("to", LGB),
    "T-learner (logistic)": ("t", {"base_model": "logistic"}),
    "X-learner (logistic)": ("x", {"base_model": "logistic"}),
}


def load(path: Path) -> tuple[np.ndarray, np.ndarray, pd.DataFrame, list[str]]:
    """Features, treatment (any e-mail = 1) and the outcome columns."""
    df = pd.read_csv(path)
    treatment = (df["segment"] != "No E-Mail").to_numpy(dtype=np.int64)
    feats = pd.DataFrame(
        {
            "recency": df["recency"],
            "history": df["history"],
            "history_rank": df["history_segment"].str.slice(0, 1).astype(int),
            "mens": df["mens"],
            "womens": df["womens"],
            "newbie": df["newbie"],
        }
    )
    dummies = pd.get_dummies(df[["zip_code", "channel"]], dtype=np.float64)
    X = pd.concat([feats.astype(np.float64), dummies], axis=1)
    return X.to_numpy(dtype=np.float64), treatment, df[list(OUTCOMES)], list(X.columns)


def split_halves(t: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Half-split stratified by treatment."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for g in (0, 1):
        idx = rng.permutation(np.flatnonzero(t == g))
        train.append(idx[: len(idx) // 2])
        test.append(idx[len(idx) // 2 :])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def scores_for(
    X: np.ndarray, t: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, seed: int
) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for label, (name, params) in LEARNERS.items():
        learner = make_uplift_learner(name, random_state=seed, **params)
        learner.fit(X[train], t[train], y[train])
        out[label] = learner.predict_uplift(X[test])
    treated = train[t[train] == 1]
    resp = ResponseModel(random_state=seed, **LGB).fit(X[treated], y[treated])
    out["response probability (targeting responders)"] = resp.predict_proba(X[test])
    out["random"] = np.random.default_rng(seed + 7).random(len(test))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="data directory (default: $CAMPAIGNREC_DATA)")
    ap.add_argument("--splits", type=int, default=5)
    ap.add_argument("--n-boot", type=int, default=300)
    ap.add_argument("--n-null", type=int, default=200, help="random rankings per split")
    args = ap.parse_args(argv)
    path = (
        data_dir(args.data, "hillstrom/hillstrom.csv", "Hillstrom data")
        / "hillstrom"
        / "hillstrom.csv"
    )
    started = time.perf_counter()
    X, t, outcomes, names = load(path)
    results: dict[str, Any] = {}
    lines = [
        "| outcome | targeting | Qini coef. (split 0) | 95% CI | normalised | uplift@30% | "
        "Qini mean ± sd over splits | CI > 0 |",
        "|---|---|---|---|---|---|---|---|",
        # the random row is one random ranking; the permutation null is printed below
    ]
    for outcome in OUTCOMES:
        y = outcomes[outcome].to_numpy(dtype=np.float64)
        per_split: dict[str, list[float]] = {}
        first: dict[str, Any] = {}
        null_q: list[list[float]] = []  # per split: mean, 2.5% and 97.5% of random rankings
        for s in range(args.splits):
            train, test = split_halves(t, seed=s)
            scores = scores_for(X, t, y, train, test, seed=s)
            null_rng = np.random.default_rng(10_000 + s)
            null = np.array(
                [
                    qini_coefficient(null_rng.random(len(test)), t[test], y[test])
                    for _ in range(args.n_null)
                ]
            )
            null_q.append([float(null.mean()), *np.quantile(null, [0.025, 0.975]).tolist()])
            for label, score in scores.items():
                q = qini_coefficient(score, t[test], y[test])
                per_split.setdefault(label, []).append(q)
                if s == 0:
                    ci = bootstrap_uplift_metric(
                        qini_coefficient, score, t[test], y[test], n_boot=args.n_boot, seed=0
                    )
                    first[label] = {
                        "qini": ci.as_dict(),
                        "qini_normalised": qini_coefficient(
                            score, t[test], y[test], normalize=True
                        ),
                        "uplift_at_30": uplift_at_k(score, t[test], y[test], k=0.3),
                    }
            print(f"  {outcome} split {s} done", flush=True)
        results[outcome] = {
            "treated_rate": float(y[t == 1].mean()),
            "control_rate": float(y[t == 0].mean()),
            "split0": first,
            "qini_per_split": per_split,
            "random_null_per_split": null_q,
        }
        for label in first:
            f = first[label]
            qs = np.asarray(per_split[label])
            lines.append(
                f"| {outcome} | {label} | {f['qini']['value']:.5f} | "
                f"[{f['qini']['ci_low']:.5f}, {f['qini']['ci_high']:.5f}] | "
                f"{f['qini_normalised']:.3f} | {f['uplift_at_30']:.4f} | "
                f"{qs.mean():.5f} ± {qs.std(ddof=1) if len(qs) > 1 else 0.0:.5f} | "
                f"{'yes' if f['qini']['ci_low'] > 0 else 'no'} |"
            )
    elapsed = time.perf_counter() - started
    print()
    for outcome in OUTCOMES:
        r = results[outcome]
        print(
            f"{outcome}: treated {r['treated_rate']:.4f} vs control {r['control_rate']:.4f} "
            f"(average uplift {r['treated_rate'] - r['control_rate']:+.4f})"
        )
    print("\n".join(lines))
    uplift_labels = list(LEARNERS)
    # a learner beats random targeting when its Qini exceeds the 97.5% quantile of random
    # rankings' Qini on the same held-out half, in every split
    beat = {
        o: {
            lab: int(
                sum(
                    q > null[2]
                    for q, null in zip(
                        results[o]["qini_per_split"][lab],
                        results[o]["random_null_per_split"],
                        strict=True,
                    )
                )
            )
            for lab in [*uplift_labels, "response probability (targeting responders)"]
        }
        for o in OUTCOMES
    }
    for o in OUTCOMES:
        nulls = np.asarray(results[o]["random_null_per_split"])
        print(
            f"{o}: random rankings' Qini mean {nulls[:, 0].mean():+.6f}, 97.5% quantile "
            f"{nulls[:, 2].mean():.6f} (mean over splits); splits where each targeting beats it: "
            + ", ".join(f"{lab}: {n}/{args.splits}" for lab, n in beat[o].items())
        )
    print(f"elapsed {elapsed:.0f}s")
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "uplift_hillstrom",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python "
        + " ".join(["benchmarks/uplift_hillstrom.py", *(argv or sys.argv[1:])]),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "settings": vars(args) | {"data": str(path), "features": names},
        "elapsed_s": elapsed,
        "beats_random": beat,
        "table": lines,
        "results": results,
    }
    (RESULTS / "uplift_hillstrom.json").write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
