"""Parquet input on Spark: the local validation rules, the quarantine Parquet, duplicates."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pytest

from campaignrec.data.mapping import Mapping
from campaignrec.data.validation import validate_frame
from campaignrec.engines.spark.io import read_shop, validate_table, write_quarantine
from campaignrec.errors import ConfigError

pytestmark = pytest.mark.spark

T = pd.Timestamp("2024-05-01T10:00:00Z")


def _events(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def _bad_events() -> pd.DataFrame:
    return _events(
        [
            {"user_id": "u1", "event_type": "view", "timestamp": T, "item_id": "i1", "price": 3.0},
            {"user_id": None, "event_type": "view", "timestamp": T, "item_id": "i1", "price": 3.0},
            {"user_id": "u2", "event_type": "teleport", "timestamp": T, "item_id": "i1"},
            {"user_id": "u3", "event_type": "view", "timestamp": T, "item_id": "i2", "price": -1.0},
            {"user_id": "u4", "event_type": "view", "timestamp": T, "item_id": None},
            {"user_id": "u1", "event_type": "view", "timestamp": T, "item_id": "i1", "price": 3.0},
            {"user_id": "u5", "event_type": "purchase", "timestamp": T, "item_id": "i3"},
        ]
    )


def test_quarantine_matches_the_local_validator(spark: Any, tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    _bad_events().to_parquet(path, index=False)
    table = validate_table(spark, path, "events")
    got = table.quarantine.toPandas().sort_values(["line", "field"]).reset_index(drop=True)
    local = validate_frame("events", pl.read_parquet(path), source="x")
    want = local.quarantine.sort_values(["line", "field"]).reset_index(drop=True)
    key = ["line", "field", "reason", "value"]
    assert got[key].astype(str).to_dict("records") == want[key].astype(str).to_dict("records")
    assert set(got["source"]) == {str(path)}
    assert set(got["reason"]) >= {"missing_field", "unknown_event_type", "negative_value"}
    valid = table.canonical().toPandas()
    assert sorted(valid["event_id"]) == sorted(local.valid["event_id"])
    assert len(valid) == 2  # u1's first view and u5's purchase


def test_duplicates_across_files_are_quarantined(spark: Any, tmp_path: Path) -> None:
    folder = tmp_path / "events"
    folder.mkdir()
    ev = _bad_events().iloc[[0, 6]]
    ev.to_parquet(folder / "part-0.parquet", index=False)
    ev.iloc[[1]].to_parquet(folder / "part-1.parquet", index=False)  # u5's purchase again
    table = validate_table(spark, folder, "events")
    q = table.quarantine.toPandas()
    assert q["reason"].tolist() == ["duplicate"]
    assert q["source"].iloc[0].endswith("part-1.parquet") and q["line"].iloc[0] == 1
    assert table.valid.count() == 2


def test_quarantine_parquet_is_written(spark: Any, tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    _bad_events().to_parquet(path, index=False)
    table = validate_table(spark, path, "events")
    counts = write_quarantine([table], tmp_path / "quarantine")
    back = pd.read_parquet(tmp_path / "quarantine" / "events.parquet")
    assert counts == {"events": len(back)} and len(back) == 5
    assert list(back.columns) == ["source", "line", "entity", "field", "value", "reason", "raw"]


def test_mapping_renames_and_maps_values(spark: Any, tmp_path: Path) -> None:
    path = tmp_path / "log.parquet"
    pd.DataFrame(
        {"uid": ["a", "b"], "act": ["pv", "buy"], "ts": [T, T], "sku": ["i1", "i2"]}
    ).to_parquet(path, index=False)
    mapping = Mapping(
        rename={"uid": "user_id", "act": "event_type", "ts": "timestamp", "sku": "item_id"},
        values={"event_type": {"pv": "view", "buy": "purchase"}},
    )
    got = validate_table(spark, path, "events", mapping=mapping).canonical().toPandas()
    assert sorted(got["event_type"]) == ["purchase", "view"]


def test_missing_required_column_is_a_layout_error(spark: Any, tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    pd.DataFrame({"who": ["a"], "event_type": ["view"], "timestamp": [T]}).to_parquet(path)
    with pytest.raises(ConfigError, match="user_id"):
        validate_table(spark, path, "events")


def test_users_and_items_keep_the_last_row_of_a_key(spark: Any, tmp_path: Path) -> None:
    pd.DataFrame({"item_id": ["i1", "i2", "i1"], "price": [1.0, 2.0, 5.0]}).to_parquet(
        tmp_path / "items.parquet", index=False
    )
    pd.DataFrame(
        {"user_id": ["u1"], "event_type": ["view"], "timestamp": [T], "item_id": ["i1"]}
    ).to_parquet(tmp_path / "events.parquet", index=False)
    shop = read_shop(spark, tmp_path)
    assert shop.users is None
    items = shop.items.canonical().toPandas().set_index("item_id")["price"].to_dict()
    assert items == {"i1": 5.0, "i2": 2.0}


def test_synthetic_shop_is_read_whole(spark_shop: Any, local_tables: dict[str, Any]) -> None:
    for entity in ("users", "items", "events"):
        table = getattr(spark_shop, entity)
        assert table.valid.count() == len(local_tables[entity])
        assert table.quarantine.count() == 0


def test_tables_are_found_as_files_directories_or_file_uris(tmp_path: Path) -> None:
    from campaignrec.engines.spark.io import resolve_table

    (tmp_path / "events").mkdir()
    (tmp_path / "items.parquet").write_bytes(b"")
    assert resolve_table(tmp_path, "events") == f"{tmp_path}/events"
    assert resolve_table(f"file://{tmp_path}", "items") == f"file://{tmp_path}/items.parquet"
    assert resolve_table(tmp_path, "users") is None


MAPPED_TOML = """
drop = ["note"]
custom_event_types = ["wishlist"]

