"""``GET /v1/search``: a shopper's search terms mapped to items (the same function as
``campaignrec search``: :func:`campaignrec.pipeline.search.search_items`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query

from campaignrec.errors import CampaignrecError, ConfigError
from campaignrec.pipeline.search import search_items
from campaignrec.service.deps import ReadKey, State, language
from campaignrec.service.errors import ApiError
from campaignrec.service.schemas import SearchHit, SearchOut

router = APIRouter(prefix="/v1", tags=["search"])

#: the longest query accepted (characters)
MAX_QUERY = 256

_TEXT = {
    "en": "Matches your search \u201c{q}\u201d.",
    "zh": "与您的搜索「{q}」相符。",
}


@router.get(
    "/search",
    response_model=SearchOut,
    responses={
        422: {"description": "bad parameter (the error names it: q, k or lang)"},
        409: {"description": "no content model is trained, or the active one cannot search"},
    },
)
def search(
    state: State,
    _key: ReadKey,
    q: Annotated[
        str,
        Query(
            min_length=1,
            max_length=MAX_QUERY,
            description="the shopper's search terms, any language (e.g. 跑步鞋, running shoes)",
        ),
    ],
    k: Annotated[int, Query(ge=1, le=100, description="how many items")] = 10,
    lang: Annotated[
        str | None, Query(max_length=16, description="language of the texts: en or zh")
    ] = None,
    accept_language: Annotated[str | None, Header(max_length=256)] = None,
) -> SearchOut:
    """Items whose text best matches ``q``, best first; hidden items never come back.

    Searches with the active ``content`` model: multilingual sentence embeddings when it was
    trained with the ``text`` extra (a Chinese query finds English titles), its TF-IDF terms
    otherwise. Items matching nothing are left out, so fewer than ``k`` may come back.
    """
    lang_code = language(lang, accept_language)
    query = q.strip()
    if not query:
        raise ApiError(422, "validation_error", "q: the search terms are empty", field="q")
    items = state.ranker.catalogue if state.ranker is not None else None
    try:
        found = search_items(state.store, query, k, items=items)
    except ConfigError as exc:
        raise ApiError(422, "validation_error", f"q: {exc.message}", field="q") from exc
    except CampaignrecError as exc:
        raise ApiError(409, "no_model", exc.message) from exc
    template = _TEXT[lang_code]
    titles = [t if isinstance(t, str) else None for t in found["title"].tolist()]
    hits = [
        SearchHit(
            item_id=str(item_id),
            score=float(score),
            rank=rank,
            title=title,
            text=template.format(q=query),
        )
        for rank, (item_id, score, title) in enumerate(
            zip(found["item_id"].tolist(), found["score"].tolist(), titles, strict=True), start=1
        )
    ]
    return SearchOut(
        q=query,
        items=hits,
        model_name=str(found.attrs.get("model_name", "content")),
        model_version=found.attrs.get("model_version"),
    )
