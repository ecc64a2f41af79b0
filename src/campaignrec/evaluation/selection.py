"""The default for ``campaignrec train``: :func:`select_default` races candidate families on a
validation split carved from the shop's own data, within a time budget, and picks by the
one-standard-error rule (:mod:`campaignrec.evaluation.selection_rule`). The tuning of each
candidate is :mod:`campaignrec.evaluation.tuning`.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from campaignrec.data.interactions import Interactions
from campaignrec.errors import ConfigError, ValidationError
from campaignrec.evaluation.budget import Budget, SelectionProgress
from campaignrec.evaluation.selection_rule import one_standard_error, simplicity
from campaignrec.evaluation.tuning import (
    REPEAT_SHOP_SHARE,
    SEARCH_SPACES,
    ValidationData,
    make_validation,
    tune,
    tune_blend_weights,
)
from campaignrec.models.base import WorkShape

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One configuration family ``select_default`` tries: a registry model, a start, a space."""

    label: str
    model: str
    base: Mapping[str, Any]
    space: Mapping[str, Mapping[str, Any]]


#: What the ranking benchmark found strong, with small spaces so tuning runs in minutes on 2 cores.
#: Popularity is always a candidate: on small shops it is hard to beat, and validation decides.
#: Candidates that cannot run on a shop (no item categories; proximity EASE on a catalogue too wide
#: for the primal solver) are skipped with a warning and a row in the report.
DEFAULT_CANDIDATES: tuple[Candidate, ...] = (
    Candidate("most_popular", "most_popular", {}, {}),
    # popularity variants are always in the race: what is trending now, and by weight (a
    # purchase counts more than a view), on shops where the rich models do not generalise
    Candidate(
        "most_popular (trending)",
        "most_popular",
        {"half_life_days": 7.0},
        {
            "half_life_days": {"type": "categorical", "choices": [0.5, 1.0, 3.0, 7.0, 14.0, 30.0]},
            "count": {"type": "categorical", "choices": ["users", "weight"]},
        },
    ),
    # consumables: a shopper's own most-bought items, then popularity; it differs from plain
    # popularity only where the validation counts repeat purchases (see repeat_share)
    Candidate(
        "repeat_popular",
        "repeat_popular",
        {"half_life_days": None, "global_weight": 0.1},
        SEARCH_SPACES["repeat_popular"],
    ),
    Candidate(
        "ease (recency)",
        "ease",
        {"l2": 250.0, "recency_half_life": 20.0},
        {
            "l2": {"type": "float", "low": 10.0, "high": 3000.0, "log": True},
            "recency_half_life": {"type": "float", "low": 1.0, "high": 100.0, "log": True},
        },
    ),
    Candidate(
        "ease (short recency)",
        "ease",
        {"l2": 1000.0, "recency_half_life": 2.0},
        {
            "l2": {"type": "float", "low": 10.0, "high": 5000.0, "log": True},
            "recency_half_life": {"type": "float", "low": 0.5, "high": 5.0, "log": True},
        },
    ),
    Candidate(
        "ease (proximity)",
        "ease",
        {"l2": 600.0, "recency_half_life": 5.0, "proximity_half_life": 20.0},
        SEARCH_SPACES["ease_proximity"],
    ),
    Candidate(
        "item_knn (sequential)",
        "item_knn",
        {
            "neighbours": 200,
            "proximity_half_life": 5.0,
            "backward_weight": 0.3,
            "recency_half_life": 2.0,
        },
        SEARCH_SPACES["item_knn_sequential"],
    ),
    Candidate(
        "transition",
        "transition",
        {"window": 10, "history_half_life": 3.0, "backward_weight": 0.0},
        SEARCH_SPACES["transition"],
    ),
    Candidate(
        "category_popular",
        "category_popular",
        {"half_life_days": 3.0, "interest_half_life": 20.0, "global_weight": 0.5},
        SEARCH_SPACES["category_popular"],
    ),
    Candidate(
        "item_knn",
        "item_knn",
        {"similarity": "cosine", "neighbours": 100, "shrinkage": 10.0},
        {
            "similarity": {"type": "categorical", "choices": ["cosine", "bm25", "jaccard"]},
            "neighbours": {"type": "int", "low": 20, "high": 400, "log": True},
            "recency_half_life": {"type": "categorical", "choices": [None, 3.0, 10.0, 30.0]},
        },
    ),
    Candidate(
        "als",
        "als",
        {"factors": 64, "regularization": 0.1, "alpha": 2.0, "iterations": 15},
        {
            "factors": {"type": "int", "low": 16, "high": 128, "log": True},
            "regularization": {"type": "float", "low": 1e-3, "high": 10.0, "log": True},
            "alpha": {"type": "float", "low": 0.5, "high": 30.0, "log": True},
        },
    ),
)


