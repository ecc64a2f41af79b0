from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaignrec.campaigns.allocation import (
    AllocationProblem,
    check_feasible,
    exact_allocate,
    expected_value_and_cost,
    greedy_allocate,
    plan_campaign,
)
from campaignrec.data.schema import Campaign
from campaignrec.errors import ValidationError


def test_expected_value_and_cost_formula() -> None:
    v, c = expected_value_and_cost(0.1, 0.3, 20.0, 1.0, 4.0)
    assert c == pytest.approx(0.3 * 5.0)
    assert v == pytest.approx(0.2 * 20.0 - 1.5)


def test_known_case_greedy_equals_exact() -> None:
    # 4 users, 2 campaigns; budget of campaign 0 fits two of its cheap users.
    value = np.array([[5.0, 1.0], [4.0, 3.0], [2.5, 0.5], [-1.0, 2.0]])
    cost = np.array([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [1.0, 1.0]])
    p = AllocationProblem(value, cost, budget=np.array([2.0, 10.0]), inventory=np.array([5, 1]))
    g, e = greedy_allocate(p), exact_allocate(p)
    assert not check_feasible(p, g) and not check_feasible(p, e)
    # optimum: u0->c0, u1->c0 (budget 2), c1 inventory 1 -> u3 (2.0)
    assert e.objective == pytest.approx(11.0)
    assert g.objective == pytest.approx(11.0)
    assert e.optimal is True
    assert set(map(tuple, e.pairs)) == {(0, 0), (1, 0), (3, 1)}


def test_greedy_is_not_always_optimal_but_exact_is() -> None:
    # the knapsack trap: the first pair taken (best ratio, then best value) blocks two others
    value = np.array([[6.0], [5.0], [5.0]])
    cost = np.array([[6.0], [5.0], [5.0]])
    p = AllocationProblem(value, cost, budget=np.array([10.0]))
    assert greedy_allocate(p).objective == pytest.approx(6.0)
    assert exact_allocate(p).objective == pytest.approx(10.0)


def test_groups_and_max_per_user() -> None:
    value = np.ones((2, 3))
    cost = np.zeros((2, 3))
    p = AllocationProblem(value, cost, max_per_user=3, groups=["a", "a", None])
    for alloc in (greedy_allocate(p), exact_allocate(p)):
        assert alloc.assign.sum(axis=1).tolist() == [2, 2]
        assert not check_feasible(p, alloc)
    p2 = AllocationProblem(value, cost, max_per_user=1)
    assert greedy_allocate(p2).assign.sum(axis=1).tolist() == [1, 1]


def test_problem_validation() -> None:
    with pytest.raises(ValidationError, match="cost"):
        AllocationProblem(np.ones((2, 2)), -np.ones((2, 2)))
    with pytest.raises(ValidationError, match="budget"):
        AllocationProblem(np.ones((2, 2)), np.ones((2, 2)), budget=np.ones(3))


@st.composite
def problems(draw):
    n_u = draw(st.integers(1, 8))
    n_c = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    value = rng.normal(1.0, 1.0, (n_u, n_c))
    cost = rng.uniform(0.0, 2.0, (n_u, n_c)) * (rng.random((n_u, n_c)) > 0.1)
    eligible = rng.random((n_u, n_c)) > 0.2
    budget = np.where(rng.random(n_c) > 0.2, rng.uniform(0, 5, n_c), np.inf)
    inventory = np.where(rng.random(n_c) > 0.3, rng.integers(0, 5, n_c), np.inf)
    groups = [draw(st.sampled_from([None, "g", "h"])) for _ in range(n_c)]
    m = draw(st.integers(1, 3))
    return AllocationProblem(value, cost, eligible, budget, inventory, m, groups)


@settings(max_examples=60, deadline=None)
@given(problems())
def test_allocations_never_break_constraints(p: AllocationProblem) -> None:
    g = greedy_allocate(p)
    e = exact_allocate(p)
    assert check_feasible(p, g) == []
    assert check_feasible(p, e) == []
    assert e.objective >= g.objective - 1e-7
    rng = np.random.default_rng(0)
    r = greedy_allocate(p, priority=rng.random(p.shape), only_positive=False)
    assert check_feasible(p, r) == []


def test_greedy_within_a_few_percent_of_exact_on_random_small_instances() -> None:
    rng = np.random.default_rng(7)
    ratios = []
    for _ in range(20):
        n_u, n_c = 30, 3
        pc = rng.uniform(0.01, 0.2, (n_u, n_c))
        pt = np.clip(pc + rng.normal(0.05, 0.05, (n_u, n_c)), 0, 1)
        value, cost = expected_value_and_cost(pc, pt, 40.0, 1.0, 5.0)
        p = AllocationProblem(
            value,
            cost,
            rng.random((n_u, n_c)) > 0.1,
            budget=rng.uniform(2, 7, n_c),
            inventory=rng.integers(5, 20, n_c).astype(float),
            max_per_user=1,
            groups=["g", "g", None],
        )
        e = exact_allocate(p)
        if e.objective > 0:
            ratios.append(greedy_allocate(p).objective / e.objective)
    assert len(ratios) >= 15
    assert min(ratios) >= 0.9
    assert np.mean(ratios) >= 0.97


def test_plan_campaign_compares_strategies() -> None:
    rng = np.random.default_rng(3)
    n = 2000
    pc = rng.uniform(0.02, 0.3, n)
    up = np.where(rng.random(n) < 0.3, rng.uniform(0.05, 0.2, n), rng.uniform(-0.02, 0.01, n))
    aud = pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(n)],
            "p_control": pc,
            "p_treated": np.clip(pc + up, 0, 1),
        }
    )
    c = Campaign(
        campaign_id="c",
        name="n",
        type="coupon",
        discount_type="amount",
        discount_value=5.0,
        cost_per_redemption=0.5,
        budget=150.0,
        inventory=600,
    )
    plan = plan_campaign(c, aud, order_value=60.0, margin_rate=0.4)
    t = plan.table().set_index("strategy")
    assert list(t.index) == ["uplift", "response", "random"]
    assert (t["expected_cost"] <= 150.0 + 1e-6).all()
    assert (t["reach"] <= 600).all()
    assert t.loc["uplift", "incremental_profit"] > t.loc["response", "incremental_profit"]
    assert t.loc["uplift", "incremental_profit"] > t.loc["random", "incremental_profit"]
    assert t.loc["uplift", "roi"] > 0
    assert len(plan.selected) == t.loc["uplift", "reach"]
    d = plan.to_dict()
    assert d["uplift_source"] == "uplift model" and len(d["strategies"]) == 3
