"""Benchmark: uplift-based vs response-based coupon allocation on the synthetic shop.

The synthetic shop records every (user, campaign) pair's true probability of buying a covered item
with and without the offer (``truth.campaign_effect``), so the expected incremental conversions of
any targeting can be computed exactly. The script

1. generates a shop whose campaign exposures are randomized (treatment / control holdout);
2. builds user features from the first half of the window (demographics, behaviour counts,
   category shares; nothing from the truth) and user x campaign features (category match,
   campaign type and discount);
3. learns, on exposures of the second half, uplift models (T-learner and X-learner from
   :mod:`campaignrec.campaigns.uplift`) and a response model (P(buy | offer shown), LightGBM
   on treated exposures, the "who responds" targeting);
4. allocates each budgeted campaign's coupons to its eligible users under the same budget:
   (a) fixed count: the same number of coupons per campaign (20 % of the eligible audience);
   (b) money budget: the campaign's budget against the expected cost (P(redeem) x cost per
   redemption, estimated by the response model for every strategy), with at most one coupon per
   user and one per exclusivity group across all campaigns (the greedy allocator);
5. reports the true incremental conversions (sum of true uplift of the chosen pairs), the true
   expected cost, and the ratio uplift-based / response-based; oracle rows (true uplift, true
   response) bound what any model could do.

It also measures, on the same shop: the greedy allocator against the exact MILP optimum on random
small instances (objective ratio and time); bundles (association rules from training orders,
hit rate of the partner on held-out orders vs popularity, planted pairs recovered); flash-sale
windows per shopper type against each type's planted peak hour. With ``--plot`` it saves the
incremental-conversions curves to ``benchmarks/results/allocation.png``.

Usage::

    .venv/bin/python benchmarks/allocation.py [--users 20000] [--events 1000000] [--seed 1]

Writes ``benchmarks/results/allocation.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from campaignrec.campaigns.allocation import AllocationProblem, check_feasible, greedy_allocate
from campaignrec.campaigns.catalog import covered_items, load_campaigns, unit_cost
from campaignrec.campaigns.exposures import exposure_outcomes
from campaignrec.data.synthetic import ShopConfig, generate_shop

RESULTS = Path(__file__).resolve().parent / "results"
TIERS = {"basic": 0, "silver": 1, "gold": 2, "platinum": 3}


def user_features(shop: Any, cutoff: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Observable user features from events before ``cutoff`` and the user table.

    Returns the numeric feature table (index user_id) and each user's share of item events per
    top-level category (for campaign match features).
    """
    users = shop.users.set_index("user_id")
    ev = shop.events[shop.events["timestamp"] < cutoff]
    f = pd.DataFrame(index=users.index)
    f["age"] = (cutoff.year - users["birth_year"]).astype(float)
    f["tier"] = users["membership_tier"].map(TIERS).astype(float)
    for g in ("female", "male"):
        f[f"gender_{g}"] = (users["gender"] == g).astype(float)
    for r in sorted(users["region"].dropna().unique()):
        f[f"region_{r}"] = (users["region"] == r).astype(float)
    f["tenure_days"] = (cutoff - pd.to_datetime(users["signup_time"], utc=True)).dt.days.astype(
        float
    )
    counts = ev.groupby(["user_id", "event_type"]).size().unstack(fill_value=0)
    for col in counts.columns:
        f[f"n_{col}"] = np.log1p(counts[col].reindex(f.index).fillna(0.0))
    f["n_sessions"] = np.log1p(ev.groupby("user_id")["session_id"].nunique().reindex(f.index))
    buys = ev[ev["event_type"] == "purchase"]
    f["revenue"] = np.log1p(buys.groupby("user_id")["revenue"].sum().reindex(f.index))
    f["mean_price"] = ev.groupby("user_id")["price"].mean().reindex(f.index)
    last = ev.groupby("user_id")["timestamp"].max().reindex(f.index)
    f["recency_days"] = (cutoff - last).dt.days.astype(float)
    imp = ev[ev["event_type"] == "campaign_impression"].groupby("user_id").size()
    red = ev[ev["event_type"] == "coupon_redeem"].groupby("user_id").size()
    f["redeem_rate"] = (red.reindex(f.index).fillna(0) / imp.reindex(f.index)).astype(float)
    top = shop.items.set_index("item_id")["category"].astype(str).str.split("/").str[0]
    item_ev = ev[ev["item_id"].notna()]
    tops = item_ev["item_id"].map(top)
    share = pd.crosstab(item_ev["user_id"], tops, normalize="index").reindex(f.index).fillna(0.0)
    return f.fillna(-1.0), share


