"""Eligibility: which campaigns a user may see now, why not, and serving them under caps and budgets.

A campaign is a candidate for a user when, at ``now``:

1. its status is active and ``now`` is inside its window;
2. the user consents to marketing (an attribute ``consent_marketing`` that is not ``False``);
3. its audience rule holds on the user's attributes (:mod:`campaignrec.data.rules`);
4. inventory remains (at least one coupon left);
5. budget remains (at least the cost of one redemption, :func:`campaigns.catalog.unit_cost`);
6. the user has seen it fewer than ``frequency_cap`` times in the last ``cap_window_hours``;
7. no *other* campaign of the same exclusivity group was shown to the user in that window.

Conditions 4-7 read the online state (memory or Redis), shared by every worker. Serving a
campaign consumes them atomically (frequency cap first, then the exclusivity claim, inventory,
budget), so concurrent workers never exceed a cap, an inventory or a budget: a step that fails
after an earlier one succeeded leaves the earlier one spent (the engine errs on the side of
showing less, never more).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from campaignrec.campaigns.catalog import Catalog, load_campaigns, unit_cost, window_state
from campaignrec.data.rules import explain as explain_rule
from campaignrec.data.schema import Campaign
from campaignrec.errors import ValidationError
from campaignrec.privacy.consent import with_live_consent
from campaignrec.store.online import user_key

#: Reason codes, in the order the conditions are checked.
REASON_CODES = (
    "status",
    "not_started",
    "ended",
    "consent",
    "audience",
    "inventory",
    "budget",
    "frequency_cap",
    "exclusivity",
)

DETERMINISTIC_POLICY = "priority"


@runtime_checkable
class OnlineStateLike(Protocol):
    """What eligibility needs from the online state (:class:`campaignrec.store.online.OnlineState`)."""

    def incr_capped(self, key: str, cap: int, ttl_seconds: float) -> bool: ...

    def get_count(self, key: str) -> int: ...

    def try_consume(self, key: str, amount: float = 1.0) -> bool: ...

    def set_budget(self, key: str, amount: float) -> None: ...

    def get_budget(self, key: str) -> float | None: ...

    def get(self, key: str) -> Any: ...

    def set(self, key: str, value: Any, ttl_seconds: float | None = None) -> None: ...


@dataclass(frozen=True)
class StateKeys:
    """Key layout of campaign state in the online store (one place, so workers agree).

    Per-user keys live under :func:`campaignrec.store.online.user_key`, so erasing a user
    erases their caps and exclusivity claims too.
    """

    prefix: str = "campaign"

    def budget(self, campaign_id: str) -> str:
        return f"{self.prefix}:budget:{campaign_id}"

    def initialised(self, campaign_id: str) -> str:
        return f"{self.prefix}:init:{campaign_id}"

    def inventory(self, campaign_id: str) -> str:
        return f"{self.prefix}:inventory:{campaign_id}"

    def cap(self, campaign_id: str, user_id: str) -> str:
        return user_key(user_id, self.prefix, "cap", campaign_id)

    def exclusivity_claim(self, group: str, user_id: str) -> str:
        return user_key(user_id, self.prefix, "excl-claim", group)

    def exclusivity_owner(self, group: str, user_id: str) -> str:
        return user_key(user_id, self.prefix, "excl-owner", group)


DEFAULT_KEYS = StateKeys()


@dataclass(frozen=True)
class Reason:
    """One failed condition: a stable code and a sentence in English and Chinese."""

    code: str
    text_en: str
    text_zh: str

    def to_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class EligibilityResult:
    """Whether a campaign is a candidate for a user, and every condition that failed."""

    campaign_id: str
    eligible: bool
    reasons: tuple[Reason, ...] = ()

    @property
    def codes(self) -> list[str]:
        """Codes of the failed conditions."""
        return [r.code for r in self.reasons]

    def text(self, lang: str = "en") -> str:
        """One line: "eligible" or "not eligible: ..." in English (``en``) or Chinese (``zh``)."""
        if self.eligible:
            return "eligible" if lang == "en" else "符合条件"
        parts = [r.text_en if lang == "en" else r.text_zh for r in self.reasons]
        head = "not eligible: " if lang == "en" else "不符合条件："
        return head + "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign_id,
            "eligible": self.eligible,
            "reasons": [r.to_dict() for r in self.reasons],
        }


def _to_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode()
    return str(value)


_INIT_TTL_SECONDS = 10 * 365 * 86_400.0


def ensure_campaign_state(
    campaigns: Iterable[Campaign], state: OnlineStateLike, keys: StateKeys = DEFAULT_KEYS
) -> None:
    """Initialise the budget and inventory counters of campaigns, once across all workers.

    The first worker to claim a campaign's init key (an atomic ``incr_capped``) sets its counters
    from the catalog; later workers and restarts leave them alone, so a budget is never refilled.
    Until the counters exist, serving refuses the campaign (never shows more than allowed).
    To change a running campaign's budget, call :func:`set_campaign_counters`.
    """
    for c in campaigns:
        if c.budget is None and c.inventory is None:
            continue
        if state.incr_capped(keys.initialised(c.campaign_id), 1, _INIT_TTL_SECONDS):
            set_campaign_counters(c, state, keys=keys)


def set_campaign_counters(
    campaign: Campaign,
    state: OnlineStateLike,
    *,
    budget_left: float | None = None,
    inventory_left: float | None = None,
    keys: StateKeys = DEFAULT_KEYS,
) -> None:
    """Set a campaign's remaining budget and inventory (default: the catalog's full amounts)."""
    cid = campaign.campaign_id
    budget = budget_left if budget_left is not None else campaign.budget
    inventory = inventory_left if inventory_left is not None else campaign.inventory
    if budget is not None:
        state.set_budget(keys.budget(cid), float(budget))
    if inventory is not None:
        state.set_budget(keys.inventory(cid), float(inventory))


def _remaining(state: OnlineStateLike, key: str, initial: float) -> float:
    value = state.get_budget(key)
    return float(initial) if value is None else float(value)


def campaign_open(
    campaign: Campaign, state: OnlineStateLike, *, keys: StateKeys = DEFAULT_KEYS
) -> bool:
    """Whether the campaign still has inventory and budget for one more redemption (the
    campaign-wide part of eligibility; caps and exclusivity are per shopper)."""
    cid = campaign.campaign_id
    if (
        campaign.inventory is not None
        and _remaining(state, keys.inventory(cid), campaign.inventory) < 1
    ):
        return False
    if campaign.budget is not None:
        left = _remaining(state, keys.budget(cid), campaign.budget)
        need = unit_cost(campaign)
        if left <= 0 or (need > 0 and left < need):
            return False
    return True


def _user_id(user_attrs: Mapping[str, Any], user_id: str | None) -> str | None:
    if user_id is not None:
        return str(user_id)
    found = user_attrs.get("user_id")
    return None if found is None else str(found)


def explain_eligibility(
    user_attrs: Mapping[str, Any],
    campaign: Campaign,
    now: datetime,
    state: OnlineStateLike | None = None,
    *,
    user_id: str | None = None,
    keys: StateKeys = DEFAULT_KEYS,
) -> EligibilityResult:
    """Check every eligibility condition of ``campaign`` for one user and say which failed.

    Parameters
    ----------
    user_attrs : Mapping
        The user's flat attributes (segment, lifecycle, membership_tier, region, age, ...), as
        produced by ``campaignrec.profiles.profile_attributes``; any mapping works.
    campaign : Campaign
    now : datetime
        Timezone-aware moment of the decision.
    state : online state, optional
        Budgets, inventory, caps and exposures. Without it only status, window, consent and
        audience are checked.
    user_id : str, optional
        The user's id (defaults to ``user_attrs["user_id"]``); needed for caps and exclusivity.
    keys : StateKeys
        Key layout in the online state.

    Returns
    -------
    EligibilityResult
        ``eligible`` and the reasons of every failed condition (in checking order).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> c = Campaign(campaign_id="c1", name="VIP", type="coupon",
    ...              audience={"field": "segment", "op": "eq", "value": "loyal"})
    >>> explain_eligibility({"segment": "dormant"}, c, datetime.now(UTC)).text()
    "not eligible: segment is 'dormant', rule needs eq 'loyal'"
    """
    reasons: list[Reason] = []
    # a consent change recorded in the online state takes effect before the users row is updated
    user_attrs = with_live_consent(user_attrs, state, _user_id(user_attrs, user_id))
    where = window_state(campaign, now)
    if where in ("draft", "paused", "ended"):
        reasons.append(Reason("status", f"campaign status is '{where}'", f"活动状态为“{where}”"))
    elif where == "scheduled":
        start = campaign.start_time.isoformat() if campaign.start_time else "?"
        reasons.append(Reason("not_started", f"campaign starts at {start}", f"活动开始于 {start}"))
    elif where == "expired":
        end = campaign.end_time.isoformat() if campaign.end_time else "?"
        reasons.append(Reason("ended", f"campaign ended at {end}", f"活动已于 {end} 结束"))
    if user_attrs.get("consent_marketing") is False:
        reasons.append(
            Reason("consent", "user did not consent to marketing", "用户未同意接收营销信息")
        )
    why = explain_rule(campaign.audience, user_attrs)
    if why is not None:
        reasons.append(Reason("audience", why, f"不在目标人群内：{why}"))
    if state is not None:
        reasons.extend(_state_reasons(user_attrs, campaign, state, user_id, keys))
    return EligibilityResult(campaign.campaign_id, not reasons, tuple(reasons))


def _state_reasons(
    user_attrs: Mapping[str, Any],
    campaign: Campaign,
    state: OnlineStateLike,
    user_id: str | None,
    keys: StateKeys,
) -> list[Reason]:
    out: list[Reason] = []
    cid = campaign.campaign_id
    if campaign.inventory is not None:
        left = _remaining(state, keys.inventory(cid), campaign.inventory)
        if left < 1:
            out.append(Reason("inventory", "no coupons left (inventory 0)", "优惠券已发完"))
    if campaign.budget is not None:
        left = _remaining(state, keys.budget(cid), campaign.budget)
        need = unit_cost(campaign)
        if left <= 0 or left < need:
            out.append(
                Reason(
                    "budget",
                    f"budget exhausted ({left:.2f} left, one redemption costs {need:.2f})",
                    f"预算已用完（剩余 {left:.2f}，单次核销成本 {need:.2f}）",
                )
            )
    uid = _user_id(user_attrs, user_id)
    needs_user = campaign.frequency_cap is not None or campaign.exclusivity_group is not None
    if needs_user and uid is None:
        raise ValidationError(
            "user_id",
            f"campaign '{cid}' has a frequency cap or exclusivity group, so the user id is needed",
            hint="pass user_id= or put user_id in the attributes",
        )
    if campaign.frequency_cap is not None and uid is not None:
        seen = int(state.get_count(keys.cap(cid, uid)))
        if seen >= campaign.frequency_cap:
            out.append(
                Reason(
                    "frequency_cap",
                    f"frequency cap reached ({seen} of {campaign.frequency_cap} impressions in "
                    f"{campaign.cap_window_hours:g} h)",
                    f"已达展示频次上限（{campaign.cap_window_hours:g} 小时内 {seen}/"
                    f"{campaign.frequency_cap} 次）",
                )
            )
    if campaign.exclusivity_group is not None and uid is not None:
        owner = _to_str(state.get(keys.exclusivity_owner(campaign.exclusivity_group, uid)))
        claimed = int(state.get_count(keys.exclusivity_claim(campaign.exclusivity_group, uid)))
        if claimed > 0 and owner != cid:
            other = owner if owner is not None else "another campaign"
            out.append(
                Reason(
                    "exclusivity",
                    f"'{other}' of exclusivity group '{campaign.exclusivity_group}' was already "
                    "shown",
                    f"同一互斥组“{campaign.exclusivity_group}”的活动“{other}”已展示过",
                )
            )
    return out


def eligible_campaigns(
    user_attrs: Mapping[str, Any],
    campaigns: Iterable[Campaign],
    now: datetime,
    state: OnlineStateLike | None = None,
    *,
    user_id: str | None = None,
    keys: StateKeys = DEFAULT_KEYS,
) -> list[Campaign]:
    """The campaigns of ``campaigns`` that are candidates for this user at ``now``."""
    return [
        c
        for c in campaigns
        if explain_eligibility(user_attrs, c, now, state, user_id=user_id, keys=keys).eligible
    ]


# ---- serving ------------------------------------------------------------------------------------

ValueFn = Callable[[str, Mapping[str, Any], Campaign], float]


@dataclass(frozen=True)
class ServedCampaign:
    """One campaign in a decision, with its position, value and propensity."""

    campaign_id: str
    position: int
    priority: int
    value: float
    propensity: float


@dataclass(frozen=True)
class CampaignDecision:
    """What was served to a user, for the response and for the decision log."""

    user_id: str
    timestamp: datetime
    policy: str
    served: tuple[ServedCampaign, ...]
    candidates: tuple[str, ...]
    skipped: Mapping[str, str] = field(default_factory=dict)

    @property
    def campaign_ids(self) -> list[str]:
        return [s.campaign_id for s in self.served]

    def to_events(self) -> list[dict[str, Any]]:
        """One canonical ``campaign_impression`` event per served campaign (policy, propensity)."""
        return [
            {
                "user_id": self.user_id,
                "event_type": "campaign_impression",
                "timestamp": self.timestamp,
                "campaign_id": s.campaign_id,
                "position": s.position,
                "policy": self.policy,
                "propensity": s.propensity,
            }
            for s in self.served
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "timestamp": self.timestamp.isoformat(),
            "policy": self.policy,
            "served": [dataclasses.asdict(s) for s in self.served],
            "candidates": list(self.candidates),
            "skipped": dict(self.skipped),
        }


def consume(
    campaign: Campaign,
    user_id: str,
    state: OnlineStateLike,
    *,
    keys: StateKeys = DEFAULT_KEYS,
) -> str | None:
    """Atomically spend one impression of ``campaign`` for ``user_id``.

    Steps, each atomic in the online state: frequency cap (``incr_capped``), exclusivity claim
    (first campaign of the group in the window wins), one unit of inventory, one redemption's
    cost of budget (reserved when the coupon is issued, so the budget holds even if every coupon
    is redeemed).

    Returns
    -------
    str or None
        ``None`` when served, else the code of the step that refused.
    """
    cid = campaign.campaign_id
    ttl = campaign.cap_window_hours * 3600.0
    if campaign.frequency_cap is not None and not state.incr_capped(
        keys.cap(cid, user_id), campaign.frequency_cap, ttl
    ):
        return "frequency_cap"
    group = campaign.exclusivity_group
    if group is not None:
        if state.incr_capped(keys.exclusivity_claim(group, user_id), 1, ttl):
            state.set(keys.exclusivity_owner(group, user_id), cid, ttl_seconds=ttl)
        else:
            owner = _to_str(state.get(keys.exclusivity_owner(group, user_id)))
            if owner != cid:
                return "exclusivity"
    if campaign.inventory is not None and not state.try_consume(keys.inventory(cid), 1.0):
        return "inventory"
    if campaign.budget is not None:
        cost = unit_cost(campaign)
        if cost > 0 and not state.try_consume(keys.budget(cid), cost):
            return "budget"
        if cost <= 0 and _remaining(state, keys.budget(cid), campaign.budget) <= 0:
            return "budget"
    return None


def count_impression(
    campaign: Campaign,
    user_id: str,
    state: OnlineStateLike,
    *,
    keys: StateKeys = DEFAULT_KEYS,
) -> None:
    """Count an impression the shop showed by itself (an ingested ``campaign_impression``)
    against the shopper's frequency cap, so a cap holds across every channel."""
    if campaign.frequency_cap is None:
        return
    state.incr_capped(
        keys.cap(campaign.campaign_id, user_id), 2**62, campaign.cap_window_hours * 3600.0
    )


