"""campaignrec: a self-hosted personalisation engine for e-commerce.

The public API is what ``__all__`` lists (pinned by ``tests/test_public_api.py``); everything
else is reachable through its sub-package (``campaignrec.models``, ``campaignrec.profiles``, ...).
"""

from campaignrec.config import Settings, load_settings
from campaignrec.data.interactions import IdMap, Interactions
from campaignrec.data.rules import evaluate as evaluate_rule
from campaignrec.data.rules import explain as explain_rule
from campaignrec.data.schema import Campaign, Event, EventType, Item, User
from campaignrec.errors import (
    CampaignrecError,
    ConfigError,
    NotFittedError,
    StoreError,
    TooManyRejectionsError,
    UnknownIdError,
    ValidationError,
)
from campaignrec.models.base import Explanation, Recommender
from campaignrec.models.registry import available_models, create, load_model

__version__ = "0.1.0"

__all__ = [
    "Campaign",
    "CampaignrecError",
    "ConfigError",
    "Event",
    "EventType",
    "Explanation",
    "IdMap",
    "Interactions",
    "Item",
    "NotFittedError",
    "Recommender",
    "Settings",
    "StoreError",
    "TooManyRejectionsError",
    "UnknownIdError",
    "User",
    "ValidationError",
    "__version__",
    "available_models",
    "create",
    "evaluate_rule",
    "explain_rule",
    "load_model",
    "load_settings",
]
