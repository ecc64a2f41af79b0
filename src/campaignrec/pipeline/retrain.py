"""Continuous retraining with a quality gate: ``campaignrec retrain`` (cron, a systemd timer).

One run:

1. counts the item events that arrived after the end of the active model's data (its
   ``meta.json`` ``data_end``); with fewer than ``min_new_events`` it stops and says so;
2. builds a fresh snapshot and refreshes profiles and segments incrementally from the saved
   profile state (:func:`campaignrec.pipeline.profiles.refresh_profiles`);
3. retrains the active model family with the active version's hyper-parameters;
4. evaluates the candidate against the active version on the most recent days: the test window
   is the last ``eval_days`` days, but at most the later half of the time since the end of the
   active model's data, so the active version has not seen what it is judged on and the candidate
   judged (fitted on the events before the window) has learned from the earlier new events; both rank every item for each shopper of the window who had history
   before it (items they touched before are excluded for both), scored by per-user NDCG@10.
   With ``force`` and no new events the active version has learned from every recent day: its
   configuration is then refitted on the events before the window and judged instead;
5. the gate: a one-sided paired t-test of H0 "the candidate is worse than the active version by
   more than the tolerance" (``tolerance`` x the active version's mean NDCG@10). The candidate is
   kept out only when the data show it is worse beyond the tolerance (p < ``alpha``), or when too
   few shoppers are in the window to judge; otherwise the candidate refitted on every event is
   activated. Either way it is registered, and the decision (its figures and a sentence in
   English and Chinese) is stored in the ``retrain_decisions`` table;
6. refits the campaign response and uplift models on the store's logged exposures
   (:func:`campaignrec.pipeline.uplift.fit_campaign_models`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray
from sqlalchemy import func, select

from campaignrec.config import Settings
from campaignrec.data.interactions import Interactions
from campaignrec.errors import CampaignrecError, ConfigError, ValidationError
from campaignrec.pipeline.snapshot import build_snapshot
from campaignrec.pipeline.training import (
    TrainResult,
    active_model_row,
    data_end_iso,
    new_version,
    train,
)

NDCG = "ndcg@10"
#: fewer test shoppers than this and the gate does not judge (it keeps the active version)
MIN_EVAL_USERS = 30


@dataclass
class RetrainReport:
    """What one ``retrain`` run did: ``outcome`` is ``activated``, ``kept`` or ``skipped``;
    ``decision`` the stored gate decision (None when skipped); ``sentence`` EN / ZH."""

    outcome: str
    sentence: dict[str, str]
    new_events: int
    active_version: str | None = None
    candidate_version: str | None = None
    model: str | None = None
    decision: dict[str, Any] | None = None
    profiles: dict[str, Any] | None = None
    campaign_models: dict[str, Any] | None = None
    seconds: float = 0.0
    steps: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "sentence": self.sentence,
            "new_events": self.new_events,
            "model": self.model,
            "active_version": self.active_version,
            "candidate_version": self.candidate_version,
            "decision": self.decision,
            "profiles": self.profiles,
            "campaign_models": self.campaign_models,
            "seconds": self.seconds,
        }


# ---- counting what arrived --------------------------------------------------------------------------
def _epoch_us(at: pd.Timestamp) -> int:
    return int(at.value // 1000)


def new_item_events(store: Any, since: pd.Timestamp | None) -> int:
    """Item events in the store with a timestamp after ``since`` (all of them for None)."""
    ev = store.tables.events
    stmt = select(func.count()).select_from(ev).where(ev.c.item_id.is_not(None))
    if since is not None:
        stmt = stmt.where(ev.c.timestamp > _epoch_us(since))
    with store.engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def model_data_end(row: dict[str, Any]) -> pd.Timestamp | None:
    """The end of the data a registered version learned from (``meta.data_end``), or None."""
    meta = row.get("meta") or {}
    raw = meta.get("data_end") if isinstance(meta, dict) else None
    if not raw:
        return None
    at = pd.Timestamp(raw)
    return at.tz_localize("UTC") if at.tzinfo is None else at


# ---- judging two models on the same recent shoppers -------------------------------------------
def recommend_in_snapshot(
    model: Any,
    inter: Interactions,
    seen: sp.csr_matrix,
    user_idx: NDArray[np.int64],
    k: int = 10,
) -> NDArray[np.int64]:
    """Top-``k`` items of a model fitted on another snapshot, as ``inter``'s item indices.

    Users and items are matched by external id (a user the model does not know gets its cold
    path); each user's items in ``seen`` (``inter``'s indices) are excluded, so every model judged
    on one split excludes the same history.
    """
    from campaignrec.models.base import batch_users, top_k

    m_users = model.users_.index(inter.users.ids[user_idx], missing="ignore")
    model_col = model.items_.index(inter.items.ids, missing="ignore")  # snapshot item -> model
    snap_col = inter.items.index(model.items_.ids, missing="ignore")  # model item -> snapshot
    out = np.full((len(user_idx), k), -1, dtype=np.int64)
    step = batch_users(model.n_items)
    for start in range(0, len(user_idx), step):
        stop = min(start + step, len(user_idx))
        scores = np.array(model.score_matrix(m_users[start:stop]), dtype=np.float32)
        rows, cols = seen[user_idx[start:stop]].nonzero()
        mapped = model_col[cols]
        ok = mapped >= 0
        scores[rows[ok], mapped[ok]] = -np.inf
        scores[:, snap_col < 0] = -np.inf  # items the snapshot no longer has
        idx, _ = top_k(scores, k)
        out[start:stop] = np.where(idx >= 0, snap_col[np.maximum(idx, 0)], -1)
    return out


@dataclass(frozen=True)
class GateJudgement:
    """The figures of one comparison: per-user NDCG@10 of the candidate and the active version."""

    n_users: int
    window_start: str
    window_end: str
    mean_candidate: float
    mean_active: float
    diff: float
    ci_low: float
    ci_high: float
    p_two_sided: float
    margin: float
    p_worse_beyond_margin: float
    active_saw_window: bool

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def judge(
    inter: Interactions,
    cut_s: int,
    active: Any,
    candidate_factory: Callable[[], Any],
    *,
    tolerance: float,
    max_users: int = 5_000,
    seed: int = 0,
    active_saw_window: bool = False,
) -> tuple[GateJudgement | None, int]:
    """Fit the candidate on the events before ``cut_s`` and compare it with ``active`` on the
    shoppers of the window from ``cut_s`` on (None when fewer than :data:`MIN_EVAL_USERS`).

    ``active`` is the loaded active version; with ``active_saw_window`` (no new events: the
    active version learned from the window) it is instead a zero-argument factory of the active
    configuration, refitted on the same events before the window as the candidate, so that
    neither side is judged on what it learned from."""
    from scipy import stats as sps

    from campaignrec.evaluation.runner import prepare
    from campaignrec.evaluation.splits import GroundTruth, global_temporal_split, ground_truth
    from campaignrec.evaluation.stats import paired_test

    split = global_temporal_split(inter, cut=int(cut_s))
    train_part, test_part = split.apply(inter)
    truth = ground_truth(train_part, test_part)
    if truth.n_users > max_users:
        keep = np.sort(np.random.default_rng(seed).choice(truth.n_users, max_users, replace=False))
        truth = GroundTruth(truth.user_idx[keep], truth.items[keep])
    if truth.n_users < MIN_EVAL_USERS:
        return None, truth.n_users
    candidate = candidate_factory().fit(train_part)
    recs_c, _ = candidate.recommend_idx(truth.user_idx, 10, exclude_seen=True)
    if active_saw_window:  # judge the active configuration refitted on the same past instead
        refit = active().fit(train_part)
        recs_a, _ = refit.recommend_idx(truth.user_idx, 10, exclude_seen=True)
    else:
        recs_a = recommend_in_snapshot(active, inter, train_part.binary, truth.user_idx, 10)
    results = prepare(train_part, truth, ks=(10,), seed=seed)
    c = np.asarray(results.add("candidate", recs_c).per_user[NDCG], dtype=np.float64)
    a = np.asarray(results.add("active", recs_a).per_user[NDCG], dtype=np.float64)
    test = paired_test(c, a, method="t", seed=seed)
    margin = float(tolerance * a.mean())
    shifted = c + margin - a
    if np.allclose(shifted, shifted[0]):
        p_worse = 0.0 if shifted[0] < 0 else 1.0
    else:
        p_worse = float(sps.ttest_1samp(shifted, 0.0, alternative="less").pvalue)
    end = datetime.fromtimestamp(inter.reference_time, UTC).isoformat()
    return (
        GateJudgement(
            n_users=int(test.n),
            window_start=datetime.fromtimestamp(cut_s, UTC).isoformat(),
            window_end=end,
            mean_candidate=test.mean_a,
            mean_active=test.mean_b,
            diff=test.mean_diff,
            ci_low=test.low,
            ci_high=test.high,
            p_two_sided=test.p_value,
            margin=margin,
            p_worse_beyond_margin=p_worse,
            active_saw_window=active_saw_window,
        ),
        truth.n_users,
    )


# ---- sentences ---------------------------------------------------------------------------------------
def _pct(x: float) -> str:
    return f"{x:+.1%}" if np.isfinite(x) else "n/a"


def gate_sentence(
    outcome: str, j: GateJudgement | None, n_users: int, **info: Any
) -> dict[str, str]:
    """The decision in English and Chinese."""
    if outcome == "skipped":
        n, need = info["new_events"], info["min_new_events"]
        return {
            "en": f"nothing to do: {n:,} new events since the active model's data "
            f"(need {need:,}; --force retrains anyway)",
            "zh": f"无需重训：自当前模型的数据以来只有 {n:,} 条新事件"
            f"（需要 {need:,} 条；--force 可强制重训）",
        }
    if info.get("first"):
        return {
            "en": "activated: no model was active, so the new one is served without a comparison",
            "zh": "已启用：此前没有启用的模型，新模型直接上线（无对比）",
        }
    if j is None:
        return {
            "en": f"kept the active version: only {n_users} shoppers in the recent window to "
            f"judge on (need {MIN_EVAL_USERS}); try a longer --eval-days",
            "zh": f"保留当前版本：最近窗口内只有 {n_users} 位顾客可供评估"
            f"（至少需要 {MIN_EVAL_USERS} 位）；可加大 --eval-days",
        }
    rel = j.diff / j.mean_active if j.mean_active else float("nan")
    fig = (
        f"NDCG@10 {j.mean_candidate:.4f} vs {j.mean_active:.4f} ({_pct(rel)}, "
        f"diff 95% CI [{j.ci_low:+.4f}, {j.ci_high:+.4f}], {j.n_users:,} shoppers)"
    )
    fig_zh = (
        f"NDCG@10 {j.mean_candidate:.4f} 对 {j.mean_active:.4f}（{_pct(rel)}，"
        f"差值 95% 置信区间 [{j.ci_low:+.4f}, {j.ci_high:+.4f}]，{j.n_users:,} 位顾客）"
    )
    tol = info["tolerance"]
    if outcome == "activated":
        return {
            "en": f"activated the new version: not worse than the active one beyond the "
            f"{tol:.0%} tolerance (p = {j.p_worse_beyond_margin:.3g}); {fig}",
            "zh": f"已启用新版本：未比当前版本差出 {tol:.0%} 的容差"
            f"（p = {j.p_worse_beyond_margin:.3g}）；{fig_zh}",
        }
    return {
        "en": f"kept the active version: the new one is worse beyond the {tol:.0%} tolerance "
        f"(p = {j.p_worse_beyond_margin:.3g}); {fig}",
        "zh": f"保留当前版本：新版本比当前版本差出 {tol:.0%} 的容差以上"
        f"（p = {j.p_worse_beyond_margin:.3g}）；{fig_zh}",
    }


# ---- the run ------------------------------------------------------------------------------------------
def _check_options(min_new_events: int, tolerance: float, eval_days: float, alpha: float) -> None:
    if min_new_events < 0:
        raise ValidationError("min_new_events", "must be >= 0", value=min_new_events)
    if not 0.0 <= tolerance < 1.0:
        raise ValidationError(
            "tolerance", "must be in [0, 1) (a share of the active NDCG@10)", value=tolerance,
            hint="--tolerance 0.02 allows 2 % worse",
        )  # fmt: skip
    if not eval_days > 0:
        raise ValidationError("eval_days", "must be > 0", value=eval_days, hint="--eval-days 7")
    if not 0.0 < alpha < 0.5:
        raise ValidationError("alpha", "must be in (0, 0.5)", value=alpha)


def _register(
    store: Any, settings: Settings, model: Any, inter: Interactions, extra: dict[str, Any]
) -> tuple[str, Path]:
    import json

    version = new_version()
    path = settings.artifacts_dir / model.name / version
    model.save(path)
    meta_path = path / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta.update(
        {
            "version": version,
            "created": datetime.now(UTC).isoformat(),
            "metrics": {},
            "n_users": inter.n_users,
            "n_items": inter.n_items,
            "n_events": len(inter),
            "data_end": data_end_iso(inter),
        }
        | extra
    )
    meta_path.write_text(json.dumps(meta, indent=2, default=str))
    store.register_model(model.name, version, str(path), meta)
    return version, path


def retrain(
    store: Any,
    settings: Settings,
    *,
    min_new_events: int = 1_000,
    tolerance: float = 0.02,
    eval_days: float = 7.0,
    force: bool = False,
    alpha: float = 0.05,
    seed: int = 0,
    candidate: Callable[[], Any] | None = None,
    profiles: bool = True,
    campaign_models: bool = True,
) -> RetrainReport:
    """One retraining run with the quality gate (module docstring); returns what it did.

    ``candidate`` (a zero-argument factory of an unfitted model) replaces the active family
    with its hyper-parameters: tests use it to offer a deliberately broken model.
    ``profiles`` / ``campaign_models``: also refresh the profiles and refit the campaign models.
    """
    from campaignrec.models.registry import create, load_model
    from campaignrec.store.retrain import RetrainDecisionRepository

    _check_options(min_new_events, tolerance, eval_days, alpha)
    started = time.perf_counter()
    try:
        row: dict[str, Any] | None = active_model_row(store)
    except CampaignrecError:
        row = None
    since = model_data_end(row) if row is not None else None
    n_new = new_item_events(store, since)
    if row is not None and since is None:  # a version trained before data_end was recorded
        meta = row.get("meta") or {}
        n_new = max(n_new - int(meta.get("n_events", 0)), 0)
    if n_new < min_new_events and not force and row is not None:
        return RetrainReport(
            outcome="skipped",
            sentence=gate_sentence(
                "skipped", None, 0, new_events=n_new, min_new_events=min_new_events
            ),
            new_events=n_new,
            active_version=str(row["version"]),
            model=str(row["name"]),
            seconds=time.perf_counter() - started,
        )
    report_profiles = _refresh_profiles(store, settings) if profiles else None
    repo = RetrainDecisionRepository(store)
    if row is None:
        result: TrainResult = train(store, settings, None, seed=seed)
        first = gate_sentence("activated", None, 0, first=True)
        decision: dict[str, Any] = {
            "outcome": "activated",
            "model": result.name,
            "candidate_version": result.version,
            "active_version": None,
            "new_events": n_new,
            "sentence": first,
        }
        repo.insert(decision)
        return RetrainReport(
            outcome="activated",
            sentence=first,
            new_events=n_new,
            candidate_version=result.version,
            model=result.name,
            decision=decision,
            profiles=report_profiles,
            campaign_models=_fit_campaign_models(store, settings) if campaign_models else None,
            seconds=time.perf_counter() - started,
        )
    name = str(row["name"])
    params = dict((row.get("meta") or {}).get("params") or {})

    def factory() -> Any:
        if candidate is not None:
            return candidate()
        try:
            return create(name, **params)
        except (TypeError, ConfigError) as exc:
            raise ConfigError(
                f"cannot rebuild model '{name}' from its saved parameters: {exc}",
                hint="train it afresh: campaignrec train",
            ) from exc

    inter = build_snapshot(store, settings)
    end_s = inter.reference_time
    window_s = int(end_s - eval_days * 86_400)
    saw = since is not None and _epoch_s(since) >= end_s
    if since is None or saw:
        cut_s = window_s
    else:  # the later half of the new events at most: the candidate judged learns from the rest
        cut_s = max(window_s, (_epoch_s(since) + end_s) // 2 + 1)

    def active_config() -> Any:
        return create(name, **params)

    active: Any = active_config if saw else load_model(row["path"])
    j, n_users = judge(
        inter, cut_s, active, factory, tolerance=tolerance, seed=seed, active_saw_window=saw
    )
    worse = j is None or (j.diff < -j.margin and j.p_worse_beyond_margin < alpha)
    outcome = "kept" if worse else "activated"
    fitted = factory().fit(inter)
    judged = {
        "outcome": outcome,
        "model": fitted.name,
        "active_version": str(row["version"]),
        "new_events": n_new,
        "tolerance": tolerance,
        "alpha": alpha,
        "eval_days": eval_days,
        "eval_users": n_users,
        "judgement": j.to_dict() if j is not None else None,
        "sentence": gate_sentence(outcome, j, n_users, tolerance=tolerance),
    }
    version, _ = _register(store, settings, fitted, inter, {"retrain": judged})
    judged["candidate_version"] = version
    if outcome == "activated":
        store.activate_model(fitted.name, version)
    repo.insert(judged)
    return RetrainReport(
        outcome=outcome,
        sentence=judged["sentence"],
        new_events=n_new,
        active_version=str(row["version"]),
        candidate_version=version,
        model=fitted.name,
        decision=judged,
        profiles=report_profiles,
        campaign_models=_fit_campaign_models(store, settings) if campaign_models else None,
        seconds=time.perf_counter() - started,
    )


def _epoch_s(at: pd.Timestamp) -> int:
    return int(at.value // 1_000_000_000)


def _refresh_profiles(store: Any, settings: Settings) -> dict[str, Any]:
    from campaignrec.pipeline.profiles import profiles_dir, refresh_profiles

    result = refresh_profiles(store, profiles_dir(settings.home))
    return {"n_users": len(result.profiles), **result.meta.get("refresh", {})}


def _fit_campaign_models(store: Any, settings: Settings) -> dict[str, Any]:
    from campaignrec.pipeline.uplift import campaign_models_dir, fit_campaign_models

    try:
        fitted = fit_campaign_models(store, campaign_models_dir(settings.home))
    except (ValidationError, CampaignrecError) as exc:  # no exposures logged yet: not an error
        return {"fitted": False, "reason": exc.message}
    return {"fitted": True, **fitted.summary()}


def last_decision(store: Any) -> dict[str, Any] | None:
    """The retrain gate's last decision (the console's "last decision"), or None."""
    from campaignrec.store.retrain import RetrainDecisionRepository

    return RetrainDecisionRepository(store).last()
