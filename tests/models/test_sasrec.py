"""SASRec on sequences whose next item is known (a cycle of items)."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch", reason="SASRec needs the 'deep' extra (torch)")

from campaignrec.data.interactions import Interactions
from campaignrec.models.sasrec import SASRec

N_ITEMS = 12


@pytest.fixture(scope="module")
def cyclic():
    """Every user walks the cycle i0 -> i1 -> ... -> i11 -> i0 from a random start."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(150):
        start, length = rng.integers(0, N_ITEMS), rng.integers(6, 20)
        rows += [(f"u{u}", f"i{(start + t) % N_ITEMS}", t) for t in range(length)]
    return Interactions.from_frame(pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]))


@pytest.fixture(scope="module")
def model(cyclic):
    return SASRec(epochs=25, dim=32, max_len=20, dropout=0.1, seed=1, num_threads=1).fit(cyclic)


def test_learns_the_next_item(model, cyclic):
    users = [f"u{u}" for u in range(150)]
    ids, _ = model.recommend(users, k=1, exclude_seen=False)
    uidx = cyclic.users.index(users)
    last = np.array([int(cyclic.items.ids[cyclic.user_sequence(u)[-1]][1:]) for u in uidx])
    predicted = np.array([int(x[1:]) for x in ids[:, 0]])
    assert np.mean(predicted == (last + 1) % N_ITEMS) > 0.8
    assert model.losses_[-1] < model.losses_[0]


def test_save_load_gives_identical_scores(model, tmp_path):
    back = SASRec.load(model.save(tmp_path / "sasrec"))
    users = ["u1", "u2", "u3"]
    a, sa = model.recommend(users, k=5)
    b, sb = back.recommend(users, k=5)
    assert (a == b).all()
    np.testing.assert_allclose(sa, sb, rtol=1e-5)


def test_explain_points_at_recent_positions(model):
    ids, _ = model.recommend(["u5"], k=1, exclude_seen=False)
    why = model.explain("u5", ids[0, 0])
    assert why.reason == "sequence"
    assert all(e["steps_ago"] >= 0 for e in why.evidence["recent"])


def test_unknown_user_gets_popularity(model):
    ids, scores = model.recommend(["stranger"], k=3)
    assert ids.shape == (1, 3) and np.isfinite(scores).all()


def test_score_history_follows_the_given_sequence(model, cyclic):
    import scipy.sparse as sp

    from campaignrec.errors import ConfigError

    seq = cyclic.items.index(["i3", "i4", "i5"])
    history = sp.csr_matrix(
        (np.ones(3, np.float32), (np.zeros(3, int), seq)), shape=(1, cyclic.n_items)
    )
    scores = model.score_history(history, sequences=[seq])
    assert scores.shape == (1, cyclic.n_items) and scores.dtype == np.float32
    assert cyclic.items.ids[int(np.argmax(scores[0]))] == "i6"
    users = ["u0", "u1"]
    uidx = cyclic.users.index(users)
    own = model.score_history(
        cyclic.matrix[uidx], sequences=[cyclic.user_sequence(int(u)) for u in uidx]
    )
    np.testing.assert_allclose(own, model.score_matrix(uidx), rtol=1e-5, atol=1e-5)
    with pytest.raises(ConfigError, match="sequences"):
        model.score_history(history)
