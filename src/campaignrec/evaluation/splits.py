"""Splits of an Interactions log into train and test, and the test targets.

A split is a pair of boolean masks over the snapshot's log rows (``interactions.subset(mask)``
keeps the id maps), so every model evaluated on a split speaks the same ids. Splits are seeded,
carry the snapshot id they were made from and are saved as ``masks.npz`` + ``split.json``, so
every model sees exactly the same train and test. ``validation_split`` carves a validation split
out of a train set the same way the test split was made: tuning never sees test.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from campaignrec.data.interactions import SECONDS_PER_DAY, Interactions
from campaignrec.errors import ConfigError, ValidationError

SPLIT_KINDS = ("global_temporal", "user_temporal", "leave_one_out", "random", "kfold")


@dataclasses.dataclass(frozen=True, eq=False)
class Split:
    """Train and test masks over one snapshot's log rows.

    Attributes
    ----------
    kind : str
        One of ``SPLIT_KINDS``.
    params : dict
        The arguments that made the split (JSON-able), so ``validation_split`` can repeat it.
    train_mask, test_mask : bool arrays, one entry per log row
        Disjoint; rows in neither are dropped (for example test rows of users without train).
    snapshot_id : str
        The snapshot the masks belong to; ``apply`` refuses another one.
    """

    kind: str
    params: dict[str, Any]
    train_mask: NDArray[np.bool_]
    test_mask: NDArray[np.bool_]
    snapshot_id: str

    def train(self, interactions: Interactions) -> Interactions:
        """The train part of ``interactions`` (which must be the snapshot the split was made on)."""
        self._check(interactions)
        return interactions.subset(self.train_mask)

    def test(self, interactions: Interactions) -> Interactions:
        """The test part of ``interactions``."""
        self._check(interactions)
        return interactions.subset(self.test_mask)

    def apply(self, interactions: Interactions) -> tuple[Interactions, Interactions]:
        """``(train, test)`` snapshots sharing the id maps of ``interactions``."""
        return self.train(interactions), self.test(interactions)

    def _check(self, interactions: Interactions) -> None:
        if interactions.snapshot_id != self.snapshot_id:
            raise ValidationError(
                "snapshot_id",
                f"the split was made on snapshot {self.snapshot_id}",
                value=interactions.snapshot_id,
                hint="make the split again on this snapshot, or load the snapshot it was made on",
            )

    @property
    def n_train(self) -> int:
        return int(self.train_mask.sum())

    @property
    def n_test(self) -> int:
        return int(self.test_mask.sum())

    def save(self, path: str | Path) -> Path:
        """Write ``masks.npz`` and ``split.json`` into directory ``path``."""
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            out / "masks.npz",
            train_mask=np.packbits(self.train_mask),
            test_mask=np.packbits(self.test_mask),
        )
        meta = {
            "kind": self.kind,
            "params": self.params,
            "snapshot_id": self.snapshot_id,
            "n_rows": len(self.train_mask),
            "n_train": self.n_train,
            "n_test": self.n_test,
        }
        (out / "split.json").write_text(json.dumps(meta, indent=2, default=str))
        return out

    @classmethod
    def load(cls, path: str | Path) -> Split:
        """Read a split written by ``save``."""
        src = Path(path)
        if not (src / "split.json").is_file():
            raise ConfigError(f"{src} holds no split.json", hint="write one with Split.save()")
        meta = json.loads((src / "split.json").read_text())
        n = int(meta["n_rows"])
        with np.load(src / "masks.npz", allow_pickle=False) as z:
            train = np.unpackbits(z["train_mask"], count=n).astype(bool)
            test = np.unpackbits(z["test_mask"], count=n).astype(bool)
        return cls(meta["kind"], meta["params"], train, test, meta["snapshot_id"])


# ---- helpers --------------------------------------------------------------------------------------
def _epoch(value: datetime | int | float) -> int:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValidationError("cut", "a datetime needs a timezone (UTC inside)", value=value)
        return int(value.timestamp())
    return int(value)


def _fraction(name: str, value: float) -> float:
    if not 0.0 < float(value) < 1.0:
        raise ValidationError(
            name, "must lie strictly between 0 and 1", value=value, hint="e.g. 0.2"
        )
    return float(value)


def _position_in_user(interactions: Interactions) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """For every log row: its 0-based position in its user's time order, and the user's count.

    Ties in time keep log order (the log is stably sorted by time), so the result is
    deterministic.
    """
    order = np.lexsort(
        (np.arange(len(interactions)), interactions.timestamp, interactions.user_idx)
    )
    users = interactions.user_idx[order].astype(np.int64)
    counts = np.bincount(users, minlength=interactions.n_users)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    pos_sorted = np.arange(len(order)) - starts[users]
    pos = np.empty(len(order), dtype=np.int64)
    pos[order] = pos_sorted
    return pos, counts[interactions.user_idx].astype(np.int64)


def _drop_test_without_train(
    interactions: Interactions, train: NDArray[np.bool_], test: NDArray[np.bool_]
) -> NDArray[np.bool_]:
    """Test rows of users who have no train row cannot be evaluated as warm users: drop them."""
    has_train = np.bincount(interactions.user_idx[train], minlength=interactions.n_users) > 0
    return test & has_train[interactions.user_idx]


# ---- the splits -----------------------------------------------------------------------------------
def global_temporal_split(
    interactions: Interactions,
    *,
    cut: datetime | int | None = None,
    test_fraction: float | None = None,
    test_days: float | None = None,
    keep_cold_test_users: bool = False,
) -> Split:
    """Everything before a point in time is train, everything from it on is test.

    Give exactly one of ``cut`` (a UTC datetime or epoch seconds), ``test_fraction`` (the last
    share of events by time) or ``test_days`` (the last days before the end of the data).
    Test users without any train event are dropped unless ``keep_cold_test_users``.
    """
    given = [x is not None for x in (cut, test_fraction, test_days)]
    if sum(given) != 1:
        raise ConfigError(
            "global_temporal_split needs exactly one of cut, test_fraction, test_days",
            hint="for example test_days=2",
        )
    ts = interactions.timestamp
    if len(ts) == 0:
        raise ValidationError("interactions", "the log is empty", hint="import events first")
    params: dict[str, Any] = {"keep_cold_test_users": keep_cold_test_users}
    if cut is not None:
        cut_s = _epoch(cut)
        params["cut"] = cut_s
    elif test_fraction is not None:
        frac = _fraction("test_fraction", test_fraction)
        cut_s = int(np.sort(ts)[min(len(ts) - 1, int(np.floor(len(ts) * (1.0 - frac))))])
        params["test_fraction"] = frac
    else:
        days = float(test_days)  # type: ignore[arg-type]
        if days <= 0:
            raise ValidationError("test_days", "must be positive", value=test_days)
        cut_s = int(interactions.reference_time - days * SECONDS_PER_DAY)
        params["test_days"] = days
    train = ts < cut_s
    test = ts >= cut_s
    if not keep_cold_test_users:
        test = _drop_test_without_train(interactions, train, test)
    params["cut_epoch"] = cut_s
    return Split("global_temporal", params, train, test, interactions.snapshot_id)


def user_temporal_split(
    interactions: Interactions,
    *,
    test_fraction: float | None = 0.2,
    test_n: int | None = None,
    min_train: int = 1,
) -> Split:
    """Each user's last events by time are test: the last ``test_fraction`` or the last ``test_n``.

    A user with ``n`` events puts ``floor(n * test_fraction)`` (or ``test_n``) of them in test,
    and always keeps at least ``min_train`` in train; users with fewer events stay train only.
    """
    if test_n is not None:
        if test_n < 1:
            raise ValidationError("test_n", "must be at least 1", value=test_n)
        params: dict[str, Any] = {"test_n": int(test_n), "min_train": min_train}
    elif test_fraction is not None:
        params = {
            "test_fraction": _fraction("test_fraction", test_fraction),
            "min_train": min_train,
        }
    else:
        raise ConfigError(
            "user_temporal_split needs test_fraction or test_n", hint="test_fraction=0.2"
        )
    pos, count = _position_in_user(interactions)
    if test_n is not None:
        n_test = np.full_like(count, int(test_n))
    else:
        n_test = np.floor(count * float(test_fraction) + 1e-9).astype(np.int64)  # type: ignore[arg-type]
    n_test = np.clip(np.minimum(n_test, count - min_train), 0, None)
    test = pos >= count - n_test
    return Split("user_temporal", params, ~test, test, interactions.snapshot_id)


def leave_one_out_split(interactions: Interactions, *, min_train: int = 1) -> Split:
    """Each user's last event (by time, ties by log order) is test; the rest is train.

    Users with at most ``min_train`` events keep everything in train.
    """
    pos, count = _position_in_user(interactions)
    test = (pos == count - 1) & (count > min_train)
    return Split("leave_one_out", {"min_train": min_train}, ~test, test, interactions.snapshot_id)


def random_split(interactions: Interactions, *, test_fraction: float = 0.2, seed: int = 0) -> Split:
    """A seeded random share of events is test (test users without train are dropped)."""
    frac = _fraction("test_fraction", test_fraction)
    rng = np.random.default_rng(seed)
    test = rng.random(len(interactions)) < frac
    train = ~test
    test = _drop_test_without_train(interactions, train, test)
    return Split(
        "random", {"test_fraction": frac, "seed": seed}, train, test, interactions.snapshot_id
    )


def kfold_splits(interactions: Interactions, *, n_folds: int = 5, seed: int = 0) -> list[Split]:
    """``n_folds`` seeded splits whose test parts partition the events (each event tested once)."""
    if n_folds < 2:
        raise ValidationError("n_folds", "must be at least 2", value=n_folds)
    rng = np.random.default_rng(seed)
    fold = rng.permutation(len(interactions)) % n_folds
    out = []
    for f in range(n_folds):
        test = fold == f
        train = ~test
        test = _drop_test_without_train(interactions, train, test)
        params = {"n_folds": n_folds, "fold": f, "seed": seed}
        out.append(Split("kfold", params, train, test, interactions.snapshot_id))
    return out


def make_split(interactions: Interactions, kind: str, **params: Any) -> Split:
    """Build a split by name (``SPLIT_KINDS``) with the given parameters."""
    if kind == "global_temporal":
        return global_temporal_split(interactions, **params)
    if kind == "user_temporal":
        return user_temporal_split(interactions, **params)
    if kind == "leave_one_out":
        return leave_one_out_split(interactions, **params)
    if kind == "random":
        return random_split(interactions, **params)
    if kind == "kfold":
        fold = int(params.pop("fold", 0))
        return kfold_splits(interactions, **params)[fold]
    raise ConfigError(f"unknown split kind {kind!r}", hint=f"one of {', '.join(SPLIT_KINDS)}")


def validation_split(
    train: Interactions, like: Split | str = "user_temporal", **params: Any
) -> Split:
    """Carve a validation split out of ``train`` the same way ``like`` split the full data.

    The returned masks index ``train``'s log rows. A global split by date is repeated with the
    same length of test period (``test_days``) or share of events; a fixed ``cut`` becomes the
    same share of ``train``'s events as the test period had of the whole.
    """
    if isinstance(like, str):
        return make_split(train, like, **params)
    p = {k: v for k, v in like.params.items() if k != "cut_epoch"} | params
    if like.kind == "global_temporal" and "cut" in p:
        total = len(like.train_mask)
        share = like.n_test / total if total else 0.2
        p.pop("cut")
        p["test_fraction"] = min(max(share, 0.01), 0.5)
    if like.kind == "kfold":
        p = {"n_folds": p.get("n_folds", 5), "seed": p.get("seed", 0) + 1, "fold": 0}
    return make_split(train, like.kind, **p)


# ---- targets ----------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, eq=False)
class GroundTruth:
    """Per evaluated user, the set of relevant items (a CSR matrix, one row per user).

    ``user_idx[r]`` is the snapshot index of the user in row ``r`` of ``items``; only users with
    at least one target are kept.
    """

    user_idx: NDArray[np.int64]
    items: sp.csr_matrix

    @property
    def n_users(self) -> int:
        return len(self.user_idx)

    def n_relevant(self) -> NDArray[np.int64]:
        return np.diff(self.items.indptr).astype(np.int64)


def ground_truth(
    train: Interactions,
    test: Interactions,
    *,
    exclude_train_items: bool = True,
    event_types: Iterable[str] | None = None,
    users: Sequence[int] | NDArray[np.int64] | None = None,
) -> GroundTruth:
    """The items each test user is expected to get: their test items.

    Parameters
    ----------
    train, test : Interactions
        The two parts of one split (same id maps).
    exclude_train_items : bool
        Leave out items the user already touched in train (what a recommender that excludes
        seen items can hit at all).
    event_types : iterable of str, optional
        Only test events of these types count as targets (for example ``{"purchase"}``).
    users : indices, optional
        Restrict to these users (for example a sample); the default is every test user.
    """
    mask = np.ones(len(test), dtype=bool)
    if event_types is not None:
        wanted = set(event_types)
        unknown = wanted - set(test.event_types)
        if unknown:
            raise ValidationError(
                "event_types",
                "not an event type of the snapshot",
                value=sorted(unknown),
                hint=f"known: {', '.join(test.event_types)}",
            )
        codes = [i for i, t in enumerate(test.event_types) if t in wanted]
        mask &= np.isin(test.event_code, codes)
    n_u, n_i = test.n_users, test.n_items
    m = sp.csr_matrix(
        (np.ones(int(mask.sum()), np.float32), (test.user_idx[mask], test.item_idx[mask])),
        shape=(n_u, n_i),
    )
    m.sum_duplicates()
    m.data[:] = 1.0
    if exclude_train_items:
        m = m - m.multiply(train.binary)
        m.eliminate_zeros()
    m = sp.csr_matrix(m)
    m.sort_indices()
    counts = np.diff(m.indptr)
    keep = np.flatnonzero(counts > 0)
    if users is not None:
        keep = np.intersect1d(keep, np.asarray(users, dtype=np.int64))
    return GroundTruth(keep.astype(np.int64), sp.csr_matrix(m[keep]))
