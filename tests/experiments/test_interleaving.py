"""Team-draft interleaving: the merge's invariants, the credit, and its power against A/B."""

from __future__ import annotations

import numpy as np
import pytest

from campaignrec.errors import ValidationError
from campaignrec.experiments.ab import welch_t_test
from campaignrec.experiments.interleaving import (
    analyse_interleaving,
    credit_clicks,
    team_draft_interleave,
)
from campaignrec.experiments.simulation import TwoRankerShop


@pytest.mark.parametrize("seed", range(30))
def test_team_draft_invariants(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pool = [f"i{n}" for n in range(15)]
    a = list(rng.permutation(pool)[: rng.integers(3, 15)])
    b = list(rng.permutation(pool)[: rng.integers(3, 15)])
    k = int(rng.integers(1, 16))
    out = team_draft_interleave(a, b, k, rng)
    assert len(out.items) == len(set(out.items)) == min(k, len(set(a) | set(b)))
    assert len(out.teams) == len(out.items)
    # a team picks ahead of the other only when the other ranker has nothing left to show
    counts = [0, 0]
    for pos, t in enumerate(out.teams):
        if counts[t] > counts[1 - t]:
            other = (a, b)[1 - t]
            assert set(other) <= set(out.items[:pos])
        counts[t] += 1
    # each team's items appear in its ranker's order, and each is the best one not yet shown
    for team, ranking in ((0, a), (1, b)):
        for pos, (item, t) in enumerate(zip(out.items, out.teams, strict=True)):
            if t != team:
                continue
            shown = set(out.items[:pos])
            assert item == next(x for x in ranking if x not in shown)


def test_identical_rankers_give_the_ranking_itself() -> None:
    ranking = [f"i{n}" for n in range(10)]
    out = team_draft_interleave(ranking, ranking, 10, np.random.default_rng(0))
    assert out.items == ranking
    assert sorted(out.teams) == [0] * 5 + [1] * 5
    with pytest.raises(ValidationError):
        team_draft_interleave(ranking, ranking, 0, np.random.default_rng(0))


def test_credit_and_analysis_known_answers() -> None:
    assert credit_clicks([0, 1, 0, 1], [1, 1, 0, 0]) == (1, 1)
    assert credit_clicks([0, 1, 1], [0, 1, 1]) == (0, 2)
    r = analyse_interleaving([0, 1, 0, 2, 0], [1, 1, 0, 0, 3])
    assert (r.wins_b, r.wins_a, r.ties) == (2, 1, 2)
    assert r.preference == pytest.approx((1 + 0 + 0 - 2 + 3) / 5)
    assert r.ci_low < r.preference < r.ci_high and r.better is None
    always_b = analyse_interleaving(np.zeros(50), np.ones(50))
    assert always_b.better == "B" and always_b.p_value == 0.0


def test_interleaving_finds_the_better_ranker_with_far_fewer_shoppers() -> None:
    # A is truly better; with 300 shoppers interleaving picks it nearly always, an A/B split of
    # the same 300 shoppers rarely reaches significance (docs/benchmarks/experiments.md measures
    # the shoppers each design needs)
    shop = TwoRankerShop(noise_b=1.0, click_bias=-5.0, activity_sigma=1.5)
    il = ab = 0
    reps = 40
    for r in range(reps):
        ca, cb = shop.interleaved_credits(300, 100 + r)
        il += analyse_interleaving(ca, cb).better == "A"
        a, b = shop.ab_clicks(150, 500 + r)
        ab += welch_t_test(b, a).difference_ci[0] > 0
    assert il / reps >= 0.85
    assert ab / reps <= 0.6
