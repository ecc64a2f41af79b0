"""Render the Markdown tables of docs/benchmarks/ranking.md from ranking.py's JSON results.

    python benchmarks/ranking_tables.py [--results benchmarks/results] [--protocols A B C]

Prints a summary table (ours chosen on validation vs the best reference on test, and what
``campaignrec train`` picks by itself) and one leaderboard per protocol, to paste into the docs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _f(value: Any, digits: int = 4) -> str:
    return "" if value is None else f"{float(value):.{digits}f}"


def summary(payloads: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| protocol | ours (chosen on validation) | best reference (on test) | ratio | paired t p "
        "| Wilcoxon p | target (>= 1.05, p < 0.05) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, d in payloads.items():
        v = d.get("verdict") or {}
        if not v:
            continue
        lines.append(
            f"| {name} {d['protocol']['title']} | {v['ours_selected_on_validation']}: "
            f"**{_f(v['ours_ndcg@10'])}** | {v['best_reference_on_test']}: {_f(v['reference_ndcg@10'])} "
            f"| **{v['ratio']:.3f}** | {v['p_value_t']:.2g} | {v['p_value_wilcoxon']:.2g} "
            f"| {'met' if v['target_met'] else 'not met'} |"
        )
    defaults = [
        (n, t)
        for n, d in payloads.items()
        for t in (d.get("verdict") or {}).get("train_defaults", [])
    ]
    if defaults:
        lines += [
            "",
            "What `campaignrec train` (no model named) picks by itself on each protocol's train, "
            "with its own validation split:",
            "",
            "| protocol | command | chosen | NDCG@10 | ratio to the best reference | paired t p |",
            "|---|---|---|---|---|---|",
        ]
        for n, t in defaults:
            command = t["model"].replace("campaignrec train default", "`campaignrec train`")
            command = command.replace("(select_default)", "").strip()
            lines.append(
                f"| {n} | {command} | {t.get('chosen')} | {_f(t['ndcg@10'])} | {t['ratio']:.3f} "
                f"| {t['p_value_t']:.2g} |"
            )
    return "\n".join(lines)


def leaderboard(name: str, d: dict[str, Any]) -> str:
    fam = d.get("family", {})
    val = d.get("validation_ndcg@10", {})
    out = [
        f"#### Protocol {name}: {d['protocol']['title']}",
        "",
        f"{d['n_users_evaluated']} users evaluated, {d['n_items']} items. Command: "
        f"`{d['command']}`, {d['date']}.",
        "",
        "| system | kind | NDCG@10 [95% CI] | NDCG@20 | Recall@10 | HR@10 | coverage@10 | fit s "
        "| recommend-all s | validation NDCG@10 |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in d["leaderboard"]:
        m = r["model"]
        out.append(
            f"| {m} | {fam.get(m, '')} | {_f(r['ndcg@10'])} [{_f(r['ci_low'])}, {_f(r['ci_high'])}] "
            f"| {_f(r['ndcg@20'])} | {_f(r['recall@10'])} | {_f(r['hit_rate@10'])} "
            f"| {_f(r['coverage@10'], 3)} | {_f(r['fit_s'], 1)} | {_f(r['recommend_s'], 2)} "
            f"| {_f(val.get(m))} |"
        )
    v = d.get("verdict") or {}
    if v:
        lo, hi = v["diff_ci"]
        out += [
            "",
            f"Verdict: ours = **{v['ours_selected_on_validation']}** (chosen on validation) "
            f"{_f(v['ours_ndcg@10'])} vs best reference **{v['best_reference_on_test']}** "
            f"{_f(v['reference_ndcg@10'])}: ratio **{v['ratio']:.3f}**, paired t-test p = "
            f"{v['p_value_t']:.2g}, Wilcoxon p = {v['p_value_wilcoxon']:.2g}, 95% CI of the "
            f"difference [{lo:+.4f}, {hi:+.4f}] -> target {'met' if v['target_met'] else 'NOT met'}.",
        ]
    o = d.get("implicit_overhead") or {}
    if o:
        out += [
            "",
            f"implicit ALS through campaignrec vs direct (same parameters, median of {o['repeats']}): "
            f"fit {o['ours_fit']:.2f}s vs {o['direct_fit']:.2f}s (x{o['fit_ratio']:.2f}), "
            f"recommend-all {o['ours_rec']:.2f}s vs {o['direct_rec']:.2f}s (x{o['recommend_ratio']:.2f}).",
        ]
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--protocols", nargs="+", default=["A", "B", "C"])
    args = ap.parse_args()
    payloads = {}
    for p in args.protocols:
        f = Path(args.results) / f"ranking_{p}.json"
        if f.exists():
            payloads[p] = json.loads(f.read_text())
    print(summary(payloads))
    for name, d in payloads.items():
        print()
        print(leaderboard(name, d))


if __name__ == "__main__":
    main()
