"""A first big import runs in the store's bulk mode and leaves the store fully indexed."""

import pandas as pd
from sqlalchemy import inspect

from campaignrec.data.importer import import_file
from campaignrec.store.sql import SQLStore


def test_import_into_an_empty_store_rebuilds_the_event_index(tmp_path):
    rows = [
        {
            "user_id": f"u{i % 7}",
            "event_type": "view",
            "item_id": f"i{i % 11}",
            "timestamp": f"2025-01-01T00:{i % 60:02d}:00Z",
        }
        for i in range(200)
    ]
    path = tmp_path / "events.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    store = SQLStore(f"sqlite:///{tmp_path / 'shop.db'}")
    summary = import_file(store, "events", path)
    assert summary.accepted == store.count("events") > 0
    names = {ix["name"] for ix in inspect(store.engine).get_indexes(store.tables.events.name)}
    assert any("user_ts" in n for n in names)
    again = import_file(store, "events", path)  # not empty now: the normal path, still idempotent
    assert again.accepted == 0 and store.count("events") == summary.accepted
