"""SASRec: a self-attention next-item model (Kang & McAuley, 2018) in PyTorch (extra ``deep``).

Trained on each user's time-ordered item sequence (consecutive repeats collapsed) with a
full-softmax next-item loss at every position; scores a user from the last ``max_len`` items of
their history. Weights are saved as plain arrays in the model's npz (no pickle, no torch.save).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from campaignrec.data.interactions import Interactions
from campaignrec.errors import ConfigError
from campaignrec.models.base import Explanation, Params, Recommender

try:  # torch is an optional extra
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ConfigError(
        "the SASRec model needs PyTorch", hint="pip install 'campaignrec[deep]' (torch==2.13.0)"
    ) from exc


@dataclass(frozen=True)
class SASRecParams(Params):
    max_len: int = 50
    dim: int = 64
    n_blocks: int = 2
    n_heads: int = 1
    dropout: float = 0.2
    epochs: int = 40
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    num_threads: int | None = None


class _Net(nn.Module):
    def __init__(self, n_items: int, p: SASRecParams) -> None:
        super().__init__()
        self.dim = p.dim
        self.n_heads = p.n_heads
        self.item_emb = nn.Embedding(n_items + 1, p.dim, padding_idx=0)  # 0 = padding
        self.pos_emb = nn.Embedding(p.max_len, p.dim)
        layer = nn.TransformerEncoderLayer(
            p.dim,
            p.n_heads,
            dim_feedforward=p.dim,
            dropout=p.dropout,
            batch_first=True,
            norm_first=True,
            activation="gelu",
        )
        self.encoder = nn.TransformerEncoder(layer, p.n_blocks, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(p.dim)
        self.drop = nn.Dropout(p.dropout)
        nn.init.normal_(self.item_emb.weight, std=0.02)
        nn.init.normal_(self.pos_emb.weight, std=0.02)

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        """Hidden state at every position of left-padded ``seq`` (B, L)."""
        b, length = seq.shape
        pos = torch.arange(length, device=seq.device)
        x = self.item_emb(seq) * math.sqrt(self.dim) + self.pos_emb(pos)[None]
        x = self.drop(x)
        pad = seq == 0
        causal = torch.ones(length, length, dtype=torch.bool, device=seq.device).tril()
        eye = torch.eye(length, dtype=torch.bool, device=seq.device)
        # a position sees earlier real items and itself (a padding position only itself, so no
        # row of the attention is empty)
        allowed = causal[None] & (~pad[:, None, :] | eye[None])
        mask = torch.zeros(b, length, length, device=seq.device)
        mask.masked_fill_(~allowed, float("-inf"))
        mask = mask.repeat_interleave(self.n_heads, dim=0)
        h = self.encoder(x, mask=mask)
        return self.norm(h)

    def logits(self, h: torch.Tensor) -> torch.Tensor:
        return h @ self.item_emb.weight[1:].T


def _collapse_repeats(items: NDArray[np.int32]) -> NDArray[np.int32]:
    if len(items) < 2:
        return items
    keep = np.ones(len(items), dtype=bool)
    keep[1:] = items[1:] != items[:-1]
    return items[keep]


class SASRec(Recommender):
    """Self-attentive sequential recommendation (next item from the recent sequence)."""

    name = "sasrec"
    params_class = SASRecParams

    def _threads(self) -> None:
        p: SASRecParams = self.params  # type: ignore[assignment]
        torch.set_num_threads(p.num_threads or max(1, min(4, os.cpu_count() or 1)))

    def _user_seqs(self, interactions: Interactions) -> list[NDArray[np.int32]]:
        indptr, items, _ = interactions.sequences
        return [
            _collapse_repeats(items[indptr[u] : indptr[u + 1]]) for u in range(interactions.n_users)
        ]

    def _fit(self, interactions: Interactions) -> None:
        p: SASRecParams = self.params  # type: ignore[assignment]
        self._threads()
        torch.manual_seed(p.seed)
        rng = np.random.default_rng(p.seed)
        seqs = self._user_seqs(interactions)
        self.history_ = seqs
        windows: list[NDArray[np.int64]] = []
        span = p.max_len + 1
        for s in seqs:
            if len(s) < 2:
                continue
            shifted = s.astype(np.int64) + 1
            for end in range(len(shifted), 1, -p.max_len):
                windows.append(shifted[max(0, end - span) : end])
        self.net_ = _Net(interactions.n_items, p)
        if not windows:
            return
        data = np.zeros((len(windows), span), dtype=np.int64)
        for r, w in enumerate(windows):
            data[r, span - len(w) :] = w
        opt = torch.optim.Adam(self.net_.parameters(), lr=p.lr, weight_decay=p.weight_decay)
        loss_fn = nn.CrossEntropyLoss(ignore_index=-1)
        self.net_.train()
        self.losses_: list[float] = []
        for _ in range(p.epochs):
            order = rng.permutation(len(data))
            total = 0.0
            for start in range(0, len(order), p.batch_size):
                batch = torch.from_numpy(data[order[start : start + p.batch_size]])
                inp, tgt = batch[:, :-1], batch[:, 1:] - 1  # targets back to item_idx; pad -> -1
                h = self.net_(inp)
                loss = loss_fn(
                    self.net_.logits(h).reshape(-1, interactions.n_items), tgt.reshape(-1)
                )
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(batch)
            self.losses_.append(total / len(data))
        self.net_.eval()

    def _last_window(self, seqs: Sequence[NDArray[np.integer]]) -> torch.Tensor:
        p: SASRecParams = self.params  # type: ignore[assignment]
        out = np.zeros((len(seqs), p.max_len), dtype=np.int64)
        for r, seq in enumerate(seqs):
            s = seq[-p.max_len :].astype(np.int64) + 1
            if len(s):
                out[r, p.max_len - len(s) :] = s
        return torch.from_numpy(out)

    def _score_seqs(self, seqs: Sequence[NDArray[np.integer]]) -> NDArray[np.float32]:
        self._threads()
        with torch.inference_mode():
            h = self.net_(self._last_window(seqs))[:, -1]
            return self.net_.logits(h).numpy().astype(np.float32)

    def _score_idx(self, user_idx: NDArray[np.int64]) -> NDArray[np.float32]:
        return self._score_seqs([self.history_[u] for u in user_idx])

    def _score_history(
        self, history: sp.csr_matrix, sequences: list[NDArray[np.int64]] | None
    ) -> NDArray[np.float32]:
        if sequences is None:
            raise ConfigError(
                "sasrec: score_history() needs 'sequences' (the items in time order)",
                hint="pass sequences=[item indices oldest first] for every history row",
            )
        return self._score_seqs([_collapse_repeats(np.asarray(s)) for s in sequences])

    def explain(self, user_id: str, item_id: str) -> Explanation:
        base = super().explain(user_id, item_id)
        if base.reason == "popular":
            return base
        p: SASRecParams = self.params  # type: ignore[assignment]
        u = int(self.users_.index([user_id])[0])
        i = int(self.items_.index([item_id])[0])
        recent = self.history_[u][-p.max_len :]
        with torch.inference_mode():
            emb = self.net_.item_emb.weight[1:]
            sims = (emb[torch.as_tensor(recent, dtype=torch.long)] @ emb[i]).numpy()
        top = np.argsort(-sims)[:3]
        evidence = [
            {
                "item_id": str(self.items_.ids[recent[j]]),
                "steps_ago": int(len(recent) - 1 - j),
                "affinity": float(sims[j]),
            }
            for j in top
        ]
        names = ", ".join(str(e["item_id"]) for e in evidence)
        return Explanation(
            "sequence",
            f"Follows on from what you looked at recently ({names}).",
            {"recent": evidence},
        )

    def _state(self) -> dict[str, NDArray[Any]]:
        arrays = {f"net.{k}": v.detach().cpu().numpy() for k, v in self.net_.state_dict().items()}
        lengths = np.array([len(s) for s in self.history_], dtype=np.int64)
        arrays["hist_indptr"] = np.concatenate([[0], np.cumsum(lengths)])
        arrays["hist_items"] = (
            np.concatenate(self.history_).astype(np.int32)
            if len(self.history_)
            else np.zeros(0, np.int32)
        )
        return arrays

    def _load_state(self, arrays: dict[str, NDArray[Any]]) -> None:
        p: SASRecParams = self.params  # type: ignore[assignment]
        self.net_ = _Net(len(self.items_), p)
        state = {
            k[4:]: torch.from_numpy(np.array(v)) for k, v in arrays.items() if k.startswith("net.")
        }
        self.net_.load_state_dict(state)
        self.net_.eval()
        ptr, items = arrays["hist_indptr"], arrays["hist_items"]
        self.history_ = [items[ptr[u] : ptr[u + 1]] for u in range(len(ptr) - 1)]
