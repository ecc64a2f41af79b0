"""The planted push response of a synthetic shop: its table, and fatigue as simulate_pushes plays
it (later pushes in a week clicked less, opted out of more; nothing after an opt-out)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from campaignrec.data.synthetic import ShopConfig, generate_shop
from campaignrec.data.synthetic.push import CHANNEL_BASE, push_truth, simulate_pushes


@pytest.fixture(scope="module")
def truth():  # type: ignore[no-untyped-def]
    shop = generate_shop(ShopConfig(n_users=3000, n_items=100, n_events=20_000, seed=3))
    return push_truth(shop, seed=3)


def test_the_truth_table(truth) -> None:  # type: ignore[no-untyped-def]
    u = truth.users
    assert len(u) == 3000 and u["user_id"].is_unique
    assert truth.hours.shape == (3000, 24)
    np.testing.assert_allclose(truth.hours.sum(axis=1), 1.0, atol=1e-6)
    for ch, base in CHANNEL_BASE.items():
        p = u[f"click_{ch}"]
        assert ((p >= 0) & (p <= 0.9)).all()
        assert p[p > 0].mean() == pytest.approx(base, rel=0.15)
    no_app = (u["click_app_push"] == 0) & (u["click_in_app"] == 0)
    assert 0.25 < no_app.mean() < 0.35
    assert u["decay"].between(0, 1).all() and u["decay"].mean() == pytest.approx(0.75, abs=0.02)
    again = push_truth(
        generate_shop(ShopConfig(n_users=3000, n_items=100, n_events=20_000, seed=3)), seed=3
    )
    pd.testing.assert_frame_equal(truth.users, again.users)


def test_fatigue_and_opt_outs_as_played(truth) -> None:  # type: ignore[no-untyped-def]
    users = truth.users["user_id"].tolist()
    start = pd.Timestamp("2025-03-03T12:00:00Z")
    rows = [
        {"user_id": u, "channel": "sms", "send_at_utc": start + pd.Timedelta(days=d)}
        for d in range(7)
        for u in users
    ]
    res = simulate_pushes(truth, pd.DataFrame(rows), seed=1).pushes
    res["day"] = (pd.to_datetime(res["send_at_utc"]) - start).dt.days
    by_day = res[res["delivered"]].groupby("day")[["clicked", "opted_out"]].mean()
    assert by_day["clicked"].iloc[6] < 0.6 * by_day["clicked"].iloc[0]
    assert by_day["opted_out"].iloc[4:].mean() > 1.5 * by_day["opted_out"].iloc[0]
    # nothing is delivered to a shopper after they opted out
    for _, part in res.sort_values("send_at_utc").groupby("user_id"):
        out = part["opted_out"].to_numpy()
        if out.any():
            assert not part["delivered"].to_numpy()[int(out.argmax()) + 1 :].any()
    # a shopper already opted out gets nothing
    gone = {users[0]}
    again = simulate_pushes(truth, pd.DataFrame(rows[:5]), seed=1, opted_out=gone).pushes
    assert not again.loc[again["user_id"] == users[0], "delivered"].any()
