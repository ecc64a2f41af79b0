"""Column metadata: what each field of the canonical models means to validation and the store.

Every column of users, items, campaigns and events is defined once, as a field of the pydantic
models in :mod:`campaignrec.data.schema`. The model already says the type, whether a value is
required, its default and its bounds; the few facts a model cannot say are attached to the field
as :class:`Col` metadata in its ``Annotated`` type (an external id, the table's key, NOT NULL in
SQL). :func:`field_specs` reads one model into :class:`FieldSpec` rows, from which the column-wise
validator (:mod:`campaignrec.data.validation`) and the SQL tables (:mod:`campaignrec.store.migrations`)
are derived.

Why ``Annotated`` metadata rather than ``Field(json_schema_extra=...)`` or a separate column table:
the models are the public edge (API, single records) and stay the readable definition; extra JSON
schema keys would leak into the service's OpenAPI document, and a separate table would be a second
place to keep in step. pydantic keeps unknown ``Annotated`` objects in ``FieldInfo.metadata`` and
otherwise ignores them.

The quarantine's columns and key are defined here too: the validator writes them and the store keeps
them.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Union, get_args, get_origin

from annotated_types import Ge
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

Kind = Literal["id", "str", "float", "int", "bool", "datetime", "list", "dict"]

#: Longest external id (user_id, item_id, campaign_id, event_id) accepted by bulk validation.
ID_MAX_LEN = 256

#: One quarantine row per problem found, in this column order.
QUARANTINE_COLUMNS = ("source", "line", "entity", "field", "value", "reason", "raw")
#: What makes a quarantine row unique (recording the same problem twice stores it once).
QUARANTINE_KEY = ("source", "line", "entity", "field")


@dataclass(frozen=True)
class Col:
    """What a model field cannot say by itself, attached with ``Annotated[type, Col(...)]``.

    Parameters
    ----------
    id
        An external id: text, at most :data:`ID_MAX_LEN` characters in bulk validation.
    key
        The table's primary key and the key that deduplicates rows of an import.
    not_null
        NOT NULL in SQL although the model has no default for it (a default makes it NOT NULL
        anyway).
    """

    id: bool = False
    key: bool = False
    not_null: bool = False


#: Metadata of the usual cases.
KEY = Col(id=True, key=True)
ID = Col(id=True)
NOT_NULL = Col(not_null=True)


@dataclass(frozen=True)
class FieldSpec:
    """One column of an entity, derived from its model field.

    ``default`` is the model's scalar default cast to the kind (``None`` when the field has no
    default, a ``None`` default or a default factory); ``allowed`` the values of a ``Literal``;
    ``non_negative`` whether the field is bounded by ``ge=0``.
    """

    name: str
    kind: Kind
    required: bool
    default: Any
    key: bool
    not_null: bool
    allowed: tuple[str, ...]
    non_negative: bool

    @property
    def nullable(self) -> bool:
        """Whether the SQL column takes NULL (keys, defaults and ``not_null`` do not)."""
        return not (self.key or self.not_null or self.default is not None)


def _meta(info: FieldInfo) -> Col:
    """The field's :class:`Col` metadata, several (``Annotated[str, ID, NOT_NULL]``) merged."""
    found = [m for m in info.metadata if isinstance(m, Col)]
    return Col(
        id=any(m.id for m in found),
        key=any(m.key for m in found),
        not_null=any(m.not_null for m in found),
    )


def _strip_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _kind(name: str, annotation: Any, meta: Col) -> tuple[Kind, tuple[str, ...]]:
    """The validation kind of a field's type, and the allowed values of a ``Literal``."""
    t = _strip_optional(annotation)
    origin = get_origin(t)
    if origin is Literal:
        return "str", tuple(str(a) for a in get_args(t))
    if meta.id:
        return "id", ()
    if origin is list:
        return "list", ()
    if origin is dict:
        return "dict", ()
    # bool before int: bool is a subclass of int
    for py, kind in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str")):
        if t is py:
            return kind, ()  # type: ignore[return-value]
    if t is datetime:
        return "datetime", ()
    raise TypeError(f"field {name!r}: no column kind for the type {annotation!r}")


def _default(info: FieldInfo, kind: Kind) -> Any:
    if info.default_factory is not None or info.default is PydanticUndefined:
        return None
    value = info.default
    if value is None:
        return None
    if kind == "float":
        return float(value)
    if kind == "int":
        return int(value)
    return value


def field_specs(model: type[BaseModel]) -> tuple[FieldSpec, ...]:
    """The columns of one model, in field order.

    Parameters
    ----------
    model
        A pydantic model of :mod:`campaignrec.data.schema`.

    Returns
    -------
    tuple of FieldSpec
    """
    out: list[FieldSpec] = []
    for name, info in model.model_fields.items():
        meta = _meta(info)
        kind, allowed = _kind(name, info.annotation, meta)
        out.append(
            FieldSpec(
                name=name,
                kind=kind,
                required=info.is_required(),
                default=_default(info, kind),
                key=meta.key,
                not_null=meta.not_null,
                allowed=allowed,
                non_negative=any(isinstance(m, Ge) and m.ge == 0 for m in info.metadata),
            )
        )
    return tuple(out)
