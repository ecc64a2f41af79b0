"""PNG plots of profiles and analytics (matplotlib, Agg backend, English labels)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from campaignrec.profiles.segments import SegmentModel, silhouette_curve

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _save(fig: Any, path: str | Path) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(p, dpi=110)
    plt.close(fig)
    return p


def plot_silhouette(model: SegmentModel, path: str | Path) -> Path:
    """Silhouette and stability against k, the chosen k and the stability bar marked."""
    curve = silhouette_curve(model)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(curve["k"], curve["silhouette"], marker="o", label="silhouette")
    ax.axvline(model.k_, color="tab:red", linestyle="--", label=f"chosen k = {model.k_}")
    ax.set_xlabel("number of segments k")
    ax.set_ylabel("silhouette")
    if curve["stability"].notna().any():
        ax2 = ax.twinx()
        ax2.plot(curve["k"], curve["stability"], marker="s", color="tab:green", label="stability")
        ax2.axhline(model.config.min_stability, color="tab:green", linestyle=":", linewidth=1)
        ax2.set_ylabel("stability (ARI of 80 % refits)")
        ax2.legend(loc="lower right")
    ax.legend(loc="upper left")
    return _save(fig, path)


def plot_segments(profiles: pd.DataFrame, model: SegmentModel, path: str | Path) -> Path:
    """Segment sizes and the standardised centroids (a heatmap of z-scores)."""
    table = model.table()
    order = {s: i for i, s in enumerate(model.segment_ids_)}
    z = np.array([model.centroids_[order[s]] for s in table["segment"]])
    sizes = profiles["segment"].value_counts().reindex(table["segment"], fill_value=0)
    labels = [f"{s}: {n}" for s, n in zip(table["segment"], table["name_en"], strict=True)]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 0.5 * len(labels) + 2.5), width_ratios=[1, 3])
    a1.barh(labels, sizes.to_numpy())
    a1.invert_yaxis()
    a1.set_xlabel("users")
    im = a2.imshow(z, cmap="RdBu_r", vmin=-2.5, vmax=2.5, aspect="auto")
    a2.set_xticks(range(len(model.features_)), model.features_, rotation=60, ha="right", fontsize=8)
    a2.set_yticks(range(len(labels)), [""] * len(labels))
    fig.colorbar(im, ax=a2, label="centroid z-score")
    return _save(fig, path)


def plot_funnel(table: pd.DataFrame, path: str | Path, *, max_groups: int = 12) -> Path:
    """Stage counts per group (log scale) from :func:`~campaignrec.profiles.analytics.funnel`."""
    key = table.columns[0]
    stages = [c for c in table.columns[1:5]]
    t = table.head(max_groups)
    fig, ax = plt.subplots(figsize=(max(6, 1.0 * len(t) + 3), 4))
    width = 0.8 / len(stages)
    x = np.arange(len(t))
    for i, st in enumerate(stages):
        ax.bar(x + i * width, t[st].to_numpy(float) + 1e-9, width, label=st)
    ax.set_xticks(x + 0.4 - width / 2, t[key].astype(str), rotation=30, ha="right")
    ax.set_yscale("log")
    ax.set_ylabel("count")
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_heatmaps(heatmap: pd.DataFrame, path: str | Path, *, max_segments: int = 9) -> Path:
    """One weekday x hour heatmap per segment, from :func:`~campaignrec.profiles.analytics.activity_heatmap`."""
    segs = list(heatmap["segment"].drop_duplicates())[:max_segments]
    cols = min(3, max(len(segs), 1))
    rows = int(np.ceil(max(len(segs), 1) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 2.4 * rows), squeeze=False)
    for ax in axes.ravel()[len(segs) :]:
        ax.axis("off")
    for ax, seg in zip(axes.ravel(), segs, strict=False):
        h = heatmap[heatmap["segment"] == seg].pivot(
            index="weekday", columns="hour", values="share"
        )
        ax.imshow(h.to_numpy(float), aspect="auto", cmap="viridis")
        ax.set_title(str(seg), fontsize=9)
        ax.set_yticks(range(7), WEEKDAYS, fontsize=7)
        ax.set_xticks(range(0, 24, 3), [str(x) for x in range(0, 24, 3)], fontsize=7)
    return _save(fig, path)


def plot_rules(pairs: pd.DataFrame, path: str | Path) -> Path:
    """Lift of the top "frequently bought together" pairs."""
    fig, ax = plt.subplots(figsize=(6, 0.35 * len(pairs) + 1.5))
    labels = [f"{a} + {b}" for a, b in zip(pairs["item_a"], pairs["item_b"], strict=True)]
    ax.barh(labels, pairs["lift"].to_numpy(float))
    ax.invert_yaxis()
    ax.set_xlabel("lift")
    return _save(fig, path)


def plot_cohorts(table: pd.DataFrame, path: str | Path) -> Path:
    """Cohort retention matrix (share active by month since signup)."""
    data = table.drop(columns=["size"]).to_numpy(float)
    fig, ax = plt.subplots(figsize=(max(5, 0.5 * data.shape[1] + 2), 0.35 * len(table) + 1.5))
    im = ax.imshow(data, aspect="auto", cmap="Blues", vmin=0, vmax=1)
    ax.set_yticks(
        range(len(table)),
        [f"{c} (n={n})" for c, n in zip(table.index, table["size"], strict=True)],
        fontsize=7,
    )
    ax.set_xticks(range(data.shape[1]), [str(c) for c in table.columns[1:]], fontsize=7)
    ax.set_xlabel("months since signup")
    fig.colorbar(im, ax=ax, label="share active")
    return _save(fig, path)


def plot_reliability(summaries: dict[str, dict[str, Any]], path: str | Path) -> Path:
    """Reliability diagram of several scorers (outputs of ``calibration_summary``)."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    for name, s in summaries.items():
        rel = pd.DataFrame(s["reliability"])
        rel = rel[rel["n"] > 0]
        ax.plot(
            rel["mean_predicted"],
            rel["observed"],
            marker="o",
            label=f"{name} (AUC {s['auc']:.3f}, Brier {s['brier']:.4f})",
        )
    ax.set_xlabel("predicted probability")
    ax.set_ylabel("observed frequency")
    ax.legend(fontsize=7)
    return _save(fig, path)
