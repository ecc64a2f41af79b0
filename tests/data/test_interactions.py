import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaignrec.data.interactions import IdMap, Interactions
from campaignrec.errors import UnknownIdError, ValidationError


def _events():
    return pd.DataFrame(
        {
            "user_id": ["a", "a", "b", "c", "a", "b"],
            "item_id": ["x", "y", "x", None, "x", "z"],
            "event_type": ["view", "purchase", "click", "search", "view", "remove_from_cart"],
            "timestamp": pd.to_datetime(
                [
                    "2024-01-01",
                    "2024-01-03",
                    "2024-01-02",
                    "2024-01-02",
                    "2024-01-05",
                    "2024-01-06",
                ],
                utc=True,
            ),
        }
    )


def test_matrix_sums_event_weights_and_drops_itemless_and_zero_weight_events():
    inter = Interactions.from_frame(_events())
    assert len(inter) == 4  # search (no item) and remove_from_cart (weight 0) are left out
    m = inter.matrix.toarray()
    a, b = inter.users.index(["a", "b"])
    x, y = inter.items.index(["x", "y"])
    assert m[a, x] == 2.0 and m[a, y] == 5.0 and m[b, x] == 2.0
    assert inter.binary.sum() == 3


def test_time_decay_halves_weight_per_half_life():
    inter = Interactions.from_frame(_events(), half_life_days=2.0)
    m = inter.matrix.toarray()
    a, x, y = inter.users.index(["a"])[0], *inter.items.index(["x", "y"])
    # reference time is the last kept event (2024-01-05); the purchase was 2 days before it
    assert m[a, y] == pytest.approx(2.5)
    assert m[a, x] == pytest.approx(1.0 + 0.25)  # a view 4 days (two half-lives) back + one today


def test_sequences_are_time_ordered_per_user():
    inter = Interactions.from_frame(_events())
    a = inter.users.index(["a"])[0]
    seq = inter.items.external(inter.user_sequence(a))
    assert list(seq) == ["x", "y", "x"]


def test_cold_ids_from_feature_tables_and_aligned_features():
    items = pd.DataFrame({"item_id": ["x", "y", "new"], "category": ["c1", "c2", "c3"]})
    users = pd.DataFrame({"user_id": ["a", "newbie"], "gender": ["female", "male"]})
    inter = Interactions.from_frame(_events(), items=items, users=users)
    assert "new" in inter.items and "newbie" in inter.users
    new = inter.items.index(["new"])[0]
    assert inter.item_features.loc[new, "category"] == "c3"
    assert inter.user_features.loc[inter.users.index(["newbie"])[0], "gender"] == "male"
    assert new not in set(inter.item_idx)


def test_polars_input_and_explicit_values():
    df = pl.DataFrame(
        {
            "user_id": ["u1", "u2"],
            "item_id": ["i1", "i1"],
            "rating": [4.0, 2.0],
            "timestamp": [10, 20],
        }
    )
    inter = Interactions.from_frame(df, value_column="rating")
    assert sorted(inter.weight.tolist()) == [2.0, 4.0]


def test_missing_column_and_bad_timestamp_are_named():
    with pytest.raises(ValidationError, match="item_id"):
        Interactions.from_frame(pd.DataFrame({"user_id": ["a"], "timestamp": [1]}))
    bad = pd.DataFrame(
        {"user_id": ["a"], "item_id": ["x"], "event_type": ["view"], "timestamp": ["yesterday"]}
    )
    with pytest.raises(ValidationError, match="timestamp"):
        Interactions.from_frame(bad)


def test_subset_keeps_id_maps_and_save_load_round_trips(tmp_path):
    inter = Interactions.from_frame(
        _events(), items=pd.DataFrame({"item_id": ["x"], "brand": ["b"]})
    )
    sub = inter.subset(inter.timestamp < inter.reference_time)
    assert (
        sub.n_users == inter.n_users and sub.n_items == inter.n_items and len(sub) == len(inter) - 1
    )
    assert sub.snapshot_id != inter.snapshot_id
    back = Interactions.load(inter.save(tmp_path / "snap"))
    assert back.snapshot_id == inter.snapshot_id
    assert (back.matrix != inter.matrix).nnz == 0
    assert back.item_features.loc[inter.items.index(["x"])[0], "brand"] == "b"
    with pytest.raises(ValidationError):
        inter.subset(np.ones(2, bool))


def test_idmap_unknown_ids():
    ids = IdMap.from_values(["a", "b", "a"])
    assert len(ids) == 2 and list(ids.index(["b", "a"])) == [1, 0]
    assert list(ids.index(["zz"], missing="ignore")) == [-1]
    assert list(ids.external(np.array([1, -1]))) == ["b", None]
    with pytest.raises(UnknownIdError):
        ids.index(["zz"])


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.integers(0, 7), st.integers(0, 1000)),
        min_size=1,
        max_size=60,
    )
)
def test_matrix_total_equals_sum_of_weights(rows):
    df = pd.DataFrame(rows, columns=["u", "i", "t"])
    ev = pd.DataFrame(
        {
            "user_id": "u" + df.u.astype(str),
            "item_id": "i" + df.i.astype(str),
            "event_type": "click",
            "timestamp": df.t,
        }
    )
    inter = Interactions.from_frame(ev)
    assert inter.matrix.sum() == pytest.approx(2.0 * len(rows))
    indptr, _items, ts = inter.sequences
    assert indptr[-1] == len(rows)
    for u in range(inter.n_users):
        assert np.all(np.diff(ts[indptr[u] : indptr[u + 1]]) >= 0)


def test_id_order_does_not_depend_on_time():
    early = pd.DataFrame({"user_id": ["b", "a"], "item_id": ["z", "y"], "timestamp": [1, 2]})
    late = early.iloc[::-1].assign(timestamp=[1, 2])
    a, b = Interactions.from_frame(early), Interactions.from_frame(late)
    assert list(a.items.ids) == list(b.items.ids) == ["y", "z"]
    assert list(a.users.ids) == ["a", "b"]


def test_missing_timestamps_are_a_validation_error():
    ev = pd.DataFrame({"user_id": ["a", "b"], "item_id": ["x", "y"], "timestamp": [1.0, np.nan]})
    with pytest.raises(ValidationError, match="timestamp") as info:
        Interactions.from_frame(ev)
    assert info.value.row == 1