def campaign_matrix(
    catalog: Any, items: pd.DataFrame, share: pd.DataFrame
) -> tuple[dict[str, dict[str, float]], pd.DataFrame]:
    """Per-campaign features and the user x campaign category-match table."""
    top = items.set_index("item_id")["category"].astype(str).str.split("/").str[0]
    feats: dict[str, dict[str, float]] = {}
    match = pd.DataFrame(index=share.index)
    types = sorted({c.type for c in catalog})
    for c in catalog:
        cov = covered_items(c, items)
        tops = top.reindex(cov).value_counts(normalize=True)
        weights = tops.reindex(share.columns).fillna(0.0)
        match[c.campaign_id] = share.to_numpy() @ weights.to_numpy()
        rec = {f"type_{t}": float(c.type == t) for t in types}
        rec["pct_off"] = c.discount_value if c.discount_type == "percent" else 0.0
        rec["amount_off"] = c.discount_value if c.discount_type == "amount" else 0.0
        rec["n_covered"] = float(np.log1p(len(cov)))
        feats[c.campaign_id] = rec
    return feats, match


def design(
    pairs: pd.DataFrame, uf: pd.DataFrame, cf: dict[str, dict[str, float]], match: pd.DataFrame
) -> np.ndarray:
    """Feature rows for (user_id, campaign_id) pairs."""
    u = uf.reindex(pairs["user_id"]).to_numpy(float)
    c = pd.DataFrame([cf[cid] for cid in pairs["campaign_id"]]).to_numpy(float)
    col = match.columns.get_indexer(pairs["campaign_id"])
    row = match.index.get_indexer(pairs["user_id"])
    m = match.to_numpy()[row, col][:, None]
    return np.hstack([u, c, m, u[:, :0]])


def fit_response(X: np.ndarray, y: np.ndarray, seed: int) -> tuple[Any, str]:
    """P(buy | offer shown): campaignrec's calibrated ResponseModel when present, else LightGBM."""
    try:
        from campaignrec.campaigns.response import ResponseModel
    except ImportError:
        model = lgb.LGBMClassifier(
            n_estimators=200,
            learning_rate=0.05,
            num_leaves=15,
            min_child_samples=50,
            random_state=seed,
            verbose=-1,
            n_jobs=1,
        )
        return model.fit(X, y), "lightgbm (uncalibrated)"
    return ResponseModel(random_state=seed).fit(X, y), "campaignrec ResponseModel (isotonic)"


def response_proba(model: Any, X: np.ndarray) -> np.ndarray:
    p = np.asarray(model.predict_proba(X), dtype=float)
    return p[:, 1] if p.ndim == 2 else p


def greedy_vs_exact(seed: int, n: int = 40) -> dict[str, float]:
    """Greedy objective / exact objective on random instances shaped like coupon allocation."""
    from campaignrec.campaigns.allocation import exact_allocate, expected_value_and_cost

    rng = np.random.default_rng(seed)
    ratios, tg, te = [], 0.0, 0.0
    for _ in range(n):
        n_u, n_c = 60, 4
        pc = rng.uniform(0.01, 0.25, (n_u, n_c))
        pt = np.clip(pc + rng.normal(0.05, 0.06, (n_u, n_c)), 0, 1)
        value, cost = expected_value_and_cost(pc, pt, 40.0, 1.0, rng.uniform(2, 8, n_c))
        prob = AllocationProblem(
            value,
            cost,
            rng.random((n_u, n_c)) > 0.15,
            budget=rng.uniform(5, 20, n_c),
            inventory=rng.integers(5, 25, n_c).astype(float),
            max_per_user=1,
            groups=["g", "g", None, "h"],
        )
        t = time.perf_counter()
        g = greedy_allocate(prob)
        tg += time.perf_counter() - t
        t = time.perf_counter()
        e = exact_allocate(prob)
        te += time.perf_counter() - t
        if e.objective > 0:
            ratios.append(g.objective / e.objective)
    r = np.asarray(ratios)
    return {
        "instances": float(len(r)),
        "mean_ratio": float(r.mean()),
        "min_ratio": float(r.min()),
        "equal_share": float((r > 1 - 1e-9).mean()),
        "greedy_ms": 1000 * tg / n,
        "exact_ms": 1000 * te / n,
    }


