"""Off-policy estimators: one contract suite, plus known-truth checks on synthetic logs."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaignrec.errors import ValidationError
from campaignrec.experiments.ope import (
    ESTIMATORS,
    BanditLog,
    DirectMethod,
    DoublyRobust,
    InverseProbabilityWeighting,
    OPESettings,
    SwitchDoublyRobust,
    check_action_dist,
    epsilon_greedy_policy,
    estimate_policy_value,
    fit_reward_model,
    softmax_policy,
    switch_tau_grid,
    uniform_policy,
)
from campaignrec.experiments.synthetic_logs import SyntheticBanditEnv


@pytest.fixture(scope="module")
def env() -> SyntheticBanditEnv:
    return SyntheticBanditEnv(n_actions=4, dim=3, behaviour_beta=1.0, seed=0)


@pytest.fixture(scope="module")
def data(env):
    return env.sample_log(1500, seed=1)


# ---- the log ----------------------------------------------------------------------------------


def test_bandit_log_validates_and_is_frozen(data) -> None:
    log = data.log
    assert log.n_rounds == len(log) == 1500
    with pytest.raises(ValueError):
        log.reward[0] = 5.0  # read-only arrays
    with pytest.raises(AttributeError):
        log.n_actions = 3  # type: ignore[misc]
    sub = log.subset(np.arange(10))
    assert sub.n_rounds == 10 and sub.n_actions == log.n_actions
    ok = {"context": np.zeros((3, 2)), "reward": np.zeros(3), "n_actions": 2}
    with pytest.raises(ValidationError, match="pscore"):
        BanditLog(action=np.array([0, 1, 0]), pscore=np.array([0.5, 0.0, 0.5]), **ok)
    with pytest.raises(ValidationError, match="action"):
        BanditLog(action=np.array([0, 2, 0]), pscore=np.full(3, 0.5), **ok)
    with pytest.raises(ValidationError, match="action"):
        BanditLog(action=np.array([0.0, 1.0, 0.0]), pscore=np.full(3, 0.5), **ok)
    with pytest.raises(ValidationError, match="action_context"):
        BanditLog(
            action=np.array([0, 1, 0]), pscore=np.full(3, 0.5), action_context=np.ones((3, 1)), **ok
        )


def test_action_dist_is_checked(data) -> None:
    log = data.log
    with pytest.raises(ValidationError, match="shape"):
        check_action_dist(log, np.ones((3, 4)) / 4)
    bad = uniform_policy(log.n_rounds, log.n_actions)
    bad[5] *= 2
    with pytest.raises(ValidationError, match="sum to 1"):
        check_action_dist(log, bad)


# ---- contract suite over every estimator --------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_estimator_contract(name: str, data) -> None:
    log = data.log
    q = fit_reward_model(log, seed=0)
    est = ESTIMATORS[name]()
    # on-policy: evaluating the logging policy itself recovers the logged mean reward
    on = est.estimate(
        log, data.behaviour_dist, estimated_rewards=q, settings=OPESettings(n_boot=200, seed=3)
    )
    assert on.estimator == name and on.n_rounds == log.n_rounds
    assert on.ci_low <= on.value <= on.ci_high
    assert 0 < on.ess <= log.n_rounds + 1e-9
    se = log.reward.std() / np.sqrt(log.n_rounds)
    assert abs(on.value - log.reward.mean()) < 0.05 + 3 * se
    # deterministic given the seed; interval narrower at lower confidence
    again = est.estimate(
        log, data.behaviour_dist, estimated_rewards=q, settings=OPESettings(n_boot=200, seed=3)
    )
    assert again == on
    narrow = est.estimate(
        log, data.behaviour_dist, estimated_rewards=q, settings=OPESettings(n_boot=200, alpha=0.5)
    )
    assert narrow.ci_high - narrow.ci_low < on.ci_high - on.ci_low
    assert set(on.as_dict()) == {"value", "ci_low", "ci_high", "ess", *on.info}
    if est.needs_reward_model:
        with pytest.raises(ValidationError, match="estimated_rewards"):
            est.estimate(log, data.behaviour_dist)


def test_switch_dr_interpolates_between_dm_and_dr(data, env) -> None:
    log = data.log
    pi = env.oracle_policy(epsilon=0.1)(log.context)
    q = fit_reward_model(log, seed=0)
    res = estimate_policy_value(log, pi, estimated_rewards=q, settings=OPESettings(n_boot=10))
    inf = SwitchDoublyRobust(tau=np.inf).estimate(
        log, pi, estimated_rewards=q, settings=OPESettings(n_boot=10)
    )
    zero = SwitchDoublyRobust(tau=0.0).estimate(
        log, pi, estimated_rewards=q, settings=OPESettings(n_boot=10)
    )
    assert inf.value == pytest.approx(res["dr"].value)
    assert zero.value == pytest.approx(res["dm"].value)
    assert res["ips"].ess == pytest.approx(res["dr"].ess)
    assert res["dm"].ess == log.n_rounds


def test_snips_equals_mean_reward_under_constant_weights() -> None:
    rng = np.random.default_rng(0)
    n = 400
    log = BanditLog(
        context=rng.normal(size=(n, 2)),
        action=rng.integers(0, 2, size=n),
        reward=rng.random(n),
        pscore=np.full(n, 0.5),
        n_actions=2,
    )
    target = np.tile([0.5, 0.5], (n, 1))
    res = estimate_policy_value(
        log, target, estimators=["ips", "snips"], settings=OPESettings(n_boot=20)
    )
    assert res["snips"].value == pytest.approx(log.reward.mean())
    assert res["ips"].value == pytest.approx(log.reward.mean())
    assert res["ips"].ess == pytest.approx(n)


def test_unknown_estimator_is_rejected(data) -> None:
    with pytest.raises(ValidationError, match="estimator"):
        estimate_policy_value(data.log, data.behaviour_dist, estimators=["nope"])


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_estimators_are_built_from_settings(name: str) -> None:
    est = ESTIMATORS[name].from_settings(OPESettings(switch_tau="auto"))
    assert type(est) is ESTIMATORS[name] and est.name == name
    assert getattr(est, "tau", "auto") == "auto"  # only Switch-DR has a threshold to set


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("n_boot", -1),
        ("n_boot", 2.5),
        ("alpha", 1.5),
        ("alpha", float("nan")),
        ("reward_model", "forest"),
        ("reward_structure", "tree"),
        ("switch_tau", -2.0),
    ],
)
def test_settings_are_validated(field: str, bad) -> None:
    with pytest.raises(ValidationError, match=field):
        OPESettings(**{field: bad})
    assert OPESettings(switch_tau=5).switch_tau == 5.0


# ---- known truth --------------------------------------------------------------------------------


def test_ips_and_dr_are_unbiased_and_dr_beats_ips(env) -> None:
    policy = env.oracle_policy(epsilon=0.2)
    truth = env.policy_value(policy, n_contexts=100_000)
    errors: dict[str, list[float]] = {"ips": [], "dr": []}
    one = OPESettings(n_boot=1)
    for rep in range(25):
        d = env.sample_log(800, seed=100 + rep)
        pi = policy(d.log.context)
        q = fit_reward_model(d.log, seed=rep)
        errors["ips"].append(
            InverseProbabilityWeighting().estimate(d.log, pi, settings=one).value - truth
        )
        errors["dr"].append(
            DoublyRobust().estimate(d.log, pi, estimated_rewards=q, settings=one).value - truth
        )
    for name, errs in errors.items():
        e = np.asarray(errs)
        assert abs(e.mean()) < 3.5 * e.std(ddof=1) / np.sqrt(len(e)) + 1e-3, name
    assert np.mean(np.abs(errors["dr"])) < np.mean(np.abs(errors["ips"]))


def test_truth_policy_value_is_consistent(env) -> None:
    """The behaviour policy's true value matches the average expected reward of its own log."""
    d = env.sample_log(50_000, seed=9)
    on_log = np.mean(np.sum(d.behaviour_dist * d.expected_reward, axis=1))
    assert env.policy_value(env.behaviour_policy) == pytest.approx(on_log, abs=0.01)
    assert env.policy_value(env.oracle_policy(epsilon=0.0)) > env.policy_value(env.behaviour_policy)