[rename]
who = "user_id"
what = "event_type"
sku = "item_id"

[values.event_type]
pv = "view"
buy = "purchase"

[timestamp]
column = "when"
format = "%d/%m/%Y %H:%M"
timezone = "Europe/Berlin"

[constants]
device = "web"
"""


def test_mapping_option_gives_the_local_import(spark: Any, tmp_path: Path) -> None:
    """``--mapping events=FILE`` on Spark input: the rows and quarantine of ``campaignrec
    import events FILE --mapping FILE`` (the same mapping applied to every Arrow batch)."""
    from campaignrec.data.importer import import_file
    from campaignrec.engines.spark.jobs import SparkOptions, _read, parse_mappings
    from campaignrec.store.sql import SQLStore

    shop = tmp_path / "shop"
    shop.mkdir()
    pd.DataFrame(
        {
            "who": ["u1", "u2", "u3", "u4", None],
            "what": ["pv", "wishlist", "buy", "teleport", "pv"],
            "when": [
                "01/02/2024 10:00",
                "01/02/2024 11:00",
                "99/99/2024 00:00",
                "02/02/2024 10:00",
                "03/02/2024 10:00",
            ],
            "sku": ["i1", "i2", "i3", "i1", "i1"],
            "note": ["x"] * 5,
        }
    ).to_parquet(shop / "events.parquet", index=False)
    toml = tmp_path / "map.toml"
    toml.write_text(MAPPED_TOML)
    store = SQLStore(f"sqlite:///{tmp_path / 'local.db'}")
    import_file(store, "events", shop / "events.parquet", mapping=toml, reject_threshold=1)
    want = store.read_table("events").sort_values("user_id").reset_index(drop=True)
    want_q = store.read_table("quarantine").sort_values("line").reset_index(drop=True)
    store.close()

    home = tmp_path / "home"
    options = SparkOptions(input=str(shop), mappings=parse_mappings([str(toml)], str(shop)))
    got_shop = _read(spark, None, home, options)
    got = got_shop.events.canonical().toPandas().sort_values("user_id").reset_index(drop=True)
    assert got["user_id"].tolist() == want["user_id"].tolist() == ["u1", "u2"]
    for col in ("event_type", "item_id", "device"):
        assert got[col].tolist() == want[col].tolist(), col
    assert [pd.Timestamp(t, tz="UTC") for t in got["timestamp"]] == [
        pd.Timestamp(t).tz_convert("UTC") for t in want["timestamp"]
    ]
    got_q = pd.read_parquet(home / "spark" / "quarantine" / "events.parquet")
    got_q = got_q.sort_values("line").reset_index(drop=True)
    assert got_q["line"].tolist() == want_q["line"].tolist() == [3, 4, 5]
    assert got_q["reason"].tolist() == want_q["reason"].tolist()
    assert got_q["field"].tolist() == want_q["field"].tolist()


def test_mapping_option_errors_name_the_value(tmp_path: Path) -> None:
    from campaignrec.engines.spark.jobs import parse_mappings

    toml = tmp_path / "m.toml"
    toml.write_text(MAPPED_TOML)
    assert parse_mappings([f"items={toml}", str(toml)], "in") == {
        "items": str(toml),
        "events": str(toml),
    }
    with pytest.raises(ConfigError, match="unknown table 'orders'"):
        parse_mappings([f"orders={toml}"], "in")
    with pytest.raises(ConfigError, match="no such file"):
        parse_mappings([f"events={tmp_path / 'nope.toml'}"], "in")
    with pytest.raises(ConfigError, match="two mapping files"):
        parse_mappings([str(toml), f"events={toml}"], "in")
    with pytest.raises(ConfigError, match="--spark-input"):
        parse_mappings([str(toml)], None)