def bundle_section(shop: Any, seed: int) -> dict[str, float]:
    """Association-rule complements evaluated on held-out orders."""
    from campaignrec.campaigns.bundles import (
        association_rules,
        complementary_items,
        evaluate_bundles,
        order_baskets,
        split_baskets,
    )

    baskets = order_baskets(shop.events)
    train_b, test_b = split_baskets(baskets, test_share=0.2, seed=seed)
    comp = complementary_items(association_rules(train_b, min_count=3), k=1)
    res = evaluate_bundles(train_b, test_b, comp)
    planted = shop.truth.complementary_pairs
    pairs = zip(planted["item_a"], planted["item_b"], strict=True)
    found = [comp.get(str(a), [("", 0.0)])[0][0] == str(b) for a, b in pairs]
    res["planted_recovered"] = float(np.mean(found)) if found else float("nan")
    res["planted_pairs"] = float(len(found))
    return res


def timing_section(shop: Any) -> dict[str, Any]:
    """Recommended windows per shopper type vs the planted peak hours."""
    from campaignrec.campaigns.timing import activity_heatmaps, recommend_flash_sale_windows

    cfg = shop.config
    half = pd.Timestamp(cfg.start + (cfg.end - cfg.start) / 2)
    ev = shop.events[shop.events["timestamp"] < half]
    types = shop.truth.user_type
    heat = activity_heatmaps(ev, types)
    heat.pop("all")
    rec = recommend_flash_sale_windows(heat, top=1, min_concentration=1.5)
    params = shop.truth.user_params.set_index("user_id")
    peak_col = next((c for c in params.columns if "peak" in c), None)
    rows = []
    for r in rec.to_dict(orient="records"):
        peak = (
            float(params.loc[params["user_type"] == r["segment"], peak_col].mean())
            if peak_col
            else float("nan")
        )
        start, dur = r["start_hour"], r["duration_hours"]
        inside = (peak - start) % 24 < dur if np.isfinite(peak) else False
        rows.append({**r, "planted_peak_hour": peak, "peak_in_window": bool(inside)})
    return {"windows": rows}