#: memory the blend step of ``select_default`` may use for cached component scores
BLEND_MEMORY_BYTES = 400e6


@dataclasses.dataclass
class Selection:
    """What ``select_default`` chose: the model refitted on all data, and why."""

    model: Any
    name: str
    params: dict[str, Any]
    report: dict[str, Any]


#: validation protocols ``select_default`` accepts (``validation=``)
VALIDATION_KINDS = ("user_temporal", "global_temporal", "leave_one_out")


def _validation_for(
    interactions: Interactions,
    k: int,
    max_users: int,
    seed: int,
    kind: str = "user_temporal",
    params: Mapping[str, Any] | None = None,
    repeats: bool | None = None,
) -> tuple[ValidationData, str]:
    """The validation split ``select_default`` tunes on.

    ``user_temporal`` (default): each user's last 20 %, falling back to leave-one-out when fewer
    than 20 users qualify. ``global_temporal``: the last ``test_days`` days (or the last
    ``test_fraction`` of events, 0.2 when neither is given) for every user: the right question
    when the shop asks "what will they look at next week". ``leave_one_out``: each user's last
    event. ``repeats=None`` counts items bought again as targets (and lets every candidate
    recommend them) when the shop repeats (:func:`~campaignrec.evaluation.tuning.repeat_share`).
    """
    if kind not in VALIDATION_KINDS:
        raise ConfigError(
            f"unknown validation protocol {kind!r}", hint=f"use one of {list(VALIDATION_KINDS)}"
        )
    if kind != "user_temporal":
        extra = dict(params or {})
        if kind == "global_temporal" and not {"cut", "test_days", "test_fraction"} & set(extra):
            extra["test_fraction"] = 0.2
        val = make_validation(
            interactions, kind, k=k, max_users=max_users, seed=seed, repeats=repeats, **extra
        )
        return val, kind
    last_err: Exception | None = None
    options: tuple[tuple[str, dict[str, Any]], ...] = (
        ("user_temporal", {"test_fraction": 0.2}),
        ("leave_one_out", {}),
    )
    for kind, params in options:
        try:
            val = make_validation(
                interactions, kind, k=k, max_users=max_users, seed=seed, repeats=repeats, **params
            )
        except ValidationError as exc:
            last_err = exc
            continue
        if val.truth.n_users >= 20 or kind == "leave_one_out":
            return val, kind
    raise ValidationError(
        "interactions",
        "too little data to carve a validation split (need users with 2+ events)",
        hint="import more events, or train a named model: campaignrec train --model most_popular",
    ) from last_err


@dataclasses.dataclass
class _Run:
    """One candidate's state during ``select_default``."""

    cand: Candidate
    space: dict[str, Mapping[str, Any]]
    base: dict[str, Any]
    extra: dict[str, Any]
    trial_s: float  # predicted (then measured) seconds of one validation trial
    refit_s: float  # predicted seconds of the refit on all data
    row: dict[str, Any]
    users: NDArray[np.float64] | None = None  # per-user validation scores of the best trial

    def factory(self, q: Mapping[str, Any]) -> Any:
        from campaignrec.models.registry import create

        return create(self.cand.model, **(self.extra | dict(q)))


def _is_cheap(model: str) -> bool:
    """Popularity and its variants (by category, repeat purchase): counts and a lookup per user,
    cheap on any shop, and what a small shop is hardest to beat with."""
    return simplicity(model) <= 1


