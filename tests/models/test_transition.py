from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from campaignrec.data.interactions import Interactions
from campaignrec.errors import ConfigError
from campaignrec.models.transition import ItemTransition
from tests.models.contract import RecommenderContract

START = pd.Timestamp("2026-01-01", tz="UTC")


class TestItemTransition(RecommenderContract):
    def make_model(self) -> ItemTransition:
        return ItemTransition()


class TestItemTransitionBackwardSessions(RecommenderContract):
    def make_model(self) -> ItemTransition:
        return ItemTransition(
            window=3, backward_weight=0.5, session_gap_hours=24.0, max_neighbours=5
        )


def _shop(sequences: dict[str, list[str]], gap_hours: float = 1.0) -> Interactions:
    """One user per key, their items in order, ``gap_hours`` apart."""
    rows = []
    for user, items in sequences.items():
        for n, item in enumerate(items):
            rows.append((user, item, START + pd.Timedelta(hours=gap_hours * n)))
    return _frame(rows)


def _frame(rows: list[tuple[str, str, pd.Timestamp]]) -> Interactions:
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    frame["event_type"] = "view"
    return Interactions.from_frame(frame)


def _raw(**params: Any) -> dict[str, Any]:
    """Parameters that leave T unnormalised and untrimmed (raw counts)."""
    return {"alpha": 0.0, "beta": 0.0, "max_neighbours": None, **params}


def _dense_t(shop: Interactions, **params: Any) -> tuple[np.ndarray, dict[str, int]]:
    model = ItemTransition(**_raw(**params)).fit(shop)
    index = {str(i): n for n, i in enumerate(shop.items.ids)}
    return model.transitions_.toarray(), index


def _reference_counts(shop: Interactions, window: int, power: float, gap_s: float | None):
    """Brute-force T with a Python loop over users (dedupe_consecutive, no backward)."""
    indptr, items, ts = shop.sequences
    t = np.zeros((shop.n_items, shop.n_items))
    for u in range(shop.n_users):
        seq, times = list(items[indptr[u] : indptr[u + 1]]), list(ts[indptr[u] : indptr[u + 1]])
        steps = [
            (s, tt)
            for n, (s, tt) in enumerate(zip(seq, times, strict=True))
            if n + 1 == len(seq) or seq[n + 1] != s
        ]
        for a in range(len(steps)):
            for d in range(1, window + 1):
                if a + d >= len(steps):
                    break
                (i, ti), (j, tj) = steps[a], steps[a + d]
                if i == j or (gap_s is not None and tj - ti > gap_s):
                    continue
                t[i, j] += d**-power
    return t


# ---- the transition matrix -------------------------------------------------------------------
def test_counts_known_values() -> None:
    shop = _shop({"u": ["x", "y", "z"], "v": ["z", "x"]})
    t, ix = _dense_t(shop)
    x, y, z = ix["x"], ix["y"], ix["z"]
    assert t[x, y] == pytest.approx(1.0)  # y follows x one step later
    assert t[x, z] == pytest.approx(0.5)  # z follows x two steps later: 2 ** -1
    assert t[z, x] == pytest.approx(1.0)  # v
    assert t[y, x] == 0.0 and t[z, y] == 0.0  # never the other way round
    flat, _ = _dense_t(shop, distance_power=0.0)
    assert flat[x, z] == pytest.approx(1.0)
    short, _ = _dense_t(shop, window=1)
    assert short[x, z] == 0.0 and short[x, y] == pytest.approx(1.0)
    both, _ = _dense_t(shop, backward_weight=0.5)
    assert both[y, x] == pytest.approx(0.5)  # backward of x -> y
    assert both[x, z] == pytest.approx(0.5 + 0.5 * 1.0)  # forward u, backward of v's z -> x


def test_dedupe_consecutive() -> None:
    shop = _shop({"u": ["x", "x", "x", "y", "x"]})
    t, ix = _dense_t(shop)
    x, y = ix["x"], ix["y"]
    assert t[x, y] == pytest.approx(1.0)  # the run x, x, x is one step
    assert t[y, x] == pytest.approx(1.0)
    assert np.all(np.diag(t) == 0)  # x ... x two steps apart is not a transition
    kept, _ = _dense_t(shop, dedupe_consecutive=False)
    assert kept[x, x] > 0
    assert kept[x, y] == pytest.approx(1.0 + 1 / 2 + 1 / 3)  # three x's before y


def test_counts_match_a_brute_force_loop() -> None:
    rng = np.random.default_rng(3)
    rows = []
    for u in range(15):
        hours = np.cumsum(rng.choice([0.5, 1.0, 30.0], size=int(rng.integers(0, 12))))
        rows += [(f"u{u}", f"i{rng.integers(8)}", START + pd.Timedelta(hours=h)) for h in hours]
    shop = _frame(rows)
    for gap in (None, 12.0):
        model = ItemTransition(**_raw(window=4, distance_power=0.7, session_gap_hours=gap))
        got = model.fit(shop).transitions_.toarray()
        want = _reference_counts(shop, 4, 0.7, None if gap is None else gap * 3600)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_degree_normalisation_and_trimming() -> None:
    shop = _shop({"u": ["x", "y"], "v": ["x", "z"], "w": ["x", "z"]})
    t, ix = _dense_t(shop, alpha=0.5, beta=0.5)
    x, y, z = ix["x"], ix["y"], ix["z"]
    # out(x) = 3, in(y) = 1, in(z) = 2
    assert t[x, y] == pytest.approx(1 / np.sqrt(3 * 1))
    assert t[x, z] == pytest.approx(2 / np.sqrt(3 * 2))
    model = ItemTransition(max_neighbours=1).fit(shop)
    row = model.transitions_[x]
    assert row.nnz == 1 and row.indices[0] == z


