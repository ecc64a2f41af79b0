"""How ``select_default`` decides among its candidates under the noise of a small validation set.

A shop with a few hundred shoppers gives a validation split of a few hundred users; the NDCG of
two candidates then differs by chance by as much as their real difference, and the candidate
with the most tuned parameters wins such a race more often than it should (its score is the best
of several trials). The rule here prefers the simpler candidate unless a richer one is better
beyond that noise:

* every finalist is scored per user on each validation window (the tuning window and, when the
  budget allows, an earlier one: a rolling origin), and the per-user scores are pooled;
* the best pooled mean is found, and for every candidate the standard error of its paired
  per-user difference to the best (``std(d) / sqrt(n)``: the users are the same for every
  candidate, so the pairing removes what all candidates share);
* among the candidates within one standard error of the best, the simplest wins
  (``SIMPLICITY``: popularity < category popularity < neighbourhood and transition models <
  EASE and factor models < blends); a tie in simplicity goes to the higher mean.

This is the one-standard-error rule of cross-validation (Breiman et al., 1984; Hastie, Tibshirani
and Friedman, 2009, section 7.10), with the paired standard error of the difference in place of
the standard error of the best score alone, since all candidates are scored on the same users.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

#: simpler families first; models not listed count as 3
SIMPLICITY: dict[str, int] = {
    "most_popular": 0,
    "random": 0,
    "category_popular": 1,
    "repeat_popular": 1,
    "item_knn": 2,
    "user_knn": 2,
    "transition": 2,
    "content": 2,
    "ease": 3,
    "als": 3,
    "bpr": 3,
    "hybrid": 4,
    "sasrec": 4,
    "rerank": 5,
    "blend": 5,
}


def simplicity(model: str) -> int:
    """The rank of a model family in ``SIMPLICITY`` (lower is simpler)."""
    return SIMPLICITY.get(model, 3)


@dataclasses.dataclass(frozen=True)
class Standing:
    """One finalist in the decision."""

    name: str
    model: str
    mean: float  # pooled per-user NDCG over the windows
    window_means: tuple[float, ...]
    diff: float  # mean minus the best mean
    se: float  # standard error of the paired per-user difference to the best
    simplicity: int
    within: bool  # within one standard error of the best

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def one_standard_error(
    rows: Sequence[Mapping[str, Any]],
    window_scores: Mapping[str, Sequence[NDArray[np.float64]]],
) -> tuple[str, list[Standing]]:
    """The chosen finalist's name and every finalist's standing.

    Parameters
    ----------
    rows : finalists, each with ``"name"`` and ``"model"`` (a registry name, or ``"blend"``)
    window_scores : name -> per-user scores on each window; the same windows, users and user
        order for every finalist (so differences are paired)

    Examples
    --------
    >>> import numpy as np
    >>> rows = [{"name": "pop", "model": "most_popular"}, {"name": "ease", "model": "ease"}]
    >>> noisy = {"pop": [np.array([0.1, 0.3, 0.2, 0.4])],
    ...          "ease": [np.array([0.3, 0.2, 0.2, 0.45])]}
    >>> one_standard_error(rows, noisy)[0]
    'pop'
    """
    if not rows:
        raise ValueError("one_standard_error needs at least one finalist")
    pooled = {r["name"]: np.concatenate(list(window_scores[r["name"]])) for r in rows}
    sizes = {len(v) for v in pooled.values()}
    if len(sizes) != 1:
        raise ValueError(f"finalists were scored on different users: sizes {sorted(sizes)}")
    means = {n: float(v.mean()) if len(v) else 0.0 for n, v in pooled.items()}
    best = max(rows, key=lambda r: (means[r["name"]], -simplicity(r["model"])))["name"]
    out: list[Standing] = []
    for r in rows:
        name = r["name"]
        d = pooled[name] - pooled[best]
        se = float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else 0.0
        out.append(
            Standing(
                name=name,
                model=str(r["model"]),
                mean=means[name],
                window_means=tuple(float(w.mean()) if len(w) else 0.0 for w in window_scores[name]),
                diff=means[name] - means[best],
                se=se,
                simplicity=simplicity(str(r["model"])),
                within=name == best or means[name] >= means[best] - se,
            )
        )
    chosen = min((s for s in out if s.within), key=lambda s: (s.simplicity, -s.mean))
    return chosen.name, out
