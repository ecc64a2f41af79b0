"""ProfileState: known answers, RFM against plain pandas, incremental = batch."""

from __future__ import annotations

import io
import itertools
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaignrec.errors import ValidationError
from campaignrec.profiles.config import ProfileConfig
from campaignrec.profiles.state import ProfileState

from .conftest import T0, events

# a few CDNOW lines (customer_id date n_cds dollars), same layout as CDNOW_master.txt
CDNOW_FIXTURE = """\
 00001 19970101  1   11.77
 00002 19970112  1   12.00
 00002 19970112  5   77.00
 00003 19970102  2   20.76
 00003 19970330  2   20.76
 00003 19970402  2   19.54
 00003 19971115  5   57.45
 00003 19971125  4   20.96
 00003 19980528  1   16.99
 00004 19970101  2   29.33
 00004 19970118  2   29.73
 00004 19970802  1   14.96
 00004 19971212  2   26.48
 00005 19970101  2   29.33
 00005 19970114  1   13.97
 00005 19970204  3   38.90
 00005 19970411  3   45.55
 00005 19970531  3   38.71
 00005 19970616  2   26.14
 00005 19970722  2   28.14
 00005 19970915  3   40.47
 00005 19971208  4   46.46
 00005 19971212  3   40.47
 00005 19980103  5   37.47
 00006 19970101  1   20.99
 00006 19980630  0    0.00
"""


def _cdnow() -> pd.DataFrame:
    raw = pd.read_csv(
        io.StringIO(CDNOW_FIXTURE),
        sep=r"\s+",
        header=None,
        names=["customer_id", "date", "n_cds", "dollars"],
        dtype={"customer_id": str, "date": str},
    )
    return raw


def test_rfm_equals_plain_pandas_on_cdnow_lines() -> None:
    raw = _cdnow()
    ev = pd.DataFrame(
        {
            "user_id": raw["customer_id"],
            "event_type": "purchase",
            "timestamp": pd.to_datetime(raw["date"], format="%Y%m%d", utc=True),
            "item_id": "cd",
            "quantity": raw["n_cds"].astype(float),
            "revenue": raw["dollars"],
        }
    )
    prof = ProfileState().apply(ev).profiles().set_index("user_id")
    # the plain definitions
    dates = pd.to_datetime(raw["date"], format="%Y%m%d")
    end = dates.max()
    g = raw.assign(d=dates).groupby("customer_id")
    expected = pd.DataFrame(
        {
            "frequency": g["d"].nunique(),
            "monetary": g["dollars"].sum(),
            "recency_days": (end - g["d"].max()).dt.days.astype(float),
        }
    )
    got = prof.loc[expected.index, ["frequency", "monetary", "recency_days"]]
    pd.testing.assert_frame_equal(got, expected, check_dtype=False, check_names=False)
    # customer 2 bought twice on one day: one order; customer 6's last purchase is the end
    assert prof.loc["00002", "frequency"] == 1
    assert prof.loc["00006", "recency_days"] == 0
    assert prof.attrs["as_of"].startswith("1998-06-30")


def test_cdnow_adapter_counts_purchase_days_as_orders(tmp_path) -> None:
    """Through the importer and the store, as `campaignrec import dataset cdnow` runs it: CDNOW has
    no order id, so two lines of one customer on one day are one order (but both lines count)."""
    from campaignrec.data.adapters import read_cdnow
    from campaignrec.data.importer import import_dataset
    from campaignrec.store.sql import SQLStore

    (tmp_path / "CDNOW_master.txt").write_text(CDNOW_FIXTURE, encoding="utf-8")
    raw = _cdnow()
    store = SQLStore(f"sqlite:///{tmp_path / 'cdnow.db'}")
    try:
        summary = import_dataset(store, read_cdnow(tmp_path))
        assert summary["events"].accepted == len(raw)  # no line lost as a "duplicate"
        again = import_dataset(store, read_cdnow(tmp_path))
        assert again["events"].accepted == 0 and store.count("events") == len(raw)
        state = ProfileState()
        for chunk in store.iter_table("events"):
            state.apply(chunk)
        prof = state.profiles().set_index("user_id")
    finally:
        store.close()
    g = raw.groupby("customer_id")
    expected_orders = g["date"].nunique()
    assert (prof.loc[expected_orders.index, "frequency"] == expected_orders).all()
    assert prof.loc["00002", "frequency"] == 1  # two lines on 1997-01-12: one order
    assert prof.loc["00002", "n_purchase_lines"] == 2
    np.testing.assert_allclose(
        prof.loc[expected_orders.index, "monetary"], g["dollars"].sum().to_numpy()
    )
    assert prof.loc["00002", "avg_basket"] == pytest.approx(89.0)  # 12.00 + 77.00, one basket


