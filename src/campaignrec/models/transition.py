"""ItemTransition: a sequential item-to-item transition model.

From every user's time-ordered item sequence it counts how often item ``j`` follows item ``i``
within a few steps (closer steps weigh more), normalises the counts by the items' out- and
in-degrees, and scores a user by their recency-weighted history times that transition matrix:
"what people usually look at next after what you looked at last". Fitting is a handful of
vectorised passes over the flat event arrays (one per step offset) and one sparse build; scoring a
batch of users is one sparse product.
"""

from __future__ import annotations

import dataclasses
import numbers
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from campaignrec.data.interactions import Interactions
from campaignrec.errors import ConfigError
from campaignrec.models._common import (
    binarize,
    check_positive,
    csr_arrays,
    csr_from_arrays,
    history_recency,
    recency_history,
    row_of_nonzero,
    sparse_topk_rows,
)
from campaignrec.models.base import Explanation, Params, Recommender

SECONDS_PER_HOUR = 3600.0
#: How many history items an explanation lists.
EXPLAIN_TOP = 5


@dataclasses.dataclass(frozen=True)
class ItemTransitionParams(Params):
    """Parameters of :class:`ItemTransition`.

    Attributes
    ----------
    window : link ``i`` to every item up to this many steps after it in the same user's sequence.
    distance_power : a pair ``d`` steps apart adds ``d ** -distance_power`` (0 = every step in
        the window counts the same).
    backward_weight : also add ``backward_weight * d ** -distance_power`` to ``T[j, i]`` ("j came
        before i"); 0 keeps the model strictly directional.
    session_gap_hours : pairs whose events are more than this many hours apart are not linked;
        None links every pair in the window.
    dedupe_consecutive : collapse immediate repeats of an item (``i, i, i``) to one step (its last
        event) and never count ``i -> i``.
    alpha, beta : normalisation ``T = D_out^-alpha · T · D_in^-beta`` (out/in degree = row/column
        sums); 0 keeps raw counts, larger values damp items that lead (or are reached) everywhere.
    max_neighbours : keep only the largest this-many transitions per item (None = all).
    history_half_life : a user's history weights each distinct item
        ``0.5 ** (steps_from_end / history_half_life)`` (the most recent item = step 0).
    """

    window: int = 10
    distance_power: float = 1.0
    backward_weight: float = 0.0
    session_gap_hours: float | None = None
    dedupe_consecutive: bool = True
    alpha: float = 0.5
    beta: float = 0.5
    max_neighbours: int | None = 200
    history_half_life: float = 3.0


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_range(
    name: str, field: str, value: Any, low: float, high: float | None, hint: str
) -> None:
    """Raise a ConfigError unless ``value`` is a finite number in ``[low, high]``."""
    number = isinstance(value, numbers.Real) and not isinstance(value, bool)
    x = float(value) if number else float("nan")
    if not (np.isfinite(x) and x >= low and (high is None or x <= high)):
        bounds = f">= {low:g}" if high is None else f"in [{low:g}, {high:g}]"
        raise ConfigError(f"{name}: parameter '{field}' must be {bounds}, got {value!r}", hint=hint)


def _check_params(name: str, p: ItemTransitionParams) -> None:
    if not _is_int(p.window) or p.window < 1:
        raise ConfigError(
            f"{name}: parameter 'window' must be an integer >= 1, got {p.window!r}",
            hint="use e.g. window=10",
        )
    for field in ("distance_power", "backward_weight"):
        _check_range(name, field, getattr(p, field), 0.0, None, f"use {field}=0 to switch it off")
    for field in ("alpha", "beta"):
        _check_range(name, field, getattr(p, field), 0.0, 1.0, f"use {field}=0.5 (the default)")
    check_positive(name, "history_half_life", p.history_half_life)
    check_positive(name, "session_gap_hours", p.session_gap_hours, allow_none=True)
    if p.max_neighbours is not None and (not _is_int(p.max_neighbours) or p.max_neighbours < 1):
        raise ConfigError(
            f"{name}: parameter 'max_neighbours' must be an integer >= 1 or None, "
            f"got {p.max_neighbours!r}",
            hint="use None to keep every transition",
        )


