"""Data for the ranking benchmark's protocols D and E (see ``benchmarks/ranking.py``).

* D: The Complete Journey grocery baskets (``../shared/data/completejourney``): every
  transaction line a ``purchase`` event, each household's last 20 % of baskets (by time) as
  test. Repeat purchases are allowed in test: the headline table counts every distinct test
  item (new and bought before) with seen items allowed in every system's list; two more tables
  count only the items new to the household (seen items excluded, as in A-C) and only the items
  bought before (seen items allowed).
* E: small shops: 100, 200 and 400 users drawn from D's households and from the Taobao subset,
  10 seeds each, every shop run through its source protocol (D's basket split, B's last two
  days), and the distribution of the ratios reported.

Imported by ``ranking.py`` in the main venv only (the ``.venv-bench`` workers never see it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from campaignrec.data.interactions import Interactions
from campaignrec.evaluation.splits import Split


def load_completejourney(
    data: Path,
    *,
    households: int | None = None,
    min_buyers: int = 1,
    seed: int = 0,
) -> Interactions:
    """The Complete Journey as purchase events with the product category as item feature.

    ``households``: a seeded sample of that many households (None: all 2,469); ``min_buyers``:
    keep products bought by at least that many of the (sampled) households, so the catalogue
    stays within what a dense items x items model can hold on a small machine.
    """
    base = data / "completejourney"
    tx = pd.read_parquet(
        base / "transactions.parquet",
        columns=["household_id", "basket_id", "product_id", "transaction_timestamp"],
    )
    if households is not None:
        ids = np.sort(tx["household_id"].unique())
        if households < len(ids):
            keep = np.random.default_rng(seed).choice(ids, size=households, replace=False)
            tx = tx[tx["household_id"].isin(keep)]
    if min_buyers > 1:
        buyers = tx.groupby("product_id")["household_id"].nunique()
        tx = tx[tx["product_id"].isin(buyers.index[buyers >= min_buyers])]
    frame = pd.DataFrame(
        {
            "user_id": tx["household_id"].astype(str),
            "item_id": tx["product_id"].astype(str),
            "event_type": "purchase",
            "timestamp": pd.to_datetime(tx["transaction_timestamp"], utc=True),
            "session_id": tx["basket_id"].astype(str),
        }
    )
    prod = pd.read_parquet(base / "products.parquet", columns=["product_id", "product_category"])
    prod = prod[prod["product_id"].isin(tx["product_id"].unique())]
    items = pd.DataFrame(
        {
            "item_id": prod["product_id"].astype(str),
            "category": prod["product_category"].fillna("").astype(str),
        }
    )
    return Interactions.from_frame(frame, items=items, event_weights={"purchase": 1.0})


def basket_split(inter: Interactions, test_fraction: float = 0.2) -> Split:
    """Each user's last ``test_fraction`` of baskets (distinct timestamps) as test.

    A basket is one timestamp of one user (The Complete Journey stamps every line of a basket
    alike). Users with a single basket stay in train only. The split is labelled
    ``user_temporal`` so that validation is carved from train the same way by events.
    """
    u = inter.user_idx.astype(np.int64)
    t = inter.timestamp.astype(np.int64)
    key = pd.DataFrame({"u": u, "t": t})
    baskets = key.drop_duplicates().sort_values(["u", "t"])
    baskets["rank"] = baskets.groupby("u").cumcount()
    n = baskets.groupby("u")["t"].transform("size")
    n_test = np.where(n >= 2, np.maximum(1, np.round(n * test_fraction)), 0).astype(np.int64)
    baskets["test"] = baskets["rank"] >= (n - n_test)
    marked = key.merge(baskets[["u", "t", "test"]], on=["u", "t"], how="left")
    test = marked["test"].to_numpy(dtype=bool)
    return Split(
        "user_temporal",
        {"test_fraction": test_fraction},
        ~test,
        test,
        inter.snapshot_id,
    )


def sample_users(inter: Interactions, n: int, seed: int) -> Interactions:
    """A shop of ``n`` users drawn (seeded) from ``inter``, with their items' features."""
    active = inter.active_users
    rng = np.random.default_rng(seed)
    keep_users = rng.choice(active, size=min(n, len(active)), replace=False)
    rows = np.isin(inter.user_idx, keep_users)
    frame = pd.DataFrame(
        {
            "user_id": inter.users.ids[inter.user_idx[rows]].astype(str),
            "item_id": inter.items.ids[inter.item_idx[rows]].astype(str),
            "event_type": np.asarray(inter.event_types, dtype=object)[inter.event_code[rows]],
            "timestamp": inter.timestamp[rows].astype(np.int64),
        }
    )
    feats = inter.item_features
    items = None
    if "category" in feats.columns:
        used = np.unique(inter.item_idx[rows])
        items = pd.DataFrame(
            {
                "item_id": inter.items.ids[used].astype(str),
                "category": feats["category"].to_numpy()[used].astype(str),
            }
        )
    return Interactions.from_frame(frame, items=items, event_weights=dict(inter.event_weights))