def test_known_answers(items: pd.DataFrame) -> None:
    ev = events(
        [
            {
                "user_id": "a",
                "event_type": "view",
                "item_id": "i1",
                "t": 0,
                "session_id": "s1",
                "device": "app",
            },
            {
                "user_id": "a",
                "event_type": "view",
                "item_id": "i2",
                "t": 0,
                "session_id": "s1",
                "device": "app",
            },
            {
                "user_id": "a",
                "event_type": "click",
                "item_id": "i1",
                "t": 0,
                "session_id": "s1",
                "device": "app",
            },
            {
                "user_id": "a",
                "event_type": "add_to_cart",
                "item_id": "i1",
                "t": 0,
                "session_id": "s1",
                "device": "app",
            },
            # order o1: two lines, price from the catalogue, quantity 2 on one line
            {
                "user_id": "a",
                "event_type": "purchase",
                "item_id": "i1",
                "t": 0,
                "session_id": "s1",
                "order_id": "o1",
                "quantity": 2,
                "device": "app",
            },
            {
                "user_id": "a",
                "event_type": "purchase",
                "item_id": "i3",
                "t": 0,
                "session_id": "s1",
                "order_id": "o1",
                "price": 12.0,
                "device": "app",
            },
            # order o2 ten days later, explicit revenue, on a coupon in the same session
            {
                "user_id": "a",
                "event_type": "coupon_redeem",
                "campaign_id": "c1",
                "t": 10,
                "session_id": "s2",
                "device": "desktop",
            },
            {
                "user_id": "a",
                "event_type": "purchase",
                "item_id": "i4",
                "t": 10,
                "session_id": "s2",
                "order_id": "o2",
                "revenue": 30.0,
                "device": "desktop",
            },
            {"user_id": "a", "event_type": "search", "query": " Socks ", "t": 11},
            {"user_id": "a", "event_type": "search", "query": "socks", "t": 11},
            {"user_id": "a", "event_type": "search", "query": "hat", "t": 12},
            {"user_id": "a", "event_type": "coupon_claim", "campaign_id": "c1", "t": 9},
            {"user_id": "a", "event_type": "coupon_claim", "campaign_id": "c2", "t": 9},
            {"user_id": "b", "event_type": "view", "item_id": "i4", "t": 20},
        ]
    )
    prof = ProfileState(items).apply(ev).profiles().set_index("user_id")
    a = prof.loc["a"]
    assert a["frequency"] == 2
    assert a["monetary"] == pytest.approx(2 * 100 + 12 + 30)
    assert a["recency_days"] == 10  # last purchase t=10, end of data t=20
    assert a["n_sessions"] == 5  # s1, s2 and three day-sessions (days 9, 11 and 12)
    assert a["n_views"] == 2 and a["n_clicks"] == 1 and a["n_carts"] == 1
    assert a["view_to_click"] == pytest.approx(0.5)
    assert a["click_to_cart"] == pytest.approx(1.0)
    assert a["cart_to_purchase"] == pytest.approx(1.0)  # 3 purchase lines / 1 cart, capped at 1
    assert a["avg_basket"] == pytest.approx(121.0)
    assert a["items_per_order"] == pytest.approx(2.0)  # quantities 2 + 1 + 1 over 2 orders
    assert a["cadence_days"] == pytest.approx(10.0)
    assert a["discount_share"] == pytest.approx(0.5)  # o2 is on a coupon, o1 is not
    assert a["coupon_redemption_rate"] == pytest.approx(0.5)  # 1 redeem / 2 claims
    assert a["top_search_terms"] == ["socks", "hat"]
    assert json.loads(a["device_mix"]) == pytest.approx({"app": 6 / 8, "desktop": 2 / 8})
    assert a["bought_categories"] == ["books", "shoes", "socks"]
    # shoes: views 1+1, click 2, cart 3, purchase 5 at t=0 -> the strongest affinity
    assert a["top_categories"][0] == "shoes"
    assert a["top_brands"][0] == "acme"
    assert sum(a["top_category_weights"]) == pytest.approx(1.0)
    assert a["hour_00"] == pytest.approx(1.0)
    assert a["weekday_4"] == pytest.approx(6 / 13)  # 2024-03-01 is a Friday
    b = prof.loc["b"]
    assert b["frequency"] == 0 and b["monetary"] == 0
    assert np.isnan(b["recency_days"]) and np.isnan(b["avg_basket"])
    assert b["rfm_segment"] == "prospect"
    assert b["top_categories"] == ["books"]


