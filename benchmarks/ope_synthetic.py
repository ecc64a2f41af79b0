"""Benchmark: OPE estimators against the known truth on synthetic bandit logs.

A :class:`~campaignrec.experiments.synthetic_logs.SyntheticBanditEnv` (10 actions, 5 context
features, binary rewards, a softmax logging policy) knows every expected reward, so the true value
of a target policy (epsilon-greedy over the true rewards, epsilon 0.2) is computed exactly over
actions and by 200,000 contexts. Over ``--repeats`` independent logs of ``--rounds`` rounds each,
every estimator's bias, standard deviation, mean absolute error, RMSE and 95% interval coverage
are reported; DM/DR/Switch-DR use a cross-fitted logistic reward model fitted on each log.

Usage::

    .venv/bin/python benchmarks/ope_synthetic.py [--repeats 50] [--rounds 3000] [--n-boot 200]

Writes ``benchmarks/results/ope_synthetic.json``.
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

from campaignrec.experiments.ope import ESTIMATORS, fit_reward_model
from campaignrec.experiments.synthetic_logs import SyntheticBanditEnv

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3000)
    ap.add_argument("--n-actions", type=int, default=10)
    ap.add_argument("--beta", type=float, default=1.0, help="logging softmax inverse temperature")
    ap.add_argument("--epsilon", type=float, default=0.2, help="target policy epsilon")
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    env = SyntheticBanditEnv(
        n_actions=args.n_actions, dim=5, behaviour_beta=args.beta, seed=args.seed
    )
    policy = env.oracle_policy(epsilon=args.epsilon)
    truth = env.policy_value(policy)
    behaviour = env.policy_value(env.behaviour_policy)
    started = time.perf_counter()
    errors: dict[str, list[float]] = {e: [] for e in ESTIMATORS}
    covered: dict[str, list[bool]] = {e: [] for e in ESTIMATORS}
    ess: dict[str, list[float]] = {e: [] for e in ESTIMATORS}
    for rep in range(args.repeats):
        data = env.sample_log(args.rounds, seed=10_000 + rep)
        pi = policy(data.log.context)
        q = fit_reward_model(data.log, model="logistic", seed=rep)
        for name, cls in ESTIMATORS.items():
            est = cls().estimate(data.log, pi, estimated_rewards=q, n_boot=args.n_boot, seed=rep)
            errors[name].append(est.value - truth)
            covered[name].append(est.ci_low <= truth <= est.ci_high)
            ess[name].append(est.ess)
    elapsed = time.perf_counter() - started
    summary: dict[str, Any] = {}
    lines = [
        "| estimator | bias | sd | MAE | RMSE | 95% CI coverage | ESS (mean) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ESTIMATORS:
        e = np.asarray(errors[name])
        summary[name] = {
            "bias": float(e.mean()),
            "bias_se": float(e.std(ddof=1) / np.sqrt(len(e))),
            "sd": float(e.std(ddof=1)),
            "mae": float(np.abs(e).mean()),
            "rmse": float(np.sqrt((e**2).mean())),
            "coverage": float(np.mean(covered[name])),
            "ess": float(np.mean(ess[name])),
        }
        s = summary[name]
        lines.append(
            f"| {name} | {s['bias']:+.4f} (se {s['bias_se']:.4f}) | {s['sd']:.4f} | "
            f"{s['mae']:.4f} | {s['rmse']:.4f} | {s['coverage']:.0%} | {s['ess']:.0f} |"
        )
    print(
        f"true value of the target policy {truth:.4f} (logging policy {behaviour:.4f}); "
        f"{args.repeats} logs x {args.rounds} rounds, {args.n_actions} actions"
    )
    print("\n".join(lines))
    dr_beats_ips = summary["dr"]["mae"] < summary["ips"]["mae"]
    print(
        f"DR MAE < IPS MAE: {dr_beats_ips} ({summary['dr']['mae']:.4f} vs "
        f"{summary['ips']['mae']:.4f}); elapsed {elapsed:.0f}s"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "ope_synthetic",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python " + " ".join(["benchmarks/ope_synthetic.py", *(argv or sys.argv[1:])]),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "settings": vars(args),
        "true_value": truth,
        "behaviour_value": behaviour,
        "elapsed_s": elapsed,
        "dr_mae_below_ips": dr_beats_ips,
        "summary": summary,
        "table": lines,
    }
    (RESULTS / "ope_synthetic.json").write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