def _steps(
    interactions: Interactions, dedupe: bool
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """The flat sequence steps as ``(users, items, timestamps)``, by user then time.

    With ``dedupe`` a run of the same item collapses to its last event.
    """
    indptr, items, ts = interactions.sequences
    users = np.repeat(np.arange(interactions.n_users, dtype=np.int64), np.diff(indptr))
    items64 = items.astype(np.int64)
    ts64 = np.asarray(ts, dtype=np.int64)
    if dedupe and len(items64) > 1:
        keep = np.ones(len(items64), dtype=bool)
        keep[:-1] = (users[:-1] != users[1:]) | (items64[:-1] != items64[1:])
        users, items64, ts64 = users[keep], items64[keep], ts64[keep]
    return users, items64, ts64


def transition_counts(interactions: Interactions, p: ItemTransitionParams) -> sp.csr_matrix:
    """Raw (unnormalised) transition weights ``T[i, j]``, float32 CSR.

    ``T[i, j]`` sums ``d ** -distance_power`` over every time ``j`` follows ``i`` exactly ``d``
    steps later (``1 <= d <= window``) in one user's sequence, plus ``backward_weight`` times the
    same for ``i`` following ``j``. Vectorised per offset ``d``.
    """
    n = interactions.n_items
    users, items, ts = _steps(interactions, p.dedupe_consecutive)
    gap_s = None if p.session_gap_hours is None else p.session_gap_hours * SECONDS_PER_HOUR
    forward = sp.csr_matrix((n, n), dtype=np.float32)
    for d in range(1, p.window + 1):
        same_user = users[:-d] == users[d:]
        if not same_user.any():
            break  # no user has a longer sequence either
        ok = same_user
        if gap_s is not None:
            ok = ok & (ts[d:] - ts[:-d] <= gap_s)
        if p.dedupe_consecutive:
            ok = ok & (items[:-d] != items[d:])
        a = np.flatnonzero(ok)
        if len(a) == 0:
            continue
        w = np.full(len(a), float(d) ** -p.distance_power, dtype=np.float32)
        step = sp.coo_matrix((w, (items[a], items[a + d])), shape=(n, n), dtype=np.float32)
        forward = forward + step.tocsr()  # coo -> csr sums repeated pairs
    counts = forward + p.backward_weight * forward.T if p.backward_weight > 0 else forward
    out = sp.csr_matrix(counts, dtype=np.float32)
    out.eliminate_zeros()
    out.sort_indices()
    return out


def _degree_scale(degree: NDArray[np.floating], power: float) -> NDArray[np.float64]:
    """``degree ** -power`` where the degree is nonzero (clamped at 1e-12), 0 elsewhere."""
    deg = np.asarray(degree, dtype=np.float64)
    scale = np.zeros_like(deg)
    nz = deg > 0
    scale[nz] = np.maximum(deg[nz], 1e-12) ** -power
    return scale


def normalise_transitions(t: sp.csr_matrix, alpha: float, beta: float) -> sp.csr_matrix:
    """``D_out^-alpha · T · D_in^-beta`` with out/in degree = row/column sums of ``T``."""
    t = t.tocsr()
    out_scale = _degree_scale(np.asarray(t.sum(axis=1)).ravel(), alpha)
    in_scale = _degree_scale(np.asarray(t.sum(axis=0)).ravel(), beta)
    data = t.data.astype(np.float64) * out_scale[row_of_nonzero(t)] * in_scale[t.indices]
    return sp.csr_matrix((data.astype(np.float32), t.indices, t.indptr), shape=t.shape)


def _ordinal(n: int) -> str:
    if 10 <= n % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _recency_phrase(steps_from_end: int) -> str:
    if steps_from_end == 0:
        return "your most recent"
    return f"your {_ordinal(steps_from_end + 1)} most recent"


class ItemTransition(Recommender):
    """Sequential item-to-item transitions: ``score(u) = h_u · T``.

    ``T[i, j]`` is how often ``j`` follows ``i`` within ``window`` steps in users' sequences
    (weighted ``d ** -distance_power`` by distance ``d``, degree-normalised); ``h_u`` weights each
    of the user's distinct items ``0.5 ** (steps_from_end / history_half_life)``, so what the user
    touched last drives the recommendation. Users without history get popularity.

    Examples
    --------
    >>> model = ItemTransition(window=10, history_half_life=3.0).fit(interactions)  # doctest: +SKIP
    >>> model.recommend(["u1"], k=10)  # doctest: +SKIP
    >>> model.explain("u1", "i42").evidence["history"]  # doctest: +SKIP
    """

    name = "transition"
    work_per_event = 4.0e4
    params_class = ItemTransitionParams
    params: ItemTransitionParams
    transitions_: sp.csr_matrix
    history_: sp.csr_matrix

    def __init__(self, params: ItemTransitionParams | None = None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        _check_params(self.name, self.params)

    def _fit(self, interactions: Interactions) -> None:
        p = self.params
        t = normalise_transitions(transition_counts(interactions, p), p.alpha, p.beta)
        if p.max_neighbours is not None:
            t = sparse_topk_rows(t, p.max_neighbours)
        self.transitions_ = t.astype(np.float32)
        self.history_ = recency_history(interactions, p.history_half_life)

    def _score_idx(self, user_idx: NDArray[np.int64]) -> NDArray[np.float32]:
        return np.asarray((self.history_[user_idx] @ self.transitions_).toarray(), dtype=np.float32)

    def _score_history(
        self, history: sp.csr_matrix, sequences: list[NDArray[np.int64]] | None
    ) -> NDArray[np.float32]:
        h = history_recency(binarize(history), sequences, self.params.history_half_life)
        return np.asarray((h @ self.transitions_).toarray(), dtype=np.float32)

    def explain(self, user_id: str, item_id: str) -> Explanation:
        pair = self._warm_pair(user_id, item_id)
        if pair is None:
            return super().explain(user_id, item_id)
        u, j = pair
        hist = self.history_[u]
        # weights fall strictly with the steps from the end, so their rank is the step
        steps = np.empty(hist.nnz, dtype=np.int64)
        steps[np.argsort(-hist.data, kind="stable")] = np.arange(hist.nnz)
        col = np.asarray(self.transitions_[hist.indices][:, [j]].toarray()).ravel()
        contrib = hist.data.astype(np.float64) * col
        order = np.argsort(-contrib, kind="stable")
        order = order[contrib[order] > 0][:EXPLAIN_TOP]
        history = [
            {
                "item_id": str(self.items_.ids[hist.indices[o]]),
                "steps_from_end": int(steps[o]),
                "history_weight": float(hist.data[o]),
                "transition": float(col[o]),
                "contribution": float(contrib[o]),
            }
            for o in order
        ]
        score = float(contrib.sum())
        if not history:
            return Explanation(
                "sequence",
                "None of your recent items usually leads to this one.",
                {"history": [], "score": score},
            )
        top_item, top_steps = self.items_.ids[hist.indices[order[0]]], int(steps[order[0]])
        return Explanation(
            "sequence",
            f"Often viewed next after {top_item} ({_recency_phrase(top_steps)}).",
            {"history": history, "score": score},
        )

    def _state(self) -> dict[str, NDArray[Any]]:
        return csr_arrays("transitions", self.transitions_) | csr_arrays("history", self.history_)

    def _load_state(self, arrays: dict[str, NDArray[Any]]) -> None:
        self.transitions_ = csr_from_arrays("transitions", arrays)
        self.history_ = csr_from_arrays("history", arrays)
