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
from campaignrec.campaigns.audience import audience_of, base_attributes, merge_attributes
from campaignrec.campaigns.bundles import (
    association_rules,
    complementary_items,
    evaluate_bundles,
    order_baskets,
    price_bundle,
    recommend_bundles,
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
    set_campaign_counters,
)
from campaignrec.campaigns.exposures import exposure_outcomes, segment_response_rates
from campaignrec.campaigns.relevance import campaign_relevance
from campaignrec.campaigns.timing import (
    activity_heatmaps,
    predicted_demand,
    recommend_flash_sale_windows,
    select_flash_sale_products,
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
    "activity_heatmaps",
    "allocate",
    "association_rules",
    "audience_of",
    "base_attributes",
    "campaign_relevance",
    "complementary_items",
    "covered_items",
    "eligible_campaigns",
    "evaluate_bundles",
    "exact_allocate",
    "expected_value_and_cost",
    "explain_eligibility",
    "exposure_outcomes",
    "greedy_allocate",
    "is_live",
    "load_campaigns",
    "load_campaigns_file",
    "merge_attributes",
    "order_baskets",
    "plan_campaign",
    "predicted_demand",
    "price_bundle",
    "recommend_bundles",
    "recommend_flash_sale_windows",
    "segment_response_rates",
    "select_flash_sale_products",
    "serve_campaigns",
    "set_campaign_counters",
    "unit_cost",
    "window_state",
]
