"""Uplift learners and metrics on synthetic data with planted heterogeneous effects."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr

from campaignrec.campaigns.uplift import (
    LEARNERS,
    BaseModelSettings,
    BaseUpliftLearner,
    SLearner,
    TLearner,
    TransformedOutcomeLearner,
    XLearner,
    make_uplift_learner,
)
from campaignrec.campaigns.uplift_metrics import (
    auuc,
    bootstrap_uplift_metric,
    qini_coefficient,
    qini_curve,
    uplift_at_k,
)
from campaignrec.errors import ConfigError, NotFittedError, ValidationError


def planted(n: int = 4000, seed: int = 0, n_arms: int = 1):
    """Binary outcome; baseline depends on x0, uplift on x1 (arm 2 has the opposite sign)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    base = 1 / (1 + np.exp(-(-1.0 + 0.8 * X[:, 0])))
    tau1 = 0.35 / (1 + np.exp(-3 * X[:, 1]))  # 0 .. 0.35
    taus = [tau1, 0.35 / (1 + np.exp(3 * X[:, 1]))]
    t = rng.integers(0, n_arms + 1, size=n)
    p = base.copy()
    for a in range(1, n_arms + 1):
        p = np.where(t == a, np.clip(base + taus[a - 1], 0, 1), p)
    y = (rng.random(n) < p).astype(float)
    return X, t, y, np.column_stack(taus[:n_arms])


FAST = {"n_estimators": 80, "learning_rate": 0.1, "min_child_samples": 40, "random_state": 3}


@pytest.mark.parametrize("name", sorted(LEARNERS))
def test_learners_rank_planted_uplift(name: str) -> None:
    X, t, y, tau = planted()
    learner = make_uplift_learner(name, **FAST).fit(X, t, y)
    pred = learner.predict_uplift(X)
    assert pred.shape == (len(X),)
    rho = spearmanr(pred, tau[:, 0]).statistic
    floor = 0.35 if name == "to" else 0.5  # the transformed outcome is the noisiest
    assert rho > floor, f"{name}: spearman {rho:.2f}"
    # held-out Qini of the learner beats random targeting by a clear margin
    Xh, th, yh, tau_h = planted(seed=1)
    oracle = qini_coefficient(tau_h[:, 0], th, yh)
    assert qini_coefficient(learner.predict_uplift(Xh), th, yh) > 0.4 * oracle


@pytest.mark.parametrize("cls", [TLearner, XLearner, TransformedOutcomeLearner])
def test_logistic_base_model_and_continuous_outcome(cls: type) -> None:
    X, t, y, tau = planted(n=3000, seed=5)
    spend = y * (20 + 5 * np.random.default_rng(0).random(len(y)))  # continuous outcome
    learner = cls(base_model="logistic", random_state=0).fit(X, t, spend)
    assert learner.binary_outcome_ is False
    assert spearmanr(learner.predict_uplift(X), tau[:, 0]).statistic > 0.5


def test_multiple_treatments_one_vs_control() -> None:
    X, t, y, tau = planted(n=6000, seed=2, n_arms=2)
    learner = TLearner(**FAST).fit(X, t, y)
    assert list(learner.treatments_) == [1, 2]
    pred = learner.predict_uplift(X)
    assert pred.shape == (len(X), 2)
    assert spearmanr(pred[:, 0], tau[:, 0]).statistic > 0.4
    assert spearmanr(pred[:, 1], tau[:, 1]).statistic > 0.4
    # the arms' effects move in opposite directions along x1
    assert spearmanr(pred[:, 0], pred[:, 1]).statistic < 0


def test_string_labels_and_seeded_determinism() -> None:
    X, t, y, _ = planted(n=1500, seed=4)
    labels = np.where(t == 1, "email", "none")
    a = XLearner(control="none", **FAST).fit(X, labels, y).predict_uplift(X)
    b = XLearner(control="none", **FAST).fit(X, labels, y).predict_uplift(X)
    np.testing.assert_array_equal(a, b)


def test_errors_name_the_problem() -> None:
    X, t, y, _ = planted(n=200)
    with pytest.raises(NotFittedError):
        TLearner().predict_uplift(X)
    with pytest.raises(ValidationError, match="control"):
        TLearner(control=9).fit(X, t, y)
    with pytest.raises(ValidationError, match="lengths"):
        TLearner().fit(X, t[:-1], y)
    with pytest.raises(ValidationError, match="NaN"):
        TLearner().fit(np.where(X > 2, np.nan, X), t, y)
    with pytest.raises(ValidationError, match="learner"):
        make_uplift_learner("nope")
    fitted = SLearner(**FAST).fit(X, t, y)
    with pytest.raises(ValidationError, match="features"):
        fitted.predict_uplift(X[:, :2])


def test_constant_outcome_group_does_not_crash() -> None:
    X, t, _, _ = planted(n=300)
    y = np.where(t == 1, (X[:, 0] > 0).astype(float), 0.0)  # control never converts
    pred = TLearner(**FAST).fit(X, t, y).predict_uplift(X)
    assert np.all(np.isfinite(pred))


# ---- metrics --------------------------------------------------------------------------------


