"""Named models: an explicit mapping from a model's ``name`` to its class.

No import side effects: the core models are listed here by hand; the models that need the optional
``deep`` extra (PyTorch) or heavier code are imported only when asked for by name.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from campaignrec.errors import ConfigError
from campaignrec.models.base import Recommender
from campaignrec.models.blend import Blend
from campaignrec.models.content import ContentBased
from campaignrec.models.ease import EASE
from campaignrec.models.factorization import ALS, BPR
from campaignrec.models.knn import ItemKNN, UserKNN
from campaignrec.models.popularity import CategoryPopular, MostPopular, Random
from campaignrec.models.transition import ItemTransition

#: Core models, importable without optional extras.
MODELS: dict[str, type[Recommender]] = {
    cls.name: cls
    for cls in (
        MostPopular,
        CategoryPopular,
        Random,
        ItemKNN,
        UserKNN,
        ContentBased,
        ALS,
        BPR,
        EASE,
        ItemTransition,
        Blend,
    )
}

#: Models living in modules imported on demand: name -> (module, extra needed or None).
LAZY_MODELS: dict[str, tuple[str, str | None]] = {
    "hybrid": ("campaignrec.models.hybrid", None),
    "sasrec": ("campaignrec.models.sasrec", "deep"),
    "rerank": ("campaignrec.models.rerank", None),
}


def available_models() -> list[str]:
    """Every model name the registry knows (core and on-demand)."""
    return sorted(set(MODELS) | set(LAZY_MODELS))


def _lazy_class(name: str) -> type[Recommender]:
    module_name, extra = LAZY_MODELS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (missing == module_name or module_name.startswith(missing + ".")):
            raise ConfigError(
                f"model {name!r} is not available in this build ({module_name} is missing)"
            ) from exc
        fix = f"pip install 'campaignrec[{extra}]'" if extra else f"install the '{missing}' package"
        raise ConfigError(
            f"model {name!r} needs the package '{missing}', which is not installed", hint=fix
        ) from exc
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, Recommender)
            and getattr(value, "name", None) == name
        ):
            return value
    raise ConfigError(f"{module_name} defines no Recommender named {name!r}")


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
        return _lazy_class(name)
    raise ConfigError(f"unknown model {name!r}", hint=f"known models: {available_models()}")


def create(name: str, **params: Any) -> Recommender:
    """A new, unfitted model by name, e.g. ``create("ease", l2=300.0)``."""
    return get_class(name)(**params)


def load_model(path: str | Path) -> Recommender:
    """Load any saved model: ``meta.json``'s ``"model"`` picks the class."""
    src = Path(path)
    meta_file = src / "meta.json"
    if not meta_file.exists():
        raise ConfigError(
            f"{src} holds no saved model (no meta.json)", hint="pass the model folder"
        )
    meta = json.loads(meta_file.read_text())
    name = meta.get("model")
    if not isinstance(name, str):
        raise ConfigError(f"{meta_file}: field 'model' is missing or not a string")
    return get_class(name).load(src)
