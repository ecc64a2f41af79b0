"""The Recommender base class, exercised through a tiny model whose answer is known."""

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from campaignrec.data.interactions import Interactions
from campaignrec.errors import ConfigError, NotFittedError
from campaignrec.models.base import Params, Recommender, top_k


@dataclass(frozen=True)
class BiasParams(Params):
    bias: float = 0.0


class ItemIndexModel(Recommender):
    """Scores item j as j + bias: the ranking is the reverse item order."""

    name = "item_index"
    params_class = BiasParams

    def _fit(self, interactions):
        self.w_ = np.arange(interactions.n_items, dtype=np.float32)

    def _score_idx(self, user_idx):
        return np.tile(self.w_ + self.params.bias, (len(user_idx), 1))

    def _state(self):
        return {"w": self.w_}

    def _load_state(self, arrays):
        self.w_ = arrays["w"]


@pytest.fixture
def inter():
    ev = pd.DataFrame(
        {
            "user_id": ["u0", "u0", "u1", "u2", "u2", "u2"],
            "item_id": ["i0", "i1", "i2", "i3", "i4", "i0"],
            "event_type": "view",
            "timestamp": np.arange(6),
        }
    )
    users = pd.DataFrame({"user_id": ["cold"]})
    return Interactions.from_frame(ev, users=users)


def test_top_k_orders_and_pads():
    idx, val = top_k(np.array([[0.1, 0.5, -np.inf, 0.3]], dtype=np.float32), 5)
    assert idx.tolist() == [[1, 3, 0, -1, -1]]
    assert np.isneginf(val[0, 3:]).all()


def test_recommend_excludes_seen_respects_lists_and_pads(inter):
    m = ItemIndexModel().fit(inter)
    ids, scores = m.recommend(["u0", "u1"], k=3)
    assert ids[0].tolist() == ["i4", "i3", "i2"]
    assert "i2" not in ids[1].tolist()
    assert np.all(np.diff(scores, axis=1) <= 0)
    ids, _ = m.recommend("u0", k=3, items=["i2", "i0", "nope"])
    assert ids[0].tolist() == ["i2", None, None]
    ids, _ = m.recommend("u0", k=2, exclude_items=["i4"])
    assert ids[0].tolist() == ["i3", "i2"]
    ids, _ = m.recommend("u0", k=2, exclude_seen=False)
    assert ids[0].tolist() == ["i4", "i3"]


def test_cold_and_unknown_users_get_popularity(inter):
    m = ItemIndexModel().fit(inter)
    ids, _ = m.recommend(["cold", "never-seen"], k=1)
    assert ids[:, 0].tolist() == ["i0", "i0"]  # i0 has two distinct users
    assert m.explain("never-seen", "i0").reason == "popular"


def test_score_is_aligned_with_recommend(inter):
    m = ItemIndexModel(bias=1.0).fit(inter)
    s = m.score(["u1", "u1", "u1"], ["i4", "i0", "missing"])
    assert s[0] == 5.0 and s[1] == 1.0 and np.isnan(s[2])


def test_params_are_checked_and_fit_is_required(inter):
    with pytest.raises(ConfigError, match="colour"):
        ItemIndexModel(colour=1)
    with pytest.raises(NotFittedError):
        ItemIndexModel().recommend(["u0"])


def test_save_load_round_trip(inter, tmp_path):
    m = ItemIndexModel(bias=2.0).fit(inter)
    back = ItemIndexModel.load(m.save(tmp_path / "m"))
    assert back.params == m.params and back.snapshot_id_ == inter.snapshot_id
    a, sa = m.recommend(["u0", "u2", "cold"], k=4)
    b, sb = back.recommend(["u0", "u2", "cold"], k=4)
    assert (a == b).all() and np.array_equal(sa, sb)
    assert not list((tmp_path / "m").glob("*.pkl"))


def test_recommend_many_users_in_one_call():
    rng = np.random.default_rng(0)
    n = 10_000
    ev = pd.DataFrame(
        {
            "user_id": rng.integers(0, n, 30_000).astype(str),
            "item_id": rng.integers(0, 300, 30_000).astype(str),
            "timestamp": 0,
        }
    )
    inter = Interactions.from_frame(ev)
    m = ItemIndexModel().fit(inter)
    ids, _scores = m.recommend(inter.users.ids, k=10)
    assert ids.shape == (inter.n_users, 10)
    seen = inter.binary
    rows = m.items_.index([x for x in ids[:50].ravel()])
    for r in range(50):
        assert not seen[r, rows[r * 10 : (r + 1) * 10]].toarray().any()


