"""Response model: ranking, calibration on a held-out fold, and save/load without pickle."""

from __future__ import annotations

import numpy as np
import pytest

from campaignrec.campaigns.response import ResponseModel, response_features
from campaignrec.campaigns.uplift import BaseModelSettings
from campaignrec.errors import ConfigError, NotFittedError, ValidationError


def shop(n: int = 6000, seed: int = 0):
    """Responses whose true probability is known: sigmoid(-2 + 1.5 x0 - x1 + 0.8 x0 x2)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    p = 1 / (1 + np.exp(-(-2.0 + 1.5 * X[:, 0] - X[:, 1] + 0.8 * X[:, 0] * X[:, 2])))
    y = (rng.random(n) < p).astype(float)
    return X, y, p


def ece(prob: np.ndarray, y: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over equal-count bins."""
    order = np.argsort(prob)
    err = 0.0
    for chunk in np.array_split(order, bins):
        err += len(chunk) * abs(prob[chunk].mean() - y[chunk].mean())
    return err / len(y)


FAST = {"n_estimators": 100, "learning_rate": 0.1, "random_state": 0}


@pytest.mark.parametrize("base", ["lightgbm", "logistic"])
@pytest.mark.parametrize("calibration", ["isotonic", "sigmoid", "none"])
def test_ranks_and_is_calibrated_on_new_data(base: str, calibration: str) -> None:
    X, y, _ = shop()
    model = ResponseModel(base_model=base, calibration=calibration, **FAST).fit(X, y)
    Xt, yt, pt = shop(seed=1)
    prob = model.predict_proba(Xt)
    assert prob.shape == (len(Xt),) and np.all((prob >= 0) & (prob <= 1))
    assert np.corrcoef(prob, pt)[0, 1] > 0.85
    assert ece(prob, yt) < 0.04
    assert model.holdout_metrics_["rows"] == (len(y) if calibration == "none" else 1500)


def test_calibration_repairs_a_distorted_model() -> None:
    """A logistic model with a wrong base rate (heavy undersampling) is fixed by calibration."""
    X, y, _ = shop(n=8000)
    rng = np.random.default_rng(3)
    keep = (y == 1) | (rng.random(len(y)) < 0.2)  # drop 80% of non-responders ...
    Xs, ys = X[keep], y[keep]
    raw = ResponseModel(base_model="logistic", calibration="none").fit(Xs, ys)
    Xt, yt, _ = shop(seed=2)
    # ... then calibrate on data with the true base rate: fit on the skewed rows only
    assert ece(raw.predict_proba(Xt), yt) > 0.1
    cal = ResponseModel(base_model="logistic", calibration="isotonic").fit(X, y)
    assert ece(cal.predict_proba(Xt), yt) < 0.03


@pytest.mark.parametrize("base", ["lightgbm", "logistic"])
@pytest.mark.parametrize("calibration", ["isotonic", "sigmoid"])
def test_save_load_round_trip(tmp_path, base: str, calibration: str) -> None:
    X, y, _ = shop(n=2000)
    names = [f"f{i}" for i in range(4)]
    model = ResponseModel(base_model=base, calibration=calibration, **FAST).fit(
        X, y, feature_names=names
    )
    path = model.save(tmp_path / "resp")
    assert not list(path.glob("*.pkl"))
    loaded = ResponseModel.load(path)
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), rtol=0, atol=1e-12)
    assert loaded.feature_names_ == names
    assert loaded.get_params() == model.get_params()


def test_errors() -> None:
    X, y, _ = shop(n=500)
    with pytest.raises(NotFittedError):
        ResponseModel().predict_proba(X)
    with pytest.raises(ValidationError, match="0 or 1"):
        ResponseModel().fit(X, y * 2)
    with pytest.raises(ValidationError, match="responses"):
        ResponseModel().fit(X, np.zeros(len(y)))
    with pytest.raises(ValidationError, match="calibration"):
        ResponseModel(calibration="magic").fit(X, y)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="NaN"):
        ResponseModel().fit(np.where(X > 2, np.nan, X), y)
    fitted = ResponseModel(**FAST).fit(X, y)
    with pytest.raises(ValidationError, match="features"):
        fitted.predict_proba(X[:, :2])


def test_load_rejects_missing_or_foreign_dirs(tmp_path) -> None:
    with pytest.raises(ConfigError):
        ResponseModel.load(tmp_path)
    (tmp_path / "meta.json").write_text('{"format": "other"}')
    with pytest.raises(ConfigError):
        ResponseModel.load(tmp_path)


def test_response_features_joins_user_and_campaign_rows() -> None:
    users = np.array([[1.0, 2.0], [3.0, 4.0]])
    campaigns = np.array([[10.0], [20.0], [30.0]])
    rows = response_features(users, campaigns, [1, 0], [2, 0])
    np.testing.assert_array_equal(rows, [[3, 4, 30], [1, 2, 10]])
    with pytest.raises(ValidationError):
        response_features(users, campaigns, [2], [0])


def test_get_params_are_the_constructor_parameters_and_round_trip() -> None:
    # the shared base-model defaults are pinned in test_uplift
    assert ResponseModel().get_params() == {
        **BaseModelSettings().get_params(),
        "calibration": "isotonic",
        "calibration_fraction": 0.25,
    }
    changed = {"base_model": "logistic", "calibration": "sigmoid", "calibration_fraction": 0.3}
    changed |= {"n_estimators": 7, "num_leaves": 5, "C": 0.5, "n_jobs": 2, "random_state": 11}
    model = ResponseModel(**changed)
    assert model.get_params() == ResponseModel().get_params() | changed
    assert (model.n_estimators, model.C, model.calibration) == (7, 0.5, "sigmoid")
    again = ResponseModel(**model.get_params())
    assert again.get_params() == model.get_params()
    assert again != model  # estimators compare by identity, as before
    with pytest.raises(TypeError):
        ResponseModel("logistic")  # type: ignore[misc]  # keyword-only, as before


def test_unknown_base_model_is_rejected() -> None:
    X, y, _ = shop(n=200)
    with pytest.raises(ValidationError, match="base_model"):
        ResponseModel(base_model="forest").fit(X, y)  # type: ignore[arg-type]
