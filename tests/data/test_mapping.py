"""Mapping files: validated TOML, applied to chunks, shipped presets, CLI options."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from campaignrec.data.importer import import_file
from campaignrec.data.mapping import (
    Mapping,
    load_mapping,
    load_preset,
    parse_pairs,
    parse_value_maps,
    preset_names,
)
from campaignrec.errors import ConfigError

MAPPING_TOML = """
format = "csv"
delimiter = ";"
header = false
columns = ["who", "what", "when", "sku", "cat"]
drop = ["cat"]
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


def test_mapping_file_round_trip_and_apply(write_file):
    m = load_mapping(write_file("m.toml", MAPPING_TOML))
    assert m.file_format("x.whatever") == "csv" and m.separator("csv") == ";"
    chunk = pl.DataFrame(
        {
            "who": ["u1"],
            "what": [" buy "],
            "when": ["01/02/2024 10:00"],
            "sku": ["i1"],
            "cat": ["c"],
        }
    )
    out = m.apply(chunk)
    assert sorted(out.columns) == ["device", "event_type", "item_id", "timestamp", "user_id"]
    assert out.row(0, named=True)["event_type"] == "purchase"
    assert out["device"].to_list() == ["web"]
    opts = m.validation_options()
    assert opts.timestamp_format == "%d/%m/%Y %H:%M" and opts.custom_event_types == ("wishlist",)


def test_mapping_file_drives_an_import(ingest_store, write_file):
    m = write_file("m.toml", MAPPING_TOML)
    data = write_file(
        "shop.txt",
        "u1;pv;01/02/2024 10:00;i1;c\nu2;wishlist;01/02/2024 11:00;i2;c\nu3;buy;99/99/2024 00:00;i3;c\n",
    )
    s = import_file(ingest_store, "events", data, mapping=m, reject_threshold=1)
    assert s.accepted == 2 and s.by_reason == {"bad_timestamp": 1}
    ev = ingest_store.read_table("events").sort_values("user_id")
    assert ev["timestamp"].iloc[0] == datetime(2024, 2, 1, 9, 0, tzinfo=UTC)  # CET -> UTC
    assert ev["device"].tolist() == ["web", "web"]
    assert ev["event_type"].tolist() == ["view", "wishlist"]


def test_unknown_keys_and_bad_values_are_config_errors(write_file):
    with pytest.raises(ConfigError, match="delimeter"):
        load_mapping(write_file("bad.toml", 'delimeter = ";"\n'))
    with pytest.raises(ConfigError, match=r"timestamp\.unit"):
        load_mapping(write_file("bad2.toml", '[timestamp]\nunit = "days"\n'))
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_mapping(write_file("bad3.toml", "format = \n"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_mapping(write_file("x.toml", "").with_name("missing.toml"))


def test_format_is_inferred_from_the_extension():
    m = Mapping()
    assert m.file_format("a.csv") == "csv"
    assert m.file_format("a.TSV") == "tsv" and m.separator("tsv") == "\t"
    assert m.file_format("a.parquet") == "parquet"
    assert m.file_format("a.jsonl") == "jsonl"
    with pytest.raises(ConfigError, match="format"):
        m.file_format("a.xlsx")


def test_every_preset_loads():
    names = preset_names()
    assert {"taobao", "movielens", "movielens-atomic"} <= set(names)
    for name in names:
        assert isinstance(load_preset(name), Mapping)
    with pytest.raises(ConfigError, match="no mapping preset"):
        load_preset("nope")


def test_movielens_atomic_preset(ingest_store, write_file):
    path = write_file(
        "ml.inter",
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "196\t242\t3\t881250949\n186\t302\t3\t891717742\n",
    )
    s = import_file(ingest_store, "events", path, preset="movielens-atomic")
    assert s.accepted == 2
    ev = ingest_store.read_table("events").sort_values("user_id")
    assert ev["item_id"].tolist() == ["302", "242"] and set(ev["event_type"]) == {"rating"}
    assert ev["rating"].tolist() == [3.0, 3.0]


def test_headerless_file_needs_columns(ingest_store, write_file):
    path = write_file("x.csv", "u1,view\n")
    with pytest.raises(ConfigError, match="columns"):
        import_file(ingest_store, "events", path, mapping=Mapping(header=False))


def test_merged_options_override_and_extend():
    base = load_preset("taobao")
    m = base.merged(
        rename={"item_id": "item_id"},
        values={"event_type": {"like": "favorite"}},
        timestamp={"timezone": "Asia/Shanghai"},
        delimiter="\t",
    )
    assert m.values["event_type"]["pv"] == "view" and m.values["event_type"]["like"] == "favorite"
    assert m.timestamp.unit == "s" and m.timestamp.timezone == "Asia/Shanghai"
    assert m.delimiter == "\t" and base.delimiter is None


def test_cli_style_pairs():
    assert parse_pairs(["a=b", " c = d "], what="--rename") == {"a": "b", "c": "d"}
    assert parse_value_maps(["event_type:pv=view", "event_type:buy=purchase"]) == {
        "event_type": {"pv": "view", "buy": "purchase"}
    }
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_pairs(["oops"], what="--rename")
    with pytest.raises(ConfigError, match="COLUMN:FROM=TO"):
        parse_value_maps(["event_type=view"])


def test_list_separator_and_epoch_units(ingest_store, write_file):
    items = write_file("items.tsv", "item_id\ttags\ni1\ta;b;c\n")
    import_file(ingest_store, "items", items, mapping=Mapping(list_separator=";"))
    assert list(ingest_store.read_table("items")["tags"].iloc[0]) == ["a", "b", "c"]
    ev = write_file("ev.csv", "user_id,event_type,timestamp,item_id\nu1,view,1704067200000,i1\n")
    m = Mapping.model_validate({"timestamp": {"unit": "ms"}})
    import_file(ingest_store, "events", ev, mapping=m)
    assert ingest_store.read_table("events")["timestamp"].iloc[0] == datetime(
        2024, 1, 1, tzinfo=UTC
    )


def test_a_missing_required_column_is_a_layout_error_not_bad_rows(ingest_store, write_file):
    path = write_file("semi.csv", "user_id;event_type;timestamp;item_id\nu1;view;2024-01-01;i1\n")
    with pytest.raises(ConfigError, match="delimiter") as info:
        import_file(ingest_store, "events", path)
    assert "user_id;event_type" in str(info.value)
    assert ingest_store.count("quarantine") == 0
    s = import_file(ingest_store, "events", path, mapping=Mapping(delimiter=";"))
    assert s.accepted == 1


def test_list_and_dict_constants_are_json(ingest_store, write_file):
    path = write_file("items.csv", "item_id,price\ni1,2\n")
    m = Mapping.model_validate(
        {"constants": {"tags": ["sale", "new"], "attributes": {"src": "erp"}}}
    )
    import_file(ingest_store, "items", path, mapping=m)
    item = ingest_store.read_table("items").iloc[0]
    assert list(item["tags"]) == ["sale", "new"] and item["attributes"] == {"src": "erp"}


def test_encoding_and_tsv(ingest_store, tmp_path):
    path = tmp_path / "users.tsv"
    path.write_bytes("user_id\tcity\nu1\tMünchen\n".encode("latin-1"))
    import_file(ingest_store, "users", path, mapping=Mapping(encoding="latin-1"))
    assert ingest_store.read_table("users")["city"].tolist() == ["München"]
