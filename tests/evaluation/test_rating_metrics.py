"""`run_evaluation` scores rating models by RMSE and MAE when the test split has ratings."""

from __future__ import annotations

import numpy as np

from campaignrec.data.interactions import Interactions
from campaignrec.evaluation.runner import run_evaluation
from campaignrec.evaluation.splits import make_split
from campaignrec.models.popularity import MostPopular
from campaignrec.models.rating import RatingMF
from tests.models.test_rating import _grid_ratings


def test_rmse_and_mae_for_rating_models_only() -> None:
    inter = Interactions.from_frame(_grid_ratings())
    split = make_split(inter, "random", test_fraction=0.2, seed=0)
    res = run_evaluation(
        inter,
        split,
        {"rating_mf": lambda: RatingMF(factors=2, regularization=0.02), "pop": MostPopular},
        ks=(5,),
    )
    s = res.models["rating_mf"].summary
    train, test = split.apply(inter)
    u, i, r = test.ratings()
    model = RatingMF(factors=2, regularization=0.02).fit(train)
    err = model.predict_idx(u, i) - r
    assert s["rmse"] == np.sqrt(np.mean(err.astype(np.float64) ** 2)).item()
    assert s["mae"] == np.mean(np.abs(err.astype(np.float64))).item()
    assert s["n_ratings"] == len(r)
    assert "rmse" not in res.models["pop"].summary
    assert "## Rating prediction" in res.to_markdown()
    board = res.leaderboard()
    assert board.set_index("model").loc["rating_mf", "rmse"] == s["rmse"]


def test_no_rating_section_without_ratings() -> None:
    df = _grid_ratings().drop(columns="rating").assign(event_type="view")
    inter = Interactions.from_frame(df)
    split = make_split(inter, "random", test_fraction=0.2, seed=0)
    res = run_evaluation(inter, split, {"pop": MostPopular}, ks=(5,))
    assert res.ratings is None and "Rating prediction" not in res.to_markdown()