# ---- target policy helpers ----------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    scores=st.lists(st.lists(st.floats(-20, 20), min_size=3, max_size=3), min_size=1, max_size=8),
    temperature=st.floats(0.05, 5),
    floor=st.floats(0, 1),
    epsilon=st.floats(0, 1),
)
def test_policies_are_distributions_with_floors(scores, temperature, floor, epsilon) -> None:
    s = np.asarray(scores)
    p = softmax_policy(s, temperature=temperature, floor=floor)
    assert np.allclose(p.sum(axis=1), 1.0)
    assert np.all(p >= floor / 3 - 1e-12)
    g = epsilon_greedy_policy(s, epsilon=epsilon)
    assert np.allclose(g.sum(axis=1), 1.0)
    assert np.all(g >= epsilon / 3 - 1e-12)


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_lift_is_the_paired_difference(name: str, data, env) -> None:
    log = data.log
    q = fit_reward_model(log, seed=0)
    target = env.oracle_policy(epsilon=0.3)(log.context)
    base = uniform_policy(log.n_rounds, log.n_actions)
    est = ESTIMATORS[name]()
    lift = est.estimate_lift(
        log, target, base, estimated_rewards=q, settings=OPESettings(n_boot=200, seed=1)
    )
    a = est.estimate(log, target, estimated_rewards=q, settings=OPESettings(n_boot=10)).value
    b = est.estimate(log, base, estimated_rewards=q, settings=OPESettings(n_boot=10)).value
    assert lift.value == pytest.approx(a - b)
    assert lift.ci_low <= lift.value <= lift.ci_high
    same = est.estimate_lift(log, base, base, estimated_rewards=q, settings=OPESettings(n_boot=50))
    assert same.value == 0.0 and same.ci_low == 0.0 and same.ci_high == 0.0


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(5, 60),
    k=st.integers(2, 5),
    seed=st.integers(0, 10_000),
)
def test_unit_weights_give_the_logged_mean(n: int, k: int, seed: int) -> None:
    """When the target gives each logged action its logged propensity, every weight is 1."""
    rng = np.random.default_rng(seed)
    action = rng.integers(0, k, size=n)
    pscore = rng.uniform(0.05, 1.0, size=n)
    log = BanditLog(
        context=rng.normal(size=(n, 2)),
        action=action,
        reward=rng.random(n),
        pscore=pscore,
        n_actions=k,
    )
    target = np.zeros((n, k))
    target[np.arange(n), action] = pscore
    for i in range(n):  # spread the rest over the other actions
        others = [a for a in range(k) if a != action[i]]
        target[i, others] = (1 - pscore[i]) / len(others)
    q = rng.random((n, k))
    res = estimate_policy_value(log, target, estimated_rewards=q, settings=OPESettings(n_boot=5))
    mean = log.reward.mean()
    assert res["ips"].value == pytest.approx(mean)
    assert res["snips"].value == pytest.approx(mean)
    assert res["ips"].ess == pytest.approx(n)
    expected_dr = mean + np.mean(np.sum(target * q, axis=1) - q[np.arange(n), action])
    assert res["dr"].value == pytest.approx(expected_dr)
    assert res["switch-dr"].value == pytest.approx(expected_dr)  # w = 1 <= tau everywhere