def _fallback_label(candidates: Sequence[Candidate]) -> str | None:
    """The candidate that is never skipped for time: plain popularity when present."""
    for c in candidates:
        if c.model == "most_popular":
            return c.label
    return None


def _prepare(
    cand: Candidate, seed: int, val_shape: WorkShape, full_shape: WorkShape, rate: float
) -> _Run:
    from campaignrec.evaluation.budget import predict_seconds
    from campaignrec.models.registry import get_class

    fields = set(get_class(cand.model).params_class.__dataclass_fields__)
    space = {n: sp for n, sp in cand.space.items() if n in fields}
    extra = {"seed": seed} if "seed" in fields else {}
    base = {n: v for n, v in cand.base.items() if n in fields}
    trial_s = predict_seconds(cand.model, extra | base, val_shape, rate)
    refit_s = predict_seconds(cand.model, extra | base, full_shape, rate)
    row = {"name": cand.label, "model": cand.model, "score": float("nan")}
    return _Run(cand, space, base, extra, trial_s, refit_s, row)


def model_from_row(row: Mapping[str, Any]) -> Any:
    """An unfitted model for a leaderboard row (a single candidate or a blend of them)."""
    from campaignrec.models.blend import Blend
    from campaignrec.models.registry import create

    if row["model"] != "blend":
        return create(row["model"], **row["params"])
    p = row["params"]
    return Blend(
        components=[create(c["model"], **c["params"]) for c in row["components"]],
        weights=tuple(p["weights"]),
        method=p["method"],
        normalization=p["normalization"],
    )


#: candidates the decision compares (the best popularity-family one is added when not in them)
MAX_FINALISTS = 4


