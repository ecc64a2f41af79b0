"""The one per-request ranking path: history -> candidates -> rules -> re-ranking -> explanations.

Every face (service, ``campaignrec recommend``, batch export) calls :class:`Ranker`.
"""

from campaignrec.ranking.config import RankingConfig
from campaignrec.ranking.history import (
    FreshHistory,
    fresh_history,
    history_for,
    record_event,
    record_events,
)
from campaignrec.ranking.ranker import (
    RankedItem,
    RankedList,
    Ranker,
    RankingRequest,
    recommend_frame,
)

__all__ = [
    "FreshHistory",
    "RankedItem",
    "RankedList",
    "Ranker",
    "RankingConfig",
    "RankingRequest",
    "fresh_history",
    "history_for",
    "recommend_frame",
    "record_event",
    "record_events",
]
