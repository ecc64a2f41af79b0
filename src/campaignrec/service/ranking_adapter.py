"""The request-time ranking path the routes call.

Uses :mod:`campaignrec.ranking` when it is installed; until then a thin fallback ranks with the
active model's ``recommend`` and ``explain`` and records item events as recent items.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from campaignrec.models.registry import load_model
from campaignrec.pipeline import load_active_model

HAS_RANKING = importlib.util.find_spec("campaignrec.ranking") is not None


@dataclass(frozen=True)
class Item:
    item_id: str
    score: float
    rank: int
    reason: str
    text: str
    evidence: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Ranked:
    user_id: str | None
    items: list[Item]
    model_name: str | None
    model_version: str | None
    personalised: bool


class FallbackRanker:
    """The active model's top-k with its explanations (no business rules)."""

    def __init__(self, model: Any, version: str | None, online: Any) -> None:
        self.model = model
        self.version = version
        self.online = online

    def recommend(self, user_id: str, k: int, lang: str = "en") -> Ranked:
        m = self.model
        ids, scores = m.recommend([user_id], k=k)
        items: list[Item] = []
        for rank, (iid, sc) in enumerate(zip(ids[0], scores[0], strict=True), start=1):
            if iid is None:
                continue
            ex = m.explain(user_id, str(iid))
            items.append(Item(str(iid), float(sc), rank, ex.reason, ex.text, dict(ex.evidence)))
        personalised = bool(user_id in m.users_)
        return Ranked(user_id, items, m.name, self.version, personalised)

    def similar(self, item_id: str, k: int, lang: str = "en") -> Ranked:
        m = self.model
        fn = getattr(m, "similar_items", None)
        items: list[Item] = []
        if fn is not None and item_id in m.items_:
            ids, scores = fn(item_id, k)
            for rank, (iid, sc) in enumerate(zip(ids, scores, strict=True), start=1):
                if iid is None or str(iid) == item_id:
                    continue
                items.append(Item(str(iid), float(sc), rank, "similar", "Similar item.", {}))
        return Ranked(None, items[:k], m.name, self.version, False)


def open_ranker(store: Any, settings: Any, online: Any) -> tuple[FallbackRanker, str | None]:
    """The ranker over the most recently activated model version."""
    row = _latest_active(store)
    if row is None:
        model = load_active_model(store)  # raises the "no trained model yet" error
        return FallbackRanker(model, None, online), None
    model = load_model(row["path"])
    version = f"{row['name']}:{row['version']}"
    return FallbackRanker(model, str(row["version"]), online), version


def _latest_active(store: Any) -> dict[str, Any] | None:
    models = store.list_models()
    if models.empty:
        return None
    active = models[models["active"].astype(bool)]
    if active.empty:
        return None
    if "activated_at" in active:
        active = active.sort_values("activated_at", kind="stable")
    return dict(active.iloc[-1].to_dict())


def active_version(store: Any) -> str | None:
    """``name:version`` of the most recently activated model (None: none is active)."""
    row = _latest_active(store)
    return None if row is None else f"{row['name']}:{row['version']}"


def record_event(online: Any, event: Mapping[str, Any]) -> None:
    """Apply one accepted event to the online state (recent items)."""
    item = event.get("item_id")
    user = event.get("user_id")
    if item is not None and user is not None and isinstance(item, str) and item:
        online.push_recent(str(user), item)