def test_qini_perfect_beats_random_and_constant_is_zero() -> None:
    _, t, y, tau = planted(n=20000, seed=7)
    perfect = qini_coefficient(tau[:, 0], t, y)
    rng = np.random.default_rng(0)
    randoms = [qini_coefficient(rng.random(len(y)), t, y) for _ in range(20)]
    assert perfect > 0.01
    assert abs(np.mean(randoms)) < 0.005
    assert qini_coefficient(np.zeros(len(y)), t, y) == pytest.approx(0.0, abs=1e-12)
    assert auuc(np.zeros(len(y)), t, y) == pytest.approx(0.0, abs=1e-12)
    assert auuc(tau[:, 0], t, y) > 0
    assert qini_coefficient(-tau[:, 0], t, y) < 0
    assert 0 < qini_coefficient(tau[:, 0], t, y, normalize=True) <= 1


def test_uplift_at_k_known_answer() -> None:
    score = np.array([4, 3, 2, 1, 0, -1.0])
    t = np.array([1, 0, 1, 0, 1, 0])
    y = np.array([1, 0, 1, 1, 0, 0])
    assert uplift_at_k(score, t, y, k=0.5) == pytest.approx(1.0 - 0.0)  # top 3: t:1,1  c:0
    assert uplift_at_k(score, t, y, k=1.0) == pytest.approx(2 / 3 - 1 / 3)
    k, q = qini_curve(score, t, y)
    assert k[0] == 0 and q[0] == 0 and k[-1] == 6
    assert q[-1] == pytest.approx(2 - 1 * 3 / 3)


def test_bootstrap_interval_covers_value() -> None:
    _, t, y, tau = planted(n=3000, seed=8)
    res = bootstrap_uplift_metric(qini_coefficient, tau[:, 0], t, y, n_boot=50, seed=1)
    assert res.ci_low <= res.value <= res.ci_high
    assert res.ci_low > 0  # a planted effect this strong is clearly positive
    again = bootstrap_uplift_metric(qini_coefficient, tau[:, 0], t, y, n_boot=50, seed=1)
    assert again == res


@settings(max_examples=40, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.integers(-20, 20), st.integers(0, 1), st.integers(0, 1)),
        min_size=4,
        max_size=60,
    ),
    scale=st.sampled_from([0.5, 2.0, 7.0]),
)
def test_qini_invariant_to_monotone_rescaling(data, scale) -> None:
    s, t, y = (np.array(c, dtype=float) for c in zip(*data, strict=True))
    a = qini_coefficient(s, t, y)
    b = qini_coefficient(scale * s + 3.0, t, y)
    assert a == pytest.approx(b, abs=1e-9)
    assert qini_coefficient(np.ones_like(s), t, y) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("name", sorted(LEARNERS))
@pytest.mark.parametrize("base", ["lightgbm", "logistic"])
def test_save_load_round_trip(tmp_path, name: str, base: str) -> None:
    X, t, y, _ = planted(n=1500, seed=9, n_arms=2)
    params = {"base_model": base, "random_state": 1, "n_estimators": 30}
    if name in ("x", "to"):
        params["propensity"] = "logistic"
    learner = make_uplift_learner(name, **params).fit(X, t, y)
    path = learner.save(tmp_path / name)
    assert not list(path.glob("*.pkl"))
    loaded = BaseUpliftLearner.load(path)
    assert type(loaded) is type(learner)
    assert list(loaded.treatments_) == [1, 2]
    np.testing.assert_allclose(loaded.predict_uplift(X), learner.predict_uplift(X), atol=1e-12)
    assert loaded.get_params() == learner.get_params()


def test_load_checks_the_folder(tmp_path) -> None:
    with pytest.raises(ConfigError):
        BaseUpliftLearner.load(tmp_path)
    X, t, y, _ = planted(n=400)
    path = TLearner(**FAST).fit(X, t, y).save(tmp_path / "t")
    with pytest.raises(ConfigError, match="XLearner"):
        XLearner.load(path)
    with pytest.raises(NotFittedError):
        TLearner().save(tmp_path / "nothing")


def test_base_model_settings_defaults_are_pinned() -> None:
    """Shared by the uplift learners and the response model: changing one changes both."""
    assert BaseModelSettings().get_params() == {
        "base_model": "lightgbm",
        "n_estimators": 200,
        "learning_rate": 0.05,
        "num_leaves": 15,
        "min_child_samples": 50,
        "C": 1.0,
        "n_jobs": 1,
        "random_state": 0,
    }


@pytest.mark.parametrize("name", sorted(LEARNERS))
def test_get_params_are_the_constructor_parameters_and_round_trip(name: str) -> None:
    cls = LEARNERS[name]
    expected = BaseModelSettings().get_params() | {"control": 0, "outcome_type": "auto"}
    if name in ("x", "to"):
        expected |= {"propensity": "constant", "propensity_clip": 0.05}
    assert cls().get_params() == expected
    changed = {"base_model": "logistic", "control": "none", "outcome_type": "binary"}
    changed |= {"learning_rate": 0.2, "min_child_samples": 3, "C": 0.5, "random_state": 11}
    learner = cls(**changed)
    assert learner.get_params() == expected | changed
    assert (learner.learning_rate, learner.C, learner.control) == (0.2, 0.5, "none")
    assert cls(**learner.get_params()).get_params() == learner.get_params()


def test_unknown_base_model_is_rejected() -> None:
    X, t, y, _ = planted(n=200)
    with pytest.raises(ValidationError, match="base_model"):
        TLearner(base_model="forest").fit(X, t, y)  # type: ignore[arg-type]
