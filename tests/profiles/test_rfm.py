"""RFM scores, classic RFM segments and lifecycle rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from campaignrec.errors import ConfigError
from campaignrec.profiles.config import LifecycleConfig
from campaignrec.profiles.rfm import (
    RFM_SEGMENTS,
    lifecycle_stage,
    quintile_scores,
    rfm_scores,
    rfm_segment,
)


def test_quintiles_of_distinct_values() -> None:
    s = pd.Series(np.arange(1, 11, dtype=float))
    assert quintile_scores(s).tolist() == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert quintile_scores(s, higher_is_better=False).tolist() == [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]


def test_ties_share_the_lower_score_and_nan_is_zero() -> None:
    s = pd.Series([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 3.0, 5.0, 9.0, np.nan])
    got = quintile_scores(s).tolist()
    assert got[:6] == [1] * 6  # one-order customers all get F = 1
    assert got[-1] == 0
    assert got[6:10] == sorted(got[6:10]) and got[9] == 5


def test_rfm_scores_ignore_non_buyers() -> None:
    rec = pd.Series([1.0, 50.0, 300.0, np.nan])
    freq = pd.Series([5, 2, 1, 0])
    mon = pd.Series([500.0, 80.0, 10.0, 0.0])
    s = rfm_scores(rec, freq, mon)
    # three buyers: rank percentiles 1/3, 2/3, 1 -> scores 2, 4, 5
    assert s["rfm_score"].tolist() == ["555", "444", "222", "000"]


@pytest.mark.parametrize(
    ("r", "f", "m", "freq", "expected"),
    [
        (5, 5, 5, 9, "champions"),
        (3, 5, 4, 9, "loyal"),
        (4, 3, 2, 2, "potential_loyalist"),
        (5, 1, 1, 1, "new"),
        (4, 1, 1, 1, "promising"),
        (3, 2, 3, 2, "need_attention"),
        (1, 5, 5, 9, "cant_lose"),
        (2, 4, 3, 4, "at_risk"),
        (2, 2, 2, 2, "hibernating"),
        (1, 1, 1, 1, "lost"),
        (0, 0, 0, 0, "prospect"),
    ],
)
def test_classic_segments(r: int, f: int, m: int, freq: int, expected: str) -> None:
    got = rfm_segment(pd.Series([r]), pd.Series([f]), pd.Series([m]), pd.Series([freq]))
    assert got.iloc[0] == expected
    assert expected in RFM_SEGMENTS


def test_lifecycle_rules_are_configurable() -> None:
    first = pd.Series([10.0, 400, 400, 400, 400, 400])
    rec = pd.Series([5.0, 10, 60, 150, 400, np.nan])
    last = pd.Series([5.0, 10, 60, 150, 400, 20])
    freq = pd.Series([1, 3, 3, 3, 3, 0])
    got = lifecycle_stage(first, rec, last, freq).tolist()
    assert got == ["new", "active", "at_risk", "dormant", "churned", "active"]
    strict = LifecycleConfig(new_days=5, active_days=7, at_risk_days=30, dormant_days=60)
    got = lifecycle_stage(first, rec, last, freq, strict).tolist()
    assert got == ["active", "at_risk", "dormant", "churned", "churned", "at_risk"]
    with pytest.raises(ConfigError, match="at_risk_days"):
        LifecycleConfig(active_days=90, at_risk_days=30)
