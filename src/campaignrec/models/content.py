"""Content-based recommendations: TF-IDF over item text and attributes, user profile vectors,
and (with the optional ``text`` extra) multilingual sentence embeddings of the same text.

Each item becomes one L2-normalised TF-IDF vector built from its title, description, category path,
brand and tags (each field weighted). Latin text gives lower-cased word tokens; Chinese (CJK) runs
give character bigrams (or jieba words), so "陶瓷咖啡杯" matches "咖啡杯". A user's profile is the
weighted (optionally time-decayed) mean of the vectors of the items they touched; an item scores
its cosine with the profile. Items nobody has touched yet score like any other: this model is how
new arrivals reach shoppers.

With ``text_encoder="embedding"`` (or ``"auto"``: embeddings when the ``text`` extra is installed),
each item also gets a sentence embedding of its title, description, category, brand and tags
(:mod:`campaignrec.models.text`), so "无线耳机" and "wireless earbuds" are neighbours although they
share no term. A profile is then also the mean embedding of the user's items, and an item scores
``(1 - embedding_weight) * tfidf cosine + embedding_weight * embedding cosine``. The default is
TF-IDF alone (``"tfidf"``): on the cold-item benchmark (docs/benchmarks/text.md) embeddings
ranked held-out items worse than TF-IDF on The Complete Journey and no better on the Chinese
synthetic shop, at a real cost per catalogue; they earn their place where words differ across
languages or synonyms (search, bilingual catalogues). :meth:`ContentBased.search` maps a shopper's search terms to items
the same way.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from campaignrec.data.interactions import Interactions
from campaignrec.errors import ConfigError
from campaignrec.models._common import (
    binarize,
    check_choice,
    check_positive,
    csr_arrays,
    csr_from_arrays,
    time_decayed_matrix,
)
from campaignrec.models.base import Explanation, Params, Recommender
from campaignrec.models.text import embed_items, load_text_encoder, text_encoder_available
from campaignrec.models.tokens import tokenize

TEXT_ENCODERS = ("auto", "tfidf", "embedding")


def _as_list(value: Any) -> list[str]:
    """Tags come as lists, JSON strings (after Parquet) or 'a, b; c' strings."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, list | tuple | np.ndarray):
        return [str(v) for v in value if v is not None]
    text = str(value).strip()
    if text.startswith("["):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, list):
            return [str(v) for v in parsed]
    return [t.strip() for t in re.split(r"[,;|]", text) if t.strip()]


def _text(value: Any) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value)


@dataclasses.dataclass(frozen=True)
class ContentParams(Params):
    """Parameters of :class:`ContentBased`.

    Attributes
    ----------
    title_weight, description_weight, category_weight, brand_weight, tags_weight : how much each
        field counts in the item vector (0 leaves the field out).
    extra_columns : further text columns of the item features to use (weight 1).
    cjk_tokenizer : ``bigram`` (character bigrams, no dictionary) or ``jieba`` (word segmentation).
    min_df : ignore terms found in fewer items.
    use_weights : profiles weight items by event weight (purchase > view) instead of 0/1.
    profile_half_life_days : time-decay the profile (recent interests count more); None = none.
    popularity_weight : adds ``popularity_weight * popularity / max popularity`` to every score,
        so items with equal text similarity (same category, same tags) are ordered by
        popularity instead of by arbitrary index order; 0 disables it.
    text_encoder : ``tfidf`` (the default: no embeddings), ``auto`` (sentence embeddings when
        the ``text`` extra is installed, else TF-IDF alone) or ``embedding`` (needs the extra).
    embedding_weight : share of the embedding cosine in the score when embeddings are used.
    """

    title_weight: float = 1.0
    description_weight: float = 0.5
    category_weight: float = 1.0
    brand_weight: float = 0.7
    tags_weight: float = 1.0
    extra_columns: tuple[str, ...] = ()
    cjk_tokenizer: str = "bigram"
    min_df: int = 1
    use_weights: bool = True
    profile_half_life_days: float | None = None
    popularity_weight: float = 1e-3
    text_encoder: str = "tfidf"
    embedding_weight: float = 0.7


def _category_tokens(value: Any) -> list[str]:
    """A category path 'a/b/c' gives its prefixes 'a', 'a/b', 'a/b/c' (each level matches)."""
    parts = [p.strip().lower() for p in re.split(r"[/>|]", _text(value)) if p.strip()]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


