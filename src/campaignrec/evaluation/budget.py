"""Time budgets for tuning: predict what a trial costs, plan against a deadline, report progress.

``select_default`` (``campaignrec train`` without a model) runs against a wall-clock budget. Before a
candidate runs, its cost is predicted from the model's own ``predicted_work`` (a rough count of
floating-point operations for the data's shape) divided by this machine's measured speed; once a
candidate has run, its measured time replaces the prediction (and the ratio of measured to
predicted time corrects the candidates not yet run). A candidate whose predicted trial plus
refit on all data does not fit in what is left is skipped, and the leaderboard says why.

The budget is a plan, not a hard kill: a running fit is never interrupted, so a misprediction can
overrun it by up to one trial. ``DEFAULT_BUDGET`` says how the default grows with the data.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from campaignrec.data.interactions import Interactions
from campaignrec.models.base import WorkShape

#: share of the budget no plan spends (see ``Budget.plan_left``)
SLACK = 0.1
#: work units a second of 2 cores of the benchmark machine (docs/benchmarks/models_scale.md)
REFERENCE_RATE = 3.0e10


@dataclasses.dataclass(frozen=True)
class DefaultBudget:
    """The default time budget of ``select_default``: ``base + per_million · events / 1e6``
    seconds, at most ``cap`` (20 s + 4 min per million events, at most 20 minutes)."""

    base_s: float = 20.0
    per_million_s: float = 240.0
    cap_s: float = 1200.0

    def seconds(self, n_events: int) -> float:
        return float(min(self.cap_s, self.base_s + self.per_million_s * n_events / 1e6))


DEFAULT_BUDGET = DefaultBudget()


def default_time_budget(n_events: int) -> float:
    """Seconds ``campaignrec train`` allows itself by default for ``n_events`` events."""
    return DEFAULT_BUDGET.seconds(n_events)


def machine_rate() -> float:
    """Work units a second assumed before anything was measured: ``REFERENCE_RATE``, what EASE's
    dense solvers reach on 2 cores of the benchmark machine. A speed probe was tried and
    dropped: on a machine shared with other jobs a short probe was off by 10x either way,
    while the first measured trials (cheap candidates run first) correct every later
    prediction (``Budget.correction``)."""
    return REFERENCE_RATE


def predict_seconds(
    model: str, params: Mapping[str, Any], shape: WorkShape, rate: float | None = None
) -> float:
    """Predicted seconds of fitting registry model ``model`` with ``params`` on data of ``shape``
    and scoring ``shape.n_scored`` users (inf when it cannot fit in memory)."""
    from campaignrec.models.registry import get_class

    cls = get_class(model)
    fields = set(cls.params_class.__dataclass_fields__)
    p = cls.params_class(**{k: v for k, v in params.items() if k in fields})
    work = cls.predicted_work(p, shape)
    # interpreter and bookkeeping overhead of any fit: tens of milliseconds
    return float(work / (rate or machine_rate()) + 0.02)


class Budget:
    """A wall-clock deadline, with the measured / predicted time ratios seen so far.

    Examples
    --------
    >>> b = Budget(60.0)
    >>> b.left() <= 60.0
    True
    """

    def __init__(self, seconds: float, *, clock: Any = time.perf_counter) -> None:
        self.seconds = float(seconds)
        self._clock = clock
        self.started = clock()
        self.ratios: list[float] = []

    def elapsed(self) -> float:
        return float(self._clock() - self.started)

    def left(self) -> float:
        return self.seconds - self.elapsed()

    def plan_left(self) -> float:
        """What plans may still spend: the time left less a slack of ``SLACK`` of the budget,
        kept for mispredictions (a fit is never interrupted) and the final bookkeeping."""
        if math.isinf(self.seconds):
            return math.inf
        return self.left() - SLACK * self.seconds

    def record(self, predicted: float, measured: float) -> None:
        """Remember how far off a prediction of at least 0.05 s was (tiny ones are overhead)."""
        if predicted >= 0.05 and measured > 0 and math.isfinite(predicted):
            self.ratios.append(measured / predicted)

    def correction(self) -> float:
        """Median measured / predicted ratio so far (1 before anything was measured), kept in
        [0.1, 10] so that one noisy run cannot make everything look free or impossible."""
        if not self.ratios:
            return 1.0
        return float(np.clip(np.median(self.ratios), 0.1, 10.0))


class SelectionProgress:
    """What ``select_default`` reports while it runs; the defaults do nothing.

    The CLI subclasses it to draw a progress bar per candidate with the time left. Methods are
    called from the selecting thread, in order: ``start`` once, then per candidate
    ``candidate_start`` / ``trial_done``... / ``candidate_end`` (or ``skipped`` alone), then
    ``finish``.
    """

    def start(self, budget_s: float, deadline: float, candidates: list[str]) -> None:
        """``deadline`` is on the ``time.perf_counter`` clock."""

    def candidate_start(self, label: str, trials: int, predicted_s: float) -> None:
        pass

    def trial_done(self, label: str, value: float) -> None:
        pass

    def candidate_end(self, label: str, score: float) -> None:
        pass

    def skipped(self, label: str, reason: str) -> None:
        pass

    def finish(self, chosen: str) -> None:
        pass


def shape_of(interactions: Interactions, n_scored: int = 0) -> WorkShape:
    """The ``WorkShape`` of fitting on ``interactions`` and scoring ``n_scored`` users."""
    return WorkShape.of(interactions, n_scored)
