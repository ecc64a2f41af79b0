"""The one Recommender protocol every model implements.

A model turns users and items into scores; it never sees SQL, campaigns or HTTP. ``fit`` does the
bookkeeping (keeps the snapshot's id maps and the seen-item matrix) and calls ``_fit`` for the
maths; ``recommend`` is batch-first with an allow-list (``items=``) and a block-list
(``exclude_items=``). Cold users (no history, or not in the snapshot at all) are handled
explicitly: a model that cannot score them from features falls back to popularity, and says so
in the explanation. Cold items (in the catalogue, touched by nobody in the snapshot) are handled
once for every family: they borrow the scores of their content neighbours
(:mod:`campaignrec.models.cold`), unless the model scores them itself (``handles_cold_items``).
"""

from __future__ import annotations

import dataclasses
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from campaignrec.data.interactions import IdMap, Interactions
from campaignrec.errors import CampaignrecError, ConfigError, NotFittedError, UnknownIdError
from campaignrec.models.cold import ColdItems, find_cold_items

BATCH_USERS = 2048
#: rows ranked at a time by ``top_k`` (bounds its temporaries)
TOP_K_ROWS = 256
#: ceiling of one batch's dense float32 score matrix: wide catalogues score fewer users at a time
SCORE_MATRIX_BYTES = 256 * 2**20


#: arrays of at least this many bytes are saved as plain ``.npy`` files and loaded memory-mapped
MMAP_MIN_BYTES = 2**20
#: the folder (inside a saved model) of the memory-mapped arrays
ARRAYS_DIR = "arrays"

#: ``create(name, **params)``: how a composite makes its member models by name
ModelFactory = Callable[..., "Recommender"]
#: ``load_model(path)``: how a composite loads its saved member models
ModelLoader = Callable[[Path], "Recommender"]


#: work units (flop-equivalents) of scoring and ranking one user x item cell (see ``predicted_work``)
SCORE_WORK_PER_CELL = 200.0


@dataclasses.dataclass(frozen=True)
class WorkShape:
    """The size of a fit for ``Recommender.predicted_work``: users with history, catalogue,
    distinct user-item pairs, events, and users scored afterwards (0: fit only)."""

    n_users: int
    n_items: int
    nnz: int
    n_events: int
    n_scored: int = 0

    @classmethod
    def of(cls, interactions: Interactions, n_scored: int = 0) -> WorkShape:
        binary = interactions.binary
        return cls(
            int((np.diff(binary.indptr) > 0).sum()),
            interactions.n_items,
            int(binary.nnz),
            len(interactions),
            n_scored,
        )


