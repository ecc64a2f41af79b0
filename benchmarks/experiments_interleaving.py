"""Benchmark: how many fewer shoppers team-draft interleaving needs than an A/B split.

A :class:`~campaignrec.experiments.simulation.TwoRankerShop` plants a truly better ranker A (B's
scores are noisier). For each shop configuration:

* **A/B**: the exact per-shopper mean and variance of clicks under each ranker's list (expected
  clicks of 50,000 drawn shoppers, paired, plus the Bernoulli variance) give the total shoppers
  that a two-sided Welch test at alpha 0.05 needs to detect the difference with 90 % power;
* **interleaving**: the per-shopper credit difference ``credit(B) - credit(A)`` of
  ``--design-shoppers`` (50,000) shoppers shown one team-draft interleaved list each gives the
  shoppers a one-sample test at alpha 0.05 needs for 90 % power (the analysis of
  :func:`~campaignrec.experiments.interleaving.analyse_interleaving`); the same shoppers give the
  sizes of two other per-shopper statistics for comparison: the sign of the difference (a sign
  test of wins against losses) and the credit share ``(credit(A) - credit(B)) / clicks`` of the
  shoppers who clicked;
* the ratio of the two, and (``--verify``) the A/B split run ``--replicates`` times at its
  computed size (should pick A in about 90 % of runs) and the interleaving run ``--replicates``
  times with **one fifth of the A/B shoppers** (the issue's budget): the share of runs that pick A
  with a significant result, with its 95 % Wilson interval.

Usage::

    .venv/bin/python benchmarks/experiments_interleaving.py [--replicates 1000] [--verify]

Writes ``benchmarks/results/experiments_interleaving.json``.
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
from scipy import stats

from campaignrec.experiments.ab import welch_t_test
from campaignrec.experiments.interleaving import analyse_interleaving
from campaignrec.experiments.simulation import TwoRankerShop

CONFIGS: list[dict[str, float]] = [
    {"noise_b": 0.8, "click_bias": -3.0, "activity_sigma": 1.0},
    {"noise_b": 1.0, "click_bias": -3.0, "activity_sigma": 1.0},
    {"noise_b": 0.8, "click_bias": -5.0, "activity_sigma": 1.5},
    {"noise_b": 1.0, "click_bias": -5.0, "activity_sigma": 1.5},
    {"noise_b": 0.8, "click_bias": -4.0, "activity_sigma": 1.5},
]
Z = float(stats.norm.ppf(0.975) + stats.norm.ppf(0.9))


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion ``k / n``."""
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5 / (1 + z * z / n)
    return centre - half, centre + half


def _n_one_sample(v: np.ndarray) -> float:
    return float((Z * v.std(ddof=1) / v.mean()) ** 2)


def sizes(shop: TwoRankerShop, seed: int, design_shoppers: int) -> dict[str, Any]:
    m = shop.ab_moments(50_000, seed)
    sd = ((m["var_a"] + m["var_b"]) / 2) ** 0.5
    n_ab = 2 * 2 * (Z * sd / m["difference"]) ** 2  # two arms
    ca, cb = shop.interleaved_credits(design_shoppers, seed + 1)
    d = cb - ca
    n_il = _n_one_sample(d)
    # the alternatives: a sign test (per-shopper win / loss / tie) and the credit share of the
    # shoppers who clicked (n counts every shopper shown a list, as for the others)
    n_sign = _n_one_sample(np.sign(d))
    tot = ca + cb
    share = np.where(tot > 0, d / np.maximum(tot, 1), 0.0)
    n_share = _n_one_sample(share)
    return {
        "ab_clicks_a": m["mean_a"],
        "ab_clicks_b": m["mean_b"],
        "ab_relative_difference": m["difference"] / m["mean_b"],
        "interleaving_preference": float(-d.mean() / (ca + cb).mean()),
        "ab_shoppers": int(np.ceil(n_ab)),
        "interleaving_shoppers": int(np.ceil(n_il)),
        "ratio": float(n_ab / n_il),
        "shoppers_with_a_click": float((tot > 0).mean()),
        "ratio_sign_test": float(n_ab / n_sign),
        "ratio_credit_share": float(n_ab / n_share),
    }


def verify(shop: TwoRankerShop, n_ab: int, replicates: int, seed: int) -> dict[str, Any]:
    n_fifth = n_ab // 5
    ab_right = il_right = 0
    for r in range(replicates):
        a, b = shop.ab_clicks(n_ab // 2, seed + 1000 + r)
        res = welch_t_test(b, a)  # A minus B
        ab_right += int(res.difference_ci[0] > 0)
        ca, cb = shop.interleaved_credits(n_fifth, seed + 100_000 + r)
        il_right += int(analyse_interleaving(ca, cb).better == "A")
    ab_lo, ab_hi = wilson(ab_right, replicates)
    il_lo, il_hi = wilson(il_right, replicates)
    return {
        "replicates": replicates,
        "ab_picks_a": ab_right / replicates,
        "ab_picks_a_ci": [ab_lo, ab_hi],
        "interleaving_fifth_shoppers": n_fifth,
        "interleaving_fifth_picks_a": il_right / replicates,
        "interleaving_fifth_picks_a_ci": [il_lo, il_hi],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--replicates", type=int, default=1000)
    ap.add_argument("--design-shoppers", type=int, default=50_000)
    ap.add_argument("--verify", action="store_true", help="run both designs at their sizes")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rows = []
    for i, cfg in enumerate(CONFIGS):
        t0 = time.perf_counter()
        shop = TwoRankerShop(**cfg)  # type: ignore[arg-type]
        row: dict[str, Any] = {**cfg, **sizes(shop, args.seed + 10 * i, args.design_shoppers)}
        if args.verify:
            row.update(verify(shop, row["ab_shoppers"], args.replicates, args.seed + 10 * i))
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
        print(
            f"noise_b {cfg['noise_b']:.1f} bias {cfg['click_bias']:.0f} sigma "
            f"{cfg['activity_sigma']:.1f}: clicks/list {row['ab_clicks_a']:.2f}, A/B needs "
            f"{row['ab_shoppers']:,}, interleaving {row['interleaving_shoppers']:,}, ratio "
            f"{row['ratio']:.2f} (sign test {row['ratio_sign_test']:.2f}, credit share "
            f"{row['ratio_credit_share']:.2f})"
            + (
                f"; picks A: A/B {row['ab_picks_a']:.1%}, interleaving with "
                f"{row['interleaving_fifth_shoppers']:,} {row['interleaving_fifth_picks_a']:.1%} "
                f"[{row['interleaving_fifth_picks_a_ci'][0]:.1%}, "
                f"{row['interleaving_fifth_picks_a_ci'][1]:.1%}]"
                if args.verify
                else ""
            ),
            flush=True,
        )
    out = {
        "benchmark": "experiments_interleaving",
        "created": datetime.now(UTC).isoformat(),
        "machine": {
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "cpus": os.cpu_count(),
        },
        "args": vars(args),
        "rows": rows,
    }
    path = Path(__file__).resolve().parent / "results" / "experiments_interleaving.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
