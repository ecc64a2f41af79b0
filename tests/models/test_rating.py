"""rating_mf: the Recommender contract on a rated two-block shop, and rating prediction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from campaignrec.data.interactions import Interactions
from campaignrec.errors import ValidationError
from campaignrec.models import registry
from campaignrec.models.rating import RatingMF
from tests.models.conftest import _events, _items, _users
from tests.models.contract import RecommenderContract


def _rated_events(seed: int = 7) -> pd.DataFrame:
    """The block shop's events as ratings: 4-5 inside a shopper's block, 1-2 for three items of
    the other block (so the factors have the blocks to learn)."""
    rng = np.random.default_rng(seed)
    ev = _events(seed).assign(event_type="rating")
    ev["rating"] = rng.integers(4, 6, len(ev)).astype(float)
    extra = []
    t = ev["timestamp"].max()
    for user in sorted(set(ev["user_id"])):
        other = "b" if user[1] == "a" else "a"
        for i in rng.choice(12, 3, replace=False):
            t += pd.Timedelta(minutes=1)
            extra.append(
                {
                    "user_id": user,
                    "item_id": f"{other}{i}",
                    "event_type": "rating",
                    "timestamp": t,
                    "rating": float(rng.integers(1, 3)),
                }
            )
    return pd.concat([ev, pd.DataFrame(extra)], ignore_index=True)


@pytest.fixture(scope="session")
def block_shop() -> Interactions:
    """Overrides the contract's shop: the same blocks, every event a rating."""
    return Interactions.from_frame(_rated_events(), items=_items(), users=_users())


class TestRatingMF(RecommenderContract):
    history_check = "unsupported"  # it predicts from the snapshot user's own ratings

    def make_model(self) -> RatingMF:
        return RatingMF(factors=2, regularization=0.05, bias_regularization=1.0, iterations=10)


def _grid_ratings(n_users: int = 60, n_items: int = 40, seed: int = 0) -> pd.DataFrame:
    """Ratings from a known rank-2 model plus biases (a right answer to recover)."""
    rng = np.random.default_rng(seed)
    pu, qi = rng.normal(size=(n_users, 2)), rng.normal(size=(n_items, 2))
    bu, bi = rng.normal(0, 0.3, n_users), rng.normal(0, 0.5, n_items)
    rows = []
    for u in range(n_users):
        for i in rng.choice(n_items, 25, replace=False):
            value = 3.0 + bu[u] + bi[i] + 0.6 * pu[u] @ qi[i] + rng.normal(0, 0.1)
            rows.append((f"u{u}", f"i{i}", float(np.clip(value, 1, 5))))
    df = pd.DataFrame(rows, columns=["user_id", "item_id", "rating"])
    df["event_type"] = "rating"
    df["timestamp"] = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(df.index, unit="s")
    return df


def test_predicts_held_out_ratings_better_than_the_baseline() -> None:
    inter = Interactions.from_frame(_grid_ratings())
    rng = np.random.default_rng(1)
    test = rng.random(len(inter)) < 0.2
    u, i, r = inter.subset(test).ratings()
    train = inter.subset(~test)
    mean_rmse = float(np.sqrt(np.mean((r - train.ratings()[2].mean()) ** 2)))
    biases = RatingMF(factors=0, iterations=3).fit(train)
    full = RatingMF(factors=2, regularization=0.02, bias_regularization=1.0).fit(train)
    rmse_b = float(np.sqrt(np.mean((biases.predict_idx(u, i) - r) ** 2)))
    rmse_f = float(np.sqrt(np.mean((full.predict_idx(u, i) - r) ** 2)))
    assert rmse_b < mean_rmse and rmse_f < 0.75 * rmse_b, (mean_rmse, rmse_b, rmse_f)


def test_predictions_stay_on_the_scale_and_unknown_ids_fall_back() -> None:
    model = RatingMF(factors=2).fit(Interactions.from_frame(_grid_ratings()))
    pred = model.predict(["u0", "u0", "nobody", "nobody"], ["i0", "no-item", "i0", "no-item"])
    assert np.all((pred >= 1) & (pred <= 5))
    assert pred[3] == pytest.approx(model.global_mean_)
    assert pred[2] == pytest.approx(
        np.clip(model.global_mean_ + model.item_bias_[model.items_.index(["i0"])[0]], 1, 5)
    )


def test_a_snapshot_without_ratings_is_a_clear_error(block_shop: Interactions) -> None:
    implicit = Interactions.from_frame(_events(7))
    with pytest.raises(ValidationError, match="rating events"):
        RatingMF().fit(implicit)


def test_registered_and_round_trips(block_shop: Interactions, tmp_path: Path) -> None:
    model = registry.create("rating_mf", factors=2).fit(block_shop)
    model.save(tmp_path / "m")
    loaded = registry.load_model(tmp_path / "m")
    assert isinstance(loaded, RatingMF)
    np.testing.assert_allclose(
        loaded.predict(["ua0", "ub1"], ["a3", "b3"]), model.predict(["ua0", "ub1"], ["a3", "b3"])
    )
