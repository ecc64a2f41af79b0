from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from campaignrec.data.interactions import Interactions
from campaignrec.errors import ConfigError
from campaignrec.models.content import ContentBased, tokenize
from tests.models.contract import RecommenderContract


class TestContent(RecommenderContract):
    def make_model(self) -> ContentBased:
        return ContentBased(text_encoder="tfidf")


class TestContentJiebaDecayed(RecommenderContract):
    history_check = "blocks"  # the snapshot decays by event age; a history row is taken as given

    def make_model(self) -> ContentBased:
        return ContentBased(
            cjk_tokenizer="jieba",
            profile_half_life_days=3.0,
            use_weights=False,
            text_encoder="tfidf",
        )


def test_tokenize_mixes_latin_words_and_cjk_bigrams() -> None:
    assert tokenize("Running Shoe 跑鞋!") == ["running", "shoe", "跑鞋"]
    assert tokenize("新款咖啡杯") == ["新款", "款咖", "咖啡", "啡杯"]
    assert tokenize("a 杯") == ["杯"]  # stop word and one-letter token dropped, lone CJK kept


def test_recommends_an_item_nobody_touched(block_shop: Interactions) -> None:
    model = ContentBased(text_encoder="tfidf").fit(block_shop)
    assert block_shop.item_popularity[block_shop.items.index(["a_new"])[0]] == 0
    a_users = [u for u in block_shop.users.ids[block_shop.active_users] if u.startswith("ua")]
    ids, _ = model.recommend(a_users, k=12)
    assert all("a_new" in row for row in ids)
    b_items = [str(i) for i in block_shop.items.ids if str(i).startswith("b")]
    for user in a_users:
        new_score = model.score([user], ["a_new"])[0]
        assert new_score > model.score([user] * len(b_items), b_items).max()


def test_cold_item_reaches_the_shopper_who_bought_everything_else() -> None:
    items = pd.DataFrame(
        {
            "item_id": ["s1", "s2", "s3", "new_shoe", "m1", "m2"],
            "title": ["跑鞋 one", "跑鞋 two", "跑鞋 three", "新款跑鞋", "咖啡杯 one", "咖啡杯 two"],
            "category": ["shoes/running"] * 4 + ["home/mugs"] * 2,
        }
    )
    events = pd.DataFrame(
        {
            "user_id": ["fan", "fan", "fan", "mugger", "mugger", "mugger"],
            "item_id": ["s1", "s2", "s3", "m1", "m2", "s1"],
            "event_type": ["purchase"] * 6,
            "timestamp": pd.date_range("2026-01-01", periods=6, freq="D", tz="UTC"),
        }
    )
    shop = Interactions.from_frame(events, items=items)
    model = ContentBased(text_encoder="tfidf").fit(shop)
    ids, scores = model.recommend(["fan"], k=3)
    assert ids[0, 0] == "new_shoe" and scores[0, 0] > 0
    ev = model.explain("fan", "new_shoe").evidence
    assert {"跑鞋", "shoes/running"} <= {t["term"] for t in ev["terms"]}
    similar, _ = model.similar_items("new_shoe", k=3)
    assert set(similar) == {"s1", "s2", "s3"}


def test_field_weights_change_the_vectors(block_shop: Interactions) -> None:
    full = ContentBased(text_encoder="tfidf").fit(block_shop)
    no_brand = ContentBased(brand_weight=0.0, text_encoder="tfidf").fit(block_shop)
    assert any(t.startswith("brand:") for t in full.terms_)
    assert not any(t.startswith("brand:") for t in no_brand.terms_)


def test_tags_as_json_or_delimited_strings() -> None:
    items = pd.DataFrame({"item_id": ["x", "y"], "tags": ['["red", "sale"]', "blue; sale"]})
    events = pd.DataFrame(
        {
            "user_id": ["u"],
            "item_id": ["x"],
            "event_type": ["view"],
            "timestamp": [pd.Timestamp("2026-01-01", tz="UTC")],
        }
    )
    model = ContentBased(text_encoder="tfidf").fit(Interactions.from_frame(events, items=items))
    assert {"tag:red", "tag:sale", "tag:blue"} <= set(model.terms_)
    assert model.score(["u"], ["y"])[0] > 0  # shares the 'sale' tag


def test_no_text_is_a_clear_error() -> None:
    events = pd.DataFrame(
        {
            "user_id": ["u"],
            "item_id": ["x"],
            "event_type": ["view"],
            "timestamp": [pd.Timestamp("2026-01-01", tz="UTC")],
        }
    )
    with pytest.raises(ConfigError, match="no item text"):
        ContentBased(text_encoder="tfidf").fit(Interactions.from_frame(events))
    with pytest.raises(ConfigError, match="cjk_tokenizer"):
        ContentBased(cjk_tokenizer="spaces")


def test_profiles_are_unit_length(block_shop: Interactions) -> None:
    model = ContentBased(text_encoder="tfidf").fit(block_shop)
    norms = np.sqrt(np.asarray(model.profiles_.multiply(model.profiles_).sum(axis=1)).ravel())
    active = block_shop.active_users
    np.testing.assert_allclose(norms[active], 1.0, rtol=1e-5)


def test_equal_similarity_is_ordered_by_popularity() -> None:
    items = pd.DataFrame({"item_id": ["seen", "hot", "cold", "mid"], "category": ["mugs"] * 4})
    events = pd.DataFrame(
        {
            "user_id": ["me", "a", "b", "c", "a"],
            "item_id": ["seen", "hot", "hot", "hot", "mid"],
            "event_type": ["view"] * 5,
            "timestamp": pd.date_range("2026-01-01", periods=5, freq="h", tz="UTC"),
        }
    )
    shop = Interactions.from_frame(events, items=items)
    ids, _ = ContentBased(text_encoder="tfidf").fit(shop).recommend(["me"], k=3)
    assert list(ids[0]) == ["hot", "mid", "cold"]