def test_wide_catalogues_score_fewer_users_per_batch_with_the_same_answer(monkeypatch):
    import campaignrec.models.base as base

    rng = np.random.default_rng(1)
    ev = pd.DataFrame(
        {
            "user_id": rng.integers(0, 500, 5_000).astype(str),
            "item_id": rng.integers(0, 400, 5_000).astype(str),
            "timestamp": 0,
        }
    )
    inter = Interactions.from_frame(ev)
    seen_batches: list[int] = []

    class Spy(ItemIndexModel):
        def _score_idx(self, user_idx):
            seen_batches.append(len(user_idx))
            return super()._score_idx(user_idx)

    model = Spy().fit(inter)
    users = np.arange(inter.n_users)
    whole = model.recommend_idx(users, k=7)
    assert max(seen_batches) == inter.n_users  # one batch under the default budget
    seen_batches.clear()
    # a budget of 100 users' rows at this catalogue width
    monkeypatch.setattr(base, "SCORE_MATRIX_BYTES", 4 * inter.n_items * 100)
    assert base.batch_users(inter.n_items) == 100
    split = model.recommend_idx(users, k=7)
    assert max(seen_batches) == 100 and sum(seen_batches) == inter.n_users
    np.testing.assert_array_equal(split[0], whole[0])
    np.testing.assert_array_equal(split[1], whole[1])
    assert base.batch_users(10**9) == 1


def test_top_k_in_row_blocks_matches_a_full_sort(monkeypatch):
    import campaignrec.models.base as base

    rng = np.random.default_rng(3)
    scores = rng.random((20, 50)).astype(np.float32)
    scores[4, :] = -np.inf  # a row with nothing to recommend
    scores[7, 45:] = -np.inf
    monkeypatch.setattr(base, "TOP_K_ROWS", 3)  # 7 blocks, the last one short
    idx, val = base.top_k(scores, 6)
    expected = np.argsort(-scores, axis=1, kind="stable")[:, :6]
    finite = np.isfinite(np.take_along_axis(scores, expected, axis=1))
    np.testing.assert_array_equal(idx, np.where(finite, expected, -1))
    np.testing.assert_array_equal(val, np.take_along_axis(scores, expected, axis=1))


def test_score_history_checks_its_input_and_defaults(inter):
    import scipy.sparse as sp

    from campaignrec.errors import CampaignrecError

    m = ItemIndexModel().fit(inter)
    good = sp.csr_matrix(([1.0], ([0], [1])), shape=(1, inter.n_items))
    with pytest.raises(ConfigError, match="history"):
        m.score_history(sp.csr_matrix((1, inter.n_items + 1)))
    with pytest.raises(ConfigError, match="sequences"):
        m.score_history(good, sequences=[np.array([1]), np.array([2])])
    with pytest.raises(ConfigError, match="outside"):
        m.score_history(good, sequences=[np.array([99])])
    with pytest.raises(CampaignrecError, match="cannot score a history"):
        m.score_history(good)
    empty = m.score_history(sp.csr_matrix((2, inter.n_items)))
    np.testing.assert_array_equal(empty, np.tile(m.popularity_, (2, 1)))
    with pytest.raises(CampaignrecError, match="no item similarity"):
        m.similar_items("i0")


def test_large_arrays_are_memory_mapped_and_old_artifacts_still_load(inter, tmp_path, monkeypatch):
    import json

    from campaignrec.models import base

    m = ItemIndexModel(bias=1.0).fit(inter)
    monkeypatch.setattr(base, "MMAP_MIN_BYTES", 8)
    m.save(tmp_path / "new")
    meta = json.loads((tmp_path / "new" / "meta.json").read_text())
    assert "w" in meta["arrays"] and (tmp_path / "new" / "arrays" / "w.npy").is_file()
    mapped = ItemIndexModel.load(tmp_path / "new")
    assert isinstance(mapped.w_, np.memmap) and not mapped.w_.flags.writeable
    assert mapped.recommend("u0", k=3)[0].tolist() == m.recommend("u0", k=3)[0].tolist()
    # an artifact written before: every array in the compressed npz, no "arrays" in meta.json
    monkeypatch.setattr(base, "MMAP_MIN_BYTES", 2**62)
    m.save(tmp_path / "new")  # saving again over the folder leaves no stale .npy behind
    assert not list((tmp_path / "new" / "arrays").glob("*.npy"))
    meta = json.loads((tmp_path / "new" / "meta.json").read_text())
    del meta["arrays"]
    (tmp_path / "new" / "meta.json").write_text(json.dumps(meta))
    old = ItemIndexModel.load(tmp_path / "new")
    assert old.recommend("u0", k=3)[0].tolist() == m.recommend("u0", k=3)[0].tolist()
