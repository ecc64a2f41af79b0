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

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from campaignrec.errors import ConfigError, ValidationError


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
    if k < 1:
        return np.zeros(0, dtype=np.int64)
    if p <= 0:
        return np.zeros(k, dtype=np.int64)
    return np.asarray(_minimum_table(int(k), float(p), float(alpha)), dtype=np.int64)


@lru_cache(maxsize=256)
def _minimum_table(k: int, p: float, alpha: float) -> tuple[int, ...]:
    # one scipy call per (k, p, alpha): the serving path asks for the same few tables
    from scipy.stats import binom

    m = binom.ppf(alpha, np.arange(1, k + 1), p)
    return tuple(int(x) for x in np.maximum(np.nan_to_num(m, nan=0.0), 0))


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


GroupKind = Literal["new_items", "long_tail", "brand", "category"]
GROUP_KINDS: tuple[GroupKind, ...] = ("new_items", "long_tail", "brand", "category")
_LABELS = {
    "new_items": ("new items", "新品"),
    "long_tail": ("less-known items", "小众商品"),
}


@dataclass(frozen=True)
class ProtectedGroup:
    """The protected item group of the serving path, from the ``fairness_protected_group`` setting.

    ``new_items`` (created in the last ``new_item_days`` days, or never interacted with in the
    model's training data), ``long_tail`` (outside the ``head_share`` most popular items of the
    model), ``brand:A|B`` or ``category:Books|Home/Garden`` (a listed brand; a category path or
    its prefix).

    Examples
    --------
    >>> ProtectedGroup.parse("brand:Acme|Small Co").values
    ('Acme', 'Small Co')
    """

    kind: GroupKind
    values: tuple[str, ...] = ()

    @classmethod
    def parse(cls, spec: str) -> ProtectedGroup:
        head, sep, rest = str(spec).strip().partition(":")
        kind = head.strip().lower()
        values = tuple(v.strip() for v in rest.split("|") if v.strip()) if sep else ()
        hint = "new_items, long_tail, brand:A|B or category:Books|Home"
        if kind not in GROUP_KINDS:
            raise ConfigError(f"fairness_protected_group: unknown group {spec!r}", hint=hint)
        if kind in ("brand", "category") and not values:
            raise ConfigError(f"fairness_protected_group: {kind} needs values", hint=hint)
        if kind in ("new_items", "long_tail") and values:
            raise ConfigError(f"fairness_protected_group: {kind} takes no values", hint=hint)
        group: GroupKind = kind  # type: ignore[assignment]
        return cls(group, values)

    def label(self, lang: str) -> str:
        """What the explanation calls the group (``lang`` is ``en`` or ``zh``)."""
        zh = lang == "zh"
        if self.kind in _LABELS:
            return _LABELS[self.kind][1 if zh else 0]
        names = ("、" if zh else ", ").join(self.values[:3])
        if self.kind == "brand":
            return f"品牌{names}" if zh else f"the brands {names}"
        return f"{names}类商品" if zh else f"items in {names}"

    def mask(
        self,
        item_ids: Sequence[str] | NDArray[np.object_],
        brand: NDArray[np.object_],
        category: NDArray[np.object_],
        popularity: NDArray[np.floating],
        catalogue: pd.DataFrame | None,
        now: datetime,
        *,
        new_item_days: float = 30.0,
        head_share: float = 0.2,
    ) -> NDArray[np.bool_]:
        """Membership of each item (aligned with ``item_ids``) in the group."""
        n = len(item_ids)
        pop = np.asarray(popularity, dtype=np.float64)
        if self.kind == "long_tail":
            out = np.ones(n, dtype=bool)
            out[np.argsort(-pop, kind="stable")[: max(round(head_share * n), 1)]] = False
            return out
        if self.kind == "brand":
            wanted = set(self.values)
            return np.asarray([b in wanted for b in brand], dtype=bool)
        if self.kind == "category":
            return np.asarray(
                [
                    isinstance(c, str) and any(c == v or c.startswith(v + "/") for v in self.values)
                    for c in category
                ],
                dtype=bool,
            )
        out = pop <= 0  # new to the model: nobody interacted with it in the training data
        if catalogue is not None and "created_time" in catalogue.columns and len(catalogue):
            table = catalogue.drop_duplicates("item_id", keep="last")
            created = pd.to_datetime(table["created_time"], utc=True, errors="coerce")
            pos = pd.Index(table["item_id"].astype(str)).get_indexer(
                pd.Index([str(i) for i in item_ids], dtype=object)
            )
            cut = pd.Timestamp(now - timedelta(days=new_item_days))
            recent = (created >= cut).to_numpy(dtype=bool)
            have = pos >= 0
            out[have] |= recent[pos[have]]
        return out


def fair_order(
    order: NDArray[np.int64],
    protected: NDArray[np.bool_],
    k: int,
    config: FairRankingConfig,
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """One list: the first ``k`` of ``order`` re-ranked by :func:`fair_rerank`, and which of them
    the constraint moved up (placed above the position they held in ``order``)."""
    pool = np.asarray(order, dtype=np.int64)
    k = min(int(k), len(pool))
    m = minimum_protected(k, config.p, config.alpha)
    is_prot = np.asarray(protected, dtype=bool)[pool]
    p_idx = np.flatnonzero(is_prot).tolist()
    o_idx = np.flatnonzero(~is_prot).tolist()
    picked: list[int] = []
    ip = io = n_prot = 0
    for pos in range(k):  # the walk of fair_rerank, for one list
        need = n_prot < m[pos]
        if ip < len(p_idx) and (need or io >= len(o_idx) or p_idx[ip] < o_idx[io]):
            picked.append(p_idx[ip])
            ip += 1
            n_prot += 1
        elif io < len(o_idx):
            picked.append(o_idx[io])
            io += 1
        else:
            break
    at = np.asarray(picked, dtype=np.int64)
    return pool[at], at > np.arange(len(at))


__all__ = [
    "GROUP_KINDS",
    "FairRanking",
    "FairRankingConfig",
    "ProtectedGroup",
    "fair_order",
    "fair_rerank",
    "minimum_protected",
]
