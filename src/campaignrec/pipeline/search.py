"""Search: a shopper's search terms mapped to items by the active content model."""

from __future__ import annotations

from typing import Any

import pandas as pd

from campaignrec.errors import CampaignrecError
from campaignrec.models.registry import load_model
from campaignrec.pipeline.training import active_model_row


def search_items(
    store: Any, query: str, k: int = 10, *, model_name: str = "content"
) -> pd.DataFrame:
    """The ``k`` items best matching ``query``: ``item_id, score, title`` (best first).

    Uses the active version of ``model_name`` (a content model: sentence embeddings when it was
    trained with the ``text`` extra, TF-IDF terms otherwise); hidden items never come back.

    Raises
    ------
    CampaignrecError
        No content model is trained, or the active one cannot search.
    ConfigError
        The query is empty.
    """
    row = active_model_row(store, model_name)
    model = load_model(row["path"])
    search = getattr(model, "search", None)
    if not callable(search):
        raise CampaignrecError(
            f"model {model_name!r} cannot search item text",
            hint="train a content model: campaignrec train --model content",
        )
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
    return out
