"""Ranking benchmark: campaignrec's recommenders against reference libraries on real data.

Protocols (same split, same targets and the same metric code for every system):

* A: MovieLens-100k, every rating an interaction, per-user temporal split (each user's last 20 %
  by time is test), full ranking over the items the user has not seen in train, k = 10 and 20.
* B: Taobao UserBehavior subset, all behaviours as input with their weights, global temporal
  split (the last two days are test), targets = items each test user viewed / carted /
  favourited / bought in the test period and had not touched before.
* C: MovieLens-100k leave-one-out (each user's last interaction), full ranking.

Reference systems: implicit ALS, BPR and BM25 item-KNN called directly (defaults, and tuned on the
same validation budget as ours), an EASE written plainly here, the same EASE scoring a recency-
weighted history, and (from ``.venv-bench``, see ``setup_reference_env.sh``) LightFM WARP and
RecBole SASRec / LightGCN, run as subprocesses that receive the split and return top-k lists.
Every hyper-parameter is chosen on a validation split carved from train the way test was carved
from the whole; test is touched once per system.

    python benchmarks/ranking.py --protocol A            # one protocol (about 10 minutes)
    python benchmarks/ranking.py --protocol all --quick  # every protocol, small budgets
    python benchmarks/ranking.py --no-external           # skip the .venv-bench systems

Results: a table on stdout and ``benchmarks/results/ranking_<protocol>.json`` (+ a Markdown
report with plots under ``benchmarks/results/ranking_<protocol>/``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
KS = (10, 20)


# =================================================================================================
# Workers: run inside .venv-bench (numpy<2, LightFM, RecBole); they import nothing from campaignrec
# =================================================================================================
def _worker_load(workdir: Path) -> tuple[dict[str, Any], dict[str, np.ndarray], np.ndarray]:
    params = json.loads((workdir / "params.json").read_text())
    with np.load(workdir / "train.npz") as z:
        train = {k: z[k] for k in z.files}
    users = np.load(workdir / "users.npy")
    return params, train, users


def _mask_topk(scores: np.ndarray, seen_rows: list[np.ndarray], k: int) -> np.ndarray:
    scores = scores.astype(np.float64, copy=True)
    for r, items in enumerate(seen_rows):
        scores[r, items] = -np.inf
    part = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    out = np.take_along_axis(part, order, axis=1)
    vals = np.take_along_axis(scores, out, axis=1)
    out[~np.isfinite(vals)] = -1
    return out


def _seen_lists(train: dict[str, np.ndarray], users: np.ndarray) -> list[np.ndarray]:
    by_user: dict[int, set[int]] = {}
    for u, i in zip(train["user_idx"].tolist(), train["item_idx"].tolist(), strict=True):
        by_user.setdefault(u, set()).add(i)
    return [np.fromiter(by_user.get(int(u), ()), dtype=np.int64) for u in users]


def worker_lightfm(workdir: Path) -> None:
    import scipy.sparse as sp
    from lightfm import LightFM

    params, train, users = _worker_load(workdir)
    n_u, n_i = int(train["n_users"]), int(train["n_items"])
    mat = sp.coo_matrix(
        (np.ones(len(train["user_idx"]), np.float32), (train["user_idx"], train["item_idx"])),
        shape=(n_u, n_i),
    ).tocsr()
    mat.data[:] = 1.0
    p = params["model"]
    t0 = time.perf_counter()
    model = LightFM(
        loss="warp",
        no_components=int(p.get("no_components", 64)),
        learning_rate=float(p.get("learning_rate", 0.05)),
        item_alpha=float(p.get("item_alpha", 0.0)),
        user_alpha=float(p.get("user_alpha", 0.0)),
        random_state=int(params["seed"]),
    )
    model.fit(
        mat.tocoo(), epochs=int(p.get("epochs", 30)), num_threads=int(params.get("threads", 2))
    )
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    ub, ue = model.get_user_representations()
    ib, ie = model.get_item_representations()
    scores = ue[users] @ ie.T + ub[users, None] + ib[None, :]
    recs = _mask_topk(scores, _seen_lists(train, users), int(params["k"]))
    rec_s = time.perf_counter() - t0
    np.save(workdir / "recs.npy", recs)
    (workdir / "timing.json").write_text(
        json.dumps({"fit_seconds": fit_s, "recommend_seconds": rec_s})
    )


def _recbole_files(
    workdir: Path, train: dict[str, np.ndarray], sequential: bool, max_len: int
) -> Path:
    """Write RecBole benchmark files (train / valid / test); valid and test are never used."""
    data_dir = workdir / "rb" / "bench"
    data_dir.mkdir(parents=True, exist_ok=True)
    order = np.lexsort((np.arange(len(train["user_idx"])), train["timestamp"], train["user_idx"]))
    u_sorted = train["user_idx"][order]
    i_sorted = train["item_idx"][order]
    t_sorted = train["timestamp"][order]
    if sequential:
        header = "user_id:token\titem_id_list:token_seq\titem_id:token\ttimestamp:float\n"
        lines = []
        starts = np.flatnonzero(np.r_[True, u_sorted[1:] != u_sorted[:-1]])
        ends = np.r_[starts[1:], len(u_sorted)]
        for s, e in zip(starts, ends, strict=True):
            seq = i_sorted[s:e]
            for t in range(1, len(seq)):
                hist = " ".join(map(str, seq[max(0, t - max_len) : t]))
                lines.append(f"{u_sorted[s]}\t{hist}\t{seq[t]}\t{t_sorted[s + t]}\n")
    else:
        header = "user_id:token\titem_id:token\ttimestamp:float\n"
        lines = [f"{u}\t{i}\t{t}\n" for u, i, t in zip(u_sorted, i_sorted, t_sorted, strict=True)]
    (data_dir / "bench.train.inter").write_text(header + "".join(lines))
    few = header + "".join(lines[:50])
    (data_dir / "bench.valid.inter").write_text(few)
    (data_dir / "bench.test.inter").write_text(few)
    return data_dir.parent


def worker_recbole(workdir: Path, model_name: str) -> None:
    import torch
    from recbole.config import Config
    from recbole.data import create_dataset, data_preparation
    from recbole.data.interaction import Interaction
    from recbole.trainer import Trainer
    from recbole.utils import get_model, init_seed

    params, train, users = _worker_load(workdir)
    p = params["model"]
    torch.set_num_threads(int(params.get("threads", 2)))
    sequential = model_name == "SASRec"
    max_len = int(p.get("max_len", 50))
    data_root = _recbole_files(workdir, train, sequential, max_len)
    cfg: dict[str, Any] = {
        "data_path": str(data_root),
        "benchmark_filename": ["train", "valid", "test"],
        "USER_ID_FIELD": "user_id",
        "ITEM_ID_FIELD": "item_id",
        "TIME_FIELD": "timestamp",
        "load_col": None,
        "epochs": int(p.get("epochs", 10)),
        "train_batch_size": int(p.get("batch_size", 2048)),
        "learning_rate": float(p.get("learning_rate", 0.001)),
        "eval_step": 0,
        "stopping_step": 10**6,
        "device": "cpu",
        "use_gpu": False,
        "seed": int(params["seed"]),
        "reproducibility": True,
        "show_progress": False,
        "checkpoint_dir": str(workdir / "ckpt"),
        "log_wandb": False,
        "state": "WARNING",
        "eval_args": {"order": "TO", "mode": "full", "group_by": "user"},
        "metrics": ["NDCG"],
        "topk": [10],
        "valid_metric": "NDCG@10",
    }
    if sequential:
        cfg |= {
            "alias_of_item_id": ["item_id_list"],
            "MAX_ITEM_LIST_LENGTH": max_len,
            "train_neg_sample_args": None,
            "loss_type": "CE",
            "hidden_size": int(p.get("hidden_size", 64)),
            "inner_size": int(p.get("hidden_size", 64)) * 4,
            "n_layers": int(p.get("n_layers", 2)),
            "n_heads": int(p.get("n_heads", 2)),
            "hidden_dropout_prob": float(p.get("dropout", 0.5)),
            "attn_dropout_prob": float(p.get("dropout", 0.5)),
        }
    else:
        cfg |= {
            "embedding_size": int(p.get("embedding_size", 64)),
            "n_layers": int(p.get("n_layers", 3)),
            "reg_weight": float(p.get("reg_weight", 1e-4)),
            "train_neg_sample_args": {"distribution": "uniform", "sample_num": 1},
        }
    config = Config(model=model_name, dataset="bench", config_dict=cfg)
    init_seed(config["seed"], config["reproducibility"])
    dataset = create_dataset(config)
    train_data, _, _ = data_preparation(config, dataset)
    model = get_model(config["model"])(config, train_data._dataset).to("cpu")
    trainer = Trainer(config, model)
    t0 = time.perf_counter()
    trainer.fit(train_data, valid_data=None, saved=False, show_progress=False, verbose=False)
    fit_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    model.eval()
    ds = train_data._dataset
    n_rb_items = ds.item_num
    # RecBole internal id -> our item index (padding 0 -> -1)
    rb2ours = np.full(n_rb_items, -1, dtype=np.int64)
    tokens = ds.field2id_token["item_id"]
    for rb_id in range(1, n_rb_items):
        rb2ours[rb_id] = int(tokens[rb_id])
    ours2rb = {int(v): i for i, v in enumerate(rb2ours) if v >= 0}
    user_tokens = ds.field2token_id["user_id"]
    seqs = _user_sequences(train)
    k = int(params["k"])
    recs = np.full((len(users), k), -1, dtype=np.int64)
    batch = 256
    with torch.no_grad():
        for start in range(0, len(users), batch):
            ub = users[start : start + batch]
            if sequential:
                seq_mat = np.zeros((len(ub), max_len), dtype=np.int64)
                lens = np.ones(len(ub), dtype=np.int64)
                for r, u in enumerate(ub):
                    s = [ours2rb[i] for i in seqs.get(int(u), []) if i in ours2rb][-max_len:]
                    if s:
                        seq_mat[r, : len(s)] = s
                        lens[r] = len(s)
                inter = Interaction(
                    {
                        "item_id_list": torch.from_numpy(seq_mat),
                        "item_length": torch.from_numpy(lens),
                    }
                )
            else:
                uid = np.asarray([user_tokens.get(str(int(u)), 0) for u in ub], dtype=np.int64)
                inter = Interaction({"user_id": torch.from_numpy(uid)})
            scores = model.full_sort_predict(inter).reshape(len(ub), -1).numpy().astype(np.float64)
            scores[:, 0] = -np.inf
            for r, u in enumerate(ub):
                seen = [ours2rb[i] for i in set(seqs.get(int(u), [])) if i in ours2rb]
                scores[r, seen] = -np.inf
            kk = min(k, scores.shape[1] - 1)
            part = np.argpartition(-scores, kk, axis=1)[:, :kk]
            order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
            top = np.take_along_axis(part, order, axis=1)
            ok = np.isfinite(np.take_along_axis(scores, top, axis=1))
            recs[start : start + len(ub), :kk] = np.where(ok, rb2ours[top], -1)
    rec_s = time.perf_counter() - t0
    np.save(workdir / "recs.npy", recs)
    (workdir / "timing.json").write_text(
        json.dumps({"fit_seconds": fit_s, "recommend_seconds": rec_s})
    )


def _user_sequences(train: dict[str, np.ndarray]) -> dict[int, list[int]]:
    order = np.lexsort((np.arange(len(train["user_idx"])), train["timestamp"], train["user_idx"]))
    seqs: dict[int, list[int]] = {}
    for u, i in zip(
        train["user_idx"][order].tolist(), train["item_idx"][order].tolist(), strict=True
    ):
        seqs.setdefault(u, []).append(i)
    return seqs


def run_worker(name: str, workdir: Path) -> None:
    if name == "lightfm":
        worker_lightfm(workdir)
    elif name in ("SASRec", "LightGCN"):
        worker_recbole(workdir, name)
    else:
        raise SystemExit(f"unknown worker {name!r}")


# =================================================================================================
# The benchmark proper (main venv): data, protocols, references, ours, statistics, report
# =================================================================================================
def find_data(arg: str | None) -> Path:
    from _datasets import data_dir  # not at the top: the .venv-bench workers lack campaignrec

    return data_dir(arg, "", "data (see /work/shared/data/README.md)")


def load_ml100k(data: Path) -> Any:
    import pandas as pd

    from campaignrec.data.interactions import Interactions

    base = data / "ml-100k"
    ev = pd.read_csv(base / "ml-100k.inter", sep="\t")
    ev.columns = [c.split(":")[0] for c in ev.columns]
    events = pd.DataFrame(
        {
            "user_id": ev["user_id"].astype(str),
            "item_id": ev["item_id"].astype(str),
            "event_type": "rating",
            "timestamp": ev["timestamp"].astype("int64"),
        }
    )
    items = pd.read_csv(base / "ml-100k.item", sep="\t")
    items.columns = [c.split(":")[0] for c in items.columns]
    items = pd.DataFrame(
        {
            "item_id": items["item_id"].astype(str),
            "category": items["class"].fillna("").str.split().str[0],
        }
    )
    users = pd.read_csv(base / "ml-100k.user", sep="\t")
    users.columns = [c.split(":")[0] for c in users.columns]
    users = users.assign(user_id=users["user_id"].astype(str))[["user_id", "gender", "occupation"]]
    inter = Interactions.from_frame(events, event_weights={"rating": 1.0})
    # features only for ids that occur in the log (no cold ids: every system sees the same catalogue)
    return Interactions.from_frame(
        events,
        items=items[items["item_id"].isin(set(inter.items.ids))],
        users=users[users["user_id"].isin(set(inter.users.ids))],
        event_weights={"rating": 1.0},
    )


def load_taobao(data: Path) -> Any:
    import pandas as pd
    from _datasets import TAOBAO_EVENTS

    from campaignrec.data.interactions import Interactions
    from campaignrec.data.schema import DEFAULT_EVENT_WEIGHTS

    raw = pd.read_csv(
        data / "taobao" / "UserBehavior_subset_84k.csv",
        header=None,
        names=["user_id", "item_id", "category_id", "behavior_type", "timestamp"],
    )
    raw = raw.dropna()  # the file's last line is cut short (no timestamp)
    events = pd.DataFrame(
        {
            "user_id": raw["user_id"].astype(str),
            "item_id": raw["item_id"].astype(str),
            "event_type": raw["behavior_type"].map(TAOBAO_EVENTS),
            "timestamp": raw["timestamp"].astype("int64"),
        }
    )
    items = raw.drop_duplicates("item_id", keep="last")
    items = pd.DataFrame(
        {"item_id": items["item_id"].astype(str), "category": items["category_id"].astype(str)}
    )
    return Interactions.from_frame(events, items=items, event_weights=dict(DEFAULT_EVENT_WEIGHTS))


PROTOCOLS: dict[str, dict[str, Any]] = {
    "A": {
        "data": "ml-100k",
        "split": ("user_temporal", {"test_fraction": 0.2}),
        "title": "ML-100k, per-user temporal 80/20",
    },
    "B": {
        "data": "taobao",
        "split": ("global_temporal", {"test_days": 2.0}),
        "title": "Taobao subset, last two days",
    },
    "C": {"data": "ml-100k", "split": ("leave_one_out", {}), "title": "ML-100k, leave-one-out"},
    "D": {
        "data": "completejourney",
        "split": ("basket_temporal", {"test_fraction": 0.2}),
        "title": "The Complete Journey, each household's last 20 % of baskets (new + repeat items)",
        "repeats": True,
    },
    "E": {
        "data": "small shops",
        "split": ("source protocol", {}),
        "title": "small shops: 100 / 200 / 400 users drawn from D and from B (Taobao), 10 seeds each",
    },
}

#: the popularity variants among ours (the default must not lose to the best of them on test)
POPULARITY_ROWS = (
    "campaignrec most_popular",
    "campaignrec most_popular (trending)",
    "campaignrec category_popular",
    "campaignrec repeat_popular",
)


# ---- reference systems, called directly ----------------------------------------------------------
class DirectReference:
    """Minimal Recommender-like shell over a reference system (fit, recommend_idx, score_matrix)."""

    def fit(self, interactions: Any) -> DirectReference:
        self.train_ = interactions
        self._fit(interactions)
        return self

    def _fit(self, interactions: Any) -> None:
        raise NotImplementedError

    def score_matrix(self, user_idx: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def recommend_idx(
        self, user_idx: np.ndarray, k: int = 10, *, exclude_seen: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        from campaignrec.models.base import top_k

        user_idx = np.asarray(user_idx, dtype=np.int64)
        out_i = np.full((len(user_idx), k), -1, np.int64)
        out_v = np.full((len(user_idx), k), -np.inf, np.float32)
        for s in range(0, len(user_idx), 1024):
            ub = user_idx[s : s + 1024]
            sc = np.asarray(self.score_matrix(ub), dtype=np.float32)
            if exclude_seen:
                r, c = self.train_.binary[ub].nonzero()
                sc[r, c] = -np.inf
            out_i[s : s + len(ub)], out_v[s : s + len(ub)] = top_k(sc, k)
        return out_i, out_v


class ImplicitDirect(DirectReference):
    """implicit's ALS / BPR / BM25 item-KNN, called the way its README shows."""

    def __init__(self, kind: str, seed: int = 0, **params: Any) -> None:
        self.kind, self.seed, self.params = kind, seed, params

    def _fit(self, interactions: Any) -> None:
        import implicit.cpu.als
        import implicit.cpu.bpr
        import implicit.nearest_neighbours

        if self.kind == "als":
            self.model_ = implicit.cpu.als.AlternatingLeastSquares(
                random_state=self.seed, **self.params
            )
        elif self.kind == "bpr":
            self.model_ = implicit.cpu.bpr.BayesianPersonalizedRanking(
                random_state=self.seed, **self.params
            )
        else:
            self.model_ = implicit.nearest_neighbours.BM25Recommender(**self.params)
        self.user_items_ = interactions.matrix.tocsr().astype(np.float32)
        self.model_.fit(self.user_items_, show_progress=False)

    def recommend_idx(
        self, user_idx: np.ndarray, k: int = 10, *, exclude_seen: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        user_idx = np.asarray(user_idx, dtype=np.int64)
        ids, scores = self.model_.recommend(
            user_idx, self.user_items_[user_idx], N=k, filter_already_liked_items=exclude_seen
        )
        ids = np.asarray(ids, dtype=np.int64).reshape(len(user_idx), -1)
        scores = np.asarray(scores, dtype=np.float32).reshape(len(user_idx), -1)
        ids[~np.isfinite(scores)] = -1
        if ids.shape[1] < k:
            ids = np.pad(ids, ((0, 0), (0, k - ids.shape[1])), constant_values=-1)
        return ids, scores

    def score_matrix(self, user_idx: np.ndarray) -> np.ndarray:
        if self.kind == "bm25":
            return np.asarray(
                (self.user_items_[user_idx] @ self.model_.similarity).todense(), dtype=np.float32
            )
        return np.asarray(
            self.model_.user_factors[user_idx] @ self.model_.item_factors.T, dtype=np.float32
        )


class PlainEASE(DirectReference):
    """EASE (Steck 2019) written plainly: B = I - P diag(1/diag P), P = (XᵀX + λI)⁻¹.

    With ``half_life`` set, a user's history row weights each distinct past item by
    0.5^(steps from the end / half_life) before multiplying by B. Catalogues larger than the
    user base use the Woodbury (dual) form of P, which needs only a users x users inverse.
    """

    def __init__(self, l2: float = 250.0, half_life: float | None = None) -> None:
        self.l2, self.half_life = float(l2), half_life

    def _fit(self, interactions: Any) -> None:
        x = interactions.binary.astype(np.float64)
        self.x_ = x
        n_users, n_items = x.shape
        self.dual_ = n_items > 4000 and n_users < n_items
        if not self.dual_:
            g = (x.T @ x).toarray()
            g[np.diag_indices_from(g)] += self.l2
            p = np.linalg.inv(g)
            self.b_ = -p / np.diag(p)
            np.fill_diagonal(self.b_, 0.0)
        else:
            k = (x @ x.T).toarray()
            k[np.diag_indices_from(k)] += self.l2
            self.kinv_x_ = np.linalg.solve(k, x.toarray())  # users x items
            diag_xt_kinv_x = np.asarray(x.multiply(self.kinv_x_).sum(axis=0)).ravel()
            self.p_diag_ = (1.0 - diag_xt_kinv_x) / self.l2
        if self.half_life is not None:
            self.history_ = recency_rows(interactions, self.half_life)
        else:
            self.history_ = interactions.binary

    def score_matrix(self, user_idx: np.ndarray) -> np.ndarray:
        h = self.history_[np.asarray(user_idx, dtype=np.int64)]
        if not self.dual_:
            return np.asarray(h @ self.b_, dtype=np.float32)
        hd = h.toarray()
        hp = (hd - (h @ self.x_.T).toarray() @ self.kinv_x_) / self.l2  # h P
        return (hd - hp / self.p_diag_).astype(np.float32)


def recency_rows(interactions: Any, half_life: float) -> Any:
    """CSR user x item: 0.5^(steps from the end / half_life) over each user's distinct items."""
    import scipy.sparse as sp

    order = np.lexsort(
        (np.arange(len(interactions)), interactions.timestamp, interactions.user_idx)
    )
    u = interactions.user_idx[order].astype(np.int64)
    i = interactions.item_idx[order].astype(np.int64)
    # keep each (user, item)'s last occurrence
    key = u * interactions.n_items + i
    last = np.ones(len(key), dtype=bool)
    rev_unique = np.unique(key[::-1], return_index=True)[1]
    last[:] = False
    last[len(key) - 1 - rev_unique] = True
    u, i = u[last], i[last]
    counts = np.bincount(u, minlength=interactions.n_users)
    ends = np.cumsum(counts)
    steps = ends[u] - 1 - np.arange(len(u))
    w = np.power(0.5, steps / float(half_life))
    return sp.csr_matrix((w, (u, i)), shape=(interactions.n_users, interactions.n_items))


# ---- reference systems in .venv-bench --------------------------------------------------------------
class ExternalReference(DirectReference):
    """A system run in ``.venv-bench`` as a subprocess: receives the split, returns top-k lists."""

    def __init__(
        self, worker: str, python: str, seed: int = 0, timeout: float = 900, **params: Any
    ) -> None:
        self.worker, self.python, self.seed, self.timeout, self.params = (
            worker,
            python,
            seed,
            timeout,
            params,
        )
        self.timing_: dict[str, float] = {}

    def _fit(self, interactions: Any) -> None:
        pass  # fitting happens in the subprocess, together with recommending

    def recommend_idx(
        self, user_idx: np.ndarray, k: int = 10, *, exclude_seen: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        tr = self.train_
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            work = Path(tmp)
            np.savez(
                work / "train.npz",
                user_idx=tr.user_idx.astype(np.int64),
                item_idx=tr.item_idx.astype(np.int64),
                timestamp=tr.timestamp.astype(np.int64),
                weight=tr.weight.astype(np.float32),
                n_users=tr.n_users,
                n_items=tr.n_items,
            )
            np.save(work / "users.npy", np.asarray(user_idx, dtype=np.int64))
            (work / "params.json").write_text(
                json.dumps({"k": k, "seed": self.seed, "threads": 2, "model": self.params})
            )
            env = dict(
                os.environ, OMP_NUM_THREADS="2", MKL_NUM_THREADS="2", PYTHONWARNINGS="ignore"
            )
            proc = subprocess.run(
                [
                    self.python,
                    str(Path(__file__).resolve()),
                    "--worker",
                    self.worker,
                    "--workdir",
                    str(work),
                ],
                capture_output=True,
                text=True,
                timeout=self.timeout,
                env=env,
                cwd=str(work),
            )
            if proc.returncode != 0:
                raise RuntimeError(f"{self.worker} worker failed:\n{proc.stderr[-3000:]}")
            recs = np.load(work / "recs.npy")
            self.timing_ = json.loads((work / "timing.json").read_text())
        return recs.astype(np.int64), np.zeros(recs.shape, np.float32)


class DefaultSelection:
    """What ``campaignrec train`` (no model named) does, as one fit: ``select_default`` on train.

    It carves its own validation split from the data it is given (not the protocol's), tunes
    every default candidate and the blend, and refits the winner; test is never seen.
    """

    def __init__(self, seed: int = 0, **options: Any) -> None:
        self.seed, self.options = seed, options
        self.report_: dict[str, Any] = {}

    def fit(self, interactions: Any) -> DefaultSelection:
        from campaignrec.evaluation.selection import select_default

        selection = select_default(interactions, seed=self.seed, **self.options)
        self.model_, self.report_ = selection.model, selection.report
        return self

    def recommend_idx(
        self, user_idx: np.ndarray, k: int = 10, *, exclude_seen: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        out: tuple[np.ndarray, np.ndarray] = self.model_.recommend_idx(
            user_idx, k, exclude_seen=exclude_seen
        )
        return out


# ---- the run ----------------------------------------------------------------------------------------
def tuned(
    label: str,
    factory: Callable[[dict[str, Any]], Any],
    space: dict[str, Any],
    val: Any,
    trials: int,
    seed: int,
    log: dict[str, Any],
    baseline: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], float]:
    from campaignrec.evaluation.tuning import tune

    t0 = time.perf_counter()
    cached = _cache_path(f"tune {label}", ".json")
    if cached is not None and cached.exists():
        log[label] = json.loads(cached.read_text()) | {"cached": True}
    else:
        res = tune(
            factory,
            space,
            val,
            n_trials=trials,
            timeout=TUNE_TIMEOUT[0],
            seed=seed,
            baseline=baseline,
        )
        log[label] = {
            "best_params": res.best_params,
            "validation_ndcg": res.best_value,
            "trials": len(res.trials),
            "seconds": time.perf_counter() - t0,
        }
        if cached is not None:
            cached.write_text(json.dumps(log[label], default=str))
    best, value = log[label]["best_params"], float(log[label]["validation_ndcg"])
    print(
        f"  tuned {label:<28} val ndcg@{val.k}={value:.4f} {best} ({log[label]['seconds']:.0f}s)",
        flush=True,
    )
    return best, value


#: --cache DIR: reuse tuning results and top-k lists of earlier runs of the same protocol
CACHE: dict[str, Any] = {"dir": None, "key": ""}


def _cache_path(label: str, suffix: str) -> Path | None:
    if CACHE["dir"] is None:
        return None
    slug = "".join(ch if ch.isalnum() else "_" for ch in label)[:120]
    d = Path(CACHE["dir"]) / CACHE["key"]
    d.mkdir(parents=True, exist_ok=True)
    return d / f"{slug}{suffix}"


#: campaignrec's cold-item fallback (models/cold.py) is switched off in this benchmark unless
#: ``--cold-fallback``: the catalogue here is built from the event log, so an item nobody touched
#: in train is an item somebody touches in test, and a fallback that ranks never-touched items
#: by their category reads the test period (on a 100-user Taobao shop 97 % of the test items
#: had no train event and 74 % of transition's list were such items: NDCG 0.18 against 0.005
#: for the references, which have no such fallback). A real shop's never-touched items carry no
#: such hint; the cold-item protocol (benchmarks/text_cold.py) measures the fallback fairly.
BENCH_COLD = ("CAMPAIGNREC_COLD_TEXT", "off")

#: seconds of tuning per model (the same budget for references and ours); set from --tune-timeout
TUNE_TIMEOUT: list[float | None] = [None]


def run_protocol(name: str, args: argparse.Namespace) -> dict[str, Any]:
    proto = PROTOCOLS[name]
    CACHE["dir"] = args.cache
    data = find_data(args.data)
    if name == "E":
        return run_small_shops(data, args)
    inter, split = protocol_data(name, data, args)
    return run_split(name, proto["title"], inter, split, args, bool(proto.get("repeats")))


def protocol_data(name: str, data: Path, args: argparse.Namespace) -> tuple[Any, Any]:
    """The snapshot and the split of protocol A, B, C or D."""
    from campaignrec.evaluation.splits import make_split

    proto = PROTOCOLS[name]
    if proto["data"] == "completejourney":
        from ranking_shops import basket_split, load_completejourney

        inter = load_completejourney(
            data, households=args.cj_households, min_buyers=args.cj_min_buyers, seed=0
        )
        return inter, basket_split(inter, **proto["split"][1])
    inter = load_ml100k(data) if proto["data"] == "ml-100k" else load_taobao(data)
    kind, sparams = proto["split"]
    return inter, make_split(inter, kind, **sparams)


def run_split(
    name: str,
    title: str,
    inter: Any,
    split: Any,
    args: argparse.Namespace,
    repeats: bool = False,
) -> dict[str, Any]:
    """Every system on one split of one snapshot; the payload ``summarise`` writes.

    ``repeats`` (grocery, protocol D): the headline table counts every distinct test item with
    seen items allowed in every list; ``<name> new`` counts only items new to the user (seen
    items excluded, as in A-C) and ``<name> repeat`` only items bought before (seen allowed).
    Every system, references included, is tuned on a validation that counts repeats too.
    """
    from campaignrec.evaluation.runner import evaluate_model, item_category_codes, prepare
    from campaignrec.evaluation.splits import GroundTruth, ground_truth
    from campaignrec.evaluation.stats import feature_groups, history_length_groups
    from campaignrec.evaluation.tuning import SEARCH_SPACES, make_validation

    proto = PROTOCOLS.get(name[:1], {})
    kind, sparams = proto.get("split", ("", {}))
    train, test = split.apply(inter)
    truth = ground_truth(train, test, exclude_train_items=not repeats)
    val = make_validation(train, split, k=10, repeats=repeats)
    CACHE["key"] = f"{name}-{inter.snapshot_id}-s{args.seed}-t{args.trials}-q{int(args.quick)}"
    print(
        f"\n== Protocol {name}: {title} | users {inter.n_users} items {inter.n_items} events {len(inter)} | "
        f"train {len(train)} test {len(test)} | evaluated users {truth.n_users} | validation users {val.truth.n_users}"
        + (f" | validation repeat share {val.repeat_share:.2f}" if repeats else ""),
        flush=True,
    )

    def make_results(tr: Any, label: str) -> Any:
        res = prepare(
            train,
            tr,
            ks=KS,
            protocol={"name": label, "title": title, "split": kind, **sparams},
            item_category=item_category_codes(inter),
            seed=args.seed,
        )
        res.groups["history length"] = history_length_groups(train, tr.user_idx)
        if "gender" in inter.user_features.columns:
            res.groups["gender"] = feature_groups(inter, tr.user_idx, "gender")
        return res

    results = make_results(truth, name)
    extra_results: dict[str, Any] = {}
    if repeats:
        new_truth = ground_truth(train, test)
        old = truth.items.multiply(train.binary[truth.user_idx]).tocsr()
        has = np.flatnonzero(np.diff(old.indptr) > 0)
        rep_truth = GroundTruth(truth.user_idx[has], old[has])
        extra_results = {
            f"{name} new": make_results(new_truth, f"{name} new"),
            f"{name} repeat": make_results(rep_truth, f"{name} repeat"),
        }
        results.protocol["scoring"] = (
            "headline: every distinct test item (new and bought before), seen items allowed in "
            "every list; 'new': items new to the household, seen items excluded; 'repeat': "
            "items bought before, seen items allowed. LightFM / RecBole workers always mask "
            "seen items, so they can hit only new items"
        )
        results.protocol["repeat_share_validation"] = val.repeat_share
    trials = args.trials
    tuning: dict[str, Any] = {}
    val_scores: dict[str, float] = {}
    family: dict[str, str] = {}

    def add(label: str, model: Any, fam: str, val_score: float | None = None) -> None:
        t0 = time.perf_counter()
        cached = _cache_path(label, ".npz")
        try:
            if repeats:
                res = add_repeats(label, model, cached)
            elif cached is not None and cached.exists():
                with np.load(cached) as z:
                    res = results.add(
                        label,
                        z["recs"],
                        fit_seconds=float(z["fit"]),
                        recommend_seconds=float(z["rec"]),
                    )
            else:
                res = evaluate_model(results, label, model, train)
                if isinstance(model, ExternalReference) and model.timing_:
                    res.fit_seconds = model.timing_["fit_seconds"]
                    res.recommend_seconds = model.timing_["recommend_seconds"]
                if cached is not None:
                    np.savez(cached, recs=res.recs, fit=res.fit_seconds, rec=res.recommend_seconds)
        except Exception as exc:  # a reference that cannot run here is reported, not hidden
            print(f"  {label:<34} FAILED: {str(exc).splitlines()[-1][:200]}", flush=True)
            results.protocol.setdefault("failed", {})[label] = str(exc)[-2000:]
            return
        family[label] = fam
        if val_score is not None:
            val_scores[label] = val_score
        print(
            f"  {label:<34} ndcg@10={results.mean(label, 'ndcg@10'):.4f} ndcg@20={results.mean(label, 'ndcg@20'):.4f} "
            f"fit {res.fit_seconds:.1f}s rec {res.recommend_seconds:.1f}s (total {time.perf_counter() - t0:.0f}s)",
            flush=True,
        )

    def add_repeats(label: str, model: Any, cached: Path | None) -> Any:
        """Fit once; lists with seen items allowed (headline, repeat) and excluded (new)."""
        kmax = max(KS)
        if cached is not None and cached.exists():
            with np.load(cached) as z:
                rec_all, rec_new = z["recs"], z["recs_new"]
                fit_s, rec_s = float(z["fit"]), float(z["rec"])
        else:
            t0 = time.perf_counter()
            model.fit(train)
            fit_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            rec_all, _ = model.recommend_idx(results.user_idx, kmax, exclude_seen=False)
            rec_s = time.perf_counter() - t0
            new_users = extra_results[f"{name} new"].user_idx
            rec_new, _ = model.recommend_idx(new_users, kmax, exclude_seen=True)
            if cached is not None:
                np.savez(cached, recs=rec_all, recs_new=rec_new, fit=fit_s, rec=rec_s)
        res = results.add(label, rec_all, fit_seconds=fit_s, recommend_seconds=rec_s)
        extra_results[f"{name} new"].add(label, rec_new, fit_seconds=fit_s)
        rep = extra_results[f"{name} repeat"]
        pos = np.searchsorted(results.user_idx, rep.user_idx)
        rep.add(label, np.asarray(rec_all)[pos], fit_seconds=fit_s)
        return res

    seed = args.seed
    # ---------------- references ----------------
    print("-- reference systems", flush=True)
    add("ref: implicit ALS (defaults)", ImplicitDirect("als", seed), "reference")
    add("ref: implicit BPR (defaults)", ImplicitDirect("bpr", seed), "reference")
    add("ref: implicit BM25 item-KNN (defaults)", ImplicitDirect("bm25", seed), "reference")
    # implicit's models tuned in the same spaces and with the same budget as our wrappers
    sp_bm25 = {
        "K": {"type": "int", "low": 5, "high": 500, "log": True},
        "K1": {"type": "float", "low": 0.1, "high": 3.0},
        "B": {"type": "float", "low": 0.0, "high": 1.0},
    }
    for kind, short, long, space in (
        ("als", "ALS", "ALS", SEARCH_SPACES["als"]),
        ("bpr", "BPR", "BPR", SEARCH_SPACES["bpr"]),
        ("bm25", "BM25", "BM25 item-KNN", sp_bm25),
    ):
        p, v = tuned(
            f"ref: implicit {short}",
            lambda q, kind=kind: ImplicitDirect(kind, seed, **q),
            dict(space),
            val,
            trials,
            seed,
            tuning,
        )
        add(f"ref: implicit {long} (tuned)", ImplicitDirect(kind, seed, **p), "reference", v)
    sp_ease = {"l2": {"type": "float", "low": 1.0, "high": 5000.0, "log": True}}
    p, v = tuned(
        "ref: EASE", lambda q: PlainEASE(**q), sp_ease, val, trials, seed, tuning, {"l2": 250.0}
    )
    add(f"ref: EASE (λ={p['l2']:.0f})", PlainEASE(**p), "reference", v)
    sp_rease = sp_ease | {"half_life": {"type": "float", "low": 1.0, "high": 200.0, "log": True}}
    p, v = tuned(
        "ref: recency EASE",
        lambda q: PlainEASE(**q),
        sp_rease,
        val,
        trials,
        seed,
        tuning,
        {"l2": 250.0, "half_life": 20.0},
    )
    add(
        f"ref: recency EASE (λ={p['l2']:.0f}, h={p['half_life']:.1f})",
        PlainEASE(**p),
        "reference",
        v,
    )

    if not args.no_external:
        py = args.bench_python
        if not Path(py).exists():
            print(
                f"  (skipping LightFM / RecBole: {py} not found; run benchmarks/setup_reference_env.sh)",
                flush=True,
            )
            results.protocol["external_skipped"] = f"{py} not found"
        else:
            # LightFM gets the same tuning budget as every other system (a few seconds a trial)
            ext_trials = trials
            sp_lfm = {
                "no_components": {"type": "int", "low": 16, "high": 128, "log": True},
                "learning_rate": {"type": "float", "low": 0.01, "high": 0.1, "log": True},
                "epochs": {"type": "int", "low": 10, "high": 60},
            }
            try:
                p, v = tuned(
                    "ref: LightFM WARP",
                    lambda q: ExternalReference("lightfm", py, seed, **q),
                    sp_lfm,
                    val,
                    ext_trials,
                    seed,
                    tuning,
                    {"no_components": 64, "learning_rate": 0.05, "epochs": 30},
                )
                add(
                    "ref: LightFM WARP (tuned)",
                    ExternalReference("lightfm", py, seed, **p),
                    "reference",
                    v,
                )
            except Exception as exc:
                print(f"  LightFM FAILED: {exc}", flush=True)
                results.protocol.setdefault("failed", {})["LightFM"] = str(exc)[-2000:]
            if not args.no_recbole:
                ep = 2 if args.quick else args.lightgcn_epochs
                add(
                    f"ref: RecBole LightGCN ({ep} epochs)",
                    ExternalReference(
                        "LightGCN",
                        py,
                        seed,
                        timeout=args.external_timeout,
                        epochs=ep,
                        learning_rate=0.005,
                    ),
                    "reference",
                )
            if args.recbole_sasrec:
                ep = args.sasrec_epochs
                add(
                    f"ref: RecBole SASRec ({ep} epochs)",
                    ExternalReference(
                        "SASRec",
                        py,
                        seed,
                        timeout=args.external_timeout,
                        epochs=ep,
                        learning_rate=0.001,
                    ),
                    "reference",
                )
            else:
                results.protocol["recbole_sasrec"] = (
                    "not run by default: on this shared 2-core machine one SASRec epoch on ML-100k took over "
                    "15 minutes (30-40 s per batch of 2048 sequences); pass --recbole-sasrec to run it"
                )

    # ---------------- ours ----------------
    print("-- campaignrec", flush=True)
    run_ours(add, tuned, results, train, val, trials, seed, tuning, val_scores, args)

    payload = summarise(name, results, tuning, val_scores, family, args)
    for label, extra in extra_results.items():
        payload.setdefault("tables", {})[label] = summarise(
            label, extra, tuning, val_scores, family, args
        )["verdict"]
    return payload


def run_small_shops(data: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Protocol E: small shops drawn from D's households and from B's Taobao users.

    Every shop runs its source protocol in full (references tuned, ours, the default) with its
    results under ``<out>/E/``; the payload holds each shop's two ratios (default over the best
    single reference, default over the best popularity variant, both on test) with paired-t
    p-values, and their distribution per source and size.
    """
    from ranking_shops import basket_split, sample_users

    from campaignrec.evaluation.splits import make_split

    sources: dict[str, tuple[Any, str]] = {}
    for src in args.e_sources.split(","):
        src = src.strip().upper()
        sources[src] = (protocol_data(src, data, args)[0], src)
    out_root = Path(args.out)
    shops: list[dict[str, Any]] = []
    base_out = args.out
    args.out = str(out_root / "E")
    args.lean = args.e_lean
    tag = "" if set(sources) == {"D", "B"} else "_" + "".join(sources)
    try:
        for src, (inter, _) in sources.items():
            for seed, n in ((s, n) for s in range(args.e_seeds) for n in args.e_sizes):
                label = f"E-{src}{n}-s{seed}"
                t_shop = time.perf_counter()
                try:
                    shop = sample_users(inter, n, seed)
                    if src == "D":
                        split = basket_split(shop, **PROTOCOLS["D"]["split"][1])
                    else:
                        kind, sparams = PROTOCOLS[src]["split"]
                        split = make_split(shop, kind, **sparams)
                    payload = run_split(
                        label,
                        f"{n} users of protocol {src} (seed {seed})",
                        shop,
                        split,
                        args,
                        src == "D",
                    )
                except Exception as exc:  # a shop too small to split is reported
                    print(f"  {label} FAILED: {exc}", flush=True)
                    shops.append({"source": src, "users": n, "seed": seed, "error": str(exc)})
                    continue
                partial = out_root / f"ranking_E{tag}_partial.json"
                out_root.mkdir(parents=True, exist_ok=True)
                v = payload.get("verdict", {})
                for d in v.get("train_defaults", [])[:1]:
                    shops.append(
                        {
                            "source": src,
                            "users": n,
                            "seed": seed,
                            "events": len(shop),
                            "items": shop.n_items,
                            "chosen": d.get("chosen"),
                            "ndcg_default": d.get("ndcg@10"),
                            "ndcg_ref": v.get("reference_ndcg@10"),
                            "ndcg_pop": d.get("ndcg_pop"),
                            "test_users": payload.get("n_users_evaluated"),
                            "seconds": round(time.perf_counter() - t_shop, 1),
                            "ratio_ref": d.get("ratio"),
                            "p_ref": d.get("p_value_t"),
                            "best_reference": v.get("best_reference_on_test"),
                            "ratio_pop": d.get("ratio_pop"),
                            "p_pop": d.get("p_value_pop_t"),
                            "best_popularity": v.get("best_popularity_on_test"),
                        }
                    )
                partial.write_text(json.dumps(shops, indent=1, default=str))
    finally:
        args.out = base_out
    from ranking_shops import summarise_shops

    summary = summarise_shops(shops, list(sources), list(args.e_sizes))
    from _datasets import machine

    payload = {
        "protocol": {"name": "E", "title": PROTOCOLS["E"]["title"]},
        "command": " ".join(["python", *sys.argv]),
        "machine": machine(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "shops": shops,
        "summary": summary,
    }
    out_root.mkdir(parents=True, exist_ok=True)
    (out_root / f"ranking_E{tag}.json").write_text(json.dumps(payload, indent=2, default=str))
    print("\nProtocol E summary:", json.dumps(summary, indent=1, default=str), flush=True)
    return {"verdict": summary}


def default_rows(protocol: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(label, tuning key, select_default options) of the `campaignrec train` rows.

    Always the plain command; for a protocol split by date also the command a shop asking
    "what next" would run: ``--validation global_temporal --validation-days <the test days>``.
    """
    rows = [("campaignrec train default (select_default)", "campaignrec train default", {})]
    if protocol.get("split") == "global_temporal" and protocol.get("test_days"):
        days = float(protocol["test_days"])
        rows.append(
            (
                f"campaignrec train default (--validation global_temporal --validation-days {days:g})",
                "campaignrec train default --validation global_temporal",
                {"validation": "global_temporal", "validation_params": {"test_days": days}},
            )
        )
    return rows


def run_ours(
    add: Callable[..., None],
    tuned_fn: Callable[..., Any],
    results: Any,
    train: Any,
    val: Any,
    trials: int,
    seed: int,
    tuning: dict[str, Any],
    val_scores: dict[str, float],
    args: argparse.Namespace,
) -> None:
    """campaignrec's models through the registry, each tuned on the same validation budget."""
    from campaignrec.evaluation.selection import DEFAULT_CANDIDATES
    from campaignrec.evaluation.tuning import SEARCH_SPACES, tune_blend_weights

    try:
        from campaignrec.models import registry
    except Exception as exc:  # the models may not have landed yet
        print(f"  campaignrec models unavailable: {exc}", flush=True)
        results.protocol["ours_unavailable"] = str(exc)
        return

    def make(name: str) -> Callable[[dict[str, Any]], Any]:
        cls = registry.get_class(name)
        fields = {f for f in cls.params_class.__dataclass_fields__}
        extra = (
            {"random_state": seed}
            if "random_state" in fields
            else ({"seed": seed} if "seed" in fields else {})
        )
        return lambda q: cls(**(extra | q))

    best: dict[str, dict[str, Any]] = {}
    p, v = tuned_fn(
        "campaignrec most_popular",
        make("most_popular"),
        dict(SEARCH_SPACES["most_popular"]),
        val,
        trials,
        seed,
        tuning,
        {"half_life_days": None},
    )
    best["campaignrec most_popular"] = {"name": "most_popular", "params": p}
    add("campaignrec most_popular", make("most_popular")(p), "ours", v)
    knn_space = {
        "similarity": {"type": "categorical", "choices": ["cosine", "bm25", "jaccard"]},
        "neighbours": {"type": "int", "low": 10, "high": 400, "log": True},
        "shrinkage": {"type": "float", "low": 0.0, "high": 50.0},
    }
    configs: list[tuple[str, str, dict[str, Any], dict[str, Any] | None]] = [
        ("ease", "campaignrec ease", dict(SEARCH_SPACES["ease"]), {"l2": 250.0}),
        (
            "ease",
            "campaignrec ease (recency)",
            dict(SEARCH_SPACES["ease_recency"]),
            {"l2": 250.0, "recency_half_life": 20.0},
        ),
        (
            "ease",
            "campaignrec ease (short recency)",
            {
                "l2": {"type": "float", "low": 10.0, "high": 5000.0, "log": True},
                "recency_half_life": {"type": "float", "low": 0.5, "high": 5.0, "log": True},
            },
            {"l2": 1000.0, "recency_half_life": 2.0},
        ),
        ("als", "campaignrec als", dict(SEARCH_SPACES["als"]), None),
        ("item_knn", "campaignrec item_knn", knn_space, None),
        (
            "item_knn",
            "campaignrec item_knn (recency)",
            knn_space
            | {"recency_half_life": {"type": "float", "low": 0.5, "high": 50.0, "log": True}},
            {"similarity": "cosine", "neighbours": 100, "shrinkage": 0.0, "recency_half_life": 3.0},
        ),
    ]
    # the sequence and category families exactly as `campaignrec train` tries them
    default_candidates = {c.label: c for c in DEFAULT_CANDIDATES}
    for label in (
        "ease (proximity)",
        "item_knn (sequential)",
        "transition",
        "category_popular",
        "most_popular (trending)",
        "repeat_popular",
    ):
        c = default_candidates[label]
        configs.append((c.model, f"campaignrec {c.label}", dict(c.space), dict(c.base)))
    lean = bool(getattr(args, "lean", False))
    if lean:  # protocol E --e-lean: the popularity variants only (beside the references)
        configs = [c for c in configs if c[1] in POPULARITY_ROWS]
    for name, label, space, base in configs:
        try:
            cls = registry.get_class(name)
        except Exception as exc:
            print(f"  {label}: unavailable ({exc})", flush=True)
            continue
        space = {k: v for k, v in space.items() if k in cls.params_class.__dataclass_fields__}
        p, v = tuned_fn(label, make(name), space, val, trials, seed, tuning, base)
        best[label] = {"name": name, "params": p}
        add(label, make(name)(p), "ours", v)
    if args.sasrec:
        try:
            q = dict(SASREC_PARAMS) | {"epochs": args.sasrec_epochs}
            t0 = time.perf_counter()
            v = val.evaluate(make("sasrec")(q).fit(val.fit_part))
            tuning["campaignrec sasrec"] = {
                "best_params": q,
                "validation_ndcg": v,
                "trials": 1,
                "seconds": time.perf_counter() - t0,
            }
            print(
                f"  validated campaignrec sasrec          val ndcg@10={v:.4f} {q} ({time.perf_counter() - t0:.0f}s)",
                flush=True,
            )
            best["campaignrec sasrec"] = {"name": "sasrec", "params": q}
            add("campaignrec sasrec", make("sasrec")(q), "ours", v)
        except Exception as exc:
            print(f"  campaignrec sasrec unavailable: {exc}", flush=True)

    # what a user gets from `campaignrec train` with no model named: reported beside the
    # benchmark's own selection, never used to pick "ours"
    if not args.no_default:
        for label, key, options in default_rows(results.protocol):
            default = DefaultSelection(seed, **options)
            add(label, default, "default")
            cached_report = _cache_path(f"{key} report", ".json")
            if default.report_:
                tuning[key] = {
                    "chosen": default.report_.get("chosen"),
                    "validation": default.report_.get("validation"),
                    "leaderboard": default.report_.get("leaderboard"),
                    "seconds": default.report_.get("seconds"),
                }
                if cached_report is not None:
                    cached_report.write_text(json.dumps(tuning[key], default=str))
            elif cached_report is not None and cached_report.exists():
                tuning[key] = json.loads(cached_report.read_text())
            print(f"  {key} chose: {tuning.get(key, {}).get('chosen')}", flush=True)

    # overhead of our implicit wrapper: the same parameters as the direct call, timed alternately
    try:
        if args.no_overhead:
            raise RuntimeError("skipped (--no-overhead)")
        tuning["implicit_overhead"] = measure_overhead(
            train, results.user_idx, max(results.ks), seed, make
        )
        o = tuning["implicit_overhead"]
        print(
            f"  implicit ALS wrapper overhead (median of {o['repeats']}): fit x{o['fit_ratio']:.2f}, "
            f"recommend-all x{o['recommend_ratio']:.2f}",
            flush=True,
        )
    except Exception as exc:
        print(f"  overhead measurement failed: {exc}", flush=True)

    # blend of the tuned models by score fusion, weights tuned on validation (Blend.fuse);
    # components: the BLEND_SIZE tuned models with the best validation scores (at least half the
    # best one's), so the weight search stays small
    ranked = sorted(
        (lbl for lbl in BLEND_PARTS if lbl in best and not lean),
        key=lambda lbl: -val_scores.get(lbl, 0.0),
    )
    top_val = val_scores.get(ranked[0], 0.0) if ranked else 0.0
    parts = [lbl for lbl in ranked[:BLEND_SIZE] if val_scores.get(lbl, 0.0) >= 0.5 * top_val]
    if len(parts) >= 2:
        comps = {
            lbl: make(best[lbl]["name"])(best[lbl]["params"]).fit(val.fit_part) for lbl in parts
        }
        t0 = time.perf_counter()
        res = tune_blend_weights(comps, val, n_trials=max(20, trials * 4), seed=seed, high=2.0)
        tuning["campaignrec blend"] = {
            "best_params": res.best_params,
            "validation_ndcg": res.best_value,
            "components": {lbl: best[lbl] for lbl in parts},
            "trials": len(res.trials),
        }
        print(
            f"  tuned campaignrec blend              val ndcg@10={res.best_value:.4f} {res.best_params['weights']} "
            f"({time.perf_counter() - t0:.0f}s)",
            flush=True,
        )
        from campaignrec.models.blend import Blend

        p = res.best_params
        blend = Blend(
            components=[make(best[lbl]["name"])(best[lbl]["params"]) for lbl in parts],
            weights=tuple(p["weights"]),
            method=p["method"],
            normalization=p["normalization"],
        )
        add(
            "campaignrec blend ("
            + " + ".join(lbl.replace("campaignrec ", "") for lbl in parts)
            + ")",
            blend,
            "ours",
            res.best_value,
        )


SASREC_PARAMS = {
    "max_len": 50,
    "dim": 64,
    "n_blocks": 2,
    "n_heads": 1,
    "dropout": 0.2,
    "batch_size": 128,
    "lr": 1e-3,
}
BLEND_PARTS = (
    "campaignrec most_popular",
    "campaignrec repeat_popular",
    "campaignrec category_popular",
    "campaignrec ease (recency)",
    "campaignrec ease (short recency)",
    "campaignrec ease (proximity)",
    "campaignrec sasrec",
    "campaignrec item_knn (recency)",
    "campaignrec item_knn (sequential)",
    "campaignrec transition",
    "campaignrec als",
)
#: how many of the best-validated models the blend fuses
BLEND_SIZE = 4


def measure_overhead(
    train: Any, users: np.ndarray, k: int, seed: int, make: Callable[..., Any], repeats: int = 3
) -> dict[str, Any]:
    """Median fit and recommend-all seconds of implicit ALS called directly and through campaignrec."""
    same = {
        "factors": 100,
        "regularization": 0.01,
        "alpha": 1.0,
        "iterations": 15,
    }  # implicit's defaults
    times: dict[str, list[float]] = {
        "direct_fit": [],
        "direct_rec": [],
        "ours_fit": [],
        "ours_rec": [],
    }
    for _ in range(repeats):
        for who, model in (
            ("direct", ImplicitDirect("als", seed, **same)),
            ("ours", make("als")(same)),
        ):
            t0 = time.perf_counter()
            model.fit(train)
            times[f"{who}_fit"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            model.recommend_idx(users, k, exclude_seen=True)
            times[f"{who}_rec"].append(time.perf_counter() - t0)
    med = {key: float(np.median(v)) for key, v in times.items()}
    return med | {
        "repeats": repeats,
        "params": same,
        "fit_ratio": med["ours_fit"] / med["direct_fit"],
        "recommend_ratio": med["ours_rec"] / med["direct_rec"],
        "total_ratio": (med["ours_fit"] + med["ours_rec"])
        / (med["direct_fit"] + med["direct_rec"]),
    }


def _ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("nan")


def summarise(
    name: str,
    results: Any,
    tuning: dict[str, Any],
    val_scores: dict[str, float],
    family: dict[str, str],
    args: argparse.Namespace,
) -> dict[str, Any]:
    from campaignrec.evaluation.runner import leaderboard_markdown

    board = results.leaderboard("ndcg@10", n_boot=1000)
    print("\n" + leaderboard_markdown(board, "ndcg@10", KS), flush=True)
    refs = [m for m in board["model"] if family.get(m) == "reference"]
    ours = [m for m in board["model"] if family.get(m) == "ours" and m in val_scores]
    verdict: dict[str, Any] = {}
    if refs and ours:
        best_ref = max(
            refs, key=lambda m: results.mean(m, "ndcg@10")
        )  # the strongest reference on test
        ours_sel = max(ours, key=lambda m: val_scores[m])  # ours: chosen on validation only
        t = results.compare(ours_sel, best_ref, "ndcg@10")
        w = results.compare(ours_sel, best_ref, "ndcg@10", method="wilcoxon")
        ratio = _ratio(results.mean(ours_sel, "ndcg@10"), results.mean(best_ref, "ndcg@10"))
        verdict = {
            "ours_selected_on_validation": ours_sel,
            "best_reference_on_test": best_ref,
            "ours_ndcg@10": results.mean(ours_sel, "ndcg@10"),
            "reference_ndcg@10": results.mean(best_ref, "ndcg@10"),
            "ratio": ratio,
            "p_value_t": t.p_value,
            "p_value_wilcoxon": w.p_value,
            "diff_ci": [t.low, t.high],
            "target_met": bool(ratio >= 1.05 and t.p_value < 0.05),
        }
        print(
            f"\nProtocol {name}: ours ({ours_sel}, chosen on validation) {verdict['ours_ndcg@10']:.4f} vs best reference "
            f"({best_ref}) {verdict['reference_ndcg@10']:.4f}: ratio {ratio:.3f}, paired t p={t.p_value:.3g}, "
            f"Wilcoxon p={w.p_value:.3g} -> target {'MET' if verdict['target_met'] else 'NOT met'}",
            flush=True,
        )
        keys = {label: key for label, key, _ in default_rows(results.protocol)}
        pops = [m for m in board["model"] if m in POPULARITY_ROWS]
        best_pop = max(pops, key=lambda m: results.mean(m, "ndcg@10")) if pops else None
        verdict["best_popularity_on_test"] = best_pop
        verdict["train_defaults"] = []
        for d in (m for m in board["model"] if family.get(m) == "default"):
            td = results.compare(d, best_ref, "ndcg@10")
            row = {
                "model": d,
                "ndcg@10": results.mean(d, "ndcg@10"),
                "ratio": _ratio(results.mean(d, "ndcg@10"), results.mean(best_ref, "ndcg@10")),
                "p_value_t": td.p_value,
                "chosen": tuning.get(keys.get(d, ""), {}).get("chosen"),
            }
            if best_pop is not None:
                tp = results.compare(d, best_pop, "ndcg@10")
                wp = results.compare(d, best_pop, "ndcg@10", method="wilcoxon")
                row |= {
                    "best_popularity": best_pop,
                    "ndcg_pop": results.mean(best_pop, "ndcg@10"),
                    "ratio_pop": _ratio(
                        results.mean(d, "ndcg@10"), results.mean(best_pop, "ndcg@10")
                    ),
                    "p_value_pop_t": tp.p_value,
                    "p_value_pop_wilcoxon": wp.p_value,
                }
            verdict["train_defaults"].append(row)
            print(
                f"Protocol {name}: {d} -> {row['chosen']} {row['ndcg@10']:.4f}: ratio "
                f"{row['ratio']:.3f} vs the best reference ({best_ref}), paired t p={td.p_value:.3g}"
                + (
                    f"; ratio {row['ratio_pop']:.3f} vs the best popularity variant ({best_pop}), "
                    f"paired t p={row['p_value_pop_t']:.3g}"
                    if best_pop is not None
                    else ""
                ),
                flush=True,
            )
    overhead = tuning.get("implicit_overhead", {})
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    results.protocol["command"] = " ".join(["python", *sys.argv])
    from _datasets import machine  # not at the top: the .venv-bench workers lack campaignrec

    payload = results.to_dict()
    payload |= {
        "machine": machine(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": results.protocol["command"],
        "tuning": tuning,
        "validation_ndcg@10": val_scores,
        "family": family,
        "verdict": verdict,
        "implicit_overhead": overhead,
        "leaderboard": json.loads(board.to_json(orient="records")),
    }
    slug = name.replace(" ", "_")
    (out_dir / f"ranking_{slug}.json").write_text(json.dumps(payload, indent=2, default=str))
    if not name.startswith("E-"):  # small shops: the JSON only
        results.write_report(out_dir / f"ranking_{slug}")
    return payload


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--protocol", default="all", help="A, B, C, D, E or all (comma-separated allowed)"
    )
    ap.add_argument(
        "--data", default=None, help="data directory (default: $CAMPAIGNREC_DATA or ../shared/data)"
    )
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument(
        "--trials",
        type=int,
        default=None,
        help="Optuna trials per tuned model (default 10, quick 4)",
    )
    ap.add_argument(
        "--tune-timeout", type=float, default=45.0, help="tuning seconds per model (same for all)"
    )
    ap.add_argument(
        "--cache", default=None, help="reuse tuning and top-k lists cached in this directory"
    )
    ap.add_argument("--quick", action="store_true", help="small budgets: fewer trials and epochs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--no-external", action="store_true", help="skip LightFM and RecBole (.venv-bench)"
    )
    ap.add_argument("--no-recbole", action="store_true", help="skip RecBole SASRec and LightGCN")
    ap.add_argument("--lightgcn-epochs", type=int, default=5, help="RecBole LightGCN epochs")
    ap.add_argument("--recbole-sasrec", action="store_true", help="also run RecBole SASRec (slow)")
    ap.add_argument(
        "--external-timeout", type=float, default=900, help="seconds per .venv-bench run"
    )
    ap.add_argument(
        "--sasrec", action="store_true", help="also run campaignrec's SASRec (slow on CPU)"
    )
    ap.add_argument(
        "--sasrec-epochs", type=int, default=4, help="SASRec epochs (ours and RecBole's)"
    )
    ap.add_argument(
        "--no-default", action="store_true", help="skip the `campaignrec train` default row"
    )
    ap.add_argument(
        "--bench-python",
        default=os.environ.get(
            "CAMPAIGNREC_BENCH_PYTHON", str(ROOT / ".venv-bench" / "bin" / "python")
        ),
        help="python of the reference env (or $CAMPAIGNREC_BENCH_PYTHON)",
    )
    ap.add_argument(
        "--cj-households",
        type=int,
        default=800,
        help="protocol D: households sampled from The Complete Journey (0: all 2,469)",
    )
    ap.add_argument(
        "--cj-min-buyers",
        type=int,
        default=10,
        help="protocol D: keep products bought by at least this many of those households",
    )
    ap.add_argument("--e-sizes", type=int, nargs="*", default=[100, 200, 400])
    ap.add_argument("--e-seeds", type=int, default=10, help="protocol E: shops per source and size")
    ap.add_argument("--e-sources", default="D,B", help="protocol E: source protocols (D, B)")
    ap.add_argument(
        "--e-lean",
        action="store_true",
        help="protocol E: of campaignrec's own models only the popularity variants and the "
        "default (the references in full); the ratios need no more",
    )
    ap.add_argument(
        "--no-overhead", action="store_true", help="skip the implicit wrapper overhead timing"
    )
    ap.add_argument(
        "--cold-fallback",
        action="store_true",
        help="keep campaignrec's cold-item fallback on (off by default here: see BENCH_COLD)",
    )
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--workdir", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", module="implicit")
    warnings.filterwarnings("ignore", category=RuntimeWarning, message="OpenBLAS")
    if args.worker:
        run_worker(args.worker, Path(args.workdir))
        return
    TUNE_TIMEOUT[0] = args.tune_timeout
    if not args.cold_fallback:
        os.environ[BENCH_COLD[0]] = BENCH_COLD[1]
    if args.trials is None:
        args.trials = 4 if args.quick else 10
    if args.cj_households <= 0:
        args.cj_households = None
    names = (
        ["A", "B", "C", "D", "E"]
        if args.protocol.lower() == "all"
        else [p.strip().upper() for p in args.protocol.split(",")]
    )
    summary = {}
    for n in names:
        if n not in PROTOCOLS:
            raise SystemExit(f"unknown protocol {n!r}: use A, B, C, D, E or all")
        summary[n] = run_protocol(n, args).get("verdict", {})
    print("\nSummary:", json.dumps(summary, indent=1, default=str))


if __name__ == "__main__":
    main()