# ---- scoring ---------------------------------------------------------------------------------
def _planted() -> dict[str, list[str]]:
    """A is always followed by B; C by C2 and then D; B usually leads to E."""
    seqs: dict[str, list[str]] = {}
    for n in range(6):
        seqs[f"ab{n}"] = ["A", "B"]
        seqs[f"cd{n}"] = ["C", "C2", "D"]
    for n in range(2):
        seqs[f"be{n}"] = ["B", "E"]
    return seqs


def test_last_item_leads_to_its_successor() -> None:
    shop = _shop({**_planted(), "me": ["A"]})
    model = ItemTransition().fit(shop)
    assert model.recommend(["me"], k=1)[0][0, 0] == "B"


def test_direction_matters() -> None:
    shop = _shop({**_planted(), "me": ["B"]})
    model = ItemTransition().fit(shop)
    # B -> E seen twice, A -> B six times: a symmetric model would put A first
    assert model.recommend(["me"], k=1)[0][0, 0] == "E"
    assert model.score(["me"], ["A"])[0] == pytest.approx(0.0)
    symmetric = ItemTransition(backward_weight=1.0).fit(shop)
    assert symmetric.recommend(["me"], k=1)[0][0, 0] == "A"


def test_recent_history_dominates() -> None:
    shop = _shop({**_planted(), "me": ["C", "C2", "A"]})  # C, C2 long ago, A last
    model = ItemTransition().fit(shop)
    ids, _ = model.recommend(["me"], k=2)
    assert list(ids[0]) == ["B", "D"]
    # C and C2 together lead to D more strongly than A leads to B: without recency D wins
    flat = ItemTransition(history_half_life=1e6).fit(shop)
    assert flat.recommend(["me"], k=1)[0][0, 0] == "D"


def test_session_gap_cuts_links() -> None:
    rows = []
    for n in range(4):  # x then far 48 h later
        rows += [(f"f{n}", "x", START), (f"f{n}", "far", START + pd.Timedelta(hours=48))]
    for n in range(2):  # x then near 1 h later
        rows += [(f"n{n}", "x", START), (f"n{n}", "near", START + pd.Timedelta(hours=1))]
    rows += [("me", "x", START)]
    shop = _frame(rows)
    assert ItemTransition().fit(shop).recommend(["me"], k=1)[0][0, 0] == "far"
    model = ItemTransition(session_gap_hours=24.0).fit(shop)
    assert model.recommend(["me"], k=1)[0][0, 0] == "near"
    assert model.score(["me"], ["far"])[0] == pytest.approx(0.0)


def test_save_load_scores_identically(tmp_path: Path) -> None:
    shop = _shop({**_planted(), "me": ["C", "C2", "A"], "you": ["B"]})
    model = ItemTransition(backward_weight=0.3, window=2).fit(shop)
    users = shop.users.index(["me", "you", "ab0"])
    before = model.score_matrix(users)
    loaded = ItemTransition.load(model.save(tmp_path / "transition"))
    np.testing.assert_array_equal(loaded.score_matrix(users), before)
    assert loaded.params == model.params


# ---- explanations ----------------------------------------------------------------------------
def test_explain_names_the_history_item() -> None:
    shop = _shop({**_planted(), "me": ["C", "C2", "A"]})
    model = ItemTransition().fit(shop)
    why_b = model.explain("me", "B")
    assert why_b.reason == "sequence"
    assert why_b.evidence["history"][0]["item_id"] == "A"
    assert why_b.evidence["history"][0]["steps_from_end"] == 0
    assert why_b.text == "Often viewed next after A (your most recent)."
    why_d = model.explain("me", "D")
    assert [h["item_id"] for h in why_d.evidence["history"]] == ["C2", "C"]
    assert [h["steps_from_end"] for h in why_d.evidence["history"]] == [1, 2]
    assert "C2 (your 2nd most recent)" in why_d.text
    total = sum(h["contribution"] for h in why_d.evidence["history"])
    assert why_d.evidence["score"] == pytest.approx(float(model.score(["me"], ["D"])[0]))
    assert total == pytest.approx(why_d.evidence["score"])
    assert model.explain("me", "E").evidence["history"] == []  # nothing of hers leads to E
    assert model.explain("stranger", "B").reason == "popular"


# ---- parameters ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("window", 0),
        ("window", 2.5),
        ("distance_power", -1.0),
        ("backward_weight", -0.1),
        ("alpha", 1.5),
        ("beta", -0.2),
        ("history_half_life", 0.0),
        ("session_gap_hours", 0.0),
        ("max_neighbours", 0),
    ],
)
def test_bad_params_are_named(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=field):
        ItemTransition(**{field: value})


def test_unknown_param_is_rejected() -> None:
    with pytest.raises(ConfigError, match="unknown"):
        ItemTransition(half_life=3.0)
