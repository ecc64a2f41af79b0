"""One shopper's audience attributes by key equal the batch definition for that shopper."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from campaignrec.data.importer import import_frame
from campaignrec.pipeline.profiles import all_attributes, profile_attributes_for
from campaignrec.store.profiles import ProfileRepository
from campaignrec.store.sql import SQLStore

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def test_one_shopper_by_key_equals_the_batch_definition(tmp_path: Path) -> None:
    store = SQLStore(f"sqlite:///{tmp_path / 'shop.db'}")
    users = pd.DataFrame(
        {
            "user_id": ["u1", "u2", "u3", "u4"],
            "region": ["north", "south", None, "east"],
            "birth_year": [1990, None, 1975, 2001],
            "signup_time": [
                (NOW - timedelta(days=3)).isoformat(),
                (NOW - timedelta(days=400)).isoformat(),
                None,
                (NOW - timedelta(days=10)).isoformat(),
            ],
            "consent_marketing": [True, False, None, True],
            "membership_tier": ["gold", None, "silver", None],
        }
    )
    items = pd.DataFrame({"item_id": ["a", "b", "c"], "category": ["home/kitchen", "books", None]})
    at = (NOW - timedelta(days=1)).isoformat()
    later = (NOW + timedelta(days=1)).isoformat()  # after "now": not counted
    events = pd.DataFrame(
        [
            {"user_id": "u1", "item_id": "a", "event_type": "purchase", "timestamp": at},
            {"user_id": "u1", "item_id": "b", "event_type": "purchase", "timestamp": at},
            {"user_id": "u1", "item_id": "c", "event_type": "purchase", "timestamp": at},
            {"user_id": "u1", "item_id": "b", "event_type": "view", "timestamp": at},
            {"user_id": "u2", "item_id": "b", "event_type": "purchase", "timestamp": later},
            {"user_id": "u3", "item_id": "a", "event_type": "view", "timestamp": at},
        ]
    )
    for entity, frame in (("users", users), ("items", items), ("events", events)):
        import_frame(store, entity, frame)
    ProfileRepository(store).replace_all(
        [{"user_id": "u3", "segment": "loyal", "bought_categories": ["garden/tools"]}]
    )
    batch = all_attributes(store, NOW)
    for uid in ("u1", "u2", "u3", "u4"):
        assert profile_attributes_for(store, uid, now=NOW) == batch[uid], uid
    one = profile_attributes_for(store, "u1", now=NOW)
    assert one is not None
    assert one["bought_categories"] == ["books", "home", "home/kitchen"]
    assert one["n_purchases"] == 3 and one["is_new"] is True and one["age"] == 36
    assert profile_attributes_for(store, "u2", now=NOW)["n_purchases"] == 0  # type: ignore[index]
    assert profile_attributes_for(store, "nobody", now=NOW) is None
    store.close()
