"""User profiles, segments and behaviour analytics.

- :class:`ProfileState`: mergeable per-user aggregates (batch in chunks = incremental ``apply``).
- :func:`build_profiles`: events -> profile table with RFM, behaviour, interests, lifecycle,
  purchase prediction and K-Means segments; :func:`save_profiles` / :func:`load_profiles`.
- :func:`profile_attributes`: the flat mapping audience rules read.
- :mod:`campaignrec.profiles.analytics`: funnels, heatmaps, co-purchase rules, cohorts.
"""

from campaignrec.profiles.analytics import (
    activity_heatmap,
    association_rules,
    cohort_retention,
    frequently_bought_together,
    funnel,
    peak_slots,
)
from campaignrec.profiles.config import LifecycleConfig, ProfileConfig
from campaignrec.profiles.pipeline import (
    ProfileResult,
    build_profiles,
    iter_profile_attributes,
    load_profiles,
    profile_attributes,
    save_profiles,
)
from campaignrec.profiles.predict import (
    BGNBDModel,
    PurchaseModel,
    PurchaseModelConfig,
    evaluate_purchase_model,
)
from campaignrec.profiles.rfm import RFM_SEGMENTS, lifecycle_stage, rfm_scores, rfm_segment
from campaignrec.profiles.segments import SegmentConfig, SegmentModel, assign_segments, fit_segments
from campaignrec.profiles.state import ProfileState

__all__ = [
    "RFM_SEGMENTS",
    "BGNBDModel",
    "LifecycleConfig",
    "ProfileConfig",
    "ProfileResult",
    "ProfileState",
    "PurchaseModel",
    "PurchaseModelConfig",
    "SegmentConfig",
    "SegmentModel",
    "activity_heatmap",
    "assign_segments",
    "association_rules",
    "build_profiles",
    "cohort_retention",
    "evaluate_purchase_model",
    "fit_segments",
    "frequently_bought_together",
    "funnel",
    "iter_profile_attributes",
    "lifecycle_stage",
    "load_profiles",
    "peak_slots",
    "profile_attributes",
    "rfm_scores",
    "rfm_segment",
    "save_profiles",
]