# ---- Switch-DR's threshold ------------------------------------------------------------------------


def _switch_fixed(log, pi, q, tau: float) -> float:
    """Switch-DR written out: DR terms where w <= tau, DM terms elsewhere."""
    rows = np.arange(log.n_rounds)
    w = pi[rows, log.action] / log.pscore
    dm = np.sum(pi * q, axis=1)
    return float(np.mean(dm + np.where(w <= tau, w * (log.reward - q[rows, log.action]), 0.0)))


@pytest.mark.parametrize("tau", [0.0, 0.5, 2.0, 20.0, np.inf])
def test_numeric_tau_is_unchanged(tau: float, data, env) -> None:
    log = data.log
    pi = env.oracle_policy(epsilon=0.1)(log.context)
    q = fit_reward_model(log, seed=0)
    est = SwitchDoublyRobust(tau=tau).estimate(
        log, pi, estimated_rewards=q, settings=OPESettings(n_boot=20, seed=2)
    )
    assert est.value == pytest.approx(_switch_fixed(log, pi, q, tau))
    assert est.info["tau"] == tau
    rows = np.arange(log.n_rounds)
    w = pi[rows, log.action] / log.pscore
    assert est.info["switched_share"] == pytest.approx(np.mean(w > tau))
    assert SwitchDoublyRobust().tau == 20.0  # the default stays 20
    # the default (no refit) bootstrap is the round resampling it always was
    same = SwitchDoublyRobust(tau=tau).estimate(
        log, pi, estimated_rewards=q, settings=OPESettings(n_boot=20, seed=2)
    )
    assert same == est