def distribution(values: list[float]) -> dict[str, Any]:
    """Median, quartiles, extremes and the share at least 1.0 of a list of ratios."""
    a = np.asarray([v for v in values if np.isfinite(v)], dtype=np.float64)
    if not len(a):
        return {"n": 0}
    q1, med, q3 = np.percentile(a, [25, 50, 75])
    return {
        "n": len(a),
        "median": float(med),
        "q1": float(q1),
        "q3": float(q3),
        "min": float(a.min()),
        "max": float(a.max()),
        "mean": float(a.mean()),
        "share_at_least_1": float((a >= 1.0).mean()),
    }


def summarise_shops(
    shops: list[dict[str, Any]], sources: list[str], sizes: list[int]
) -> dict[str, Any]:
    """Per source and size: the distribution of the two ratios and paired tests over shops.

    The paired tests pair each shop's default NDCG@10 with that shop's best single reference
    (and best popularity variant), both picked on test: a Wilcoxon signed-rank test and a
    t-test on the per-shop differences (n = the shops that finished).
    """
    from scipy import stats

    def paired(a: list[float], b: list[float]) -> dict[str, Any]:
        x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        d = x - y
        out: dict[str, Any] = {"n": len(d), "mean_diff": float(d.mean()) if len(d) else None}
        if len(d) >= 2 and np.any(d != 0):
            out["p_t"] = float(stats.ttest_rel(x, y).pvalue)
            out["p_wilcoxon"] = float(stats.wilcoxon(x, y).pvalue)
        return out

    summary: dict[str, Any] = {}
    for src in sources:
        for n in sizes:
            rows = [r for r in shops if r["source"] == src and r["users"] == n and "error" not in r]
            ok = [r for r in rows if r.get("ndcg_default") is not None]
            summary[f"{src}{n}"] = {
                "ratio_ref": distribution([float(r["ratio_ref"]) for r in rows]),
                "ratio_pop": distribution([float(r["ratio_pop"]) for r in rows]),
                "paired_ref": paired([r["ndcg_default"] for r in ok], [r["ndcg_ref"] for r in ok]),
                "paired_pop": paired([r["ndcg_default"] for r in ok], [r["ndcg_pop"] for r in ok]),
                "significantly_worse_than_ref": sum(
                    r["ratio_ref"] < 1 and r["p_ref"] < 0.05 for r in rows
                ),
                "significantly_worse_than_pop": sum(
                    r["ratio_pop"] < 1 and r["p_pop"] < 0.05 for r in rows
                ),
                "chosen": sorted({str(r.get("chosen")) for r in rows}),
                "shops": len(rows),
                "failed": sum(
                    "error" in r for r in shops if r["source"] == src and r["users"] == n
                ),
            }
    return summary
