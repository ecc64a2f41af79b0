"""Gamma-Gamma spend model, BG/NBD expected purchases and CLV against known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chi2

from campaignrec.errors import NotFittedError, ValidationError
from campaignrec.profiles.predict import (
    BGNBDModel,
    GammaGammaModel,
    bgnbd_expected_repeat_purchases,
    customer_lifetime_value,
    gamma_gamma_loglik,
)

from .conftest import T0

P, Q, GAMMA = 6.0, 4.0, 15.0  # close to the published CDNOW fit (6.25, 3.74, 15.44)


def _simulate_spend(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """x = 1 + Poisson(2) repeat orders per customer, nu ~ Gamma(q, rate gamma), values ~ Gamma(p, rate nu)."""
    rng = np.random.default_rng(seed)
    x = 1 + rng.poisson(2.0, n)
    nu = rng.gamma(Q, 1 / GAMMA, n)
    m_x = np.array([rng.gamma(P, 1 / v, k).mean() for v, k in zip(nu, x, strict=True)])
    return x.astype(float), m_x


def _profiles(
    freq: list[float], monetary: list[float], t_x: list[float], age: list[float]
) -> pd.DataFrame:
    """Profile rows with the columns BG/NBD and Gamma-Gamma read."""
    first = T0
    return pd.DataFrame(
        {
            "frequency": freq,
            "monetary": monetary,
            "first_purchase": [first] * len(freq),
            "last_purchase": [first + pd.Timedelta(days=d) for d in t_x],
            "tenure_days": age,
        }
    )


@pytest.fixture(scope="module")
def spend_fit() -> GammaGammaModel:
    x, m_x = _simulate_spend(3_000, seed=0)
    return GammaGammaModel().fit_summary(x, m_x)


def test_gamma_gamma_recovers_simulated_parameters(spend_fit: GammaGammaModel) -> None:
    x, m_x = _simulate_spend(3_000, seed=0)
    fit = spend_fit.params_
    # across 30 seeds at this size: population mean sd 1.3 %, q 3.5 %, p and gamma ~15 % each
    # (they trade off against each other), hence the tolerances
    assert spend_fit.population_mean() == pytest.approx(P * GAMMA / (Q - 1), rel=0.06)
    assert fit["q"] == pytest.approx(Q, rel=0.15)
    assert fit["p"] == pytest.approx(P, rel=0.6)
    assert fit["gamma"] == pytest.approx(GAMMA, rel=0.6)
    # the truth lies inside the 99.9 % likelihood-ratio region: fails if the density were wrong
    ll_truth = gamma_gamma_loglik(P, Q, GAMMA, x, m_x).sum()
    assert 2 * (spend_fit.log_likelihood_ - ll_truth) < chi2.ppf(0.999, df=3)
    assert spend_fit.n_fitted_ == 3_000


def test_fit_from_profiles_skips_customers_without_repeat_orders() -> None:
    x, m_x = _simulate_spend(400, seed=3)
    freq = np.r_[x + 1, [1, 1, 0]]
    prof = pd.DataFrame({"frequency": freq, "monetary": np.r_[m_x * (x + 1), [5.0, 9.0, 0.0]]})
    from_profiles = GammaGammaModel().fit(prof)
    direct = GammaGammaModel().fit_summary(x, m_x)
    assert from_profiles.n_fitted_ == 400
    assert from_profiles.params_ == pytest.approx(direct.params_)


def test_conditional_spend_shrinks_towards_own_mean_as_x_grows(spend_fit: GammaGammaModel) -> None:
    pop = spend_fit.population_mean()
    for own in (0.3 * pop, 3.0 * pop):
        x = np.array([1.0, 2.0, 5.0, 20.0, 200.0])
        e = spend_fit.expected_spend(x, np.full(len(x), own))
        lo, hi = min(own, pop), max(own, pop)
        assert np.all((e > lo) & (e < hi))
        dist = np.abs(e - own)
        assert np.all(np.diff(dist) < 0)  # closer to the own mean with every extra order
        assert dist[-1] < 0.02 * abs(own - pop)
    # one order (x = 0) or none: the population mean, whatever the first order cost
    prof = pd.DataFrame({"frequency": [1, 1, 0], "monetary": [1.0, 500.0, 0.0]})
    assert spend_fit.conditional_expected_average_profit(prof) == pytest.approx([pop] * 3)


def test_expected_purchases_of_a_new_customer_matches_simulation() -> None:
    params = {"r": 0.8, "alpha": 10.0, "a": 0.8, "b": 2.5}  # a < 1, as on CDNOW
    t, n = 120.0, 100_000
    rng = np.random.default_rng(7)
    lam = rng.gamma(params["r"], 1 / params["alpha"], n)
    p_drop = rng.beta(params["a"], params["b"], n)
    count = np.zeros(n)
    clock = np.zeros(n)
    alive = np.ones(n, dtype=bool)
    while alive.any():  # repeat purchases in (0, t]; drop out after each with probability p
        clock[alive] += rng.exponential(1 / lam[alive])
        alive &= clock <= t
        count[alive] += 1
        alive &= rng.random(n) >= p_drop
    bg = BGNBDModel()
    bg.params_ = params
    got = bg.expected_purchases(_profiles([1.0], [10.0], [0.0], [0.0]), t)[0]
    se = count.std() / np.sqrt(n)
    assert got == pytest.approx(count.mean(), abs=4 * se)


@pytest.mark.parametrize(
    ("params", "x", "t_x", "age"),
    [
        ({"r": 2.0, "alpha": 20.0, "a": 1.5, "b": 3.0}, 3.0, 40.0, 90.0),
        ({"r": 2.0, "alpha": 20.0, "a": 0.8, "b": 2.0}, 1.0, 10.0, 60.0),
        ({"r": 1.5, "alpha": 5.0, "a": 2.0, "b": 4.0}, 0.0, 0.0, 30.0),
    ],
)
def test_conditional_expected_purchases_matches_numeric_integration(
    params: dict[str, float], x: float, t_x: float, age: float
) -> None:
    """Brute force: integrate E[Y(t) | lambda, p, alive] over the posterior of (lambda, p)."""
    from scipy.stats import beta, gamma

    r, alpha, a, b = params["r"], params["alpha"], params["a"], params["b"]
    t = 45.0
    lam = gamma.ppf((np.arange(2_000) + 0.5) / 2_000, r, scale=1 / alpha)[:, None]
    p = beta.ppf((np.arange(2_000) + 0.5) / 2_000, a, b)[None, :]
    # prior quantile grids: each cell carries equal prior mass, so plain means are the integrals
    alive = (1 - p) ** x * lam**x * np.exp(-lam * age)
    dead = p * (1 - p) ** (x - 1) * lam**x * np.exp(-lam * t_x) if x > 0 else 0.0
    future = (1 - np.exp(-lam * p * t)) / p  # expected purchases in t days if alive at T
    brute = float((alive * future).mean() / (alive + dead).mean())
    got = bgnbd_expected_repeat_purchases(
        params, np.array([x]), np.array([t_x]), np.array([age]), t
    )
    assert got[0] == pytest.approx(brute, rel=2e-3)


def _bgnbd() -> BGNBDModel:
    bg = BGNBDModel()
    bg.params_ = {"r": 0.25, "alpha": 34.0, "a": 0.8, "b": 2.4}  # CDNOW-like, in days
    return bg


def test_clv_grows_with_horizon_and_uses_population_spend_without_repeats(
    spend_fit: GammaGammaModel,
) -> None:
    bg = _bgnbd()
    prof = _profiles([4, 1, 1, 0], [200.0, 30.0, 900.0, 0.0], [100.0, 0.0, 0.0, 0.0], [200] * 4)
    horizons = [30, 90, 180, 365, 730]
    clv = np.array([customer_lifetime_value(bg, spend_fit, prof, h) for h in horizons])
    assert np.all(np.diff(clv[:, :3], axis=0) > 0)
    assert np.isnan(clv[:, 3]).all()  # never bought: BG/NBD is undefined
    # one-order customers: population spend, whatever their first order cost
    assert clv[:, 1] == pytest.approx(clv[:, 2])
    pop = spend_fit.population_mean()
    undiscounted = customer_lifetime_value(bg, spend_fit, prof, 90, discount_rate_per_period=0)
    assert undiscounted[1] == pytest.approx(bg.expected_purchases(prof, 90)[1] * pop)
    # discounting: three 30-day periods, each period's purchases discounted at its end
    e = [0.0, *(bg.expected_purchases(prof, d)[0] for d in (30, 60, 90))]
    spend = spend_fit.conditional_expected_average_profit(prof)[0]
    manual = sum((e[k] - e[k - 1]) / 1.01**k for k in (1, 2, 3)) * spend
    assert clv[1, 0] == pytest.approx(manual)


def test_bad_inputs_name_the_field(spend_fit: GammaGammaModel) -> None:
    with pytest.raises(NotFittedError):
        GammaGammaModel().conditional_expected_average_profit(pd.DataFrame())
    with pytest.raises(ValidationError, match="'monetary'"):
        GammaGammaModel().fit(pd.DataFrame({"frequency": [2, 3]}))
    with pytest.raises(ValidationError, match="'frequency'"):
        GammaGammaModel().fit(pd.DataFrame({"monetary": [2.0, 3.0]}))
    with pytest.raises(ValidationError, match="'frequency'"):
        GammaGammaModel().fit(pd.DataFrame({"frequency": [2, -1], "monetary": [5.0, 1.0]}))
    with pytest.raises(ValidationError, match="row 1: field 'monetary'"):
        GammaGammaModel().fit(pd.DataFrame({"frequency": [2, 3], "monetary": [5.0, 0.0]}))
    with pytest.raises(ValidationError, match=r"'frequency'.*at least 10"):
        GammaGammaModel().fit(pd.DataFrame({"frequency": [2, 1], "monetary": [5.0, 1.0]}))
    heavy = GammaGammaModel()
    heavy.params_ = {"p": 2.0, "q": 0.9, "gamma": 10.0}
    with pytest.raises(ValidationError, match="'q'"):
        heavy.population_mean()
    bg = _bgnbd()
    prof = _profiles([2], [20.0], [10.0], [50.0])
    with pytest.raises(ValidationError, match="'horizon_days'"):
        customer_lifetime_value(bg, spend_fit, prof, 0)
    with pytest.raises(ValidationError, match="'t_days'"):
        bg.expected_purchases(prof, -1)
    with pytest.raises(NotFittedError):
        BGNBDModel().expected_purchases(prof, 30)