@pytest.mark.parametrize("bad", [-1.0, float("nan"), "best", "AUTO", True, None])
def test_bad_tau_is_rejected(bad, data) -> None:
    with pytest.raises(ValidationError, match="tau"):
        SwitchDoublyRobust(tau=bad)
    with pytest.raises(ValidationError, match="tau"):
        estimate_policy_value(
            data.log, data.behaviour_dist, settings=OPESettings(switch_tau=bad, n_boot=5)
        )


def test_auto_tau_is_within_the_grid_and_not_worse_than_its_worst(env) -> None:
    policy = env.oracle_policy(epsilon=0.2)
    truth = env.policy_value(policy, n_contexts=100_000)
    for rep in range(4):
        d = env.sample_log(800, seed=200 + rep)
        pi = policy(d.log.context)
        q = fit_reward_model(d.log, seed=rep)
        auto = SwitchDoublyRobust(tau="auto").estimate(
            d.log, pi, estimated_rewards=q, settings=OPESettings(n_boot=20)
        )
        w = pi[np.arange(d.log.n_rounds), d.log.action] / d.log.pscore
        grid = switch_tau_grid(w)
        assert auto.info["tau"] in grid
        fixed = [abs(_switch_fixed(d.log, pi, q, t) - truth) for t in grid]
        assert abs(auto.value - truth) <= max(fixed) + 1e-12
        assert auto.value == pytest.approx(_switch_fixed(d.log, pi, q, auto.info["tau"]))


def test_auto_tau_keeps_every_round_when_the_target_is_close_to_logging(env) -> None:
    d = env.sample_log(1500, seed=5)
    target = 0.9 * d.behaviour_dist + 0.1 * env.oracle_policy(epsilon=0.2)(d.log.context)
    q = fit_reward_model(d.log, seed=0)
    auto = SwitchDoublyRobust(tau="auto").estimate(
        d.log, target, estimated_rewards=q, settings=OPESettings(n_boot=20)
    )
    w = target[np.arange(d.log.n_rounds), d.log.action] / d.log.pscore
    assert w.max() < 5  # weights near 1: nothing to gain from switching
    assert auto.info["tau"] >= w.max() and auto.info["switched_share"] == 0.0
    dr = DoublyRobust().estimate(
        d.log, target, estimated_rewards=q, settings=OPESettings(n_boot=20)
    )
    assert auto.value == pytest.approx(dr.value)


def _extreme_log(env_seed: int = 0, seed: int = 0):
    """A near-deterministic logging policy whose log holds six rounds of weight 5,000."""
    env = SyntheticBanditEnv(n_actions=3, dim=2, seed=env_seed)
    rng = np.random.default_rng(seed)
    n = 2000
    X = rng.normal(size=(n, 2))
    mu = np.tile([1 - 2e-5, 1e-5, 1e-5], (n, 1))
    action = np.zeros(n, dtype=np.int64)
    action[:6] = [1, 2, 1, 2, 1, 2]  # rare explorations that happened to be logged
    q = env.expected_reward(X)
    rows = np.arange(n)
    reward = (rng.random(n) < q[rows, action]).astype(np.float64)
    log = BanditLog(
        context=X,
        action=action,
        reward=reward,
        pscore=mu[rows, action],
        n_actions=3,
        behaviour_dist=mu,
    )
    target = np.tile([0.9, 0.05, 0.05], (n, 1))
    return log, target, float(np.mean(np.sum(target * q, axis=1)))


