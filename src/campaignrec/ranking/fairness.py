"""A fairness-aware re-ranker: a minimum share of a protected item group in every top-i prefix.

FA*IR-style constrained ranking (after Zehlike et al., "FA*IR: A Fair Top-k Ranking Algorithm",
CIKM 2017): for a target proportion ``p`` (the strength) and a significance ``alpha``, the top
``i`` items of a list must hold at least ``m(i)`` protected items, where ``m(i)`` is the
``alpha``-quantile of Binomial(i, p): the smallest count a fair coin-flip ranking with a ``p``
share of protected items would fall below with probability at most ``alpha``. The re-ranker walks
the candidates best first and, at each position, takes the best protected candidate when the
prefix would otherwise fall short of ``m(i)``, else the best candidate of any group. Within each
group the model's order is kept, so ``p = 0`` is the model's ranking unchanged, and the ranking
that meets the table is the one closest to the model's.

Differences from the paper, on purpose: one ``alpha`` for every prefix (the paper adjusts it for
the multiple tests, which lowers ``m(i)`` slightly), and a list that runs out of protected
candidates is filled from the others (the shortfall is counted, not raised).

Examples
--------
>>> minimum_protected(10, 0.5, 0.1).tolist()
[0, 0, 0, 1, 1, 1, 2, 2, 3, 3]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from campaignrec.errors import ValidationError


@dataclass(frozen=True)
class FairRankingConfig:
    """Strength ``p`` (target protected proportion, 0 = off) and significance ``alpha``."""

    p: float = 0.0
    alpha: float = 0.1

    def __post_init__(self) -> None:
        if not 0.0 <= self.p < 1.0:
            raise ValidationError("p", "must be in [0, 1)", value=self.p)
        if not 0.0 < self.alpha < 1.0:
            raise ValidationError("alpha", "must be in (0, 1)", value=self.alpha)


def minimum_protected(k: int, p: float, alpha: float = 0.1) -> NDArray[np.int64]:
    """``m[i - 1]``: the fewest protected items the top ``i`` may hold, for i = 1..k."""
    from scipy.stats import binom

    if k < 1:
        return np.zeros(0, dtype=np.int64)
    if p <= 0:
        return np.zeros(k, dtype=np.int64)
    i = np.arange(1, k + 1)
    m = binom.ppf(alpha, i, p)
    return np.maximum(np.nan_to_num(m, nan=0.0), 0).astype(np.int64)


@dataclass(frozen=True)
class FairRanking:
    """Re-ranked lists and how often the minimum could not be met (too few protected candidates)."""

    items: NDArray[np.int64]
    scores: NDArray[np.float64]
    shortfall_lists: int


def fair_rerank(
    candidates: NDArray[np.integer],
    scores: NDArray[np.floating],
    protected: NDArray[np.bool_],
    k: int,
    config: FairRankingConfig,
) -> FairRanking:
    """Re-rank each user's candidates so every top-i prefix meets :func:`minimum_protected`.

    Parameters
    ----------
    candidates : (n_users, C) int array
        Item indices, best first; ``-1`` pads.
    scores : (n_users, C) float array
        The model's scores (kept with their items).
    protected : (n_items,) bool array
        Membership of the protected group (new items, small sellers, ...).
    k : int
        Length of the output lists (at most C).
    config : FairRankingConfig

    Returns
    -------
    FairRanking
    """
    cand = np.asarray(candidates, dtype=np.int64)
    sc = np.asarray(scores, dtype=np.float64)
    if cand.shape != sc.shape or cand.ndim != 2:
        raise ValidationError("scores", "must have the shape of candidates", value=sc.shape)
    k = min(int(k), cand.shape[1])
    m = minimum_protected(k, config.p, config.alpha)
    out = np.full((cand.shape[0], k), -1, dtype=np.int64)
    out_scores = np.full((cand.shape[0], k), -np.inf)
    if config.p <= 0:
        out[:] = cand[:, :k]
        out_scores[:] = sc[:, :k]
        return FairRanking(out, out_scores, 0)
    prot = np.zeros(cand.shape, dtype=bool)
    valid = cand >= 0
    prot[valid] = np.asarray(protected, dtype=bool)[cand[valid]]
    short = 0
    for u in range(cand.shape[0]):
        p_idx = np.flatnonzero(valid[u] & prot[u])
        o_idx = np.flatnonzero(valid[u] & ~prot[u])
        ip = io = 0
        n_prot = 0
        missed = False
        for pos in range(k):
            need = n_prot < m[pos]
            take_p = ip < len(p_idx) and (
                need or io >= len(o_idx) or p_idx[ip] < o_idx[io]  # model order within the lists
            )
            if need and ip >= len(p_idx):
                missed = True
            if take_p:
                j = p_idx[ip]
                ip += 1
                n_prot += 1
            elif io < len(o_idx):
                j = o_idx[io]
                io += 1
            else:
                break
            out[u, pos] = cand[u, j]
            out_scores[u, pos] = sc[u, j]
        short += int(missed)
    return FairRanking(out, out_scores, short)


__all__ = ["FairRanking", "FairRankingConfig", "fair_rerank", "minimum_protected"]
