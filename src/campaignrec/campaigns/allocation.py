"""Budget-aware allocation: who gets which coupon, to maximise expected incremental profit.

For a user ``u`` and a campaign ``c`` with response probabilities ``p_control`` (without the
coupon) and ``p_treated`` (with it), a margin ``m`` on an order and a cost per redemption
(``cost_per_redemption`` + the discount), the assignment is worth::

    value(u, c) = (p_treated - p_control) * m - expected_cost(u, c)
    expected_cost(u, c) = p_treated * (cost_per_redemption + discount)

The allocation picks pairs to maximise the total value subject to, per campaign, the expected
cost within the budget and the number of coupons within the inventory; per user, at most
``max_per_user`` campaigns and at most one per exclusivity group; only eligible pairs.

:func:`greedy_allocate` sorts pairs by value per unit of cost; :func:`exact_allocate` solves the
same integer programme with :func:`scipy.optimize.milp` (small cases, and to check the greedy).
:func:`plan_campaign` reports reach, cost, incremental conversions, revenue, profit and ROI before a
campaign starts, with response-based and random targeting as comparisons.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.optimize import Bounds, LinearConstraint, milp

from campaignrec.errors import ConfigError, ValidationError

_EPS = 1e-9


def expected_value_and_cost(
    p_control: NDArray[np.floating] | float,
    p_treated: NDArray[np.floating] | float,
    margin: NDArray[np.floating] | float,
    cost_per_redemption: NDArray[np.floating] | float,
    discount: NDArray[np.floating] | float = 0.0,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Expected incremental profit and expected cost of giving a coupon.

    Parameters
    ----------
    p_control, p_treated : array-like
        Probability of a redemption-eligible order without and with the coupon.
    margin : array-like
        Gross margin of the order the coupon would bring (before the discount).
    cost_per_redemption : array-like
        Handling cost paid on each redemption.
    discount : array-like
        Money the discount takes off an order (paid on each redemption).

    Returns
    -------
    value, cost : ndarray
        ``(p_treated - p_control) * margin - cost`` and ``p_treated * (cost_per_redemption +
        discount)``, broadcast together.
    """
    pc = np.asarray(p_control, dtype=np.float64)
    pt = np.asarray(p_treated, dtype=np.float64)
    cost = pt * (np.asarray(cost_per_redemption, dtype=np.float64) + np.asarray(discount, float))
    value = (pt - pc) * np.asarray(margin, dtype=np.float64) - cost
    return np.asarray(value, np.float64), np.asarray(cost, np.float64)


@dataclass(frozen=True, eq=False)
class AllocationProblem:
    """An allocation instance over ``n_users`` x ``n_campaigns`` pairs.

    Attributes
    ----------
    value : ndarray (n_users, n_campaigns)
        Objective contribution of each pair (e.g. expected incremental profit or uplift).
    cost : ndarray (n_users, n_campaigns)
        Expected cost charged to the campaign's budget (>= 0).
    eligible : ndarray of bool (n_users, n_campaigns), optional
        Pairs that may be assigned (default: all).
    budget : ndarray (n_campaigns,), optional
        Budget per campaign (``inf`` for none).
    inventory : ndarray (n_campaigns,), optional
        Coupons per campaign (``inf`` for none).
    max_per_user : int
        Campaigns per user at most.
    groups : sequence of str or None, optional
        Exclusivity group of each campaign; a user gets at most one campaign per group.
    """

    value: NDArray[np.float64]
    cost: NDArray[np.float64]
    eligible: NDArray[np.bool_] | None = None
    budget: NDArray[np.float64] | None = None
    inventory: NDArray[np.float64] | None = None
    max_per_user: int = 1
    groups: Sequence[str | None] | None = None

    def __post_init__(self) -> None:
        v = np.asarray(self.value, dtype=np.float64)
        if v.ndim != 2:
            raise ValidationError("value", "must be a 2-D array (users x campaigns)", value=v.shape)
        c = np.asarray(self.cost, dtype=np.float64)
        if c.shape != v.shape:
            raise ValidationError("cost", f"must have the shape of value {v.shape}", value=c.shape)
        if (c < 0).any() or not np.isfinite(c).all():
            raise ValidationError("cost", "must be finite and >= 0", hint="check the cost inputs")
        e = np.ones(v.shape, bool) if self.eligible is None else np.asarray(self.eligible, bool)
        if e.shape != v.shape:
            raise ValidationError("eligible", f"must have shape {v.shape}", value=e.shape)
        n_c = v.shape[1]
        b = np.full(n_c, np.inf) if self.budget is None else np.asarray(self.budget, float)
        inv = np.full(n_c, np.inf) if self.inventory is None else np.asarray(self.inventory, float)
        for name, arr in (("budget", b), ("inventory", inv)):
            if arr.shape != (n_c,):
                raise ValidationError(
                    name, f"needs one value per campaign ({n_c})", value=arr.shape
                )
            if (np.nan_to_num(arr, nan=-1.0) < 0).any():
                raise ValidationError(name, "must be >= 0 (inf for none)")
        if self.max_per_user < 1:
            raise ValidationError("max_per_user", "must be >= 1", value=self.max_per_user)
        g = [None] * n_c if self.groups is None else list(self.groups)
        if len(g) != n_c:
            raise ValidationError("groups", f"needs one entry per campaign ({n_c})", value=len(g))
        e = e & np.isfinite(v)
        object.__setattr__(self, "value", v)
        object.__setattr__(self, "cost", c)
        object.__setattr__(self, "eligible", e)
        object.__setattr__(self, "budget", b)
        object.__setattr__(self, "inventory", inv)
        object.__setattr__(self, "groups", tuple(g))

    @property
    def shape(self) -> tuple[int, int]:
        return (int(self.value.shape[0]), int(self.value.shape[1]))

    @property
    def group_ids(self) -> NDArray[np.int64]:
        """Dense group index per campaign; -1 for no group."""
        names: dict[str, int] = {}
        out = np.full(self.shape[1], -1, np.int64)
        for j, g in enumerate(self.groups or ()):
            if g is not None:
                out[j] = names.setdefault(g, len(names))
        return out


