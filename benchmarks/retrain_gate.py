"""The retrain gate on the demo's shop: the default model is trained on all but the last days,
then those days arrive and ``retrain`` runs (gate, incremental profiles, campaign models); a
second run offers a deliberately broken candidate (item KNN learned from shuffled items).

Usage::

    .venv/bin/python benchmarks/retrain_gate.py [--users 3000] [--events 150000] [--days-new 7]

Writes ``benchmarks/results/retrain_gate.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from campaignrec.config import load_settings
from campaignrec.data.importer import import_frame
from campaignrec.data.synthetic import ShopConfig, generate_shop
from campaignrec.models.knn import ItemKNN
from campaignrec.pipeline import train
from campaignrec.pipeline.profiles import compute_profiles, profiles_dir
from campaignrec.pipeline.retrain import retrain
from campaignrec.store.sql import SQLStore

RESULTS = Path(__file__).resolve().parent / "results"


class ShuffledItemKNN(ItemKNN):
    """Item KNN learned from the log with the items shuffled: a broken candidate."""

    def fit(self, interactions: Any) -> Any:
        perm = np.random.default_rng(7).permutation(interactions.n_items).astype(np.int32)
        return super().fit(dataclasses.replace(interactions, item_idx=perm[interactions.item_idx]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=3000)
    ap.add_argument("--items", type=int, default=600)
    ap.add_argument("--events", type=int, default=150_000)
    ap.add_argument("--days-new", type=float, default=7.0)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    shop = generate_shop(
        ShopConfig(n_users=args.users, n_items=args.items, n_events=args.events, seed=args.seed)
    )
    ts = pd.to_datetime(shop.events["timestamp"], utc=True)
    cut = ts.max() - pd.Timedelta(days=args.days_new)
    home = Path(tempfile.mkdtemp(prefix="retrain-gate-"))
    settings = load_settings(home)
    store = SQLStore(settings.resolved_database_url)
    for entity in ("users", "items", "campaigns"):
        import_frame(store, entity, getattr(shop, entity))
    import_frame(store, "events", shop.events[ts < cut])
    compute_profiles(store, profiles_dir(home))
    first = train(store, settings, None, tune_trials=1, seed=args.seed)
    new = shop.events[ts >= cut]
    import_frame(store, "events", new)
    runs = {}
    for name, kwargs in (("fresh data", {}), ("broken candidate", {"candidate": ShuffledItemKNN,
                                                                   "force": True})):  # fmt: skip
        started = time.perf_counter()
        r = retrain(store, settings, **kwargs)  # type: ignore[arg-type]
        runs[name] = r.to_dict() | {"wall_seconds": time.perf_counter() - started}
        print(f"{name}: {r.outcome} ({runs[name]['wall_seconds']:.0f} s)")
        print("  " + r.sentence["en"])
        print("  " + r.sentence["zh"])
    RESULTS.mkdir(exist_ok=True)
    out = {"command": "benchmarks/retrain_gate.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()),
        "first_model": first.name, "new_events": len(new), "runs": runs}  # fmt: skip
    (RESULTS / "retrain_gate.json").write_text(json.dumps(out, indent=2, default=str))


if __name__ == "__main__":
    main()
