"""Campaigns: catalog, eligibility, relevance, allocation, timing and bundles.

Response and uplift models live in :mod:`campaignrec.campaigns.response` and
:mod:`campaignrec.campaigns.uplift`.
"""

from campaignrec.campaigns.allocation import (
    Allocation,
    AllocationProblem,
    CampaignPlan,
    allocate,
    exact_allocate,
    expected_value_and_cost,
    greedy_allocate,
    plan_campaign,
)
from campaignrec.campaigns.catalog import (
    Catalog,
    covered_items,
    is_live,
    load_campaigns,
    load_campaigns_file,
    unit_cost,
    window_state,
)
from campaignrec.campaigns.eligibility import (
    CampaignDecision,
    CampaignServer,
    EligibilityResult,
    Reason,
    eligible_campaigns,
    explain_eligibility,
    serve_campaigns,
)

__all__ = [
    "Allocation",
    "AllocationProblem",
    "CampaignDecision",
    "CampaignPlan",
    "CampaignServer",
    "Catalog",
    "EligibilityResult",
    "Reason",
    "allocate",
    "covered_items",
    "eligible_campaigns",
    "exact_allocate",
    "expected_value_and_cost",
    "explain_eligibility",
    "greedy_allocate",
    "is_live",
    "load_campaigns",
    "load_campaigns_file",
    "plan_campaign",
    "serve_campaigns",
    "unit_cost",
    "window_state",
]
