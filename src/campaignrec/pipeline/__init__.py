"""The batch steps every face (library, CLI, service) calls: snapshot, train, profiles, campaign
plans, shop set-up.

One module per step: :mod:`~campaignrec.pipeline.snapshot`, :mod:`~campaignrec.pipeline.training`,
:mod:`~campaignrec.pipeline.profiles`, :mod:`~campaignrec.pipeline.campaigns`,
:mod:`~campaignrec.pipeline.shop`. The names below are re-exported for ``from campaignrec.pipeline
import ...``; the other steps are imported from their module.
"""

from campaignrec.pipeline.snapshot import build_snapshot
from campaignrec.pipeline.training import (
    TrainResult,
    active_model_row,
    load_active_model,
    new_version,
    train,
)

__all__ = [
    "TrainResult",
    "active_model_row",
    "build_snapshot",
    "load_active_model",
    "new_version",
    "train",
]
