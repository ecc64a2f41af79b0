"""Repeat-purchase shops: validation counts items bought again, and select_default races
repeat_popular with seen items allowed."""

from __future__ import annotations

import numpy as np
import pandas as pd

from campaignrec.data.interactions import Interactions
from campaignrec.evaluation.selection import Candidate, select_default
from campaignrec.evaluation.tuning import SEARCH_SPACES, make_validation, repeat_share
from tests.evaluation.conftest import make_shop


def _grocery_shop(n_users: int = 60, weeks: int = 10, seed: int = 0) -> Interactions:
    """Each household buys its own few staples almost every week, plus a random extra."""
    rng = np.random.default_rng(seed)
    rows = []
    t0 = 1_700_000_000
    for u in range(n_users):
        staples = rng.choice(40, size=3, replace=False)
        for w in range(weeks):
            basket = [int(s) for s in staples if rng.random() < 0.9] + [int(rng.integers(40))]
            for j, i in enumerate(basket):
                rows.append(
                    {
                        "user_id": f"h{u}",
                        "item_id": f"p{i}",
                        "event_type": "purchase",
                        "timestamp": t0 + w * 7 * 86400 + u * 60 + j,
                    }
                )
    return Interactions.from_frame(pd.DataFrame(rows))


def test_repeat_share_tells_groceries_from_one_off_views():
    groceries = _grocery_shop()
    val = make_validation(groceries, "user_temporal", test_fraction=0.2, repeats=None)
    assert val.repeat_share > 0.5
    assert not val.exclude_seen
    # targets include items the household bought before
    fit_seen = val.fit_part.binary[val.truth.user_idx]
    assert fit_seen.multiply(val.truth.items).nnz > 0
    views = make_shop()  # distinct items per user: nothing is touched twice
    val = make_validation(views, "user_temporal", test_fraction=0.2, repeats=None)
    assert val.repeat_share == 0.0 and val.exclude_seen
    fit, later = val.fit_part, val.fit_part
    assert repeat_share(fit, later) == 1.0  # the same events again are all repeats


def test_explicit_repeats_flag_wins_over_detection():
    val = make_validation(_grocery_shop(), "user_temporal", test_fraction=0.2, repeats=False)
    assert val.exclude_seen
    assert val.fit_part.binary[val.truth.user_idx].multiply(val.truth.items).nnz == 0


def test_select_default_picks_repeat_popular_on_a_grocery_shop():
    cands = (
        Candidate("most_popular", "most_popular", {}, {}),
        Candidate(
            "repeat_popular",
            "repeat_popular",
            {"global_weight": 0.1},
            SEARCH_SPACES["repeat_popular"],
        ),
        Candidate("item_knn", "item_knn", {"neighbours": 20}, {}),
    )
    sel = select_default(_grocery_shop(), candidates=cands, n_trials=2, blend=False, seed=0)
    assert sel.name == "repeat_popular"
    assert sel.report["validation"]["repeats"] is True
    board = {r["name"]: r["score"] for r in sel.report["leaderboard"]}
    assert board["repeat_popular"] > 2 * board["most_popular"]


def test_repeat_popular_sits_out_where_nothing_repeats_and_says_why():
    cands = (
        Candidate("most_popular", "most_popular", {}, {}),
        Candidate("repeat_popular", "repeat_popular", {}, SEARCH_SPACES["repeat_popular"]),
    )
    sel = select_default(make_shop(), candidates=cands, n_trials=1, blend=False, seed=0)
    assert sel.name == "most_popular"
    row = next(r for r in sel.report["leaderboard"] if r["name"] == "repeat_popular")
    assert "does not repeat purchases" in row["skipped"]
    assert sel.report["validation"]["repeats"] is False
