"""The offline protocol: fit on train, recommend for every test user, score with our metrics.

``run_evaluation`` takes a snapshot, a split and named models (instances or factories), fits each
on the train part, ranks the full catalogue for every test user (train-seen items excluded), and
returns an ``EvaluationResults`` with per-user metrics, beyond-accuracy figures and timings. The
results render as a Markdown + JSON report with a leaderboard and PNG plots.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from campaignrec.data.interactions import Interactions
from campaignrec.errors import ValidationError
from campaignrec.evaluation.fairness import exposure_shares, relevance_shares
from campaignrec.evaluation.metrics import (
    RANKING_METRICS,
    gini_index,
    intra_list_diversity,
    item_coverage,
    novelty,
    popularity_bias,
    ranking_metrics,
)
from campaignrec.evaluation.splits import GroundTruth, Split, ground_truth
from campaignrec.evaluation.stats import PairedTest, bootstrap_ci, breakdown, paired_test

DEFAULT_KS: tuple[int, ...] = (10, 20)


class RecommenderLike(Protocol):
    """What the runner needs of a model: the batch part of the Recommender protocol."""

    def fit(self, interactions: Interactions) -> Any: ...

    def recommend_idx(
        self, user_idx: NDArray[np.int64], k: int = 10, *, exclude_seen: bool = True
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]: ...


ModelSpec = RecommenderLike | Callable[[], RecommenderLike]


def _instantiate(spec: ModelSpec) -> RecommenderLike:
    if not isinstance(spec, type) and hasattr(spec, "fit") and hasattr(spec, "recommend_idx"):
        return spec  # type: ignore[return-value]
    if callable(spec):
        return spec()
    raise ValidationError(
        "models",
        "each model must be a Recommender or a factory returning one",
        value=type(spec).__name__,
    )


def _params_of(model: Any) -> dict[str, Any]:
    params = getattr(model, "params", None)
    if params is not None and dataclasses.is_dataclass(params):
        return {k: v for k, v in dataclasses.asdict(params).items()}  # type: ignore[arg-type]
    return {}


def item_category_codes(
    interactions: Interactions, column: str = "category"
) -> NDArray[np.int64] | None:
    """Integer category code per item (``-1`` unknown), or None when there is no such column."""
    feats = interactions.item_features
    if column not in feats.columns or feats.empty:
        return None
    codes = pd.Categorical(feats[column].astype("string")).codes.astype(np.int64)
    return np.where(codes < 0, -1, codes)


@dataclasses.dataclass
class ModelResult:
    """One model's outcome on one protocol."""

    name: str
    recs: NDArray[np.int64]
    per_user: dict[str, NDArray[np.float64]]
    summary: dict[str, float]
    fit_seconds: float
    recommend_seconds: float
    params: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class EvaluationResults:
    """Per-user metrics of several models on the same users of one split."""

    protocol: dict[str, Any]
    user_idx: NDArray[np.int64]
    ks: tuple[int, ...]
    truth: GroundTruth
    train_popularity: NDArray[np.float64]
    n_train_users: int
    n_items: int
    item_category: NDArray[np.int64] | None = None
    models: dict[str, ModelResult] = dataclasses.field(default_factory=dict)
    groups: dict[str, NDArray[np.object_]] = dataclasses.field(default_factory=dict)
    seed: int = 0
    #: protected item groups (name -> 0/1 per item): each model's exposure share of them at k
    item_groups: dict[str, NDArray[np.int64]] = dataclasses.field(default_factory=dict)
    #: the test split's explicit ratings ``(user_idx, item_idx, value)``, or None when it has
    #: none: models that predict ratings (``predict_idx``) are then scored by RMSE and MAE
    ratings: tuple[NDArray[np.int32], NDArray[np.int32], NDArray[np.float32]] | None = None

    # ---- adding results ------------------------------------------------------------------------
    def add(
        self,
        name: str,
        recs: NDArray[np.integer],
        *,
        fit_seconds: float = float("nan"),
        recommend_seconds: float = float("nan"),
        params: Mapping[str, Any] | None = None,
    ) -> ModelResult:
        """Score top-k lists ``recs`` (rows aligned with ``user_idx``) and keep them as ``name``."""
        recs_i: NDArray[np.int64] = np.asarray(recs, dtype=np.int64)
        recs = recs_i
        if recs.shape[0] != len(self.user_idx):
            raise ValidationError(
                "recs", f"needs one row per evaluated user ({len(self.user_idx)})", value=recs.shape
            )
        per_user = ranking_metrics(recs, self.truth.items, self.ks, RANKING_METRICS)
        summary: dict[str, float] = {}
        for k in self.ks:
            summary[f"coverage@{k}"] = item_coverage(recs, k, self.n_items)
            summary[f"gini@{k}"] = gini_index(recs, k, self.n_items)
            per_user[f"novelty@{k}"] = novelty(recs, k, self.train_popularity, self.n_train_users)
            per_user[f"popularity@{k}"] = popularity_bias(
                recs, k, self.train_popularity, self.n_train_users
            )
            if self.item_category is not None:
                per_user[f"ild@{k}"] = intra_list_diversity(recs, k, self.item_category)
            for group, member in self.item_groups.items():
                # position-weighted exposure share against the share of what users wanted
                summary[f"exposure_{group}@{k}"] = float(exposure_shares(recs, member, 2, k)[1])
        for group, member in self.item_groups.items():
            summary[f"relevance_{group}"] = float(relevance_shares(self.truth.items, member, 2)[1])
        result = ModelResult(
            name,
            recs,
            per_user,
            summary,
            float(fit_seconds),
            float(recommend_seconds),
            dict(params or {}),
        )
        self.models[name] = result
        return result

    # ---- reading -------------------------------------------------------------------------------
    def mean(self, name: str, metric: str) -> float:
        res = self.models[name]
        if metric in res.per_user:
            return float(np.mean(res.per_user[metric]))
        return float(res.summary[metric])

    def leaderboard(self, metric: str | None = None, *, n_boot: int = 1000) -> pd.DataFrame:
        """One row per model, best first by ``metric`` (default ``ndcg@<first k>``)."""
        metric = metric or f"ndcg@{self.ks[0]}"
        rows = []
        for name, res in self.models.items():
            iv = bootstrap_ci(res.per_user[metric], n_boot=n_boot, seed=self.seed)
            row: dict[str, Any] = {
                "model": name,
                metric: iv.mean,
                "ci_low": iv.low,
                "ci_high": iv.high,
            }
            for key, vals in res.per_user.items():
                if key != metric:
                    row[key] = float(np.mean(vals))
            row.update(res.summary)
            row["fit_s"] = res.fit_seconds
            row["recommend_s"] = res.recommend_seconds
            rows.append(row)
        df = pd.DataFrame(rows)
        if df.empty:
            return df
        return df.sort_values(metric, ascending=False, kind="stable").reset_index(drop=True)

    def compare(
        self, a: str, b: str, metric: str | None = None, *, method: str = "t"
    ) -> PairedTest:
        """Paired test of model ``a`` against ``b`` on the same users."""
        metric = metric or f"ndcg@{self.ks[0]}"
        return paired_test(
            self.models[a].per_user[metric],
            self.models[b].per_user[metric],
            method=method,
            seed=self.seed,
        )

    def breakdown(self, group: str, metric: str | None = None) -> pd.DataFrame:
        """Each model's mean ``metric`` per user group (``groups[group]`` labels)."""
        metric = metric or f"ndcg@{self.ks[0]}"
        frames = []
        for name, res in self.models.items():
            df = breakdown({metric: res.per_user[metric]}, self.groups[group], seed=self.seed)
            frames.append(df.assign(model=name))
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    # ---- reports -------------------------------------------------------------------------------
    def to_dict(self, *, include_per_user: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "protocol": self.protocol,
            "ks": list(self.ks),
            "n_users_evaluated": len(self.user_idx),
            "n_items": self.n_items,
            "models": {},
        }
        for name, res in self.models.items():
            entry: dict[str, Any] = {
                "params": res.params,
                "fit_seconds": res.fit_seconds,
                "recommend_seconds": res.recommend_seconds,
                "metrics": {},
                "summary": res.summary,
            }
            for key, vals in res.per_user.items():
                iv = bootstrap_ci(vals, n_boot=500, seed=self.seed)
                entry["metrics"][key] = iv.to_dict()
            if include_per_user:
                entry["per_user"] = {k: v.tolist() for k, v in res.per_user.items()}
            out["models"][name] = entry
        if len(self.models) >= 2:
            board = self.leaderboard(n_boot=200)
            best = str(board.loc[0, "model"])
            metric = f"ndcg@{self.ks[0]}"
            out["paired_tests"] = {
                f"{best} vs {other}": self.compare(best, other, metric).to_dict()
                for other in board["model"].iloc[1:]
            }
        return out

    def to_json(self, path: str | Path, *, include_per_user: bool = False) -> Path:
        p = Path(path)
        p.write_text(
            json.dumps(
                self.to_dict(include_per_user=include_per_user), indent=2, default=_json_default
            )
        )
        return p

    def to_markdown(self, metric: str | None = None) -> str:
        metric = metric or f"ndcg@{self.ks[0]}"
        board = self.leaderboard(metric)
        lines = [f"# Evaluation report ({datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')})", ""]
        lines.append("Protocol: " + ", ".join(f"{k}={v}" for k, v in self.protocol.items()))
        lines.append(
            f"Users evaluated: {len(self.user_idx)}; items: {self.n_items}; k: {list(self.ks)}"
        )
        lines += ["", "## Leaderboard", "", leaderboard_markdown(board, metric, self.ks)]
        rated = [(n, r.summary) for n, r in self.models.items() if "rmse" in r.summary]
        if rated:
            lines += ["", "## Rating prediction (the test split's explicit ratings)", ""]
            lines += ["| model | RMSE | MAE | ratings |", "|---|---|---|---|"]
            for n, s in sorted(rated, key=lambda x: x[1]["rmse"]):
                lines.append(f"| {n} | {s['rmse']:.4f} | {s['mae']:.4f} | {int(s['n_ratings'])} |")
        if len(board) >= 2:
            best = str(board.loc[0, "model"])
            lines += ["", f"## Paired tests ({metric}, {best} against each other model)", ""]
            lines.append("| against | mean diff | 95% CI | relative | p (t-test) | p (Wilcoxon) |")
            lines.append("|---|---|---|---|---|---|")
            for other in board["model"].iloc[1:]:
                t = self.compare(best, str(other), metric)
                w = self.compare(best, str(other), metric, method="wilcoxon")
                lines.append(
                    f"| {other} | {t.mean_diff:+.4f} | [{t.low:+.4f}, {t.high:+.4f}] | "
                    f"{t.relative_lift:+.1%} | {t.p_value:.3g} | {w.p_value:.3g} |"
                )
        for group in self.groups:
            df = self.breakdown(group, metric)
            if df.empty:
                continue
            lines += ["", f"## {metric} by {group}", ""]
            pivot = df.pivot_table(index="model", columns="group", values="mean")
            counts = df.drop_duplicates("group").set_index("group")["n_users"]
            lines.append(
                "| model | " + " | ".join(f"{g} (n={counts[g]})" for g in pivot.columns) + " |"
            )
            lines.append("|---" * (len(pivot.columns) + 1) + "|")
            for name, row in pivot.iterrows():
                lines.append(f"| {name} | " + " | ".join(f"{v:.4f}" for v in row.to_numpy()) + " |")
        return "\n".join(lines) + "\n"

    def write_report(self, directory: str | Path, *, metric: str | None = None) -> Path:
        """Write ``report.md``, ``results.json`` and the PNG plots into ``directory``."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        self.to_json(out / "results.json")
        plots = plot_results(self, out, metric=metric)
        md = self.to_markdown(metric)
        if plots:
            md += "\n## Plots\n\n" + "\n".join(f"![{p.stem}]({p.name})" for p in plots) + "\n"
        (out / "report.md").write_text(md)
        return out / "report.md"


def leaderboard_markdown(board: pd.DataFrame, metric: str, ks: Sequence[int]) -> str:
    """The leaderboard as a Markdown table (main metric with its CI, then the usual columns)."""
    if board.empty:
        return "(no models)"
    cols = [
        c
        for k in ks
        for c in (f"recall@{k}", f"map@{k}", f"hit_rate@{k}", f"coverage@{k}")
        if c in board.columns
    ]
    extra = [f"ndcg@{k}" for k in ks if f"ndcg@{k}" != metric and f"ndcg@{k}" in board.columns]
    header = ["model", f"{metric} [95% CI]", *extra, *cols, "fit s", "recommend s"]
    lines = ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
    for _, row in board.iterrows():
        cells = [
            str(row["model"]),
            f"{row[metric]:.4f} [{row['ci_low']:.4f}, {row['ci_high']:.4f}]",
        ]
        cells += [f"{row[c]:.4f}" for c in [*extra, *cols]]
        cells += [f"{row['fit_s']:.2f}", f"{row['recommend_s']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_results(
    results: EvaluationResults, directory: Path, *, metric: str | None = None
) -> list[Path]:
    """PNG plots: NDCG/recall against k, and accuracy against catalogue coverage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not results.models:
        return []
    metric = metric or f"ndcg@{results.ks[0]}"
    base = metric.split("@")[0]
    paths = []
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in results.models:
        ax.plot(
            results.ks,
            [results.mean(name, f"{base}@{k}") for k in results.ks],
            marker="o",
            label=name,
        )
    ax.set_xlabel("k")
    ax.set_ylabel(base)
    ax.set_title(f"{base} against k")
    ax.legend(fontsize=7)
    fig.tight_layout()
    paths.append(directory / "metric_vs_k.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    k = int(metric.split("@")[1]) if "@" in metric else results.ks[0]
    fig, ax = plt.subplots(figsize=(6, 4))
    for name in results.models:
        x, y = results.mean(name, f"coverage@{k}"), results.mean(name, metric)
        ax.scatter([x], [y])
        ax.annotate(name, (x, y), fontsize=7)
    ax.set_xlabel(f"item coverage@{k}")
    ax.set_ylabel(metric)
    ax.set_title("accuracy against coverage")
    fig.tight_layout()
    paths.append(directory / "accuracy_vs_coverage.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    return paths


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def prepare(
    train: Interactions,
    truth: GroundTruth,
    *,
    ks: Iterable[int] = DEFAULT_KS,
    protocol: Mapping[str, Any] | None = None,
    item_category: NDArray[np.int64] | None = None,
    seed: int = 0,
) -> EvaluationResults:
    """An empty ``EvaluationResults`` for ``truth``'s users, ready for ``add`` / ``evaluate_model``."""
    ks_t = tuple(sorted({int(k) for k in ks}))
    if not ks_t:
        raise ValidationError("ks", "need at least one cutoff", hint="e.g. 10,20")
    if truth.n_users == 0:
        raise ValidationError(
            "test", "no user has a target item", hint="check the split and the target event types"
        )
    return EvaluationResults(
        protocol=dict(protocol or {}),
        user_idx=truth.user_idx,
        ks=ks_t,
        truth=truth,
        train_popularity=train.item_popularity.astype(np.float64),
        n_train_users=len(train.active_users),
        n_items=train.n_items,
        item_category=item_category,
        seed=seed,
    )


def evaluate_model(
    results: EvaluationResults,
    name: str,
    model: ModelSpec,
    train: Interactions,
) -> ModelResult:
    """Fit ``model`` on ``train``, recommend max(k) items for every evaluated user, score it."""
    instance = _instantiate(model)
    t0 = time.perf_counter()
    instance.fit(train)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    recs, _ = instance.recommend_idx(results.user_idx, max(results.ks), exclude_seen=True)
    rec_s = time.perf_counter() - t0
    res = results.add(
        name, recs, fit_seconds=fit_s, recommend_seconds=rec_s, params=_params_of(instance)
    )
    predict = getattr(instance, "predict_idx", None)
    if results.ratings is not None and callable(predict):
        res.summary.update(rating_errors(predict, *results.ratings))
    return res


def rating_errors(
    predict: Callable[[NDArray[np.int32], NDArray[np.int32]], NDArray[np.floating]],
    user_idx: NDArray[np.int32],
    item_idx: NDArray[np.int32],
    values: NDArray[np.float32],
) -> dict[str, float]:
    """``{"rmse", "mae", "n_ratings"}`` of a rating model's predictions of ``values``."""
    err = np.asarray(predict(user_idx, item_idx), dtype=np.float64) - values.astype(np.float64)
    return {
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
        "n_ratings": float(len(values)),
    }


def run_evaluation(
    interactions: Interactions,
    split: Split,
    models: Mapping[str, ModelSpec],
    ks: Iterable[int] = DEFAULT_KS,
    *,
    target_event_types: Iterable[str] | None = None,
    exclude_train_items: bool = True,
    category_column: str = "category",
    group_columns: Sequence[str] = (),
    max_users: int | None = None,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> EvaluationResults:
    """Evaluate named models on one split with full ranking.

    Parameters
    ----------
    interactions : the snapshot ``split`` was made on
    split : train / test masks
    models : name -> Recommender instance or a zero-argument factory
    ks : cutoffs (the models recommend ``max(ks)`` items)
    target_event_types : only test events of these types are targets (default all)
    exclude_train_items : targets leave out items the user touched in train
    category_column : item feature used for intra-list diversity (skipped when absent)
    group_columns : user feature columns to break results down by (history length always)
    max_users : evaluate a seeded sample of at most this many test users
    seed : sampling and bootstrap seed
    progress : called with each model's name before it is fitted
    """
    train, test = split.apply(interactions)
    truth = ground_truth(
        train, test, exclude_train_items=exclude_train_items, event_types=target_event_types
    )
    if max_users is not None and truth.n_users > max_users:
        rng = np.random.default_rng(seed)
        keep = np.sort(rng.choice(truth.n_users, size=max_users, replace=False))
        truth = GroundTruth(truth.user_idx[keep], truth.items[keep])
    protocol = {"split": split.kind, **split.params, "snapshot_id": split.snapshot_id}
    if target_event_types is not None:
        protocol["target_event_types"] = sorted(target_event_types)
    results = prepare(
        train,
        truth,
        ks=ks,
        protocol=protocol,
        item_category=item_category_codes(interactions, category_column),
        seed=seed,
    )
    from campaignrec.evaluation.fairness import new_item_groups, popularity_groups
    from campaignrec.evaluation.stats import feature_groups, history_length_groups

    if test.has_ratings:
        results.ratings = test.ratings()
    results.groups["history length"] = history_length_groups(train, truth.user_idx)
    results.item_groups = {
        "new_items": new_item_groups(train),
        "long_tail": popularity_groups(train),
    }
    for col in group_columns:
        results.groups[col] = feature_groups(interactions, truth.user_idx, col)
    for name, spec in models.items():
        if progress is not None:
            progress(name)
        evaluate_model(results, name, spec, train)
    return results
