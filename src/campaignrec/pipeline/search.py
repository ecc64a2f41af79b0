"""Search: a shopper's search terms mapped to items by the active content model."""

from __future__ import annotations

import threading
from typing import Any

import pandas as pd

from campaignrec.errors import CampaignrecError
from campaignrec.models.registry import load_model
from campaignrec.pipeline.training import active_model_row

#: loaded search models kept per process (by artifact path: a new version is a new path)
CACHED_MODELS = 4
_lock = threading.Lock()
_models: dict[str, Any] = {}


def _load(path: str) -> Any:
    """The model saved at ``path``, loaded once per process (the service searches per request)."""
    with _lock:
        model = _models.get(path)
        if model is None:
            model = load_model(path)
            if len(_models) >= CACHED_MODELS:
                _models.pop(next(iter(_models)))
            _models[path] = model
        return model


def search_items(
    store: Any,
    query: str,
    k: int = 10,
    *,
    model_name: str = "content",
    items: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The ``k`` items best matching ``query``: ``item_id, score, title`` (best first).

    Uses the active version of ``model_name`` (a content model: sentence embeddings when it was
    trained with the ``text`` extra, TF-IDF terms otherwise); hidden items never come back.
    ``items``: the items table when the caller holds it (the service), else it is read from
    ``store``. The CLI (``campaignrec search``) and ``GET /v1/search`` both call this.

    Raises
    ------
    CampaignrecError
        No content model is trained, or the active one cannot search.
    ConfigError
        The query is empty.
    """
    row = active_model_row(store, model_name)
    model = _load(str(row["path"]))
    search = getattr(model, "search", None)
    if not callable(search):
        raise CampaignrecError(
            f"model {model_name!r} cannot search item text",
            hint="train a content model: campaignrec train --model content",
        )
    if items is None:
        items = store.read_table("items")
    allow = None
    if not items.empty and "hidden" in items.columns:
        allow = items.loc[~items["hidden"].fillna(False).astype(bool), "item_id"].astype(str)
    ids, scores = search(query, k, items=None if allow is None else allow.tolist())
    out = pd.DataFrame({"item_id": [str(i) for i in ids], "score": scores.astype(float)})
    if not items.empty and "title" in items.columns:
        titles = items.assign(item_id=items["item_id"].astype(str)).set_index("item_id")["title"]
        out["title"] = out["item_id"].map(titles)
    else:
        out["title"] = None
    out.attrs["model_name"] = str(row.get("name", model_name))
    out.attrs["model_version"] = None if row.get("version") is None else str(row["version"])
    return out
