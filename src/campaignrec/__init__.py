"""campaignrec: a self-hosted personalisation engine for e-commerce.

The public API is what ``__all__`` lists (pinned by ``tests/test_public_api.py``); everything
else is reachable through its sub-package (``campaignrec.models``, ``campaignrec.profiles``, ...).

Importing the package is cheap: the error types load at once, every other public name loads on
first use (PEP 562 ``__getattr__``), so ``import campaignrec`` and the command line's ``--help``
do not pay for numpy, pandas, scipy or scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from campaignrec.config import Settings, load_settings
    from campaignrec.data.interactions import IdMap, Interactions
    from campaignrec.data.rules import evaluate as evaluate_rule
    from campaignrec.data.rules import explain as explain_rule
    from campaignrec.data.schema import Campaign, Event, EventType, Item, User
    from campaignrec.models.base import Explanation, Recommender
    from campaignrec.models.registry import available_models, create, load_model

from campaignrec.errors import (
    CampaignrecError,
    ConfigError,
    NotFittedError,
    StoreError,
    TooManyRejectionsError,
    UnknownIdError,
    ValidationError,
)

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

#: public name -> (module, attribute) of what loads on first use
_LAZY: dict[str, tuple[str, str]] = {
    "Settings": ("campaignrec.config", "Settings"),
    "load_settings": ("campaignrec.config", "load_settings"),
    "IdMap": ("campaignrec.data.interactions", "IdMap"),
    "Interactions": ("campaignrec.data.interactions", "Interactions"),
    "evaluate_rule": ("campaignrec.data.rules", "evaluate"),
    "explain_rule": ("campaignrec.data.rules", "explain"),
    "Campaign": ("campaignrec.data.schema", "Campaign"),
    "Event": ("campaignrec.data.schema", "Event"),
    "EventType": ("campaignrec.data.schema", "EventType"),
    "Item": ("campaignrec.data.schema", "Item"),
    "User": ("campaignrec.data.schema", "User"),
    "Explanation": ("campaignrec.models.base", "Explanation"),
    "Recommender": ("campaignrec.models.base", "Recommender"),
    "available_models": ("campaignrec.models.registry", "available_models"),
    "create": ("campaignrec.models.registry", "create"),
    "load_model": ("campaignrec.models.registry", "load_model"),
}


def __getattr__(name: str) -> Any:
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'campaignrec' has no attribute {name!r}")
    value = getattr(importlib.import_module(target[0]), target[1])
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
