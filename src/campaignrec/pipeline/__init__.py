"""The batch steps every face (library, CLI, service) calls: snapshot, train, profiles, campaign
plans, shop set-up.

One module per step: :mod:`~campaignrec.pipeline.snapshot`, :mod:`~campaignrec.pipeline.training`,
:mod:`~campaignrec.pipeline.profiles`, :mod:`~campaignrec.pipeline.campaigns`,
:mod:`~campaignrec.pipeline.shop`. The names below are re-exported for ``from campaignrec.pipeline
import ...``; the other steps are imported from their module.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from campaignrec.pipeline.snapshot import build_snapshot
    from campaignrec.pipeline.training import (
        TrainResult,
        active_model_row,
        load_active_model,
        new_version,
        train,
    )

# name -> module; loaded on first use, so `import campaignrec.pipeline.shop` (every command's
# set-up) does not import the snapshot's and the models' dependencies (scipy.sparse, ...)
_LAZY = {
    "build_snapshot": "campaignrec.pipeline.snapshot",
    "TrainResult": "campaignrec.pipeline.training",
    "active_model_row": "campaignrec.pipeline.training",
    "load_active_model": "campaignrec.pipeline.training",
    "new_version": "campaignrec.pipeline.training",
    "train": "campaignrec.pipeline.training",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'campaignrec.pipeline' has no attribute {name!r}")
    return getattr(import_module(module), name)


__all__ = [
    "TrainResult",
    "active_model_row",
    "build_snapshot",
    "load_active_model",
    "new_version",
    "train",
]