class CampaignServer:
    """Serve eligible campaigns by priority and value, spending caps and budgets atomically.

    Parameters
    ----------
    campaigns : Catalog or table of campaigns
    state : online state
        Shared by every worker (``campaignrec.store.online.open_online_state``).
    value_fn : callable, optional
        ``value_fn(user_id, attrs, campaign) -> float``, the tie-breaker after priority (for example
        a relevance score or expected incremental profit). Default: 0 for every campaign.
    policy : str
        Name written in the decision log.
    keys : StateKeys
        Key layout in the online state.
    """

    def __init__(
        self,
        campaigns: Catalog | Any,
        state: OnlineStateLike,
        *,
        value_fn: ValueFn | None = None,
        policy: str = DETERMINISTIC_POLICY,
        keys: StateKeys = DEFAULT_KEYS,
    ) -> None:
        self.catalog = load_campaigns(campaigns)
        self.state = state
        self.value_fn = value_fn
        self.policy = policy
        self.keys = keys
        ensure_campaign_state(self.catalog, state, keys)

    def candidates(
        self, user_id: str, attrs: Mapping[str, Any], now: datetime
    ) -> list[tuple[Campaign, float]]:
        """Eligible campaigns with their values, best first (priority, value, then id)."""
        out: list[tuple[Campaign, float]] = []
        live = with_live_consent(attrs, self.state, user_id)  # read once for every campaign
        for c in self.catalog:
            res = explain_eligibility(live, c, now, self.state, user_id=user_id, keys=self.keys)
            if res.eligible:
                v = float(self.value_fn(user_id, attrs, c)) if self.value_fn else 0.0
                out.append((c, v if math.isfinite(v) else 0.0))
        out.sort(key=lambda cv: (-cv[0].priority, -cv[1], cv[0].campaign_id))
        return out

    def fill(
        self,
        cands: Sequence[tuple[Campaign, float]],
        user_id: str,
        k: int,
        served: list[ServedCampaign],
        skipped: dict[str, str],
        groups: set[str],
    ) -> None:
        """Serve ``cands`` in order until ``served`` holds ``k``: one campaign per exclusivity
        group (``groups`` already claimed), each spending its cap, inventory and budget; the
        refused ones go to ``skipped`` with the step that refused. Propensity 1 (deterministic)."""
        for c, v in cands:
            if len(served) >= k:
                break
            if c.exclusivity_group is not None and c.exclusivity_group in groups:
                skipped[c.campaign_id] = "exclusivity"
                continue
            refused = consume(c, user_id, self.state, keys=self.keys)
            if refused is not None:
                skipped[c.campaign_id] = refused
                continue
            if c.exclusivity_group is not None:
                groups.add(c.exclusivity_group)
            served.append(ServedCampaign(c.campaign_id, len(served), c.priority, v, 1.0))

    def serve(
        self, user_id: str, attrs: Mapping[str, Any], k: int, now: datetime
    ) -> CampaignDecision:
        """Pick up to ``k`` campaigns for the user and spend their caps, inventory and budget.

        At most one campaign per exclusivity group is served in one decision. The policy is
        deterministic, so each served campaign has propensity 1.0.
        """
        if k < 0:
            raise ValidationError("k", "must be >= 0", value=k)
        cands = self.candidates(user_id, attrs, now)
        served: list[ServedCampaign] = []
        skipped: dict[str, str] = {}
        self.fill(cands, user_id, k, served, skipped, set())
        return CampaignDecision(
            user_id=str(user_id),
            timestamp=now,
            policy=self.policy,
            served=tuple(served),
            candidates=tuple(c.campaign_id for c, _ in cands),
            skipped=skipped,
        )


def serve_campaigns(
    user_id: str,
    attrs: Mapping[str, Any],
    k: int,
    now: datetime,
    *,
    campaigns: Catalog | Sequence[Campaign] | Any,
    state: OnlineStateLike,
    value_fn: ValueFn | None = None,
) -> CampaignDecision:
    """One-shot form of :meth:`CampaignServer.serve` (builds the server each call)."""
    return CampaignServer(campaigns, state, value_fn=value_fn).serve(user_id, attrs, k, now)
