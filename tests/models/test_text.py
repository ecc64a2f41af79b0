"""Sentence embeddings (the optional ``text`` extra): offline loading, the content model's
semantic neighbours of a new item, and search. Tests that need the encoder skip without it."""

from __future__ import annotations

import socket

import numpy as np
import pandas as pd
import pytest

from campaignrec.data.interactions import Interactions
from campaignrec.errors import ConfigError
from campaignrec.models import content as content_module
from campaignrec.models import text
from campaignrec.models.content import ContentBased
from tests.models.contract import RecommenderContract

needs_text = pytest.mark.skipif(
    not text.text_encoder_available(),
    reason=f"the 'text' extra ({text.ENCODER_PACKAGE}) is not installed",
)


@needs_text
def test_the_encoder_loads_and_embeds_with_the_network_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise OSError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    encoder = text.TextEncoder(threads=1)  # a fresh load, not the process-wide one
    zh = ["无线蓝牙耳机", "不锈钢保温杯", "男士跑步鞋", "有机绿茶", "儿童积木玩具"]
    en = [
        "wireless bluetooth earphones",
        "stainless steel thermos cup",
        "men's running shoes",
        "organic green tea",
        "children's building blocks toy",
    ]
    a, b = encoder.encode(zh), encoder.encode(en)
    assert a.shape == (5, text.EMBEDDING_DIM)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-4)
    assert (np.argmax(a @ b.T, axis=1) == np.arange(5)).all()  # each title finds its translation
    assert not encoder.encode(["", "  "]).any()  # no text: zero rows


class TestContentEmbedding(RecommenderContract):
    def make_model(self) -> ContentBased:
        if not text.text_encoder_available():
            pytest.skip(f"the 'text' extra ({text.ENCODER_PACKAGE}) is not installed")
        return ContentBased(text_encoder="embedding")


def _bilingual_shop() -> Interactions:
    """An English-speaking running fan; the new item is titled in Chinese only."""
    items = pd.DataFrame(
        {
            "item_id": ["s1", "s2", "s3", "m1", "m2", "new_shoe", "new_mug"],
            "title": [
                "trail running shoes",
                "lightweight running sneakers",
                "marathon running shoes",
                "ceramic coffee mug",
                "porcelain tea cup",
                "男士跑步鞋",
                "陶瓷咖啡杯",
            ],
        }
    )
    events = pd.DataFrame(
        {
            "user_id": ["fan", "fan", "fan", "tea", "tea"],
            "item_id": ["s1", "s2", "s3", "m1", "m2"],
            "event_type": "purchase",
            "timestamp": pd.date_range("2026-01-01", periods=5, freq="D", tz="UTC"),
        }
    )
    return Interactions.from_frame(events, items=items)


@needs_text
def test_a_new_item_titled_in_another_language_reaches_its_shoppers() -> None:
    shop = _bilingual_shop()
    semantic = ContentBased(text_encoder="embedding").fit(shop)
    assert semantic.uses_embeddings
    ids, _ = semantic.recommend(["fan", "tea"], k=1)
    assert ids[:, 0].tolist() == ["new_shoe", "new_mug"]
    similar, _ = semantic.similar_items("new_shoe", k=3)
    assert set(similar) == {"s1", "s2", "s3"}
    # TF-IDF shares no term across the languages: it cannot tell the two new items apart
    plain = ContentBased(text_encoder="tfidf", popularity_weight=0.0).fit(shop)
    scores = plain.score(["fan", "fan"], ["new_shoe", "new_mug"])
    assert scores[0] == scores[1] == 0.0


@needs_text
def test_search_across_languages_and_the_saved_model() -> None:
    model = ContentBased(text_encoder="embedding").fit(_bilingual_shop())
    ids, scores = model.search("跑鞋", k=3)
    assert set(ids) <= {"s1", "s2", "s3", "new_shoe"} and len(ids) == 3
    assert np.all(np.diff(scores) <= 0)
    ids, _ = model.search("coffee cup", k=2, items=["m1", "m2", "new_mug", "s1"])
    assert set(ids) <= {"m1", "m2", "new_mug"}


def test_search_with_tfidf_matches_terms(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(content_module, "text_encoder_available", lambda: False)
    model = ContentBased(text_encoder="auto").fit(_bilingual_shop())  # no extra: TF-IDF alone
    assert not model.uses_embeddings and ContentBased().params.text_encoder == "tfidf"
    ids, scores = model.search("running shoes", k=5)
    assert set(ids) == {"s1", "s2", "s3"} and (scores > 0).all()
    assert model.search("跑步鞋", k=5)[0].tolist() == ["new_shoe"]
    assert len(model.search("bicycle", k=5)[0]) == 0  # nothing matches: nothing comes back
    with pytest.raises(ConfigError, match="empty"):
        model.search("  ")


def test_embedding_without_the_extra_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(content_module, "text_encoder_available", lambda: False)
    monkeypatch.setattr(text, "text_encoder_available", lambda: False)
    monkeypatch.setattr(text, "_encoders", {})
    with pytest.raises(ConfigError, match=r"campaignrec\[text\]"):
        ContentBased(text_encoder="embedding").fit(_bilingual_shop())
    with pytest.raises(ConfigError, match="text_encoder"):
        ContentBased(text_encoder="bert")


def test_item_texts_join_the_fields() -> None:
    feats = pd.DataFrame(
        {
            "title": ["Mug", None],
            "category": ["home/kitchen", None],
            "tags": [["coffee", "tea"], None],
        }
    )
    assert text.item_texts(feats) == ["Mug. home / kitchen. coffee, tea", ""]