@dataclass(frozen=True, eq=False)
class Allocation:
    """The chosen pairs and their totals."""

    assign: NDArray[np.bool_]
    method: str
    objective: float
    cost_by_campaign: NDArray[np.float64]
    count_by_campaign: NDArray[np.int64]
    optimal: bool | None = None

    @property
    def pairs(self) -> NDArray[np.int64]:
        """(user_idx, campaign_idx) rows of the assigned pairs."""
        return np.argwhere(self.assign).astype(np.int64)

    @property
    def reach(self) -> int:
        """Users who get at least one campaign."""
        return int(self.assign.any(axis=1).sum())

    @property
    def total_cost(self) -> float:
        return float(self.cost_by_campaign.sum())

    def summary(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "objective": self.objective,
            "reach": self.reach,
            "assignments": int(self.assign.sum()),
            "total_cost": self.total_cost,
            "optimal": self.optimal,
        }


def _finish(
    problem: AllocationProblem, assign: NDArray[np.bool_], method: str, optimal: bool | None = None
) -> Allocation:
    return Allocation(
        assign=assign,
        method=method,
        objective=float(problem.value[assign].sum()),
        cost_by_campaign=(problem.cost * assign).sum(axis=0),
        count_by_campaign=assign.sum(axis=0).astype(np.int64),
        optimal=optimal,
    )


def _greedy_pass(
    problem: AllocationProblem,
    uu: NDArray[np.int64],
    cc: NDArray[np.int64],
    order: NDArray[np.int64],
) -> NDArray[np.bool_]:
    n_u, n_c = problem.shape
    assert problem.budget is not None and problem.inventory is not None
    cost = problem.cost
    assign = np.zeros((n_u, n_c), bool)
    spent = np.zeros(n_c)
    used = np.zeros(n_c)
    per_user = np.zeros(n_u, np.int64)
    gid = problem.group_ids
    n_g = int(gid.max()) + 1 if (gid >= 0).any() else 0
    group_used = np.zeros((n_u, max(n_g, 1)), bool)
    budget, inventory, m = problem.budget, problem.inventory, problem.max_per_user
    for t in order:
        u, c = int(uu[t]), int(cc[t])
        if per_user[u] >= m or used[c] + 1 > inventory[c] + _EPS:
            continue
        if spent[c] + cost[u, c] > budget[c] + _EPS:
            continue
        g = gid[c]
        if g >= 0 and group_used[u, g]:
            continue
        assign[u, c] = True
        spent[c] += cost[u, c]
        used[c] += 1
        per_user[u] += 1
        if g >= 0:
            group_used[u, g] = True
    return assign