class ContentBased(Recommender):
    """TF-IDF item vectors and user profiles; serves cold (never-touched) items.

    Examples
    --------
    >>> model = ContentBased(cjk_tokenizer="bigram").fit(interactions)  # doctest: +SKIP
    >>> model.explain("u1", "new-item").evidence["terms"]  # doctest: +SKIP
    """

    name = "content"
    handles_cold_items = True  # text scores never-touched items like any other
    params_class = ContentParams
    params: ContentParams

    def __init__(self, params: ContentParams | None = None, **overrides: Any) -> None:
        super().__init__(params, **overrides)
        p = self.params
        check_choice(self.name, "cjk_tokenizer", p.cjk_tokenizer, ("bigram", "jieba"))
        check_choice(self.name, "text_encoder", p.text_encoder, TEXT_ENCODERS)
        if not 0.0 <= p.embedding_weight <= 1.0:
            raise ConfigError(
                f"{self.name}: 'embedding_weight' must lie in [0, 1], got {p.embedding_weight}"
            )
        check_positive(
            self.name, "profile_half_life_days", p.profile_half_life_days, allow_none=True
        )
        for f in (
            "popularity_weight",
            "title_weight",
            "description_weight",
            "category_weight",
            "brand_weight",
            "tags_weight",
        ):
            if getattr(p, f) < 0:
                raise ConfigError(f"{self.name}: '{f}' must be >= 0, got {getattr(p, f)}")

    # ---- item vectors --------------------------------------------------------------------------
    def _fields(self, feats: pd.DataFrame) -> list[tuple[str, float, list[list[str]]]]:
        """(prefix, weight, tokens per item) of every usable field."""
        p = self.params
        cjk = p.cjk_tokenizer
        n = len(feats)

        def col(name: str) -> pd.Series | None:
            return feats[name] if name in feats.columns else None

        fields: list[tuple[str, float, list[list[str]]]] = []

        def add(prefix: str, weight: float, name: str, fn: Callable[[Any], list[str]]) -> None:
            series = col(name)
            if weight > 0 and series is not None:
                fields.append((prefix, weight, [fn(v) for v in series.tolist()]))

        add("title", p.title_weight, "title", lambda v: tokenize(_text(v), cjk=cjk))
        add(
            "description",
            p.description_weight,
            "description",
            lambda v: tokenize(_text(v), cjk=cjk),
        )
        add("category", p.category_weight, "category", _category_tokens)
        add(
            "brand",
            p.brand_weight,
            "brand",
            lambda v: [_text(v).strip().lower()] if _text(v).strip() else [],
        )
        add("tag", p.tags_weight, "tags", lambda v: [t.lower() for t in _as_list(v)])
        for extra in p.extra_columns:
            if extra not in feats.columns:
                raise ConfigError(
                    f"{self.name}: extra_columns names {extra!r}, which is not an item feature",
                    hint=f"item feature columns: {sorted(map(str, feats.columns))}",
                )
            add(f"x:{extra}", 1.0, extra, lambda v: tokenize(_text(v), cjk=cjk))
        return [f for f in fields if len(f[2]) == n and any(f[2])]

    def _item_vectors(self, interactions: Interactions) -> tuple[sp.csr_matrix, NDArray[np.str_]]:
        fields = self._fields(interactions.item_features)
        if not fields:
            raise ConfigError(
                f"{self.name}: the snapshot has no item text (title, description, category, brand, tags)",
                hint="import an items table with at least one of those columns",
            )
        blocks: list[sp.csr_matrix] = []
        terms: list[str] = []
        for prefix, weight, docs in fields:
            vec = TfidfVectorizer(
                analyzer=_identity, min_df=self.params.min_df, sublinear_tf=True, norm="l2"
            )
            try:
                m = vec.fit_transform(docs)
            except ValueError:  # every term pruned by min_df
                continue
            blocks.append(m.multiply(weight).tocsr())
            terms.extend(f"{prefix}:{t}" for t in vec.get_feature_names_out())
        if not blocks:
            raise ConfigError(
                f"{self.name}: min_df={self.params.min_df} leaves no terms", hint="lower min_df"
            )
        x = normalize(sp.hstack(blocks, format="csr").astype(np.float32), norm="l2", axis=1)
        return x.tocsr().astype(np.float32), np.asarray(terms, dtype=np.str_)

    # ---- fitting -------------------------------------------------------------------------------
    def _fit(self, interactions: Interactions) -> None:
        p = self.params
        self.item_vectors_, self.terms_ = self._item_vectors(interactions)
        h = time_decayed_matrix(interactions, p.profile_half_life_days, binary=not p.use_weights)
        if p.use_weights:
            h = h.tocsr().copy()
            h.data = np.log1p(h.data)
        profiles = normalize(h.astype(np.float32) @ self.item_vectors_, norm="l2", axis=1)
        self.profiles_: sp.csr_matrix = sp.csr_matrix(profiles, dtype=np.float32)
        use = p.text_encoder == "embedding" or (
            p.text_encoder == "auto" and text_encoder_available()
        )
        if use and p.embedding_weight > 0:
            self.item_embeddings_: NDArray[np.float32] | None = embed_items(
                interactions.item_features
            )
            self.embedding_profiles_: NDArray[np.float32] | None = _dense_profiles(
                h.astype(np.float32), self.item_embeddings_
            )
        else:
            self.item_embeddings_ = None
            self.embedding_profiles_ = None

    @property
    def uses_embeddings(self) -> bool:
        """True when this fitted model scores with sentence embeddings too."""
        return getattr(self, "item_embeddings_", None) is not None

    def _score_idx(self, user_idx: NDArray[np.int64]) -> NDArray[np.float32]:
        emb = None if self.embedding_profiles_ is None else self.embedding_profiles_[user_idx]
        return self._score_profiles(self.profiles_[user_idx], emb)

    def _score_history(
        self, history: sp.csr_matrix, sequences: list[NDArray[np.int64]] | None
    ) -> NDArray[np.float32]:
        # the history's weights are taken as given: with profile_half_life_days the caller
        # decays them (a history row carries no event ages)
        if self.params.use_weights:
            h = sp.csr_matrix(history, dtype=np.float32, copy=True)
            h.data = np.log1p(h.data)
        else:
            h = binarize(history)
        profiles = normalize(h @ self.item_vectors_, norm="l2", axis=1)
        emb = (
            None
            if self.item_embeddings_ is None
            else _dense_profiles(h.astype(np.float32), self.item_embeddings_)
        )
        return self._score_profiles(sp.csr_matrix(profiles, dtype=np.float32), emb)

    def _score_profiles(
        self, profiles: sp.csr_matrix, embedding_profiles: NDArray[np.float32] | None = None
    ) -> NDArray[np.float32]:
        scores = np.asarray((profiles @ self.item_vectors_.T).toarray(), dtype=np.float32)
        if embedding_profiles is not None and self.item_embeddings_ is not None:
            a = np.float32(self.params.embedding_weight)
            scores *= np.float32(1.0) - a
            scores += a * (embedding_profiles @ self.item_embeddings_.T)
        w = self.params.popularity_weight
        if w > 0:
            top = float(self.popularity_.max(initial=0.0))
            if top > 0:
                scores += np.float32(w / top) * self.popularity_.astype(np.float32)[None, :]
        return scores

    def similar_items(
        self, item_id: str, k: int = 10
    ) -> tuple[NDArray[np.object_], NDArray[np.float32]]:
        """Items whose text is closest to ``item_id`` (works for never-touched items too)."""
        self.check_fitted()
        i = int(self.items_.index([item_id])[0])
        sims = np.asarray((self.item_vectors_[i] @ self.item_vectors_.T).toarray()).ravel()
        if self.item_embeddings_ is not None:
            a = self.params.embedding_weight
            sims = (1 - a) * sims + a * (self.item_embeddings_ @ self.item_embeddings_[i])
        sims[i] = -np.inf
        order = np.argsort(-sims, kind="stable")[:k]
        return self.items_.external(order), sims[order].astype(np.float32)

    def search(
        self, query: str, k: int = 10, *, items: list[str] | None = None
    ) -> tuple[NDArray[np.object_], NDArray[np.float32]]:
        """Items whose text best matches a shopper's search terms, best first.

        With embeddings the query is embedded like an item (so a Chinese query finds English
        titles and the reverse) and blended with its TF-IDF match as item scores are; without,
        the query's tokens are matched against every field's TF-IDF terms. ``items`` restricts
        the answer to an allow-list. Items matching nothing are left out.

        Examples
        --------
        >>> model.search("trail running shoes", k=3)  # doctest: +SKIP
        (array(['a3', 'a_new', 'a7'], dtype=object), array([0.61, 0.58, 0.55], dtype=float32))
        """
        self.check_fitted()
        text = (query or "").strip()
        if not text:
            raise ConfigError("search: the query is empty", hint='e.g. search("running shoes")')
        tokens = set(tokenize(text, cjk=self.params.cjk_tokenizer))
        hits = np.flatnonzero([str(t).partition(":")[2] in tokens for t in self.terms_.tolist()])
        q = sp.csr_matrix(
            (np.ones(len(hits), np.float32), (np.zeros(len(hits), int), hits)),
            shape=(1, len(self.terms_)),
        )
        scores = np.asarray((normalize(q) @ self.item_vectors_.T).toarray()).ravel()
        matched = scores > 0
        if self.item_embeddings_ is not None:
            vec = load_text_encoder().encode([text])[0]
            a = self.params.embedding_weight
            sem = self.item_embeddings_ @ vec
            scores = (1 - a) * scores + a * sem
            matched |= sem > 0
        scores = scores.astype(np.float32)
        scores[~matched] = -np.inf
        if items is not None:
            allow = np.zeros(self.n_items, dtype=bool)
            idx = self.items_.index(items, missing="ignore")
            allow[idx[idx >= 0]] = True
            scores[~allow] = -np.inf
        order = np.argsort(-scores, kind="stable")[:k]
        order = order[np.isfinite(scores[order])]
        return self.items_.external(order), scores[order]

    def explain(self, user_id: str, item_id: str) -> Explanation:
        pair = self._warm_pair(user_id, item_id)
        if pair is None:
            return super().explain(user_id, item_id)
        u, j = pair
        prod = self.profiles_[u].multiply(self.item_vectors_[j]).tocsr()
        order = np.argsort(-prod.data, kind="stable")[:8]
        terms = []
        for o in order:
            field, _, term = str(self.terms_[prod.indices[o]]).partition(":")
            terms.append({"field": field, "term": term, "weight": float(prod.data[o])})
        hist = self.seen_[u].indices
        sims = np.asarray((self.item_vectors_[hist] @ self.item_vectors_[j].T).toarray()).ravel()
        top = np.argsort(-sims, kind="stable")[:3]
        similar = [
            {"item_id": str(self.items_.ids[hist[t]]), "similarity": float(sims[t])}
            for t in top
            if sims[t] > 0
        ]
        shown = ", ".join(str(t["term"]) for t in terms[:3]) or "your interests"
        return Explanation(
            "matching_tags",
            f"Matches what you like: {shown}.",
            {"terms": terms, "similar_history": similar, "score": float(prod.sum())},
        )

    # ---- persistence ---------------------------------------------------------------------------
    def _state(self) -> dict[str, NDArray[Any]]:
        out = (
            csr_arrays("item_vectors", self.item_vectors_)
            | csr_arrays("profiles", self.profiles_)
            | {"terms": self.terms_}
        )
        if self.item_embeddings_ is not None and self.embedding_profiles_ is not None:
            out |= {
                "item_embeddings": self.item_embeddings_,
                "embedding_profiles": self.embedding_profiles_,
            }
        return out

    def _load_state(self, arrays: dict[str, NDArray[Any]]) -> None:
        self.item_vectors_ = csr_from_arrays("item_vectors", arrays)
        self.profiles_ = csr_from_arrays("profiles", arrays)
        self.terms_ = arrays["terms"]
        # saved embeddings score without the encoder; only search() embeds a new query
        self.item_embeddings_ = arrays.get("item_embeddings")
        self.embedding_profiles_ = arrays.get("embedding_profiles")


def _dense_profiles(history: sp.csr_matrix, embeddings: NDArray[np.float32]) -> NDArray[np.float32]:
    """Each row's weighted mean embedding, L2-normalised (zero rows stay zero)."""
    prof = np.asarray(history @ embeddings, dtype=np.float32)
    norms = np.linalg.norm(prof, axis=1, keepdims=True)
    np.divide(prof, norms, out=prof, where=norms > 0)
    return prof


def _identity(tokens: list[str]) -> list[str]:
    """Analyzer for pre-tokenised documents (module level, so the vectorizer needs no lambda)."""
    return tokens
