"""Named models: an explicit mapping from a model's ``name`` to its class.

No import side effects: the leaf models come from :mod:`campaignrec.models.catalog`, the
composites (``blend``, ``rerank``) are listed here; the models that need the optional ``deep``
extra (PyTorch) or heavier code are imported only when asked for by name. Composites get this
module's :func:`create` and :func:`load_model` as their member factory and loader, so a blend
may hold any named model, a composite included.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from campaignrec.errors import ConfigError
from campaignrec.models.base import Recommender
from campaignrec.models.blend import Blend
from campaignrec.models.catalog import (
    LAZY_LEAF_MODELS,
    LEAF_MODELS,
    import_lazy,
    read_model_name,
)

#: Core models, importable without optional extras.
MODELS: dict[str, type[Recommender]] = {**LEAF_MODELS, Blend.name: Blend}

#: Models living in modules imported on demand: name -> (module, extra needed or None).
LAZY_MODELS: dict[str, tuple[str, str | None]] = {
    **LAZY_LEAF_MODELS,
    "rerank": ("campaignrec.models.rerank", None),
}


def available_models() -> list[str]:
    """Every model name the registry knows (core and on-demand)."""
    return sorted(set(MODELS) | set(LAZY_MODELS))


def get_class(name: str) -> type[Recommender]:
    """The class registered under ``name``.

    Raises
    ------
    ConfigError
        The name is unknown, or the model needs an optional extra that is not installed.
    """
    if name in MODELS:
        return MODELS[name]
    if name in LAZY_MODELS:
        return import_lazy(name, *LAZY_MODELS[name])
    raise ConfigError(f"unknown model {name!r}", hint=f"known models: {available_models()}")


def create(name: str, **params: Any) -> Recommender:
    """A new, unfitted model by name, e.g. ``create("ease", l2=300.0)``.

    Composites receive this function as their member factory.
    """
    cls = get_class(name)
    if cls.composite:
        return cls(factory=create, loader=load_model, **params)
    return cls(**params)


def load_model(path: str | Path) -> Recommender:
    """Load any saved model: ``meta.json``'s ``"model"`` picks the class."""
    cls = get_class(read_model_name(path))
    if cls.composite:
        return cls.load(path, loader=load_model)
    return cls.load(path)