def _decide(
    ok: list[dict[str, Any]],
    users_of: Mapping[str, NDArray[np.float64] | None],
    cost_of: Mapping[str, tuple[float, float]],
    val: ValidationData,
    budget: Budget,
    *,
    windows: int,
    make: Callable[[Mapping[str, Any]], Any],
    second: Callable[[], ValidationData],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The leaderboard row chosen by the one-standard-error rule, and the decision's report.

    Finalists: the ``MAX_FINALISTS`` best rows plus the best plain-popularity row and the best
    popularity variant (category or repeat popularity). When ``windows >= 2`` and the budget
    allows, each finalist is refitted on an earlier window (the validation split carved again
    from the tuning window's fit part) and scored there too, so the tuned candidates are also
    judged on targets their tuning never saw. The best row goes first, then the popularity
    variants (:func:`_is_cheap`), which are never left out for time: their one fit was measured
    in step 1 and is cheap, and the rule leans on them. Leaving one out made the rule fall back
    to plain popularity on protocol B while category popularity was best on both windows.
    """
    finalists = [r for r in ok[:MAX_FINALISTS] if users_of.get(r["name"]) is not None]
    for level in (0, 1):
        popular = [
            r for r in ok if simplicity(r["model"]) == level and users_of.get(r["name"]) is not None
        ]
        if popular and popular[0] not in finalists:
            finalists.append(popular[0])
    notes: list[str] = []
    scores: dict[str, list[NDArray[np.float64]]] = {
        r["name"]: [np.asarray(users_of[r["name"]])] for r in finalists
    }
    used_windows = 1
    if windows >= 2 and len(finalists) >= 2:
        try:
            val2: ValidationData | None = second()
        except (ValidationError, ConfigError) as exc:
            val2 = None
            notes.append(f"no second window: {exc}")
        if val2 is not None:
            reserve = max(cost_of.get(r["name"], (0.0, 0.0))[1] for r in finalists)
            kept = []
            # the best and the popularity-leaning finalists first: the rule needs them
            order = sorted(
                finalists, key=lambda r: (r is not ok[0], simplicity(r["model"]), -r["score"])
            )
            for r in order:
                need = cost_of.get(r["name"], (0.0, 0.0))[0]
                if not _is_cheap(r["model"]) and need + reserve > budget.plan_left():
                    notes.append(f"{r['name']}: no time for the second window (~{need:.1f} s)")
                    continue
                try:
                    model = make(r).fit(val2.fit_part)
                    scores[r["name"]].append(val2.evaluate_users(model))
                    kept.append(r)
                except Exception as exc:  # judged on the first window only, like the others
                    notes.append(f"{r['name']}: second window failed: {exc}")
            if ok[0] in kept and len(kept) >= 2:
                finalists, used_windows = kept, 2
            else:
                notes.append("second window left out: the best candidate or a rival lacked it")
    window_scores = {r["name"]: scores[r["name"]][:used_windows] for r in finalists}
    name, standings = one_standard_error(finalists, window_scores)
    chosen = next(r for r in ok if r["name"] == name)
    report = {
        "rule": "one_se",
        "best": ok[0]["name"],
        "chosen": name,
        "windows": used_windows,
        "finalists": [s.to_dict() for s in standings],
        "notes": notes,
    }
    return chosen, report


#: the smallest item cut-off ``select_default`` lowers a model to, to fit its time budget
MIN_APPROX_ITEMS = 1000


def _shrink_to_fit(
    run: _Run,
    val_shape: WorkShape,
    full_shape: WorkShape,
    rate: float,
    correction: float,
    left: float,
    done: Sequence[_Run],
) -> tuple[dict[str, Any], float, float] | None:
    """``(params, trial s, refit s)``: the largest item cut-off (60 %, 40 %, 25 %, 15 %, 10 %
    of the catalogue, at least ``MIN_APPROX_ITEMS``) whose predicted validation fit and refit
    fit in half of ``left``, for models with a ``max_items`` parameter; None otherwise."""
    from campaignrec.evaluation import budget as budget_mod
    from campaignrec.models.registry import get_class

    fields = get_class(run.cand.model).params_class.__dataclass_fields__
    if "max_items" not in fields:
        return None
    # the cut-off is a primal approximation (EASE's dual models every item)
    primal = {"solver": "primal"} if "solver" in fields else {}
    current = min(int(run.base.get("max_items", full_shape.n_items)), full_shape.n_items)
    others = max([r.refit_s for r in done], default=0.0)
    for share in (0.6, 0.4, 0.25, 0.15, 0.1):
        m = int(full_shape.n_items * share)
        if m < MIN_APPROX_ITEMS:
            break
        if m >= current:
            continue
        params = run.extra | run.base | primal | {"max_items": m}
        trial = budget_mod.predict_seconds(run.cand.model, params, val_shape, rate)
        refit = budget_mod.predict_seconds(run.cand.model, params, full_shape, rate)
        if (trial + max(refit, others)) * correction <= 0.5 * left:
            return params, trial, refit
    return None


def _budget_reason(what: str, need: float, refit: float, left: float, total: float) -> str:
    return (
        f"over the time budget: {what} predicted {need:.1f} s plus {refit:.1f} s to refit on "
        f"all data, {max(left, 0.0):.1f} s left to plan of {total:.0f} s"
    )


def select_default(
    interactions: Interactions,
    *,
    n_trials: int = 6,
    timeout_per_candidate: float = 90.0,
    k: int = 10,
    max_validation_users: int = 3000,
    candidates: Sequence[Candidate] = DEFAULT_CANDIDATES,
    blend: bool = True,
    validation: str = "user_temporal",
    validation_params: Mapping[str, Any] | None = None,
    seed: int = 0,
    time_budget: float | None = None,
    progress: SelectionProgress | None = None,
    rule: str = "one_se",
    windows: int = 2,
) -> Selection:
    """Choose, tune and fit the default model for a shop on a validation split of its own data,
    within a time budget.

    1. carve validation from ``interactions`` (``validation="user_temporal"``: each user's last
       20 % by time, leave-one-out when too few users qualify; ``"global_temporal"`` with
       ``validation_params={"test_days": 7}``: the last week for everyone; ``"leave_one_out"``);
    2. run every candidate's base configuration once: plain popularity (the fallback, never
       skipped), then the popularity variants, then the rest cheapest predicted first; a
       candidate whose predicted trial plus refit on all data exceeds the time left is skipped,
       and its leaderboard row says so;
    3. tune the candidates best first (up to ``n_trials`` trials each in all, TPE, at most
       ``timeout_per_candidate`` seconds and a fair share of the time left each);
    4. optionally tune a score-fusion blend of the three best, when its refits fit the budget;
    5. pick the best by validation NDCG@k alone; 6. refit it on all ``interactions``.

    ``time_budget`` is in seconds (None: :func:`~campaignrec.evaluation.budget.default_time_budget`
    of the number of events; ``math.inf``: unbounded). Costs are predicted by each model's
    ``predicted_work`` and corrected by the times measured as the selection runs; a running fit
    is never interrupted, so a misprediction can overrun the budget by one trial.

    Returns
    -------
    Selection with the fitted model and a report: the validation protocol, a leaderboard of
    ``{"name", "score", "params"}`` rows (best first; skipped candidates last, with ``"skipped"``
    or ``"error"`` saying why), the budget (``seconds``, ``used``, what was skipped) and the
    chosen name.
    """
    from campaignrec.evaluation.budget import default_time_budget, machine_rate, shape_of
    from campaignrec.models.registry import create

    budget_s = default_time_budget(len(interactions)) if time_budget is None else time_budget
    if not budget_s > 0:
        raise ConfigError(f"time_budget must be > 0 seconds, got {time_budget}")
    budget = Budget(budget_s)
    progress = progress or SelectionProgress()
    progress.start(budget.seconds, budget.started + budget.seconds, [c.label for c in candidates])
    # the blend caches dense scores of its components for every validation user: keep that
    # under ~400 MB by evaluating every candidate on the same, smaller sample of users
    blend_parts = 3
    budget_users = int(BLEND_MEMORY_BYTES / (4 * blend_parts * max(interactions.n_items, 1)))
    blend = blend and budget_users >= 100
    if blend:
        max_validation_users = min(max_validation_users, budget_users)
    val, val_kind = _validation_for(
        interactions, k, max_validation_users, seed, validation, validation_params
    )
    rate = machine_rate()
    val_shape = shape_of(val.fit_part, int(val.truth.n_users))
    full_shape = shape_of(interactions)
    fallback = _fallback_label(candidates)
    runs: list[_Run] = []
    board: list[dict[str, Any]] = []

    def failed(label: str, model: str, exc: Exception) -> None:
        # a ConfigError / ValidationError is expected on some shops (no item categories, a
        # catalogue too wide for a solver) and the report says why; anything else is a warning
        expected = isinstance(exc, ConfigError | ValidationError)
        log.log(
            logging.INFO if expected else logging.WARNING,
            "select_default: candidate %s skipped: %s",
            label,
            exc,
        )
        board.append({"name": label, "model": model, "score": float("nan"), "error": str(exc)})
        progress.skipped(label, str(exc))

    for cand in candidates:
        if cand.model == "repeat_popular" and val.exclude_seen:
            # with seen items excluded it ranks exactly as all-time popularity: a duplicate
            reason = (
                f"the shop does not repeat purchases (repeat share {val.repeat_share:.2f} < "
                f"{REPEAT_SHOP_SHARE}): with seen items excluded it ranks as most_popular"
            )
            board.append(
                {"name": cand.label, "model": cand.model, "score": float("nan"), "skipped": reason}
            )
            progress.skipped(cand.label, reason)
            continue
        try:
            runs.append(_prepare(cand, seed, val_shape, full_shape, rate))
        except Exception as exc:
            failed(cand.label, cand.model, exc)
    # the fallback before everything (whatever the budget, something is trained), then the
    # popularity variants, then the rest cheapest first: a budget that covers the cheap variants
    # never spends itself on an expensive candidate before them
    runs.sort(key=lambda r: (r.cand.label != fallback, not _is_cheap(r.cand.model), r.trial_s))

    # ---- 1. every candidate's base configuration, while it fits -------------------------------
    done: list[_Run] = []
    for run in runs:
        c = budget.correction()
        need, refit = run.trial_s * c, run.refit_s * c
        reserve = max([r.refit_s for r in done] + [refit])
        if run.cand.label != fallback and need + reserve > budget.plan_left():
            # a model with an item cut-off (EASE) may fit on the most popular items only
            shrunk = _shrink_to_fit(run, val_shape, full_shape, rate, c, budget.plan_left(), done)
            if shrunk is not None:
                params, run.trial_s, run.refit_s = shrunk
                run.base = {n: v for n, v in params.items() if n not in run.extra}
                m = int(params["max_items"])
                run.row["approximation"] = (
                    f"modelled the {m:,} most popular of {interactions.n_items:,} items to fit "
                    "the time budget"
                )
                need, refit = run.trial_s * c, run.refit_s * c
                reserve = max([r.refit_s for r in done] + [refit])
        # inf: no configuration fits in memory; fitting says so at once (a ConfigError)
        over = math.isfinite(need + reserve) and need + reserve > budget.plan_left()
        if run.cand.label != fallback and over:
            reason = _budget_reason("one validation fit", need, refit, budget.plan_left(), budget_s)
            run.row |= {"skipped": reason, "predicted_s": round(need, 2)}
            board.append(run.row)
            progress.skipped(run.cand.label, reason)
            log.info("select_default: candidate %s skipped: %s", run.cand.label, reason)
            continue
        progress.candidate_start(run.cand.label, 1, need)
        t0 = time.perf_counter()
        try:
            run.users = val.evaluate_users(run.factory(run.base).fit(val.fit_part))
            score = float(run.users.mean())
        except Exception as exc:  # a candidate that cannot run on this data is skipped
            failed(run.cand.label, run.cand.model, exc)
            continue
        measured = time.perf_counter() - t0
        budget.record(run.trial_s, measured)
        # the refit scales like the prediction did; its level comes from the measurement
        run.refit_s = measured * run.refit_s / max(run.trial_s, 1e-9)
        run.trial_s = measured
        run.row |= {
            "score": score,
            "params": run.extra | run.base,
            "trials": 1,
            "seconds": measured,
            "started_at_s": round(t0 - budget.started, 2),
            "predicted_s": round(need, 2),
        }
        progress.trial_done(run.cand.label, score)
        log.info("select_default: %s validation ndcg@%d=%.4f", run.cand.label, k, score)
        done.append(run)

    # ---- 2. tune, best first, each a fair share of the time left ------------------------------
    # kept back: the refit, and the decision's second window (one fit of each likely finalist)
    ranked = sorted(done, key=lambda r: -r.row["score"])
    likely = ranked[:MAX_FINALISTS] + [
        next(r for r in ranked if simplicity(r.cand.model) == level)
        for level in (0, 1)
        if any(simplicity(r.cand.model) == level for r in ranked)
    ]
    window_reserve = (
        sum({id(r): r.trial_s for r in likely}.values())
        if rule == "one_se" and windows >= 2
        else 0.0
    )
    reserve = max([r.refit_s for r in done], default=0.0) + window_reserve
    tunable = [r for r in sorted(done, key=lambda r: -r.row["score"]) if r.space]
    for n_left, run in zip(range(len(tunable), 0, -1), tunable, strict=True):
        if n_trials <= 1:
            break
        share = min((budget.plan_left() - reserve) / n_left, timeout_per_candidate)
        more = min(n_trials - 1, int(share // max(run.trial_s, 1e-3)))
        if more < 1:
            run.row["tuning"] = (
                f"base configuration only: a trial takes ~{run.trial_s:.1f} s, "
                f"{max(share, 0.0):.1f} s of the budget left for it"
            )
            continue
        progress.candidate_start(run.cand.label, more, more * run.trial_s)
        t0 = time.perf_counter()
        try:
            res = tune(
                run.factory,
                run.space,
                val,
                n_trials=more,
                # no trial starts unless one more fits in the share (costs vary with params)
                timeout=max(share - run.trial_s, 1e-3),
                seed=seed,
                fixed=run.base,
                prior=[(run.base, run.row["score"])],
                on_trial=functools.partial(progress.trial_done, run.cand.label),
            )
        except Exception as exc:
            log.warning("select_default: tuning %s failed: %s", run.cand.label, exc)
            continue
        ran = sum(not t.get("prior") for t in res.trials)
        run.row["trials"] += ran
        run.row["seconds"] += time.perf_counter() - t0
        if res.best_value > run.row["score"] and res.best_user_scores is not None:
            run.row["score"], run.row["params"] = res.best_value, run.extra | res.best_params
            run.users = res.best_user_scores
        progress.candidate_end(run.cand.label, run.row["score"])

    ok = sorted((r.row for r in done), key=lambda r: -r["score"])
    if not ok:
        raise ValidationError(
            "candidates",
            "no candidate could be trained on this data",
            value=[r.get("error") for r in board],
        )
    # ---- 3. a blend of the best ---------------------------------------------------------------
    blend_note: str | None = None
    by_name = {r.cand.label: r for r in done}
    users_of = {r.cand.label: r.users for r in done}
    cost_of = {r.cand.label: (r.trial_s, r.refit_s) for r in done}
    if blend and len(ok) >= 2 and ok[1]["score"] > 0:
        top = [r for r in ok[:blend_parts] if r["score"] > 0]
        need = sum(by_name[r["name"]].trial_s for r in top) * 1.5
        refit = sum(by_name[r["name"]].refit_s for r in top)
        # a blend that joins the finalists is refitted on the second window too
        blend_window = need / 1.5 if window_reserve else 0.0
        if need + refit + window_reserve + blend_window > budget.plan_left():
            blend_note = _budget_reason(
                "the blend",
                need + blend_window,
                refit,
                budget.plan_left() - window_reserve,
                budget_s,
            )
            progress.skipped("blend", blend_note)
        else:
            progress.candidate_start("blend", 1, need)
            try:
                fitted = {
                    r["name"]: create(r["model"], **r["params"]).fit(val.fit_part) for r in top
                }
                res = tune_blend_weights(
                    fitted, val, n_trials=max(8, 2 * n_trials), seed=seed, high=2.0
                )
                progress.trial_done("blend", res.best_value)
                if res.best_value > ok[0]["score"]:
                    name = "blend(" + " + ".join(r["name"] for r in top) + ")"
                    ok.append(
                        {
                            "name": name,
                            "model": "blend",
                            "score": res.best_value,
                            "params": res.best_params,
                            "components": [
                                {"model": r["model"], "params": r["params"]} for r in top
                            ],
                        }
                    )
                    ok.sort(key=lambda r: -r["score"])
                    users_of[name] = res.best_user_scores
                    cost_of[name] = (need / 1.5, refit)
            except Exception as exc:
                log.warning("select_default: blend failed: %s", exc)

    # ---- 4. the decision: a second window, the one-standard-error rule ------------------------
    decision: dict[str, Any] = {"rule": rule, "best": ok[0]["name"]}
    chosen = ok[0]
    if rule == "one_se" and len(ok) > 1:
        chosen, decision = _decide(
            ok,
            users_of,
            cost_of,
            val,
            budget,
            windows=windows,
            make=model_from_row,
            second=lambda: _validation_for(
                val.fit_part,
                k,
                max_validation_users,
                seed + 1,
                validation,
                validation_params,
                repeats=not val.exclude_seen,
            )[0],
        )
    elif rule not in ("one_se", "best"):
        raise ConfigError(f"unknown selection rule {rule!r}", hint="use 'one_se' or 'best'")
    model = model_from_row(chosen)
    refit_s = cost_of.get(chosen["name"], (0.0, 0.0))[1]
    progress.candidate_start(f"refit {chosen['name']}", 1, refit_s)
    model.fit(interactions)
    progress.finish(chosen["name"])
    skipped = [{"name": r["name"], "reason": r.get("skipped") or r.get("error")} for r in board]
    if blend_note:
        skipped.append({"name": "blend", "reason": blend_note})
    report = {
        "validation": {
            "protocol": val_kind,
            "metric": f"ndcg@{k}",
            "users": int(val.truth.n_users),
            "fit_events": len(val.fit_part),
            "repeat_share": round(val.repeat_share, 4),
            "repeats": not val.exclude_seen,
        },
        "leaderboard": ok + board,
        "chosen": chosen["name"],
        "decision": decision,
        "budget": {
            "seconds": budget_s,
            "default": time_budget is None,
            "used": budget.elapsed(),
            "machine_rate": rate,
            "correction": budget.correction(),
            "skipped": skipped,
        },
        "seconds": budget.elapsed(),
    }
    return Selection(model, chosen["name"], dict(chosen["params"]), report)