def test_decay_prefers_recent_interest(items: pd.DataFrame) -> None:
    ev = events(
        [
            {"user_id": "u", "event_type": "view", "item_id": "i1", "t": 0},
            {"user_id": "u", "event_type": "view", "item_id": "i1", "t": 0},
            {"user_id": "u", "event_type": "view", "item_id": "i4", "t": 60},
        ]
    )
    prof = ProfileState(items, ProfileConfig(half_life_days=30)).apply(ev).profiles()
    cats = prof.loc[0, "top_categories"]
    w = prof.loc[0, "top_category_weights"]
    # 2 views two half-lives ago weigh 0.5 against 1 recent view
    assert cats == ["books", "shoes"]
    assert w == pytest.approx([1 / 1.5, 0.5 / 1.5])


def test_users_without_events_and_demographics() -> None:
    ev = events([{"user_id": "a", "event_type": "view", "item_id": "x", "t": 40}])
    users = pd.DataFrame(
        {
            "user_id": ["a", "z"],
            "birth_year": [1990, None],
            "gender": ["female", None],
            "signup_time": [T0, T0 + pd.Timedelta(days=35)],
            "membership_tier": ["gold", "basic"],
        }
    )
    prof = ProfileState().apply(ev).profiles(users).set_index("user_id")
    assert list(prof.index) == ["a", "z"]
    assert prof.loc["a", "age"] == 34 and prof.loc["a", "membership_tier"] == "gold"
    assert prof.loc["a", "days_since_first_seen"] == 40
    assert prof.loc["a", "lifecycle"] == "active"  # seen 40 days ago, active 0 days ago
    assert prof.loc["z", "n_events"] == 0 and prof.loc["z", "top_categories"] == []
    assert prof.loc["z", "lifecycle"] == "new" and bool(prof.loc["z", "is_new"])


def test_missing_column_is_a_clear_error() -> None:
    with pytest.raises(ValidationError, match="timestamp"):
        ProfileState().apply(pd.DataFrame({"user_id": ["a"], "event_type": ["view"]}))


# ---- incremental = batch -------------------------------------------------------------------------
TYPES = [
    "view",
    "click",
    "add_to_cart",
    "remove_from_cart",
    "purchase",
    "search",
    "favorite",
    "campaign_impression",
    "campaign_click",
    "coupon_claim",
    "coupon_redeem",
]


