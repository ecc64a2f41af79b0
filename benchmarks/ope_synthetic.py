"""Benchmark: OPE estimators against the known truth on synthetic bandit logs.

A :class:`~campaignrec.experiments.synthetic_logs.SyntheticBanditEnv` (10 actions, 5 context
features, binary rewards, a softmax logging policy) knows every expected reward, so the true value
of a target policy (epsilon-greedy over the true rewards, epsilon 0.2) is computed exactly over
actions and by 200,000 contexts. Over ``--repeats`` independent logs of ``--rounds`` rounds each,
every estimator's bias, standard deviation, mean absolute error, RMSE and 95% interval coverage
are reported; DM/DR/Switch-DR use a cross-fitted logistic reward model fitted on each log.
Switch-DR runs at the default tau = 20 and with ``tau="auto"`` (the chosen taus are summarised).

On the first ``--refit-repeats`` logs, DM and DR are also run with ``refit_reward_model=True``
(``--refit-n-boot`` replicates, each refitting the cross-fitted model: the slow part), and the
coverage of the fixed-model intervals is reported on the same logs for comparison.

Usage::

    .venv/bin/python benchmarks/ope_synthetic.py [--repeats 50] [--rounds 3000] [--n-boot 200]
        [--refit-repeats 50] [--refit-n-boot 200]

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

from campaignrec.experiments.ope import (
    ESTIMATORS,
    Estimator,
    OPESettings,
    SwitchDoublyRobust,
    estimate_policy_value,
    fit_reward_model,
)
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
    ap.add_argument("--refit-repeats", type=int, default=50, help="logs with refit intervals")
    ap.add_argument("--refit-n-boot", type=int, default=200, help="replicates of a refit interval")
    args = ap.parse_args(argv)
    env = SyntheticBanditEnv(
        n_actions=args.n_actions, dim=5, behaviour_beta=args.beta, seed=args.seed
    )
    policy = env.oracle_policy(epsilon=args.epsilon)
    truth = env.policy_value(policy)
    behaviour = env.policy_value(env.behaviour_policy)
    started = time.perf_counter()
    variants: dict[str, Estimator] = {name: cls() for name, cls in ESTIMATORS.items()}
    auto_switch = SwitchDoublyRobust(tau="auto")
    variants["switch-dr (auto)"] = auto_switch
    refit_names = ["dm (refit)", "dr (refit)"]
    rows = [*variants, *refit_names]
    errors: dict[str, list[float]] = {e: [] for e in rows}
    covered: dict[str, list[bool]] = {e: [] for e in rows}
    ess: dict[str, list[float]] = {e: [] for e in rows}
    taus: list[float] = []
    switched: list[float] = []
    for rep in range(args.repeats):
        data = env.sample_log(args.rounds, seed=10_000 + rep)
        pi = policy(data.log.context)
        q = fit_reward_model(data.log, model="logistic", seed=rep)
        settings = OPESettings(n_boot=args.n_boot, seed=rep)
        for name, obj in variants.items():
            est = obj.estimate(data.log, pi, estimated_rewards=q, settings=settings)
            errors[name].append(est.value - truth)
            covered[name].append(est.ci_low <= truth <= est.ci_high)
            ess[name].append(est.ess)
            if obj is auto_switch:
                taus.append(est.info["tau"])
                switched.append(est.info["switched_share"])
        if rep < args.refit_repeats:
            refit = estimate_policy_value(
                data.log,
                pi,
                estimators=["dm", "dr"],
                estimated_rewards=q,
                settings=OPESettings(
                    n_boot=args.refit_n_boot,
                    seed=rep,
                    refit_reward_model=True,
                    reward_model="logistic",
                ),
            )
            for name in ("dm", "dr"):
                est = refit[name]
                errors[f"{name} (refit)"].append(est.value - truth)
                covered[f"{name} (refit)"].append(est.ci_low <= truth <= est.ci_high)
                ess[f"{name} (refit)"].append(est.ess)
        print(f"  log {rep + 1}/{args.repeats}: {time.perf_counter() - started:.0f}s", flush=True)
    elapsed = time.perf_counter() - started
    summary: dict[str, Any] = {}
    lines = [
        "| estimator | logs | bias | sd | MAE | RMSE | 95% CI coverage | ESS (mean) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in rows:
        e = np.asarray(errors[name])
        if len(e) < 2:
            continue
        summary[name] = {
            "bias": float(e.mean()),
            "bias_se": float(e.std(ddof=1) / np.sqrt(len(e))),
            "sd": float(e.std(ddof=1)),
            "mae": float(np.abs(e).mean()),
            "rmse": float(np.sqrt((e**2).mean())),
            "coverage": float(np.mean(covered[name])),
            "ess": float(np.mean(ess[name])),
            "logs": len(e),
        }
        s = summary[name]
        lines.append(
            f"| {name} | {len(e)} | {s['bias']:+.4f} (se {s['bias_se']:.4f}) | {s['sd']:.4f} | "
            f"{s['mae']:.4f} | {s['rmse']:.4f} | {s['coverage']:.0%} | {s['ess']:.0f} |"
        )
    n_refit = min(args.refit_repeats, args.repeats)
    # the fixed-model intervals' coverage on the logs that also have refit intervals
    coverage_same_logs = {
        name: float(np.mean(covered[name][:n_refit])) if n_refit else None
        for name in ("dm", "dr", "dm (refit)", "dr (refit)")
    }
    tau_arr = np.asarray(taus)
    tau_summary = {
        "min": float(tau_arr.min()),
        "median": float(np.median(tau_arr)),
        "max": float(tau_arr.max()),
        "mean_switched_share": float(np.mean(switched)),
        "logs_switching_some_rounds": int(np.sum(np.asarray(switched) > 0)),
        "chosen": taus,
    }
    print(
        f"true value of the target policy {truth:.4f} (logging policy {behaviour:.4f}); "
        f"{args.repeats} logs x {args.rounds} rounds, {args.n_actions} actions"
    )
    print("\n".join(lines))
    print(
        "coverage on the first "
        f"{n_refit} logs: "
        + ", ".join(f"{k} {v:.0%}" for k, v in coverage_same_logs.items() if v is not None)
    )
    print(
        f"switch-dr (auto) tau: min {tau_summary['min']:.2f}, median {tau_summary['median']:.2f}, "
        f"max {tau_summary['max']:.2f}; rounds switched to DM {tau_summary['mean_switched_share']:.2%} "
        f"on average ({tau_summary['logs_switching_some_rounds']} of {len(taus)} logs switch any)"
    )
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
        "coverage_on_refit_logs": coverage_same_logs,
        "switch_auto_tau": tau_summary,
        "table": lines,
    }
    (RESULTS / "ope_synthetic.json").write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