def plot_curves(
    pairs: pd.DataFrame, scores: dict[str, np.ndarray], true_up: np.ndarray, path: Path
) -> None:
    """Cumulative true incremental conversions as coupons go to the top-ranked pairs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    x = np.arange(1, len(true_up) + 1) / len(true_up)
    for name, s in scores.items():
        order = np.argsort(-s, kind="stable")
        ax.plot(
            x,
            np.cumsum(true_up[order]),
            label=name,
            linestyle="--" if name.startswith("oracle") else "-",
        )
    ax.set_xlabel("share of eligible (user, campaign) pairs given a coupon")
    ax.set_ylabel("true incremental conversions")
    ax.set_title("Uplift vs response targeting (synthetic shop, true uplift)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--items", type=int, default=1_000)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--share", type=float, default=0.2, help="coupons per campaign / eligible")
    ap.add_argument("--out", type=Path, default=RESULTS / "allocation.json")
    ap.add_argument("--plot", action="store_true", help="save the curves as a PNG")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    cfg = ShopConfig(
        n_users=args.users,
        n_items=args.items,
        n_events=args.events,
        seed=args.seed,
        impression_rate=1.0,
    )
    shop = generate_shop(cfg)
    t_gen = time.perf_counter() - t0
    catalog = load_campaigns(shop.campaigns)
    cutoff = pd.Timestamp(cfg.start + (cfg.end - cfg.start) / 2)
    uf, share = user_features(shop, cutoff)
    cf, match = campaign_matrix(catalog, shop.items, share)

    out = exposure_outcomes(shop.events, catalog, shop.items)
    train = out[out["timestamp"] >= cutoff].reset_index(drop=True)
    X = design(train, uf, cf, match)
    w = train["treated"].to_numpy(int)
    y = train["outcome"].to_numpy(int)
    print(
        f"shop: {len(shop.events):,} events, {len(train):,} exposures after {cutoff:%Y-%m-%d} "
        f"({w.mean():.0%} treated), generated in {t_gen:.1f}s"
    )

    from campaignrec.campaigns.uplift import TLearner, XLearner

    learners = {
        "uplift: T-learner": TLearner(random_state=args.seed),
        "uplift: X-learner": XLearner(random_state=args.seed),
    }
    t1 = time.perf_counter()
    for model in learners.values():
        model.fit(X, w, y)
    response, response_kind = fit_response(X[w == 1], y[w == 1], args.seed)
    t_fit = time.perf_counter() - t1

    truth = shop.truth.campaign_effect
    budgeted = [
        c for c in catalog if c.budget is not None and c.campaign_id in set(train.campaign_id)
    ]
    pairs = truth[truth["eligible"] & truth["campaign_id"].isin([c.campaign_id for c in budgeted])]
    pairs = pairs.reset_index(drop=True)
    Xp = design(pairs, uf, cf, match)
    est_pt = response_proba(response, Xp)
    scores: dict[str, np.ndarray] = {name: m.predict_uplift(Xp) for name, m in learners.items()}
    scores["response model"] = est_pt
    scores["oracle uplift"] = pairs["uplift"].to_numpy()
    scores["oracle response"] = pairs["p_treated"].to_numpy()
    rng = np.random.default_rng(args.seed)
    scores["random"] = rng.random(len(pairs))
    true_up = pairs["uplift"].to_numpy()
    true_pt = pairs["p_treated"].to_numpy()
    unit = pairs["campaign_id"].map({c.campaign_id: unit_cost(c, 100.0) for c in budgeted})
    unit = unit.to_numpy(float)

    # (a) the same number of coupons per campaign
    fixed: dict[str, dict[str, float]] = {}
    for name, s in scores.items():
        inc = cost = n = 0.0
        for c in budgeted:
            idx = np.flatnonzero(pairs["campaign_id"].to_numpy() == c.campaign_id)
            k = round(args.share * len(idx))
            pick = idx[np.argsort(-s[idx], kind="stable")[:k]]
            inc += true_up[pick].sum()
            cost += (true_pt[pick] * unit[pick]).sum()
            n += k
        fixed[name] = {"coupons": n, "incremental_conversions": inc, "true_expected_cost": cost}

    # (b) money budgets, one coupon per user, exclusivity groups: the greedy allocator
    users = pd.Index(pairs["user_id"].unique())
    cids = [c.campaign_id for c in budgeted]
    ui = users.get_indexer(pairs["user_id"])
    ci = pd.Index(cids).get_indexer(pairs["campaign_id"])
    shape = (len(users), len(cids))

    def grid(v: np.ndarray, fill: float = 0.0) -> np.ndarray:
        g = np.full(shape, fill)
        g[ui, ci] = v
        return g

    elig = np.zeros(shape, bool)
    elig[ui, ci] = True
    budget = np.array([float(c.budget or 0.0) for c in budgeted])
    groups = [c.exclusivity_group for c in budgeted]
    est_cost = grid(est_pt * unit)
    true_cost_g = grid(true_pt * unit)
    money: dict[str, dict[str, float]] = {}
    for name, s in scores.items():
        is_uplift = name.startswith("uplift") or name == "oracle uplift"
        cost_g = true_cost_g if name.startswith("oracle") else est_cost
        if is_uplift:
            prob = AllocationProblem(grid(s), cost_g, elig, budget, None, 1, groups)
            alloc = greedy_allocate(prob, name=name)
        else:
            prob = AllocationProblem(grid(true_up), cost_g, elig, budget, None, 1, groups)
            alloc = greedy_allocate(prob, priority=grid(s, -np.inf), only_positive=False, name=name)
        assert not check_feasible(prob, alloc), check_feasible(prob, alloc)
        a = alloc.assign
        money[name] = {
            "coupons": float(a.sum()),
            "incremental_conversions": float(grid(true_up)[a].sum()),
            "true_expected_cost": float(true_cost_g[a].sum()),
            "planned_cost": float(cost_g[a].sum()),
        }

    def ratio(table: dict[str, dict[str, float]], a: str, b: str) -> float:
        return table[a]["incremental_conversions"] / table[b]["incremental_conversions"]

    summary = {
        "fixed_count_ratio_T_vs_response": ratio(fixed, "uplift: T-learner", "response model"),
        "fixed_count_ratio_X_vs_response": ratio(fixed, "uplift: X-learner", "response model"),
        "money_budget_ratio_T_vs_response": ratio(money, "uplift: T-learner", "response model"),
        "money_budget_ratio_X_vs_response": ratio(money, "uplift: X-learner", "response model"),
        "oracle_ratio_fixed": ratio(fixed, "oracle uplift", "oracle response"),
        "oracle_ratio_money": ratio(money, "oracle uplift", "oracle response"),
    }
    print(
        f"\ncampaigns: {', '.join(cids)}; eligible pairs {len(pairs):,}; fit {t_fit:.1f}s; "
        f"response model: {response_kind}"
    )
    for title, table in (
        ("(a) same number of coupons (20% of each audience)", fixed),
        ("(b) same money budgets, 1 coupon/user, exclusivity", money),
    ):
        print(f"\n{title}")
        print(
            f"{'strategy':<20} {'coupons':>8} {'incr. conv.':>12} {'true cost':>11} {'conv/1k':>8}"
        )
        for name, r in table.items():
            per_k = 1000 * r["incremental_conversions"] / max(r["true_expected_cost"], 1e-9)
            print(
                f"{name:<20} {r['coupons']:>8.0f} {r['incremental_conversions']:>12.1f} "
                f"{r['true_expected_cost']:>11.0f} {per_k:>8.2f}"
            )
    print()
    for k, v in summary.items():
        print(f"{k:<36} {v:.2f}x")
    exact_vs_greedy = greedy_vs_exact(args.seed)
    bundles = bundle_section(shop, args.seed)
    timing = timing_section(shop)
    print("\n(c) greedy vs exact (scipy milp) on 40 random instances of 60 users x 4 campaigns")
    print(
        f"objective ratio greedy/exact: mean {exact_vs_greedy['mean_ratio']:.4f}, "
        f"min {exact_vs_greedy['min_ratio']:.4f}, equal on {exact_vs_greedy['equal_share']:.0%}; "
        f"time greedy {exact_vs_greedy['greedy_ms']:.1f} ms, exact {exact_vs_greedy['exact_ms']:.1f} ms"
    )
    print("\n(d) bundles on held-out orders (20% of orders)")
    print(
        f"hit rate {bundles['hit_rate']:.3f} vs popularity {bundles['popularity_hit_rate']:.3f} "
        f"({bundles['cases']:.0f} cases, coverage {bundles['coverage']:.0%}); planted pairs "
        f"recovered as top partner: {bundles['planted_recovered']:.0%}"
    )
    print("\n(e) flash-sale windows per shopper type (heatmaps of the first half)")
    for row in timing["windows"]:
        print(
            f"{row['segment']:<18} {row['weekday_name']} {row['start_hour']:02d}:00 "
            f"+{row['duration_hours']}h  share {row['activity_share']:.2f} "
            f"conc {row['concentration']:.1f}  planted peak {row['planted_peak_hour']:.1f}h "
            f"({'inside' if row['peak_in_window'] else 'outside'} the window)"
        )
    if args.plot:
        plot_curves(pairs, scores, true_up, RESULTS / "allocation.png")
    result = {
        "benchmark": "allocation",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python benchmarks/allocation.py " + " ".join(argv or sys.argv[1:]),
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "config": {
            "users": args.users,
            "items": args.items,
            "events": args.events,
            "seed": args.seed,
            "share": args.share,
        },
        "exposures": len(train),
        "campaigns": cids,
        "eligible_pairs": len(pairs),
        "fixed_count": fixed,
        "money_budget": money,
        "summary": summary,
        "greedy_vs_exact": exact_vs_greedy,
        "bundles": bundles,
        "timing": timing,
        "seconds": {"generate": t_gen, "fit": t_fit, "total": time.perf_counter() - t0},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
