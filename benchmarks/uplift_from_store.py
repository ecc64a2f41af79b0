"""Benchmark: campaign plans with the uplift model learned from the store's own exposures
(``campaignrec uplift --from-store``) against the per-segment fallback, judged by the truth.

The synthetic shop records each (user, campaign) pair's true probability of buying a covered item
with and without the offer, so any set of recipients has a known expected number of incremental
conversions (the sum of their true uplift) and a known expected cost (true P(buy | offer) x
(cost per redemption + discount)). The script

1. generates the demo's shop (3,000 shoppers, 600 items, 150,000 events, seed 0 by default),
   imports it into a fresh store and computes the profiles (what ``campaignrec demo`` does);
2. fits the campaign models on the store's logged exposures (``fit_campaign_models``);
3. plans every campaign with a budget, objective "conversions" (the most incremental
   conversions the budget buys), once with the store-trained model and once with the fallback;
4. reports, for each plan's uplift selection, the true incremental conversions and true cost,
   and, under the same true budget, random targeting, response targeting by the true P(buy |
   offer) and the oracle (true uplift per unit of true cost).

Usage::

    .venv/bin/python benchmarks/uplift_from_store.py [--users 3000] [--events 150000] [--seed 0]

Writes ``benchmarks/results/uplift_from_store.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from campaignrec.campaigns.audience import audience_of
from campaignrec.config import load_settings
from campaignrec.data.importer import import_frame
from campaignrec.data.synthetic import ShopConfig, generate_shop
from campaignrec.pipeline.campaigns import load_catalog, plan_for
from campaignrec.pipeline.profiles import compute_profiles
from campaignrec.pipeline.uplift import campaign_models_dir, fit_campaign_models
from campaignrec.store.sql import SQLStore

RESULTS = Path(__file__).resolve().parent / "results"


def _true_cost(campaign: Any, t: pd.DataFrame, order_value: float = 50.0) -> pd.Series:
    kind = str(campaign.discount_type)
    discount = (
        campaign.discount_value / 100.0 * order_value
        if kind == "percent"
        else float(campaign.discount_value)
        if kind == "amount"
        else 0.0
    )
    return t["p_treated"] * (campaign.cost_per_redemption + discount)


def _fill(order: np.ndarray, cost: pd.Series, budget: float) -> np.ndarray:
    spent = cost.loc[order].cumsum().to_numpy()
    return order[spent <= budget]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=3000)
    ap.add_argument("--items", type=int, default=600)
    ap.add_argument("--events", type=int, default=150_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    shop = generate_shop(
        ShopConfig(
            n_users=args.users, n_items=args.items, n_events=args.events, days=60, seed=args.seed
        )
    )
    home = Path(tempfile.mkdtemp(prefix="uplift-bench-"))
    settings = load_settings(home)
    store = SQLStore(settings.resolved_database_url)
    for entity in ("users", "items", "campaigns", "events"):
        import_frame(store, entity, getattr(shop, entity))
    compute_profiles(store, home / "profiles")
    started = time.perf_counter()
    models = fit_campaign_models(store, campaign_models_dir(home), seed=args.seed)
    fit_s = time.perf_counter() - started
    truth = shop.truth.campaign_effect
    now = datetime.now(UTC)
    rows = []
    rng = np.random.default_rng(args.seed)
    for c in load_catalog(store):
        if c.budget is None:
            continue
        t = truth[truth["campaign_id"] == c.campaign_id].set_index("user_id")
        cost = _true_cost(c, t)
        row: dict[str, Any] = {"campaign_id": c.campaign_id, "budget": c.budget}
        for name, kw in (
            ("store_model", {"models_dir": campaign_models_dir(home)}),
            ("fallback", {}),
        ):
            plan = plan_for(store, c.campaign_id, now=now, objective="conversions", **kw)
            sel = (
                plan.recipients["user_id"].astype(str).to_numpy()
                if plan.recipients is not None
                else []
            )
            row[name] = float(t.loc[sel, "uplift"].sum())
            row[f"{name}_reach"] = len(sel)
            row[f"{name}_true_cost"] = float(cost.loc[sel].sum())
        aud = np.asarray(audience_of(c, plan.attributes or {}), dtype=object)
        ta = t.loc[aud]
        row["random"] = float(t.loc[_fill(rng.permutation(aud), cost, c.budget), "uplift"].sum())
        by_p = ta.sort_values("p_treated", ascending=False).index.to_numpy(dtype=object)
        row["response_true"] = float(t.loc[_fill(by_p, cost, c.budget), "uplift"].sum())
        ratio = (ta["uplift"] / cost.loc[aud]).sort_values(ascending=False)
        oracle = ratio[ratio > 0].index.to_numpy(dtype=object)
        row["oracle"] = float(t.loc[_fill(oracle, cost, c.budget), "uplift"].sum())
        rows.append(row)
    df = pd.DataFrame(rows)
    total = df[["store_model", "fallback", "random", "response_true", "oracle"]].sum()
    cols = ["campaign_id", "store_model", "fallback", "random", "response_true", "oracle",
            "store_model_reach", "fallback_reach"]  # fmt: skip
    print(df[cols].round(1).to_string(index=False))
    print("total", total.round(1).to_dict())
    print(
        f"fit {fit_s:.1f} s on {models.meta['rows']:,} exposures; holdout {models.meta['holdout']}"
    )
    RESULTS.mkdir(exist_ok=True)
    out = {
        "command": "benchmarks/uplift_from_store.py "
        + " ".join(f"--{k} {v}" for k, v in vars(args).items()),
        "machine": {"python": platform.python_version(), "cpu": platform.processor()},
        "created": now.isoformat(),
        "exposures": models.meta["rows"],
        "fit_seconds": fit_s,
        "holdout": models.meta["holdout"],
        "campaigns": rows,
        "total": {k: float(v) for k, v in total.items()},
    }
    (RESULTS / "uplift_from_store.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
