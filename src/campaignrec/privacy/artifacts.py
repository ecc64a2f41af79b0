"""Erasure in model artifacts: a saved model rewritten without a shopper.

A saved model (:meth:`campaignrec.models.base.Recommender.save`) is ``meta.json``, ``state.npz``
and ``arrays/*.npy``; its user id map is the ``_user_ids`` array, and the rows of its per-user
arrays are in that order. :func:`erase_from_artifact` rewrites those files in place, without
loading the model class:

* the shopper's entry of ``_user_ids`` becomes a random tombstone (``~erased~<hex>``) that no
  request can name, so every other user keeps their index;
* the shopper's row of every per-user CSR matrix (seen items, histories, confidence, user
  vectors, category interests, sequences) is emptied;
* the shopper's row of every per-user dense array (user factors and vectors, user segment,
  the re-ranker's user features) is zeroed.

What the model learned from everyone together (item factors, item similarities, popularity)
still carries the shopper's share of the statistics until the next training; ``meta.json`` says
so under ``"erasure"``. An array that has one row per user but is not known to be per-user data
(a future model's) is left alone and the artifact is marked ``retrain_required``: the report
names it, and the next ``campaignrec train`` replaces it.

Files are written to a temporary name and moved into place, so a server that has the old arrays
memory-mapped keeps reading a consistent old version until it reloads.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

ARRAYS_DIR = "arrays"
TOMBSTONE_PREFIX = "~erased~"

#: Per-user CSR matrices of the shipped models, by array prefix (``<prefix>_indptr`` ...).
USER_CSR_PREFIXES = frozenset(
    {
        "_seen",  # every model: items each user has seen
        "history",  # knn, ease, transition
        "train_x",  # ease
        "conf",  # als confidence
        "vectors",  # user_knn
        "targets",  # user_knn
        "profiles",  # content: per-user term profile
        "interest",  # category_popular
        "ctx_uc",  # rerank: user x category
        "hist",  # sasrec sequences (hist_indptr + hist_items)
    }
)
#: Per-user dense arrays of the shipped models (one row per user).
USER_DENSE = frozenset(
    {
        "user_factors",
        "user_vectors",
        "user_segment",
        "ctx_hist_len",
        "ctx_user_age",
        "ctx_user_price",
    }
)
#: Arrays of the shipped models known not to be per-user data, whatever their length.
NOT_PER_USER_PREFIXES = ("_item", "item", "net.", "ctx_pop", "ctx_item", "ctx_trend", "ctx_cat_of")
NOT_PER_USER = frozenset(
    {
        "_popularity",
        "ctx_price",
        "global_scores",
        "segment_names",
        "segment_scores",
        "category_names",
        "trend",
        "terms",
        "kept_items",
        "out_scores",
        "q",
        "similarity",
        "transitions",
        "solver",
    }
)


def _known_not_per_user(key: str) -> bool:
    base = (
        key.rsplit("_", 1)[0] if key.endswith(("_indptr", "_indices", "_data", "_shape")) else key
    )
    return key in NOT_PER_USER or base in NOT_PER_USER or key.startswith(NOT_PER_USER_PREFIXES)


@dataclass
class ArtifactErasure:
    """What :func:`erase_from_artifact` did to one saved model."""

    path: str
    model: str
    users_erased: int = 0
    arrays_rewritten: list[str] = field(default_factory=list)
    retrain_required: bool = False
    unknown_arrays: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "model": self.model,
            "users_erased": self.users_erased,
            "arrays_rewritten": sorted(self.arrays_rewritten),
            "retrain_required": self.retrain_required,
            "unknown_arrays": sorted(self.unknown_arrays),
        }


def model_dirs(root: Path) -> list[Path]:
    """Every saved model under ``root`` (folders with ``meta.json`` and ``state.npz``),
    members of composite models included."""
    if not root.is_dir():
        return []
    return sorted(p.parent for p in root.rglob("meta.json") if (p.parent / "state.npz").is_file())


def _load(folder: Path, meta: dict[str, Any]) -> dict[str, NDArray[Any]]:
    with np.load(folder / "state.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    for key in meta.get("arrays", []):
        arrays[key] = np.load(folder / ARRAYS_DIR / f"{key}.npy", allow_pickle=False)
    return arrays


def _blank_csr_rows(
    arrays: dict[str, NDArray[Any]], prefix: str, rows: NDArray[np.int64]
) -> list[str]:
    indptr = np.asarray(arrays[f"{prefix}_indptr"], dtype=np.int64)
    nnz = int(indptr[-1])
    lengths = np.diff(indptr)
    drop = np.zeros(nnz, dtype=bool)
    for r in rows:
        drop[indptr[r] : indptr[r + 1]] = True
    if not drop.any():
        return []
    lengths[rows] = 0
    new_indptr = np.concatenate([[0], np.cumsum(lengths)]).astype(arrays[f"{prefix}_indptr"].dtype)
    changed = [f"{prefix}_indptr"]
    arrays[f"{prefix}_indptr"] = new_indptr
    for key in list(arrays):
        if key.startswith(prefix + "_") and key not in (f"{prefix}_indptr", f"{prefix}_shape"):
            a = arrays[key]
            if a.ndim >= 1 and a.shape[0] == nnz:
                arrays[key] = a[~drop]
                changed.append(key)
    return changed


def erase_from_artifact(folder: Path, user_ids: Iterable[str]) -> ArtifactErasure | None:
    """Rewrite the saved model in ``folder`` without ``user_ids``; None when it holds none of them.

    Parameters
    ----------
    folder : Path
        A saved model (``meta.json`` + ``state.npz``).
    user_ids : iterable of str
        Ids as the model knows them (pseudonyms when pseudonymisation is on).

    Returns
    -------
    ArtifactErasure or None
    """
    meta_path = folder / "meta.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    arrays = _load(folder, meta)
    ids = np.asarray(arrays["_user_ids"]).astype(object)
    wanted = {str(u) for u in user_ids}
    rows = np.flatnonzero(np.isin(ids.astype(str), list(wanted))).astype(np.int64)
    if not len(rows):
        return None
    report = ArtifactErasure(path=str(folder), model=str(meta.get("model", "?")))
    n_users = len(ids)
    for r in rows:
        ids[r] = TOMBSTONE_PREFIX + secrets.token_hex(8)
    arrays["_user_ids"] = np.asarray(ids, dtype=str)
    report.arrays_rewritten.append("_user_ids")
    handled = {"_user_ids"}
    for key in sorted(arrays):
        if not key.endswith("_indptr") or len(arrays[key]) != n_users + 1:
            continue
        prefix = key[: -len("_indptr")]
        parts = {k for k in arrays if k.startswith(prefix + "_")}
        if prefix in USER_CSR_PREFIXES:
            report.arrays_rewritten += _blank_csr_rows(arrays, prefix, rows)
            handled |= parts
        elif not _known_not_per_user(prefix):
            report.unknown_arrays.append(prefix)
            handled |= parts
    for key in sorted(arrays):
        if key in handled:
            continue
        a = arrays[key]
        if key in USER_DENSE and a.ndim >= 1 and a.shape[0] == n_users:
            b = np.array(a, copy=True)
            b[rows] = 0
            arrays[key] = b
            report.arrays_rewritten.append(key)
        elif a.ndim >= 1 and a.shape[0] == n_users and not _known_not_per_user(key):
            report.unknown_arrays.append(key)
    if "solver" in arrays and str(arrays["solver"]) != "primal":
        # dual EASE: its weights are K^-1 X over the training users, not a row to blank
        report.unknown_arrays.append("weights")
    report.users_erased = len(rows)
    report.retrain_required = bool(report.unknown_arrays)
    _write(folder, meta, arrays)
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    previous = meta.get("erasure", {})
    meta["erasure"] = {
        "users_erased": int(previous.get("users_erased", 0)) + len(rows),
        "last_erased_at": datetime.now(UTC).isoformat(),
        "retrain_required": bool(previous.get("retrain_required")) or report.retrain_required,
        "unknown_arrays": sorted(
            set(previous.get("unknown_arrays", [])) | set(report.unknown_arrays)
        ),
        "note": "per-user rows removed; aggregate parameters keep the erased users' share of "
        "the statistics until the next training",
    }
    _replace_text(meta_path, json.dumps(meta, indent=2, default=str))
    return report


def _replace_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _write(folder: Path, meta: dict[str, Any], arrays: dict[str, NDArray[Any]]) -> None:
    big = set(meta.get("arrays", []))
    for key in big:
        tmp = folder / ARRAYS_DIR / f".{key}.tmp.npy"
        np.save(tmp, np.ascontiguousarray(arrays[key]), allow_pickle=False)
        os.replace(tmp, folder / ARRAYS_DIR / f"{key}.npy")
    small = {k: v for k, v in arrays.items() if k not in big}
    tmp = folder / ".state.tmp.npz"
    np.savez_compressed(tmp, **small)  # type: ignore[arg-type]
    os.replace(tmp, folder / "state.npz")


__all__ = ["ArtifactErasure", "erase_from_artifact", "model_dirs"]