def batch_users(n_items: int) -> int:
    """Users scored per batch: BATCH_USERS, fewer when n_items makes the matrix large."""
    return max(1, min(BATCH_USERS, SCORE_MATRIX_BYTES // (4 * max(n_items, 1))))


@dataclasses.dataclass(frozen=True)
class Params:
    """Base of every model's parameter dataclass (frozen, JSON-able fields only)."""


@dataclasses.dataclass(frozen=True)
class Explanation:
    """Why an item was recommended: a reason code, a human sentence and the evidence."""

    reason: str
    text: str
    evidence: dict[str, Any] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def top_k(scores: NDArray[np.floating], k: int) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Row-wise top-k of a dense score matrix, best first; -inf entries are padded with index -1."""
    n, m = scores.shape
    kk = min(k, m)
    if kk <= 0:
        return np.full((n, k), -1, np.int64), np.full((n, k), -np.inf, np.float32)
    if kk < m:
        # in row blocks: argpartition's int64 output and the negated copy are as large as the
        # block, so a block of TOP_K_ROWS rows keeps them small next to the score matrix
        part = np.empty((n, kk), dtype=np.int64)
        for start in range(0, n, TOP_K_ROWS):
            block = scores[start : start + TOP_K_ROWS]
            part[start : start + len(block)] = np.argpartition(-block, kk - 1, axis=1)[:, :kk]
    else:
        part = np.tile(np.arange(m), (n, 1))
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-part_scores, axis=1, kind="stable")
    idx = np.take_along_axis(part, order, axis=1).astype(np.int64)
    val = np.take_along_axis(part_scores, order, axis=1).astype(np.float32)
    idx[~np.isfinite(val)] = -1
    if kk < k:
        idx = np.pad(idx, ((0, 0), (0, k - kk)), constant_values=-1)
        val = np.pad(val, ((0, 0), (0, k - kk)), constant_values=-np.inf)
    return idx, val


class Recommender(ABC):
    """Base class: scikit-learn-style contract (``__init__`` stores parameters only)."""

    name: ClassVar[str] = "base"
    params_class: ClassVar[type[Params]] = Params
    #: True when the model scores users without history from their features itself.
    handles_cold_users: ClassVar[bool] = False
    #: True when the model scores never-touched items from their features itself (content,
    #: hybrid) or they mean nothing to it (random); else they borrow content neighbours' scores
    handles_cold_items: ClassVar[bool] = False
    #: True for models built out of other models (blend, rerank): their ``__init__`` takes
    #: ``factory=`` / ``loader=`` and their ``load`` takes ``loader=`` for the members.
    composite: ClassVar[bool] = False
    #: rough work of fitting, per training event (see ``predicted_work``)
    work_per_event: ClassVar[float] = 1.0e5

    def __init__(self, params: Params | None = None, **overrides: Any) -> None:
        base = params if params is not None else self.params_class()
        if not isinstance(base, self.params_class):
            raise ConfigError(f"{self.name}: params must be {self.params_class.__name__}")
        known = {f.name for f in dataclasses.fields(base)}
        unknown = set(overrides) - known
        if unknown:
            raise ConfigError(
                f"{self.name}: unknown parameter(s) {sorted(unknown)}",
                hint=f"known: {sorted(known)}",
            )
        self.params = dataclasses.replace(base, **overrides)

    # ---- fitting -----------------------------------------------------------------------------
    def fit(self, interactions: Interactions) -> Self:
        """Learn from ``interactions``; returns ``self``."""
        self.users_: IdMap = interactions.users
        self.items_: IdMap = interactions.items
        self.seen_: sp.csr_matrix = interactions.binary
        self.popularity_: NDArray[np.float32] = interactions.item_popularity.astype(np.float32)
        self.snapshot_id_: str = interactions.snapshot_id
        self._fit(interactions)
        self.cold_items_: ColdItems | None = None
        if not (self.handles_cold_items or self.composite):
            warm = np.diff(interactions.binary.tocsc().indptr) > 0
            self.cold_items_ = find_cold_items(interactions.item_features, warm)
        self.fitted_ = True
        return self

    def _fill_cold(self, scores: NDArray[np.float32]) -> NDArray[np.float32]:
        """Cold items' columns from their content neighbours (the shared fallback)."""
        cold = getattr(self, "cold_items_", None)
        if cold is None or not len(cold):
            return scores
        if not (scores.flags.writeable and scores.flags.owndata):  # never write into the model
            scores = scores.copy()
        return cold.apply(scores)

    @classmethod
    def predicted_work(cls, params: Params, shape: WorkShape) -> float:
        """Rough work of one fit of shape ``shape`` plus scoring ``shape.n_scored`` users over
        every item, in floating-point operations or their equivalent in time (about 3e10 a
        second on 2 cores of the machine of ``docs/benchmarks/models_scale.md``).

        Time budgets (``campaignrec.evaluation.budget``) plan with it: which candidates to run,
        how many trials. It is an estimate to order and skip by, corrected by measured times,
        not a promise. The default is linear in events plus a dense score per cell; models
        whose cost is not (EASE: cubic) override it.
        """
        return cls.work_per_event * shape.n_events + SCORE_WORK_PER_CELL * shape.n_scored * max(
            shape.n_items, 1
        )

    @abstractmethod
    def _fit(self, interactions: Interactions) -> None:
        """The maths of fitting (bookkeeping is done by ``fit``)."""

    @abstractmethod
    def _score_idx(self, user_idx: NDArray[np.int64]) -> NDArray[np.float32]:
        """Dense scores, shape (len(user_idx), n_items), for known users (higher is better)."""

    def check_fitted(self) -> None:
        if not getattr(self, "fitted_", False):
            raise NotFittedError(type(self).__name__)

    @property
    def n_items(self) -> int:
        return len(self.items_)

    # ---- scoring -------------------------------------------------------------------------------
    def _has_history(self, user_idx: NDArray[np.int64]) -> NDArray[np.bool_]:
        counts = np.diff(self.seen_.indptr)
        ok = user_idx >= 0
        out = np.zeros(len(user_idx), dtype=bool)
        out[ok] = counts[user_idx[ok]] > 0
        return out

    def _cold_scores(self, n: int) -> NDArray[np.float32]:
        """Scores for users the model cannot score: item popularity (overridable)."""
        return np.tile(self.popularity_, (n, 1))

    def score_matrix(self, user_idx: NDArray[np.int64] | Sequence[int]) -> NDArray[np.float32]:
        """Dense scores for internal user indices (-1 = unknown user -> cold fallback)."""
        self.check_fitted()
        uidx = np.asarray(user_idx, dtype=np.int64)
        warm = self._has_history(uidx) | (self.handles_cold_users & (uidx >= 0))
        if warm.all():  # the common case: no second users x items matrix to copy into
            return self._fill_cold(np.asarray(self._score_idx(uidx), dtype=np.float32))
        out = np.empty((len(uidx), self.n_items), dtype=np.float32)
        if warm.any():
            out[warm] = self._score_idx(uidx[warm])
        if (~warm).any():
            out[~warm] = self._cold_scores(int((~warm).sum()))
        return self._fill_cold(out)

    def recommend_idx(
        self,
        user_idx: NDArray[np.int64] | Sequence[int],
        k: int = 10,
        *,
        exclude_seen: bool = True,
        items: NDArray[np.int64] | None = None,
        exclude_items: NDArray[np.int64] | None = None,
    ) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        """Top-k internal item indices and scores per user (rows padded with -1 / -inf)."""
        self.check_fitted()
        uidx = np.asarray(user_idx, dtype=np.int64)
        all_idx = np.full((len(uidx), k), -1, np.int64)
        all_val = np.full((len(uidx), k), -np.inf, np.float32)
        allow = None
        if items is not None:
            allow = np.zeros(self.n_items, dtype=bool)
            allow[np.asarray(items, dtype=np.int64)] = True
        step = batch_users(self.n_items)
        for start in range(0, len(uidx), step):
            batch = uidx[start : start + step]
            scores = self.score_matrix(batch).astype(np.float32, copy=False)
            if exclude_seen:
                known = np.flatnonzero(batch >= 0)
                if len(known):
                    r, c = self.seen_[batch[known]].nonzero()
                    scores[known[r], c] = -np.inf  # in place: no copy of the batch's scores
            if allow is not None:
                scores[:, ~allow] = -np.inf
            if exclude_items is not None and len(exclude_items):
                scores[:, np.asarray(exclude_items, dtype=np.int64)] = -np.inf
            idx, val = top_k(scores, k)
            all_idx[start : start + len(batch)] = idx
            all_val[start : start + len(batch)] = val
        return all_idx, all_val

    def recommend(
        self,
        user_ids: Iterable[str] | str,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        items: Iterable[str] | None = None,
        exclude_items: Iterable[str] | None = None,
    ) -> tuple[NDArray[np.object_], NDArray[np.float32]]:
        """Top-k external item ids and scores for each user id (unknown users get the cold path).

        Rows with fewer than ``k`` candidates are padded with ``None`` / ``-inf``.
        """
        self.check_fitted()
        ids = [user_ids] if isinstance(user_ids, str) else list(user_ids)
        uidx = self.users_.index(ids, missing="ignore")
        allow = None if items is None else self.items_.index(list(items), missing="ignore")
        block = (
            None
            if exclude_items is None
            else self.items_.index(list(exclude_items), missing="ignore")
        )
        idx, val = self.recommend_idx(
            uidx,
            k,
            exclude_seen=exclude_seen,
            items=None if allow is None else allow[allow >= 0],
            exclude_items=None if block is None else block[block >= 0],
        )
        return self.items_.external(idx), val

    def score(self, user_ids: Iterable[str], item_ids: Iterable[str]) -> NDArray[np.float32]:
        """Scores of aligned (user, item) pairs; an unknown item scores NaN."""
        self.check_fitted()
        u = self.users_.index(list(user_ids), missing="ignore")
        i = self.items_.index(list(item_ids), missing="ignore")
        if len(u) != len(i):
            raise ConfigError("score(): user_ids and item_ids must have the same length")
        out = np.full(len(u), np.nan, dtype=np.float32)
        uniq, inv = np.unique(u, return_inverse=True)
        mat = self.score_matrix(uniq)
        ok = i >= 0
        out[ok] = mat[inv[ok], i[ok]]
        return out

    # ---- scoring a history given at request time ----------------------------------------------
    def score_history(
        self, history: sp.csr_matrix, *, sequences: list[NDArray[np.int64]] | None = None
    ) -> NDArray[np.float32]:
        """Dense scores for histories given at request time (not the snapshot's users).

        Parameters
        ----------
        history : (n, n_items) sparse interaction weights, columns aligned with ``items_``
            (the snapshot's ``Interactions.matrix`` convention: summed event weights; models
            trained on 0/1 data look only at which entries are nonzero).
        sequences : optionally each row's item indices in time order (oldest first, repeats
            allowed), for order-aware models (transition, sequential item KNN, recency EASE,
            SASRec); without it they weigh every history item alike (SASRec needs it). History
            items missing from a row's sequence count as older than every sequenced item.

        Returns
        -------
        (n, n_items) float32 scores, higher is better, nothing masked (the caller removes seen
        or ineligible items). A row without any history gets the model's cold scores, as
        ``recommend`` does for a user without history. For a snapshot user's own row and
        sequence the scores of unseen items rank as ``recommend(user)`` does; factor models
        fold the history in (a least-squares fit of the item factors), which approximates
        the trained user factor.

        Raises
        ------
        ConfigError
            ``history`` is not (n, n_items), or ``sequences`` has not one entry per row.
        CampaignrecError
            The model cannot score a history it was not trained on (hybrid, rerank).
        """
        self.check_fitted()
        h = sp.csr_matrix(history, dtype=np.float32)
        if h.ndim != 2 or h.shape[1] != self.n_items:
            raise ConfigError(
                f"score_history(): 'history' has shape {h.shape}, need (n, {self.n_items})",
                hint="align the columns with the model's items_ (one column per item)",
            )
        if sequences is not None and len(sequences) != h.shape[0]:
            raise ConfigError(
                f"score_history(): {len(sequences)} 'sequences' for {h.shape[0]} history rows",
                hint="give one sequence per row (an empty array for none), or sequences=None",
            )
        seqs = None if sequences is None else [np.asarray(q, dtype=np.int64) for q in sequences]
        for q in seqs or []:
            if len(q) and (q.min() < 0 or q.max() >= self.n_items):
                raise ConfigError(
                    f"score_history(): a sequence holds item indices outside [0, {self.n_items})",
                    hint="use the model's item indices (items_.index)",
                )
        empty = np.diff(h.indptr) == 0
        if seqs is not None:
            empty &= np.asarray([len(q) == 0 for q in seqs], dtype=bool)
        if not empty.any():
            return self._fill_cold(np.asarray(self._score_history(h, seqs), dtype=np.float32))
        out = np.empty((h.shape[0], self.n_items), dtype=np.float32)
        if (~empty).any():
            keep = np.flatnonzero(~empty)
            sub = None if seqs is None else [seqs[r] for r in keep]
            out[keep] = self._score_history(h[keep], sub)
        out[empty] = self._cold_scores(int(empty.sum()))
        return self._fill_cold(out)

    def _score_history(
        self, history: sp.csr_matrix, sequences: list[NDArray[np.int64]] | None
    ) -> NDArray[np.float32]:
        """Scores of non-empty history rows (models override; the default refuses)."""
        raise CampaignrecError(
            f"model {self.name!r} cannot score a history given at request time: "
            f"{self.no_history_reason}",
            hint="serve it for snapshot users with recommend(), or use an item-based model "
            "(item_knn, ease, transition, content, category_popular) for fresh histories",
        )

    #: why ``score_history`` is not available (models that do not override ``_score_history``)
    no_history_reason: ClassVar[str] = "it scores only the users it was trained on"

    # ---- item similarity -----------------------------------------------------------------------
    def similar_items(
        self, item_id: str, k: int = 10
    ) -> tuple[NDArray[np.object_], NDArray[np.float32]]:
        """The ``k`` items most similar to ``item_id``, best first, and their similarities.

        The item itself is never in the list; fewer than ``k`` come back when fewer items are
        similar at all. Models with item similarity (item_knn, ease, content, als, bpr)
        override this; the default raises, because a popularity ranking or a blend says
        nothing about which items resemble one another.

        Raises
        ------
        UnknownIdError
            The snapshot does not know ``item_id``.
        CampaignrecError
            The model has no item similarity.
        """
        self.check_fitted()
        if item_id not in self.items_:
            raise UnknownIdError("item", item_id)
        raise CampaignrecError(
            f"model {self.name!r} has no item similarity (asked for items similar to {item_id!r})",
            hint="use a model with item similarity: item_knn, ease, content, als or bpr",
        )

    # ---- explanations --------------------------------------------------------------------------
    def explain(self, user_id: str, item_id: str) -> Explanation:
        """The evidence behind recommending ``item_id`` to ``user_id`` (models override)."""
        self.check_fitted()
        if item_id not in self.items_:
            raise UnknownIdError("item", item_id)
        uidx = self.users_.index([user_id], missing="ignore")
        if not self._has_history(uidx)[0] and not self.handles_cold_users:
            return Explanation(
                "popular",
                "Popular with shoppers right now.",
                {"popularity": float(self.popularity_[self.items_.index([item_id])[0]])},
            )
        return Explanation(
            "model",
            f"Scored highly by {self.name}.",
            {"score": float(self.score([user_id], [item_id])[0])},
        )

    def _warm_pair(self, user_id: str, item_id: str) -> tuple[int, int] | None:
        """``(user_idx, item_idx)`` when the user has history here, else None (cold path).

        Raises UnknownIdError for an item the snapshot does not know.
        """
        self.check_fitted()
        if item_id not in self.items_:
            raise UnknownIdError("item", item_id)
        u = int(self.users_.index([user_id], missing="ignore")[0])
        if u < 0 or self.seen_[u].nnz == 0:
            return None
        return u, int(self.items_.index([item_id])[0])

    # ---- persistence (no pickle) ---------------------------------------------------------------
    def _state(self) -> dict[str, NDArray[Any]]:
        """Learned arrays to save (models override and extend)."""
        return {}

    def _load_state(self, arrays: dict[str, NDArray[Any]]) -> None:
        """Restore what ``_state`` saved (models override)."""
        return None

    def save(self, path: str | Path) -> Path:
        """Write ``meta.json``, ``state.npz`` and ``arrays/*.npy`` into directory ``path``.

        Arrays of ``MMAP_MIN_BYTES`` or more go uncompressed to ``arrays/<key>.npy`` (listed in
        ``meta.json`` under ``"arrays"``) so that :meth:`load` maps them read-only and several
        server processes share their pages; the small ones stay in the compressed npz.
        """
        self.check_fitted()
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        seen = self.seen_.tocsr()
        arrays = {
            "_user_ids": np.asarray(self.users_.ids, dtype=str),
            "_item_ids": np.asarray(self.items_.ids, dtype=str),
            "_seen_indptr": seen.indptr,
            "_seen_indices": seen.indices,
            "_popularity": self.popularity_,
        }
        cold = getattr(self, "cold_items_", None)
        if cold is not None:
            arrays.update(cold.to_arrays())
        arrays.update(self._state())
        big = sorted(k for k, v in arrays.items() if _mappable(np.asarray(v)))
        folder = out / ARRAYS_DIR
        if folder.is_dir():  # a model saved here before: no stale arrays
            for old in folder.glob("*.npy"):
                old.unlink()
        if big:
            folder.mkdir(exist_ok=True)
        for key in big:
            np.save(folder / f"{key}.npy", np.ascontiguousarray(arrays[key]), allow_pickle=False)
        small = {k: v for k, v in arrays.items() if k not in set(big)}
        np.savez_compressed(out / "state.npz", **small)
        meta = {
            "model": self.name,
            "class": type(self).__name__,
            "params": dataclasses.asdict(self.params),
            "snapshot_id": self.snapshot_id_,
            "arrays": big,
        }
        (out / "meta.json").write_text(json.dumps(meta, indent=2, default=str))
        return out

    @classmethod
    def load(cls, path: str | Path, *, loader: ModelLoader | None = None) -> Self:
        """Load a model written by ``save`` (arrays only, never unpickled objects).

        ``loader`` loads the member models of a composite (leaf models ignore it). Arrays
        listed under ``meta.json``'s ``"arrays"`` are mapped read-only (``mmap_mode="r"``):
        models never write into loaded arrays, so every process that loads the same artifact
        shares those pages. Artifacts saved before (everything in ``state.npz``) load as
        they did.
        """
        src = Path(path)
        meta = json.loads((src / "meta.json").read_text())
        if meta["model"] != cls.name:
            raise ConfigError(f"{src} holds a '{meta['model']}' model, not '{cls.name}'")
        params = _params_from_dict(cls.params_class, meta["params"])
        model = cls(params)
        with np.load(src / "state.npz", allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        for key in meta.get("arrays", []):
            arrays[key] = np.load(src / ARRAYS_DIR / f"{key}.npy", mmap_mode="r")
        model.users_ = IdMap(arrays["_user_ids"].astype(object))
        model.items_ = IdMap(arrays["_item_ids"].astype(object))
        n_u, n_i = len(model.users_), len(model.items_)
        ind = arrays["_seen_indices"]
        model.seen_ = sp.csr_matrix(
            (np.ones(len(ind), np.float32), ind, arrays["_seen_indptr"]), shape=(n_u, n_i)
        )
        model.popularity_ = arrays["_popularity"]
        model.snapshot_id_ = meta["snapshot_id"]
        model.cold_items_ = ColdItems.from_arrays(arrays)
        model._load_state({k: v for k, v in arrays.items() if not k.startswith("_")})
        model.fitted_ = True
        return model


def _mappable(a: NDArray[Any]) -> bool:
    """Saved as its own .npy and memory-mapped: large, not a scalar, not empty."""
    return a.ndim > 0 and a.size > 0 and a.nbytes >= MMAP_MIN_BYTES


def _params_from_dict(params_class: type[Params], values: dict[str, Any]) -> Params:
    fields = {f.name: f for f in dataclasses.fields(params_class)}
    clean = {}
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(f"unknown parameter '{key}' for {params_class.__name__}")
        if isinstance(value, list):
            value = tuple(value)
        clean[key] = value
    return params_class(**clean)