def greedy_allocate(
    problem: AllocationProblem,
    *,
    priority: NDArray[np.floating] | None = None,
    only_positive: bool = True,
    name: str | None = None,
) -> Allocation:
    """Greedy allocation: take pairs in decreasing order of value per unit of resource.

    A pair is taken when the campaign's budget and inventory and the user's caps still allow it.
    Without ``priority`` three orders are tried and the best result kept: value per unit of
    cost, value per share of the campaign's scarce resources (``cost / budget + 1 / inventory``,
    so an inventory-bound campaign is filled by value), and plain value. Zero-cost pairs rank
    first in the cost order.

    Parameters
    ----------
    problem : AllocationProblem
    priority : ndarray (n_users, n_campaigns), optional
        Order pairs by this score alone (e.g. the response probability for response-based
        targeting, or random numbers for random targeting).
    only_positive : bool
        Skip pairs whose value is not positive (the default, for value maximisation). Set to
        False with ``priority`` to spend the budget whatever the value.
    name : str, optional
        Method name recorded in the result.

    Returns
    -------
    Allocation
    """
    n_u, n_c = problem.shape
    value, cost = problem.value, problem.cost
    assert problem.eligible is not None and problem.budget is not None
    assert problem.inventory is not None
    ok = problem.eligible.copy()
    if only_positive:
        ok &= value > 0
    uu, cc = np.nonzero(ok)
    v, k = value[uu, cc], cost[uu, cc]
    if priority is not None:
        pr = np.asarray(priority, dtype=np.float64)
        if pr.shape != (n_u, n_c):
            raise ValidationError("priority", f"must have shape {(n_u, n_c)}", value=pr.shape)
        assign = _greedy_pass(problem, uu, cc, np.lexsort((-v, -pr[uu, cc])))
        return _finish(problem, assign, name or "greedy-priority")
    ratio = np.where(k > _EPS, v / np.maximum(k, _EPS), np.inf)
    with np.errstate(divide="ignore"):
        use = k / problem.budget[cc] + 1.0 / problem.inventory[cc]
    share = np.where(use > _EPS, v / np.maximum(use, _EPS), np.inf)
    best: NDArray[np.bool_] | None = None
    best_obj = -np.inf
    for key in (ratio, share, v):
        assign = _greedy_pass(problem, uu, cc, np.lexsort((-v, -key)))
        obj = float(value[assign].sum())
        if obj > best_obj + 1e-12:
            best, best_obj = assign, obj
    assert best is not None
    return _finish(problem, best, name or "greedy")


def exact_allocate(
    problem: AllocationProblem, *, time_limit: float | None = 60.0, max_pairs: int = 20_000
) -> Allocation:
    """The optimal allocation by mixed-integer programming (:func:`scipy.optimize.milp`).

    One binary variable per eligible pair with positive value; constraints: budget and inventory
    per campaign, ``max_per_user`` per user, one per exclusivity group per user.

    Parameters
    ----------
    problem : AllocationProblem
    time_limit : float, optional
        Seconds for the solver; the result says ``optimal=False`` when it stopped early.
    max_pairs : int
        Refuse larger instances (use :func:`greedy_allocate`).

    Returns
    -------
    Allocation
    """
    n_u, n_c = problem.shape
    assert problem.eligible is not None and problem.budget is not None
    assert problem.inventory is not None
    ok = problem.eligible & (problem.value > 0)
    uu, cc = np.nonzero(ok)
    n = len(uu)
    if n == 0:
        return _finish(problem, np.zeros((n_u, n_c), bool), "exact", True)
    if n > max_pairs:
        raise ConfigError(
            f"exact_allocate: {n} candidate pairs is more than max_pairs={max_pairs}",
            hint="use greedy_allocate for large instances or raise max_pairs",
        )
    cols = np.arange(n)
    rows_a: list[sp.csr_matrix] = []
    ub: list[NDArray[np.float64]] = []
    finite_b = np.isfinite(problem.budget)
    if finite_b.any():
        a = sp.csr_matrix((problem.cost[uu, cc], (cc, cols)), shape=(n_c, n))[finite_b]
        rows_a.append(a)
        ub.append(problem.budget[finite_b])
    finite_i = np.isfinite(problem.inventory)
    if finite_i.any():
        a = sp.csr_matrix((np.ones(n), (cc, cols)), shape=(n_c, n))[finite_i]
        rows_a.append(a)
        ub.append(np.floor(problem.inventory[finite_i] + _EPS))
    rows_a.append(sp.csr_matrix((np.ones(n), (uu, cols)), shape=(n_u, n)))
    ub.append(np.full(n_u, float(problem.max_per_user)))
    gid = problem.group_ids[cc]
    grouped = gid >= 0
    if grouped.any():
        n_g = int(gid.max()) + 1
        key = uu[grouped] * n_g + gid[grouped]
        uniq, row = np.unique(key, return_inverse=True)
        rows_a.append(
            sp.csr_matrix((np.ones(int(grouped.sum())), (row, cols[grouped])), shape=(len(uniq), n))
        )
        ub.append(np.ones(len(uniq)))
    a_all = sp.vstack(rows_a, format="csr")
    ub_all = np.concatenate(ub)
    options: dict[str, Any] = {"disp": False}
    if time_limit is not None:
        options["time_limit"] = float(time_limit)
    res = milp(
        c=-problem.value[uu, cc],
        constraints=LinearConstraint(a_all, -np.inf, ub_all + 1e-7),
        integrality=np.ones(n),
        bounds=Bounds(0, 1),
        options=options,
    )
    if res.x is None:
        raise ConfigError(f"exact_allocate: the solver failed ({res.message})")
    x = res.x > 0.5
    assign = np.zeros((n_u, n_c), bool)
    assign[uu[x], cc[x]] = True
    return _finish(problem, assign, "exact", bool(res.status == 0))


