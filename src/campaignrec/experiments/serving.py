"""Bandits in serving: a campaign slot chosen by a bandit whose statistics live in the online state.

:class:`BanditCampaignServer` serves like :class:`campaignrec.campaigns.eligibility.CampaignServer`
(eligibility, caps, inventory and budget spent atomically, at most one campaign per exclusivity
group), except that the **first slot** is drawn by a context-free bandit policy among the eligible
campaigns: Bernoulli Thompson sampling, UCB1 or epsilon-greedy (:mod:`campaignrec.experiments.bandits`).
The draw samples from the policy's action probabilities, so the propensity logged with the decision
is exactly the probability the policy gave the campaign it served; the other slots follow by priority
and are logged with propensity 1 (given the first).

Learning: each impression of the bandit slot counts one pull of that campaign (at serve time, in
the online state, so every worker sees it); a reward event (by default ``campaign_click``) for a
campaign adds one success through :func:`credit_reward`, which the events route calls. Statistics
under ``bandit:<policy>:arms`` in the online state: Redis in production, shared by all workers.
Contextual policies (LinUCB, linear Thompson sampling) need the request's features at feedback
time and stay offline (:mod:`campaignrec.experiments.ope`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from campaignrec.campaigns.eligibility import (
    CampaignDecision,
    CampaignServer,
    ServedCampaign,
    consume,
)
from campaignrec.errors import ConfigError
from campaignrec.experiments.bandits import (
    UCB1,
    BernoulliThompsonSampling,
    EpsilonGreedy,
    _ArmStats,
)


@dataclass
class UniformRandom(_ArmStats):
    """Every eligible campaign equally likely (the random arm of an experiment); pulls and
    rewards are counted like a bandit's, so its arms' response rates can be read."""

    name = "random"

    def _probabilities(self, context, actions, rng):  # type: ignore[no-untyped-def]
        return np.full(len(actions), 1.0 / len(actions))


SERVING_POLICIES: dict[str, type[_ArmStats]] = {
    "bernoulli_ts": BernoulliThompsonSampling,
    "ucb1": UCB1,
    "epsilon_greedy": EpsilonGreedy,
    "random": UniformRandom,
}
NAMESPACE = "bandit"


def serving_policy(name: str, state: Any, *, namespace: str = NAMESPACE) -> _ArmStats:
    """The bandit policy ``name`` over ``state`` (statistics shared by everything on that state
    under ``namespace``; an experiment's arm has its own, ``bandit:<experiment>:<variant>``)."""
    try:
        cls = SERVING_POLICIES[name]
    except KeyError:
        raise ConfigError(
            f"unknown campaign policy {name!r}",
            hint="campaign_policy is one of: priority, " + ", ".join(SERVING_POLICIES),
        ) from None
    return cls(state=state, namespace=namespace)


def arm_namespace(experiment_id: str, variant: str) -> str:
    """Where the bandit of one arm of a campaigns experiment keeps its statistics."""
    return f"{NAMESPACE}:{experiment_id}:{variant}"


def credit_reward(policy: _ArmStats, campaign_id: str, reward: float = 1.0) -> None:
    """Add ``reward`` to the successes of an earlier pull of ``campaign_id`` (a click or
    redemption arriving after the impression that counted the pull)."""
    policy.state.hincrbyfloat(policy._key(), f"r:{campaign_id}", float(reward))


class BanditCampaignServer(CampaignServer):
    """:class:`CampaignServer` whose first slot is a bandit's draw (see the module docstring).

    Parameters
    ----------
    campaigns, state, value_fn, keys : as for :class:`CampaignServer`
    policy_name : one of :data:`SERVING_POLICIES`
    rng : the source of the draws (seed it in tests)
    """

    def __init__(
        self,
        campaigns: Any,
        state: Any,
        *,
        policy_name: str = "bernoulli_ts",
        rng: np.random.Generator | None = None,
        namespace: str = NAMESPACE,
        **kwargs: Any,
    ) -> None:
        self.bandit = serving_policy(policy_name, state, namespace=namespace)
        super().__init__(campaigns, state, policy=policy_name, **kwargs)
        self.rng = rng if rng is not None else np.random.default_rng()

    def serve(
        self, user_id: str, attrs: Mapping[str, Any], k: int, now: datetime
    ) -> CampaignDecision:
        """The bandit's draw first, then by priority; caps and budgets spent as always."""
        cands = self.candidates(user_id, attrs, now)
        if k <= 0 or not cands:
            return super().serve(user_id, attrs, k, now)
        served: list[ServedCampaign] = []
        skipped: dict[str, str] = {}
        pool = list(cands)
        first: tuple[Any, float, float] | None = None
        while pool and first is None:  # a refused draw is dropped and the draw repeated
            ids = [c.campaign_id for c, _ in pool]
            chosen, propensity = self.bandit.select(None, ids, self.rng)
            pos = ids.index(chosen)
            c, v = pool.pop(pos)
            refused = consume(c, user_id, self.state, keys=self.keys)
            if refused is not None:
                skipped[c.campaign_id] = refused
                continue
            first = (c, v, propensity)
        groups: set[str] = set()
        if first is not None:
            c, v, propensity = first
            self.bandit.update(None, c.campaign_id, 0.0)  # one pull; a reward event credits it
            served.append(ServedCampaign(c.campaign_id, 0, c.priority, v, propensity))
            if c.exclusivity_group is not None:
                groups.add(c.exclusivity_group)
        self.fill(pool, user_id, k, served, skipped, groups)
        return CampaignDecision(
            user_id=str(user_id),
            timestamp=now,
            policy=self.policy,
            served=tuple(served),
            candidates=tuple(c.campaign_id for c, _ in cands),
            skipped=skipped,
        )


__all__ = [
    "SERVING_POLICIES",
    "BanditCampaignServer",
    "UniformRandom",
    "arm_namespace",
    "credit_reward",
    "serving_policy",
]
