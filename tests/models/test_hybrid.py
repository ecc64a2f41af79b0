"""Hybrid factorisation: side features carry taste to users and items without history."""

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch", reason="the hybrid model needs the 'deep' extra (torch)")

from campaignrec.data.interactions import Interactions
from campaignrec.models.hybrid import Hybrid


@pytest.fixture(scope="module")
def shop():
    """Women buy shoes (i0..i19), men buy books (i20..i39); i18, i19, i38, i39 are never touched."""
    rng = np.random.default_rng(0)
    items = pd.DataFrame(
        {
            "item_id": [f"i{j}" for j in range(40)],
            "category": ["fashion/shoes" if j < 20 else "media/books" for j in range(40)],
            "brand": ["acme" if j % 2 else "zen" for j in range(40)],
            "price": rng.uniform(1, 100, 40),
        }
    )
    users = pd.DataFrame(
        {
            "user_id": [f"u{u}" for u in range(200)],
            "gender": ["female" if u < 100 else "male" for u in range(200)],
        }
    )
    rows = []
    for u in list(range(0, 90)) + list(range(100, 190)):  # u90..u99 and u190..u199 are cold
        lo = 0 if u < 100 else 20
        rows += [
            (f"u{u}", f"i{j}", 0) for j in rng.choice(np.arange(lo, lo + 18), 6, replace=False)
        ]
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    return Interactions.from_frame(events, items=items, users=users)


@pytest.fixture(scope="module")
def model(shop):
    return Hybrid(epochs=30, batch_size=128, dim=16, seed=0).fit(shop)


def _category_share(ids, prefix_numbers):
    return np.mean([int(x[1:]) in prefix_numbers for x in ids.ravel()])


def test_cold_users_get_their_groups_items(model):
    shoes, books = set(range(20)), set(range(20, 40))
    women, _ = model.recommend([f"u{u}" for u in range(90, 100)], k=5)
    men, _ = model.recommend([f"u{u}" for u in range(190, 200)], k=5)
    assert _category_share(women, shoes) > 0.9
    assert _category_share(men, books) > 0.9


def test_cold_items_are_scored_from_features(model):
    s = model.score(["u150", "u150", "u20", "u20"], ["i38", "i18", "i18", "i38"])
    assert s[0] > s[1]  # a man: the untouched book beats the untouched shoe
    assert s[2] > s[3]  # a woman: the other way round


def test_explain_names_features_and_save_load(model, tmp_path):
    ids, _ = model.recommend(["u5"], k=1)
    why = model.explain("u5", ids[0, 0])
    assert why.reason == "features" and any(
        "shoes" in f["feature"] for f in why.evidence["features"]
    )
    back = Hybrid.load(model.save(tmp_path / "hybrid"))
    a, sa = model.recommend(["u5", "u95", "nobody"], k=4)
    b, sb = back.recommend(["u5", "u95", "nobody"], k=4)
    assert (a == b).all()
    np.testing.assert_allclose(sa, sb, rtol=1e-5)
    assert back.explain("u5", ids[0, 0]).reason == "features"


def test_score_history_is_a_clear_refusal(model):
    import scipy.sparse as sp

    from campaignrec.errors import CampaignrecError

    history = sp.csr_matrix(([1.0], ([0], [0])), shape=(1, model.n_items))
    with pytest.raises(CampaignrecError, match="cannot score a history"):
        model.score_history(history)