def allocate(
    problem: AllocationProblem, method: Literal["greedy", "exact"] = "greedy"
) -> Allocation:
    """Allocate with ``method`` ("greedy" or "exact")."""
    if method == "greedy":
        return greedy_allocate(problem)
    if method == "exact":
        return exact_allocate(problem)
    raise ConfigError(f"unknown allocation method {method!r}", hint="use 'greedy' or 'exact'")


def check_feasible(problem: AllocationProblem, allocation: Allocation) -> list[str]:
    """Constraint violations of ``allocation`` (empty when feasible)."""
    a = allocation.assign
    assert problem.eligible is not None and problem.budget is not None
    assert problem.inventory is not None
    out: list[str] = []
    if (a & ~problem.eligible).any():
        out.append("an ineligible pair is assigned")
    spent = (problem.cost * a).sum(axis=0)
    for j in np.flatnonzero(spent > problem.budget + 1e-6):
        out.append(f"campaign {j}: cost {spent[j]:.4f} > budget {problem.budget[j]:.4f}")
    count = a.sum(axis=0)
    for j in np.flatnonzero(count > problem.inventory + 1e-9):
        out.append(f"campaign {j}: {count[j]} coupons > inventory {problem.inventory[j]:g}")
    if (a.sum(axis=1) > problem.max_per_user).any():
        out.append("a user gets more than max_per_user campaigns")
    gid = problem.group_ids
    for g in np.unique(gid[gid >= 0]):
        if (a[:, gid == g].sum(axis=1) > 1).any():
            out.append(f"a user gets two campaigns of exclusivity group {g}")
    return out


# ---- planning -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanRow:
    """Expected outcome of one targeting strategy."""

    strategy: str
    audience: int
    reach: int
    expected_cost: float
    expected_redemptions: float
    incremental_conversions: float
    incremental_revenue: float
    incremental_profit: float
    roi: float


@dataclass(frozen=True)
class CampaignPlan:
    """A pre-launch plan: the chosen targeting and its comparisons, with the uplift source."""

    campaign_id: str
    budget: float | None
    inventory: int | None
    uplift_source: str
    rows: tuple[PlanRow, ...]
    selected: NDArray[np.object_]
    #: expected incremental profit of each ``selected`` user (same order)
    selected_value: NDArray[np.float64] = dataclasses.field(
        default_factory=lambda: np.empty(0, dtype=np.float64)
    )

    def table(self) -> pd.DataFrame:
        """One row per strategy."""
        return pd.DataFrame([dataclasses.asdict(r) for r in self.rows])

    def to_dict(self) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign_id,
            "budget": self.budget,
            "inventory": self.inventory,
            "uplift_source": self.uplift_source,
            "strategies": [dataclasses.asdict(r) for r in self.rows],
        }


