"""Two-stage ranking: candidates from several models re-scored by LambdaRank."""

import numpy as np
import pandas as pd
import pytest

from campaignrec.data.interactions import Interactions
from campaignrec.errors import ConfigError
from campaignrec.models.rerank import TwoStageRanker, _per_user_holdout
from tests.models.contract import RecommenderContract


class TestTwoStageRanker(RecommenderContract):
    history_check = "unsupported"  # pair features are statistics of the training users

    def make_model(self) -> TwoStageRanker:
        return TwoStageRanker(
            candidates=("ease", "most_popular"),
            candidate_params='{"ease": {"l2": 5.0}}',
            n_candidates=15,
            n_estimators=60,
            num_leaves=7,
            min_child_samples=2,
        )


def _category_shop() -> Interactions:
    """User u shops only category u % 4, and items of a category are bought in a fixed order."""
    rng = np.random.default_rng(0)
    n_items = 60
    items = pd.DataFrame(
        {
            "item_id": [f"i{j}" for j in range(n_items)],
            "category": [f"c{j % 4}" for j in range(n_items)],
            "price": rng.uniform(1, 100, n_items),
        }
    )
    rows = []
    for u in range(240):
        own = [j for j in range(n_items) if j % 4 == u % 4]
        rows += [(f"u{u}", f"i{j}", t) for t, j in enumerate(rng.choice(own, 8, replace=False))]
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    return Interactions.from_frame(events, items=items)


def test_holdout_takes_the_last_share_of_each_history():
    inter = _category_shop()
    hold = _per_user_holdout(inter, 0.25)
    per_user = np.bincount(inter.user_idx[hold], minlength=inter.n_users)
    assert set(per_user.tolist()) == {2}
    last = inter.subset(hold).timestamp.min()
    assert last >= 0
    for u in range(0, inter.n_users, 37):
        ts = inter.timestamp[inter.user_idx == u]
        held = inter.timestamp[(inter.user_idx == u) & hold]
        assert held.min() >= np.sort(ts)[-2]


def test_recommends_the_users_category_and_explains_with_features(tmp_path):
    inter = _category_shop()
    model = TwoStageRanker(
        candidates=("ease", "most_popular"), n_candidates=20, n_estimators=50
    ).fit(inter)
    users = [f"u{u}" for u in range(40)]
    ids, _ = model.recommend(users, k=5)
    hits = [int(i[1:]) % 4 == u % 4 for u, row in enumerate(ids) for i in row]
    assert np.mean(hits) > 0.95
    why = model.explain("u0", ids[0, 0])
    assert why.reason == "rerank" and why.evidence["features"]
    assert {"ease_score", "ease_rank", "cat_affinity"} & {
        f["feature"] for f in why.evidence["features"]
    }
    back = TwoStageRanker.load(model.save(tmp_path / "rr"))
    assert (back.recommend(users, k=5)[0] == ids).all()


def test_bad_candidate_params_are_a_config_error():
    with pytest.raises(ConfigError, match="JSON"):
        TwoStageRanker(candidate_params="{oops").fit(_category_shop())
