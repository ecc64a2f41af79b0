"""Cold items in every model's fallback: a never-touched item borrows its content neighbours' scores.

An item nobody touched in the training snapshot (a new arrival imported with the catalogue, or
posted through ``POST /v1/items`` before the retrain) has an empty column for a collaborative
model: item KNN and EASE score it 0, popularity 0, a factor model whatever its untrained factor
gives. So at fit, :meth:`campaignrec.models.base.Recommender.fit` calls :func:`find_cold_items`:
for each such item, its ``COLD_NEIGHBOURS`` most similar *warm* items by item text (title,
description, category, brand, tags), with the ``text`` extra's multilingual sentence embeddings
when it is installed (and the catalogue is small enough to embed in a fit), TF-IDF otherwise.
Every score the model gives then fills a cold item's column with the similarity-weighted mean of
its neighbours' scores (:meth:`ColdItems.apply`): whoever the model would show running shoes is
shown the new running shoe too, a little below the shoes it resembles. One mechanism for every
family, applied in ``score_matrix`` and ``score_history`` (so ``recommend``, the ranking path and
the service all see it); models that score cold items themselves (content, hybrid, random) and
composites (whose members apply it) set ``handles_cold_items``.

``CAMPAIGNREC_COLD_TEXT`` chooses the text: ``auto`` (the default: embeddings when the extra is
installed and the catalogue has at most ``EMBED_MAX_ITEMS`` items, else TF-IDF), ``tfidf``,
``embedding`` (embeddings whatever the size; TF-IDF when the extra is missing) or ``off``.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from campaignrec.errors import ConfigError
from campaignrec.models.text import embed_items, item_texts, text_encoder_available
from campaignrec.models.tokens import tokenize

#: warm neighbours kept per cold item
COLD_NEIGHBOURS = 10
#: above this many catalogue items ``auto`` uses TF-IDF (embedding a catalogue costs about
#: 30 s per 1,000 items on 2 cores the first time a process sees it: docs/benchmarks/text.md)
EMBED_MAX_ITEMS = 3_000
#: cold items whose similarities are computed at a time (bounds the dense block)
BLOCK = 256
ENV = "CAMPAIGNREC_COLD_TEXT"
MODES = ("auto", "tfidf", "embedding", "off")


def cold_text_mode() -> str:
    """The text the fallback uses, from ``CAMPAIGNREC_COLD_TEXT`` (``auto`` when unset)."""
    mode = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if mode not in MODES:
        raise ConfigError(
            f"{ENV}={mode!r} is not one of {list(MODES)}",
            hint="auto (embeddings with the 'text' extra, else TF-IDF), tfidf, embedding or off",
        )
    return mode


@dataclasses.dataclass(frozen=True)
class ColdItems:
    """Cold item indices, their warm neighbours (-1 = none) and normalised similarity weights."""

    items: NDArray[np.int64]  # (m,)
    neighbours: NDArray[np.int64]  # (m, r)
    weights: NDArray[np.float32]  # (m, r), each row sums to 1 (0 where no neighbour)
    encoder: str = "tfidf"

    def __len__(self) -> int:
        return len(self.items)

    def apply(self, scores: NDArray[np.float32]) -> NDArray[np.float32]:
        """Fill the cold items' columns of ``scores`` (n, n_items) in place; returns ``scores``.

        A cold item gets the weighted mean of its neighbours' finite scores; one without any
        (no text in common with a warm item) keeps the model's own score.
        """
        if not len(self.items) or scores.shape[0] == 0:
            return scores
        nb = np.where(self.neighbours >= 0, self.neighbours, 0)
        for start in range(0, len(self.items), BLOCK):
            sl = slice(start, start + BLOCK)
            borrowed = scores[:, nb[sl]]  # (n, b, r)
            w = np.broadcast_to(self.weights[sl][None], borrowed.shape)
            ok = np.isfinite(borrowed) & (w > 0)
            wsum = np.where(ok, w, 0.0).sum(axis=2)
            total = np.where(ok, borrowed * w, 0.0).sum(axis=2)
            has = wsum > 0
            cols = self.items[sl]
            block = scores[:, cols]
            block[has] = (total[has] / wsum[has]).astype(np.float32)
            scores[:, cols] = block
        return scores

    def fold(self, item_rows: NDArray[np.float32]) -> NDArray[np.float32]:
        """``item_rows`` (n_items, d: item factors) with each cold row set to the weighted mean
        of its neighbours' rows: for a model scoring ``user @ item.T`` this is :meth:`apply`
        done once at fit (scores are linear in the item row)."""
        out = np.array(item_rows, dtype=np.float32, copy=True)
        if len(self.items):
            nb = np.where(self.neighbours >= 0, self.neighbours, 0)
            out[self.items] = np.einsum("mr,mrd->md", self.weights, out[nb])
        return out

    def to_arrays(self) -> dict[str, NDArray[Any]]:
        return {
            "_cold_items": self.items,
            "_cold_neighbours": self.neighbours,
            "_cold_weights": self.weights,
            "_cold_encoder": np.asarray(self.encoder),
        }

    @classmethod
    def from_arrays(cls, arrays: dict[str, NDArray[Any]]) -> ColdItems | None:
        if "_cold_items" not in arrays:
            return None  # saved before the fallback existed
        return cls(
            np.asarray(arrays["_cold_items"], dtype=np.int64),
            np.asarray(arrays["_cold_neighbours"], dtype=np.int64),
            np.asarray(arrays["_cold_weights"], dtype=np.float32),
            str(arrays.get("_cold_encoder", "tfidf")),
        )


def _tfidf_vectors(item_features: pd.DataFrame) -> sp.csr_matrix | None:
    docs = [tokenize(t) for t in item_texts(item_features)]
    if not any(docs):
        return None
    vec = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, norm="l2")
    try:
        return sp.csr_matrix(vec.fit_transform(docs), dtype=np.float32)
    except ValueError:  # no terms at all
        return None


def _identity(tokens: list[str]) -> list[str]:
    return tokens


def item_text_vectors(
    item_features: pd.DataFrame, mode: str
) -> tuple[sp.csr_matrix | NDArray[np.float32] | None, str]:
    """L2-normalised text vectors of the items (embeddings or TF-IDF) and which it is."""
    use_emb = text_encoder_available() and (
        mode == "embedding" or (mode == "auto" and len(item_features) <= EMBED_MAX_ITEMS)
    )
    if use_emb:
        emb = embed_items(item_features)
        if emb.any():
            return emb, "embedding"
    return _tfidf_vectors(item_features), "tfidf"


def find_cold_items(
    item_features: pd.DataFrame,
    warm: NDArray[np.bool_],
    *,
    mode: str | None = None,
    n_neighbours: int = COLD_NEIGHBOURS,
) -> ColdItems | None:
    """The cold items (``~warm``) and their most similar warm items by text; None when there
    is nothing to do (no cold or no warm item, no item text, or ``mode`` ``off``).

    ``item_features`` is aligned with the model's items (row i = item index i).
    """
    mode = cold_text_mode() if mode is None else mode
    warm = np.asarray(warm, dtype=bool)
    cold_idx = np.flatnonzero(~warm)
    warm_idx = np.flatnonzero(warm)
    if mode == "off" or not len(cold_idx) or not len(warm_idx) or len(item_features) != len(warm):
        return None
    vectors, encoder = item_text_vectors(item_features, mode)
    if vectors is None:
        return None
    r = min(n_neighbours, len(warm_idx))
    nbrs = np.full((len(cold_idx), r), -1, dtype=np.int64)
    wts = np.zeros((len(cold_idx), r), dtype=np.float32)
    if sp.issparse(vectors):
        x = normalize(sp.csr_matrix(vectors), norm="l2", axis=1)
        warm_t = x[warm_idx].T.tocsc()
    else:
        x = np.asarray(vectors, dtype=np.float32)
        warm_t = x[warm_idx].T
    for start in range(0, len(cold_idx), BLOCK):
        rows = cold_idx[start : start + BLOCK]
        sims = x[rows] @ warm_t
        sims = sims.toarray() if sp.issparse(sims) else np.asarray(sims)
        sims = sims.astype(np.float32)
        if r < sims.shape[1]:
            part = np.argpartition(-sims, r - 1, axis=1)[:, :r]
        else:
            part = np.tile(np.arange(sims.shape[1]), (len(rows), 1))
        top = np.take_along_axis(sims, part, axis=1)
        order = np.argsort(-top, axis=1, kind="stable")
        part = np.take_along_axis(part, order, axis=1)
        top = np.take_along_axis(top, order, axis=1)
        top = np.where(top > 0, top, 0.0)
        sums = top.sum(axis=1, keepdims=True)
        w = np.divide(top, sums, out=np.zeros_like(top), where=sums > 0)
        nbrs[start : start + len(rows)] = np.where(w > 0, warm_idx[part], -1)
        wts[start : start + len(rows)] = w
    found = (wts > 0).any(axis=1)
    if not found.any():
        return None
    return ColdItems(cold_idx[found], nbrs[found], wts[found], encoder)


__all__ = ["COLD_NEIGHBOURS", "ColdItems", "cold_text_mode", "find_cold_items"]
