from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from campaignrec.errors import ConfigError
from campaignrec.evaluation.splits import user_temporal_split
from campaignrec.evaluation.tuning import make_validation, space_for, tune, tune_blend_weights
from campaignrec.models._common import normalize_rows
from campaignrec.models.base import Params, Recommender


@dataclasses.dataclass(frozen=True)
class MixParams(Params):
    popularity: float = 0.0


class Mix(Recommender):
    """popularity weight * popularity + random noise: the tuner must find popularity > 0."""

    name = "mix"
    params_class = MixParams

    def _fit(self, interactions):
        self.noise_ = np.random.default_rng(0).random((interactions.n_users, interactions.n_items))

    def _score_idx(self, user_idx):
        pop = self.popularity_ / max(self.popularity_.max(), 1)
        return (self.params.popularity * pop + self.noise_[user_idx]).astype(np.float32)


def _skewed_shop():
    import pandas as pd

    from campaignrec.data.interactions import Interactions

    rng = np.random.default_rng(0)
    p = 1.0 / np.arange(1, 31) ** 1.2
    p /= p.sum()
    rows = []
    for u in range(60):
        items = rng.choice(30, size=8, replace=False, p=p)
        for step, i in enumerate(items):
            rows.append(
                {
                    "user_id": f"u{u}",
                    "item_id": f"i{i}",
                    "event_type": "view",
                    "timestamp": 1_700_000_000 + 60 * step + u,
                }
            )
    return Interactions.from_frame(pd.DataFrame(rows))


def test_tune_three_trials_finds_popularity():
    inter = _skewed_shop()
    train = user_temporal_split(inter, test_fraction=0.2).train(inter)
    val = make_validation(train, "user_temporal", test_fraction=0.25, k=5)
    space = {"popularity": {"type": "float", "low": 0.0, "high": 10.0}}
    res = tune(lambda p: Mix(**p), space, val, n_trials=3, seed=0, baseline={"popularity": 10.0})
    assert len(res.trials) == 3
    assert res.best_value == max(t["value"] for t in res.trials)
    assert res.best_params["popularity"] == 10.0  # popularity beats noise on a skewed shop
    again = tune(lambda p: Mix(**p), space, val, n_trials=3, seed=0, baseline={"popularity": 10.0})
    assert [t["params"] for t in again.trials] == [t["params"] for t in res.trials]


def test_blend_weights_prefer_the_informative_model():
    inter = _skewed_shop()
    val = make_validation(inter, "user_temporal", test_fraction=0.25, k=5)
    noise = Mix(popularity=0.0).fit(val.fit_part)
    pop = Mix(popularity=100.0).fit(val.fit_part)
    res = tune_blend_weights({"noise": noise, "pop": pop}, val, n_trials=6, seed=0, high=5.0)
    assert res.best_params["models"] == ["mix", "mix"]
    assert res.best_params["weights"][0] == 1.0
    assert res.best_params["weights"][1] > 0.5
    assert res.best_value >= res.trials[0]["value"]


def test_space_for_and_normalise():
    assert "l2" in space_for("ease")
    assert space_for("ease", MixParams) == {}
    with pytest.raises(ConfigError):
        space_for("nope")
    s = np.array([[1.0, 2.0, -np.inf], [3.0, 3.0, 3.0]])
    z = normalize_rows(s)
    assert np.isneginf(z[0, 2]) and z[0, 0] < z[0, 1]
    assert np.allclose(z[1], 0.0)
    r = normalize_rows(s, "rank")
    assert r[0, 1] > r[0, 0]
    with pytest.raises(ConfigError):
        normalize_rows(s, "nope")