def plan_campaign(
    campaign: Any,
    audience: pd.DataFrame,
    *,
    order_value: float | NDArray[np.floating] = 50.0,
    margin_rate: float = 0.3,
    objective: Literal["profit", "conversions"] = "profit",
    uplift_source: str = "uplift model",
    seed: int = 0,
) -> CampaignPlan:
    """Expected reach, cost, incremental conversions, revenue, profit and ROI before launch.

    Parameters
    ----------
    campaign : Campaign
        Budget, inventory, cost per redemption and discount come from here.
    audience : DataFrame
        One row per eligible user: ``user_id``, ``p_control`` and ``p_treated`` (estimated response
        probabilities without and with the coupon). An optional ``order_value`` column overrides
        the scalar.
    order_value : float or array
        Expected order value of a conversion.
    margin_rate : float
        Gross margin as a share of the order value.
    objective : "profit" or "conversions"
        What the "uplift" strategy maximises: expected incremental profit (skipping users whose
        coupon loses money) or incremental conversions per unit of cost.
    uplift_source : str
        Label of where ``p_treated - p_control`` came from (shown in reports).
    seed : int
        Seed of the random-targeting comparison.

    Returns
    -------
    CampaignPlan
        Rows ``uplift`` (the plan), ``response`` (top users by ``p_treated`` under the same
        budget) and ``random`` (random users under the same budget).
    """
    for col in ("user_id", "p_control", "p_treated"):
        if col not in audience.columns:
            raise ValidationError(
                col,
                "the audience table needs this column",
                hint="columns: user_id, p_control, p_treated",
            )
    n = len(audience)
    ov = (
        audience["order_value"].to_numpy(float)
        if "order_value" in audience.columns
        else np.broadcast_to(np.asarray(order_value, float), (n,)).astype(float)
    )
    pc = audience["p_control"].to_numpy(float)
    pt = audience["p_treated"].to_numpy(float)
    disc_type = getattr(campaign, "discount_type", "none")
    if disc_type == "percent":
        discount = campaign.discount_value / 100.0 * ov
    elif disc_type == "amount":
        discount = np.full(n, float(campaign.discount_value))
    else:
        discount = np.zeros(n)
    value, cost = expected_value_and_cost(
        pc, pt, margin_rate * ov, campaign.cost_per_redemption, discount
    )
    budget = np.array([np.inf if campaign.budget is None else float(campaign.budget)])
    inventory = np.array([np.inf if campaign.inventory is None else float(campaign.inventory)])
    uplift = pt - pc
    strategies: list[tuple[str, AllocationProblem, NDArray[np.float64] | None, bool]] = []
    if objective == "profit":
        prob = AllocationProblem(value[:, None], cost[:, None], budget=budget, inventory=inventory)
        strategies.append(("uplift", prob, None, True))
    else:
        prob = AllocationProblem(uplift[:, None], cost[:, None], budget=budget, inventory=inventory)
        strategies.append(("uplift", prob, None, True))
    rng = np.random.default_rng(seed)
    base = AllocationProblem(value[:, None], cost[:, None], budget=budget, inventory=inventory)
    strategies.append(("response", base, pt[:, None], False))
    strategies.append(("random", base, rng.random((n, 1)), False))
    rows: list[PlanRow] = []
    selected: NDArray[np.object_] = np.empty(0, dtype=object)
    selected_value: NDArray[np.float64] = np.empty(0, dtype=np.float64)
    for name, p, prio, positive in strategies:
        alloc = greedy_allocate(p, priority=prio, only_positive=positive, name=name)
        a = alloc.assign[:, 0]
        if name == "uplift":
            selected = audience["user_id"].to_numpy(object)[a]
            selected_value = np.asarray(value[a], dtype=np.float64)
        c = float(cost[a].sum())
        inc = float(uplift[a].sum())
        rev = float((uplift * ov)[a].sum())
        profit = float(value[a].sum())
        rows.append(
            PlanRow(
                strategy=name,
                audience=n,
                reach=int(a.sum()),
                expected_cost=c,
                expected_redemptions=float(pt[a].sum()),
                incremental_conversions=inc,
                incremental_revenue=rev,
                incremental_profit=profit,
                roi=profit / c if c > 0 else float("nan"),
            )
        )
    return CampaignPlan(
        campaign_id=str(campaign.campaign_id),
        budget=campaign.budget,
        inventory=campaign.inventory,
        uplift_source=uplift_source,
        rows=tuple(rows),
        selected=selected,
        selected_value=selected_value,
    )