def test_auto_tau_switches_the_extreme_weights() -> None:
    log, target, truth = _extreme_log()
    q = fit_reward_model(log, seed=0)
    auto = SwitchDoublyRobust(tau="auto").estimate(
        log, target, estimated_rewards=q, settings=OPESettings(n_boot=20)
    )
    dr = DoublyRobust().estimate(log, target, estimated_rewards=q, settings=OPESettings(n_boot=20))
    assert auto.info["tau"] < 5000 and auto.info["switched_share"] == pytest.approx(6 / 2000)
    assert abs(auto.value - truth) < 0.02 < abs(dr.value - truth)
    # a lift picks one threshold for both policies and reports it
    base = uniform_policy(log.n_rounds, log.n_actions)
    lift = SwitchDoublyRobust(tau="auto").estimate_lift(
        log, target, base, estimated_rewards=q, settings=OPESettings(n_boot=20)
    )
    assert lift.info["tau"] < 5000
    # without the logging policy's full distribution the target's switched mass is estimated
    # from the logged weights, a bound so loose that auto keeps every round (plain DR)
    bare = replace(log, behaviour_dist=None)
    plain = SwitchDoublyRobust(tau="auto").estimate(
        bare, target, estimated_rewards=q, settings=OPESettings(n_boot=5)
    )
    assert plain.info["switched_share"] == 0.0 and plain.value == pytest.approx(dr.value)


def test_behaviour_dist_is_validated(data) -> None:
    log = data.log
    kw = {"context": log.context, "action": log.action, "reward": log.reward, "n_actions": 4}
    with pytest.raises(ValidationError, match="behaviour_dist"):
        BanditLog(pscore=log.pscore, behaviour_dist=np.ones((3, 4)) / 4, **kw)
    with pytest.raises(ValidationError, match="behaviour_dist"):
        BanditLog(pscore=np.full(log.n_rounds, 0.25), behaviour_dist=data.behaviour_dist, **kw)
    sub = log.subset(np.arange(5))
    assert sub.behaviour_dist is not None and sub.behaviour_dist.shape == (5, 4)


# ---- refitting the reward model in the bootstrap ----------------------------------------------


def test_refit_widens_the_dm_interval(env) -> None:
    d = env.sample_log(600, seed=11)
    pi = env.oracle_policy(epsilon=0.2)(d.log.context)
    q = fit_reward_model(d.log, structure="joint", seed=0)
    # refit with the settings q was fitted with
    refitting = OPESettings(n_boot=25, seed=0, reward_structure="joint", refit_reward_model=True)
    fixed = DirectMethod().estimate(
        d.log, pi, estimated_rewards=q, settings=replace(refitting, refit_reward_model=False)
    )
    refit = DirectMethod().estimate(d.log, pi, estimated_rewards=q, settings=refitting)
    assert refit.value == fixed.value  # the point estimate does not change
    assert refit.ci_high - refit.ci_low > 1.5 * (fixed.ci_high - fixed.ci_low)
    # estimate_policy_value shares one set of refits between DM, DR and Switch-DR
    res = estimate_policy_value(
        d.log, pi, estimators=["ips", "dm"], estimated_rewards=q, settings=refitting
    )
    assert res["dm"] == refit
    assert res["ips"] == InverseProbabilityWeighting().estimate(
        d.log, pi, settings=OPESettings(n_boot=25, seed=0)
    )
    lift = DoublyRobust().estimate_lift(
        d.log, pi, uniform_policy(600, 4), estimated_rewards=q, settings=refitting
    )
    assert lift.ci_low <= lift.value <= lift.ci_high
