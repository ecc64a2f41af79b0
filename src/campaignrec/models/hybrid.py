"""Hybrid factorisation with user and item side features (LightFM-style), in PyTorch.

A user's vector is the sum of the embeddings of their id and their features (gender, age band,
region, membership tier); an item's vector the sum of its id's and its features' (category path
levels, brand, price band, tags). Trained with a WARP-like loss: for each observed pair, several
sampled negatives, and a softplus margin on the hardest of them. Because features carry the
signal, the model scores users without history and items nobody has touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from campaignrec.data.interactions import Interactions
from campaignrec.errors import ConfigError
from campaignrec.models.base import Explanation, Params, Recommender

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover
    raise ConfigError(
        "the hybrid model needs PyTorch", hint="pip install 'campaignrec[deep]' (torch==2.13.0)"
    ) from exc

ITEM_FEATURE_FIELDS = ("category", "brand", "price", "tags")
USER_FEATURE_FIELDS = ("gender", "age_band", "birth_year", "region", "membership_tier")


@dataclass(frozen=True)
class HybridParams(Params):
    dim: int = 64
    epochs: int = 30
    batch_size: int = 1024
    lr: float = 1e-2
    n_negatives: int = 8
    loss: Literal["warp", "bpr"] = "warp"
    l2: float = 1e-6
    use_ids: bool = True
    price_bands: int = 5
    seed: int = 0
    num_threads: int | None = None


def _tokens_item(row: pd.Series, price_edges: NDArray[np.float64] | None) -> list[str]:
    out: list[str] = []
    cat = row.get("category")
    if isinstance(cat, str) and cat:
        parts = [p for p in cat.replace(">", "/").split("/") if p.strip()]
        out += ["cat:" + "/".join(parts[: i + 1]).strip() for i in range(len(parts))]
    brand = row.get("brand")
    if isinstance(brand, str) and brand:
        out.append("brand:" + brand)
    price = row.get("price")
    if price_edges is not None and price is not None and not pd.isna(price):
        out.append(f"price:{int(np.searchsorted(price_edges, float(price)))}")
    tags = row.get("tags")
    if isinstance(tags, str):
        tags = [t for t in tags.replace(",", "|").split("|") if t]
    if isinstance(tags, list | tuple | np.ndarray):
        out += ["tag:" + str(t) for t in tags]
    return out


def _tokens_user(row: pd.Series) -> list[str]:
    out: list[str] = []
    for f in ("gender", "age_band", "region", "membership_tier"):
        v = row.get(f)
        if v is not None and not pd.isna(v) and str(v):
            out.append(f"{f}:{v}")
    by = row.get("birth_year")
    if by is not None and not pd.isna(by) and "age_band" not in row:
        out.append(f"birth_decade:{int(by) // 10 * 10}")
    return out


def _feature_matrix(
    tokens: list[list[str]], n: int, use_ids: bool
) -> tuple[sp.csr_matrix, list[str]]:
    vocab: dict[str, int] = {}
    rows, cols = [], []
    for r, toks in enumerate(tokens):
        for t in dict.fromkeys(toks):
            rows.append(r)
            cols.append(vocab.setdefault(t, len(vocab)))
    names = list(vocab)
    feat = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n, len(names)))
    if use_ids:
        feat = sp.hstack([sp.identity(n, dtype=np.float32, format="csr"), feat], format="csr")
        names = [f"id:{i}" for i in range(n)] + names
    # normalise rows so a heavily-tagged item is not a longer vector by construction
    norms = np.asarray(feat.sum(axis=1)).ravel()
    norms[norms == 0] = 1.0
    feat = sp.diags(1.0 / norms).astype(np.float32) @ feat
    return feat.tocsr(), names


def _bag(feat: sp.csr_matrix, rows: NDArray[np.int64], weight: torch.Tensor) -> torch.Tensor:
    """Sum of the feature embeddings of ``rows`` (weighted by the feature values)."""
    sub = feat[rows]
    return nn.functional.embedding_bag(
        torch.from_numpy(sub.indices.astype(np.int64)),
        weight,
        torch.from_numpy(sub.indptr[:-1].astype(np.int64)),
        mode="sum",
        per_sample_weights=torch.from_numpy(sub.data.astype(np.float32)),
    )


class Hybrid(Recommender):
    """Factorisation over id + side-feature embeddings; scores cold users and cold items."""

    name = "hybrid"
    params_class = HybridParams
    handles_cold_users = True
    handles_cold_items = True  # side features score cold items
    no_history_reason = (
        "a shopper's vector is the sum of their id and feature embeddings, and a history "
        "carries neither"
    )

    def _features(self, interactions: Interactions) -> None:
        p: HybridParams = self.params  # type: ignore[assignment]
        items = interactions.item_features
        price_edges = None
        if "price" in items.columns and items["price"].notna().any():
            q = np.linspace(0, 1, p.price_bands + 1)[1:-1]
            price_edges = np.unique(np.nanquantile(items["price"].astype(float), q))
        item_tokens = (
            [_tokens_item(r, price_edges) for _, r in items.iterrows()]
            if len(items.columns)
            else [[] for _ in range(interactions.n_items)]
        )
        users = interactions.user_features
        user_tokens = (
            [_tokens_user(r) for _, r in users.iterrows()]
            if len(users.columns)
            else [[] for _ in range(interactions.n_users)]
        )
        self.item_feat_, self.item_feat_names_ = _feature_matrix(
            item_tokens, interactions.n_items, p.use_ids
        )
        self.user_feat_, self.user_feat_names_ = _feature_matrix(
            user_tokens, interactions.n_users, p.use_ids
        )

    def _fit(self, interactions: Interactions) -> None:
        p: HybridParams = self.params  # type: ignore[assignment]
        torch.set_num_threads(p.num_threads or 1)  # small sparse steps: one thread is fastest
        torch.manual_seed(p.seed)
        rng = np.random.default_rng(p.seed)
        self._features(interactions)
        n_uf, n_if = self.user_feat_.shape[1], self.item_feat_.shape[1]
        self.user_emb_ = nn.Parameter(torch.randn(n_uf, p.dim) * 0.1)
        self.item_emb_ = nn.Parameter(torch.randn(n_if, p.dim) * 0.1)
        self.item_bias_ = nn.Parameter(torch.zeros(n_if))
        params = [self.user_emb_, self.item_emb_, self.item_bias_]
        opt = torch.optim.Adam(params, lr=p.lr)
        pos = interactions.binary.tocoo()
        users, items = pos.row.astype(np.int64), pos.col.astype(np.int64)
        self.losses_: list[float] = []
        n_items = interactions.n_items
        bias_w = self.item_bias_[:, None]
        for _ in range(p.epochs):
            order = rng.permutation(len(users))
            total = 0.0
            for start in range(0, len(order), p.batch_size):
                b = order[start : start + p.batch_size]
                neg = rng.integers(0, n_items, (len(b), p.n_negatives))
                ub = _bag(self.user_feat_, users[b], self.user_emb_)
                ib = _bag(self.item_feat_, items[b], self.item_emb_)
                nb = _bag(self.item_feat_, neg.ravel(), self.item_emb_).view(
                    len(b), p.n_negatives, -1
                )
                s_pos = (ub * ib).sum(1) + _bag(self.item_feat_, items[b], bias_w).squeeze(1)
                nbias = _bag(self.item_feat_, neg.ravel(), bias_w).view(len(b), p.n_negatives)
                s_neg = torch.einsum("bd,bnd->bn", ub, nb) + nbias
                if p.loss == "warp":
                    loss = nn.functional.softplus(s_neg.max(dim=1).values - s_pos).mean()
                else:
                    loss = nn.functional.softplus(s_neg - s_pos[:, None]).mean()
                loss = loss + p.l2 * (ub.pow(2).sum() + ib.pow(2).sum()) / len(b)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(b)
            self.losses_.append(total / max(1, len(users)))
        self._finalise()

    def _finalise(self) -> None:
        with torch.no_grad():
            self.user_vectors_ = (self.user_feat_ @ self.user_emb_.detach().numpy()).astype(
                np.float32
            )
            self.item_vectors_ = (self.item_feat_ @ self.item_emb_.detach().numpy()).astype(
                np.float32
            )
            self.item_biases_ = (self.item_feat_ @ self.item_bias_.detach().numpy()).astype(
                np.float32
            )

    def _score_idx(self, user_idx: NDArray[np.int64]) -> NDArray[np.float32]:
        return self.user_vectors_[user_idx] @ self.item_vectors_.T + self.item_biases_[None, :]

    def explain(self, user_id: str, item_id: str) -> Explanation:
        base = super().explain(user_id, item_id)
        if base.reason == "popular":
            return base
        u = int(self.users_.index([user_id])[0])
        i = int(self.items_.index([item_id])[0])
        row = self.item_feat_.getrow(i)
        contrib = []
        emb = self.item_emb_.detach().numpy()
        for f, w in zip(row.indices, row.data, strict=True):
            name = self.item_feat_names_[f]
            if not name.startswith("id:"):
                contrib.append((name, float(w * emb[f] @ self.user_vectors_[u])))
        contrib.sort(key=lambda t: -t[1])
        top = [{"feature": n, "contribution": c} for n, c in contrib[:3]]
        text = (
            "Matches what you like: " + ", ".join(t["feature"].split(":", 1)[1] for t in top) + "."
            if top
            else "Similar shoppers chose it."
        )
        return Explanation("features", text, {"features": top})

    def _state(self) -> dict[str, NDArray[Any]]:
        return {
            "user_vectors": self.user_vectors_,
            "item_vectors": self.item_vectors_,
            "item_biases": self.item_biases_,
            "item_emb": self.item_emb_.detach().numpy(),
            "item_feat_indptr": self.item_feat_.indptr,
            "item_feat_indices": self.item_feat_.indices,
            "item_feat_data": self.item_feat_.data,
            "item_feat_names": np.asarray(self.item_feat_names_, dtype=str),
        }

    def _load_state(self, arrays: dict[str, NDArray[Any]]) -> None:
        self.user_vectors_ = arrays["user_vectors"]
        self.item_vectors_ = arrays["item_vectors"]
        self.item_biases_ = arrays["item_biases"]
        names = [str(n) for n in arrays["item_feat_names"]]
        self.item_feat_names_ = names
        self.item_feat_ = sp.csr_matrix(
            (arrays["item_feat_data"], arrays["item_feat_indices"], arrays["item_feat_indptr"]),
            shape=(len(self.items_), len(names)),
        )
        self.item_emb_ = nn.Parameter(torch.from_numpy(np.array(arrays["item_emb"])))
