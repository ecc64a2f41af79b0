"""Shared benchmark plumbing: where the public data sets are, the plain event logs several scripts
read, and the machine description every result file records.

Every script takes ``--data DIR``; without it the data comes from ``$CAMPAIGNREC_DATA`` and then
``../shared/data`` beside the repository. Scripts import this module as a sibling
(``python benchmarks/<script>.py`` puts ``benchmarks/`` on the path).
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import pandas as pd

from campaignrec.data.interactions import Interactions

ROOT = Path(__file__).resolve().parents[1]
TAOBAO_EVENTS = {"pv": "view", "cart": "add_to_cart", "fav": "favorite", "buy": "purchase"}


def find_data(arg: str | None = None, needs: str = "") -> Path | None:
    """The first of ``--data``, ``$CAMPAIGNREC_DATA``, ``../shared/data`` holding ``needs``."""
    for cand in (arg, os.environ.get("CAMPAIGNREC_DATA"), str(ROOT.parent / "shared" / "data")):
        if cand and (Path(cand) / needs).exists():
            return Path(cand)
    return None


def data_dir(arg: str | None = None, needs: str = "", what: str = "data") -> Path:
    """Like :func:`find_data`, but a missing data set ends the script with a one-line message."""
    found = find_data(arg, needs)
    if found is None:
        raise SystemExit(f"{what} not found: pass --data DIR or set CAMPAIGNREC_DATA")
    return found


def load_ml100k_views(root: Path) -> Interactions:
    """MovieLens-100k, every rating one 'view' event (no features)."""
    df = pd.read_csv(root / "ml-100k" / "ml-100k.inter", sep="\t")
    df.columns = ["user_id", "item_id", "rating", "timestamp"]
    df["event_type"] = "view"
    return Interactions.from_frame(df)


def load_taobao_events(root: Path) -> Interactions:
    """The Taobao UserBehavior subset with its four behaviours mapped to event types."""
    df = pd.read_csv(
        root / "taobao" / "UserBehavior_subset_84k.csv",
        names=["user_id", "item_id", "category_id", "behavior", "timestamp"],
    )
    df = df.dropna(subset=["timestamp"])  # the subset's last line is cut short
    df["event_type"] = df["behavior"].map(TAOBAO_EVENTS)
    return Interactions.from_frame(df[["user_id", "item_id", "event_type", "timestamp"]])


def machine(load_start: tuple[float, float, float] | None = None) -> dict[str, Any]:
    """The machine a result was measured on, and how busy it was (1/5/15-min load averages)."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "mem_gib": round(memory / 2**30, 1),
        "loadavg_start": load_start,
        "loadavg_end": os.getloadavg(),
    }
