"""The leaf models by name: every named model that is not built out of other models.

Composites (:class:`~campaignrec.models.blend.Blend`,
:class:`~campaignrec.models.rerank.TwoStageRanker`) create and load their members through a
factory callable; their default factory is this catalogue, and :mod:`campaignrec.models.registry`
(which knows the composites too) passes its own ``create`` / ``load_model`` instead. So the
composites import this module, the registry imports both, and no import goes back.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from campaignrec.errors import ConfigError
from campaignrec.models.base import Recommender
from campaignrec.models.content import ContentBased
from campaignrec.models.ease import EASE
from campaignrec.models.factorization import ALS, BPR
from campaignrec.models.knn import ItemKNN, UserKNN
from campaignrec.models.popularity import CategoryPopular, MostPopular, Random
from campaignrec.models.rating import RatingMF
from campaignrec.models.repeat import RepeatPopular
from campaignrec.models.transition import ItemTransition

#: Leaf models importable without optional extras.
LEAF_MODELS: dict[str, type[Recommender]] = {
    cls.name: cls
    for cls in (
        MostPopular,
        CategoryPopular,
        RepeatPopular,
        Random,
        ItemKNN,
        UserKNN,
        ContentBased,
        ALS,
        BPR,
        EASE,
        ItemTransition,
        RatingMF,
    )
}

#: Leaf models living in modules imported on demand: name -> (module, extra needed or None).
LAZY_LEAF_MODELS: dict[str, tuple[str, str | None]] = {
    "hybrid": ("campaignrec.models.hybrid", None),
    "sasrec": ("campaignrec.models.sasrec", "deep"),
}


def import_lazy(name: str, module_name: str, extra: str | None) -> type[Recommender]:
    """The Recommender class ``name`` from ``module_name``, imported now.

    Raises
    ------
    ConfigError
        The module is missing from this build, or needs a package that is not installed.
    """
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


def leaf_class(name: str) -> type[Recommender]:
    """The leaf model class named ``name`` (ConfigError for unknown names and composites)."""
    if name in LEAF_MODELS:
        return LEAF_MODELS[name]
    if name in LAZY_LEAF_MODELS:
        return import_lazy(name, *LAZY_LEAF_MODELS[name])
    known = sorted(set(LEAF_MODELS) | set(LAZY_LEAF_MODELS))
    raise ConfigError(
        f"unknown model {name!r} as a member of a composite",
        hint=f"known leaf models: {known}; to nest composites, create the outer one through "
        "campaignrec.models.registry.create (it passes itself as the factory)",
    )


def create_leaf(name: str, **params: Any) -> Recommender:
    """A new, unfitted leaf model by name (the composites' default member factory)."""
    return leaf_class(name)(**params)


def read_model_name(path: str | Path) -> str:
    """The ``"model"`` field of a saved model's ``meta.json`` (ConfigError when absent)."""
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
    return name


def load_leaf(path: str | Path) -> Recommender:
    """Load a saved leaf model (the composites' default member loader)."""
    return leaf_class(read_model_name(path)).load(path)
