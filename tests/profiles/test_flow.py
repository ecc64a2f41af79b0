"""Lifecycle flow between two cut-offs: the profiles' own lifecycle field at each."""

from __future__ import annotations

import pandas as pd
import pytest

from campaignrec.errors import ValidationError
from campaignrec.profiles.flow import FLOW_COLUMNS, JOINED, lifecycle_flow
from campaignrec.profiles.state import ProfileState

from .conftest import T0, events

START = T0 + pd.Timedelta(days=60)
END = T0 + pd.Timedelta(days=120)


def shop() -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = [
        # a: bought at day 0 and day 110: at start 60 days since the last purchase (at_risk),
        # at the end 10 (active)
        {"user_id": "a", "event_type": "purchase", "item_id": "i1", "price": 100.0, "t": 0},
        {"user_id": "a", "event_type": "purchase", "item_id": "i1", "price": 100.0, "t": 110},
        # b: bought twice early (active at day 60: 15 days), nothing since -> at_risk at 120
        {"user_id": "b", "event_type": "purchase", "item_id": "i3", "price": 10.0, "t": 5},
        {"user_id": "b", "event_type": "purchase", "item_id": "i3", "price": 10.0, "t": 45},
        # c: first seen after the start
        {"user_id": "c", "event_type": "view", "item_id": "i2", "t": 100},
        # e: an event after the end is ignored (e is not there at all)
        {"user_id": "e", "event_type": "view", "item_id": "i2", "t": 200},
    ]
    users = pd.DataFrame(
        {
            "user_id": ["a", "b", "c", "d"],
            # d signed up long before the start and never did anything
            "signup_time": pd.to_datetime(
                ["2023-01-01", "2023-01-01", "2024-06-01", "2023-06-01"], utc=True
            ),
        }
    )
    return events(rows), users


def test_each_shopper_moves_from_their_stage_at_the_start_to_the_one_at_the_end(
    items: pd.DataFrame,
) -> None:
    ev, users = shop()
    out = lifecycle_flow([ev.iloc[:3], ev.iloc[3:]], start=START, end=END, users=users, items=items)
    assert list(out.columns) == list(FLOW_COLUMNS)
    pairs = {(r["before"], r["after"]): r["shoppers"] for r in out.to_dict("records")}
    assert pairs == {
        (JOINED, "new"): 1,  # c
        ("active", "at_risk"): 1,  # b
        ("at_risk", "active"): 1,  # a
        ("churned", "churned"): 1,  # d
    }
    assert out["before"].iloc[0] == JOINED  # the stages' order, joined first


def test_both_sides_are_the_profiles_lifecycle_at_each_cut_off(items: pd.DataFrame) -> None:
    ev, users = shop()
    out = lifecycle_flow([ev], start=START, end=END, users=users, items=items)
    for cut, side in ((START, "before"), (END, "after")):
        ts = pd.to_datetime(ev["timestamp"], utc=True)
        state = ProfileState(items).apply(ev[(ts <= cut).to_numpy()])
        prof = state.profiles(users, as_of=cut)
        if side == "before":  # shoppers there at the start: signed up or seen by then
            prof = prof[prof["user_id"].isin(["a", "b", "d"])]
        want = prof["lifecycle"].value_counts().to_dict()
        got = out[out[side] != JOINED].groupby(side)["shoppers"].sum().to_dict()
        assert got == want, side
    assert int(out["shoppers"].sum()) == 4


def test_no_events_is_an_empty_flow_and_the_cut_offs_must_be_ordered() -> None:
    assert lifecycle_flow([], start=START, end=END).empty
    with pytest.raises(ValidationError, match="start"):
        lifecycle_flow([], start=END, end=START)
