"""Team-draft interleaving: compare two rankers on the same shoppers, in the same list.

For each request the two rankers' lists are merged into one (Radlinski, Kurup & Joachims, "How
does clickthrough data reflect retrieval quality?", 2008): in each round a coin decides which
"team" picks first, and each ranker in turn adds its highest-ranked item not yet shown, so after
every round both teams have contributed equally (the team with fewer picks always picks next).
Every shown item remembers the team that placed it; a click credits that team. Over many
shoppers, the ranker whose items get more of the clicks is preferred.

Because every shopper sees both rankers, the comparison is within-shopper: the large differences
between shoppers (how much they click at all) cancel, which is why interleaving needs far fewer
shoppers than an A/B split of the same power (measured in docs/benchmarks/experiments.md).

Analysis (:func:`analyse_interleaving`): per shopper, ``delta = credit(B) - credit(A)``; the
preference is ``mean(delta)`` with a t interval; ``wins`` / ``losses`` / ``ties`` count shoppers;
the p-value tests ``mean(delta) = 0``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from campaignrec.errors import ValidationError

__all__ = [
    "InterleavedList",
    "InterleavingResult",
    "analyse_interleaving",
    "credit_clicks",
    "team_draft_interleave",
]

TEAM_A, TEAM_B = 0, 1


@dataclass(frozen=True)
class InterleavedList:
    """The merged list and, for each position, the team (0 = A, 1 = B) that placed the item.

    ``propensities``: the probability that the team placed that position given the positions
    before it: 0.5 where a coin chose which team picks first, 1 for the forced picks.
    """

    items: list[str]
    teams: list[int]
    propensities: list[float] = field(default_factory=list)


def team_draft_interleave(
    ranking_a: Sequence[str],
    ranking_b: Sequence[str],
    k: int,
    rng: np.random.Generator,
) -> InterleavedList:
    """Merge two rankings of item ids into one list of at most ``k`` items (team draft).

    Parameters
    ----------
    ranking_a, ranking_b : sequence of str
        Each ranker's items, best first.
    k : int
        Length of the served list.
    rng : numpy Generator
        The coin of each round (seed it for reproducible tests).

    Returns
    -------
    InterleavedList
    """
    if k < 1:
        raise ValidationError("k", "must be >= 1", value=k)
    shown: set[str] = set()
    items: list[str] = []
    teams: list[int] = []
    pos = [0, 0]
    lists = (list(ranking_a), list(ranking_b))
    picks = [0, 0]
    props: list[float] = []

    def next_of(team: int) -> str | None:
        ranking = lists[team]
        while pos[team] < len(ranking) and ranking[pos[team]] in shown:
            pos[team] += 1
        return ranking[pos[team]] if pos[team] < len(ranking) else None

    while len(items) < k:
        if picks[TEAM_A] < picks[TEAM_B]:
            team = TEAM_A
        elif picks[TEAM_B] < picks[TEAM_A]:
            team = TEAM_B
        else:
            team = int(rng.random() < 0.5)
        coin = picks[TEAM_A] == picks[TEAM_B]
        item = next_of(team)
        if item is None:  # this ranker is exhausted: the other fills the list
            team = 1 - team
            item = next_of(team)
            if item is None:
                break
            coin = False
        elif coin and next_of(1 - team) is None:
            coin = False  # the other team had nothing left: the coin decided nothing
        shown.add(item)
        items.append(item)
        teams.append(team)
        props.append(0.5 if coin else 1.0)
        picks[team] += 1
    return InterleavedList(items, teams, props)


def credit_clicks(teams: ArrayLike, clicked: ArrayLike) -> tuple[int, int]:
    """Clicks credited to A and to B: ``clicked`` is a 0/1 flag per position of the list."""
    t = np.asarray(teams, dtype=np.int64)
    c = np.asarray(clicked, dtype=np.int64)
    if t.shape != c.shape:
        raise ValidationError("clicked", "needs one flag per position", value=c.shape)
    return int(c[t == TEAM_A].sum()), int(c[t == TEAM_B].sum())


@dataclass(frozen=True)
class InterleavingResult:
    """B against A over shoppers: positive ``preference`` means B's items got more clicks."""

    shoppers: int
    wins_b: int
    wins_a: int
    ties: int
    preference: float
    ci_low: float
    ci_high: float
    p_value: float

    @property
    def better(self) -> str | None:
        """``"A"`` or ``"B"`` when the interval excludes 0, else None."""
        if self.ci_low > 0:
            return "B"
        if self.ci_high < 0:
            return "A"
        return None


def analyse_interleaving(
    credit_a: ArrayLike, credit_b: ArrayLike, *, alpha: float = 0.05
) -> InterleavingResult:
    """Per-shopper credits of A and B (summed over each shopper's interleaved lists).

    Shoppers with no click carry no information and are counted as ties.
    """
    a = np.asarray(credit_a, dtype=np.float64).ravel()
    b = np.asarray(credit_b, dtype=np.float64).ravel()
    if a.shape != b.shape or a.size < 2:
        raise ValidationError("credits", "need the same >= 2 shoppers for A and B", value=a.size)
    delta: NDArray[np.float64] = b - a
    n = delta.size
    mean = float(delta.mean())
    se = float(delta.std(ddof=1) / math.sqrt(n))
    if se == 0:
        lo = hi = mean
        p = 1.0 if mean == 0 else 0.0
    else:
        tcrit = float(stats.t.ppf(1 - alpha / 2, n - 1))
        lo, hi = mean - tcrit * se, mean + tcrit * se
        p = float(2 * stats.t.sf(abs(mean / se), n - 1))
    return InterleavingResult(
        shoppers=n,
        wins_b=int(np.sum(delta > 0)),
        wins_a=int(np.sum(delta < 0)),
        ties=int(np.sum(delta == 0)),
        preference=mean,
        ci_low=lo,
        ci_high=hi,
        p_value=p,
    )