@st.composite
def event_streams(draw: st.DrawFn) -> pd.DataFrame:
    n = draw(st.integers(1, 60))
    rows = []
    for _ in range(n):
        et = draw(st.sampled_from(TYPES))
        rows.append(
            {
                "user_id": draw(st.sampled_from(["u1", "u2", "u3", "u4"])),
                "event_type": et,
                "timestamp": T0 + pd.Timedelta(seconds=draw(st.integers(0, 90 * 86_400))),
                "item_id": draw(st.sampled_from(["i1", "i2", "i3", "i4", "i9"])),
                "campaign_id": draw(st.sampled_from([None, "c1"])),
                "query": draw(st.sampled_from([None, "Shoes", "socks"])),
                "quantity": draw(st.sampled_from([None, 1.0, 3.0])),
                "price": draw(st.sampled_from([None, 5.5])),
                "revenue": draw(st.sampled_from([None, 12.25])),
                "session_id": draw(st.sampled_from([None, "s1", "s2", "s3"])),
                "order_id": draw(st.sampled_from([None, "o1", "o2"])),
                "device": draw(st.sampled_from([None, "app", "web"])),
            }
        )
    return events(rows)


def assert_profiles_equal(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a.columns) == list(b.columns)
    assert list(a["user_id"]) == list(b["user_id"])
    for c in a.columns:
        x, y = a[c], b[c]
        if pd.api.types.is_float_dtype(x):
            np.testing.assert_allclose(
                x.to_numpy(float), y.to_numpy(float), rtol=1e-9, atol=1e-12, err_msg=c
            )
        elif c.endswith("_weights"):
            for u, v in zip(x, y, strict=True):
                np.testing.assert_allclose(u, v, rtol=1e-9, err_msg=c)
        elif c == "device_mix":
            for u, v in zip(x, y, strict=True):
                assert json.loads(u) == pytest.approx(json.loads(v)), c
        else:
            assert x.tolist() == y.tolist(), c


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=event_streams(), cuts=st.lists(st.floats(0, 1), max_size=3), data=st.data())
def test_incremental_equals_batch(
    stream: pd.DataFrame, cuts: list[float], data: st.DataObject
) -> None:
    items = pd.DataFrame(
        {
            "item_id": ["i1", "i2", "i3", "i4"],
            "category": ["a", "a", "b", "c"],
            "brand": ["x", "y", "y", "z"],
            "price": [1.0, 2.0, 3.0, 4.0],
        }
    )
    if data.draw(st.booleans()):  # the online path may see events out of time order
        stream = stream.sample(frac=1.0, random_state=data.draw(st.integers(0, 100)))
    batch = ProfileState(items).apply(stream).profiles()
    online = ProfileState(items, buffer_rows=1)  # fold every batch in at once
    bounds = sorted({0, len(stream), *(int(c * len(stream)) for c in cuts)})
    for lo, hi in itertools.pairwise(bounds):
        online.apply(stream.iloc[lo:hi])
    assert_profiles_equal(batch, online.profiles())
    # two shards merged give the same too
    k = bounds[len(bounds) // 2]
    left = ProfileState(items, buffer_rows=1).apply(stream.iloc[:k])
    left.merge(ProfileState(items).apply(stream.iloc[k:]))
    assert_profiles_equal(batch, left.profiles())
    # buffered batches (the chunked batch path) fold in to the same state
    buffered = ProfileState(items, buffer_rows=10**9)
    buffered.apply_many(stream.iloc[lo:hi] for lo, hi in itertools.pairwise(bounds))
    assert_profiles_equal(batch, buffered.profiles())


def test_state_save_load_then_apply(tmp_path, items: pd.DataFrame) -> None:
    rng = np.random.default_rng(0)
    n = 300
    ev = events(
        [
            {
                "user_id": f"u{rng.integers(8)}",
                "event_type": str(rng.choice(["view", "click", "purchase", "search"])),
                "t": float(rng.uniform(0, 50)),
                "item_id": f"i{rng.integers(1, 5)}",
                "query": "q",
                "order_id": f"o{rng.integers(40)}",
            }
            for _ in range(n)
        ]
    )
    whole = ProfileState(items).apply(ev).profiles()
    first = ProfileState(items, buffer_rows=1).apply(ev.iloc[:120])
    first.save(tmp_path / "state")
    again = ProfileState.load(tmp_path / "state", items).apply(ev.iloc[120:])
    assert again.n_events_applied == n
    assert_profiles_equal(whole, again.profiles())
