"""Explicit ratings survive import (with their scale) and reach the Interactions snapshot."""

from __future__ import annotations

import numpy as np
import pytest

from campaignrec.config import Settings
from campaignrec.data.importer import import_file
from campaignrec.data.interactions import Interactions
from campaignrec.data.mapping import Mapping, parse_mapping
from campaignrec.errors import ConfigError
from campaignrec.pipeline.snapshot import build_snapshot

U_DATA = "196\t242\t3\t881250949\n186\t302\t5\t891717742\n22\t377\t1\t878887116\n"


def test_movielens_preset_keeps_ratings_into_the_snapshot(ingest_store, write_file):
    path = write_file("u.data", U_DATA + "244\t51\t9\t880606923\n")  # 9 is off the 1-5 scale
    summary = import_file(ingest_store, "events", path, preset="movielens", reject_threshold=1.0)
    assert summary.accepted == 3
    q = ingest_store.read_table("quarantine")
    assert q["field"].tolist() == ["rating"] and q["reason"].tolist() == ["out_of_range"]
    snap = build_snapshot(ingest_store, Settings())
    assert snap.has_ratings
    u, i, r = snap.ratings()
    got = sorted(zip(snap.users.ids[u], snap.items.ids[i], r.tolist(), strict=True))
    assert got == [("186", "302", 5.0), ("196", "242", 3.0), ("22", "377", 1.0)]
    # implicit models still see each rating as one interaction
    assert snap.binary.nnz == 3 and set(snap.event_type_of()) == {"rating"}


def test_a_declared_scale_replaces_the_default(ingest_store, write_file):
    path = write_file(
        "r.csv",
        "user_id,item_id,event_type,timestamp,rating\n"
        "u1,i1,rating,2024-01-01T00:00:00Z,0\n"
        "u1,i2,rating,2024-01-01T00:01:00Z,10\n"
        "u2,i1,rating,2024-01-01T00:02:00Z,10.5\n"
        "u2,i2,rating,2024-01-01T00:03:00Z,\n",
    )
    summary = import_file(
        ingest_store, "events", path, mapping=Mapping(rating_scale=(0, 10)), reject_threshold=1.0
    )
    assert summary.accepted == 2
    reasons = ingest_store.read_table("quarantine").set_index("line")["reason"].to_dict()
    assert reasons == {4: "out_of_range", 5: "missing_field"}
    with pytest.raises(ConfigError, match="rating_scale"):
        parse_mapping({"rating_scale": [5, 1]})


def test_snapshot_save_load_and_subset_keep_ratings(tmp_path):
    import pandas as pd

    ev = pd.DataFrame(
        {
            "user_id": ["a", "a", "b"],
            "item_id": ["x", "y", "x"],
            "event_type": ["rating", "view", "rating"],
            "timestamp": pd.to_datetime([1, 2, 3], unit="s", utc=True),
            "rating": [4.0, np.nan, 2.0],
        }
    )
    snap = Interactions.from_frame(ev)
    assert snap.ratings()[2].tolist() == [4.0, 2.0]
    loaded = Interactions.load(snap.save(tmp_path / "snap"))
    assert loaded.ratings()[2].tolist() == [4.0, 2.0] and loaded.snapshot_id == snap.snapshot_id
    part = snap.subset(np.array([False, True, True]))
    assert part.ratings()[2].tolist() == [2.0]
    no_ratings = Interactions.from_frame(ev.drop(columns="rating"))
    assert no_ratings.rating is None and not no_ratings.has_ratings
