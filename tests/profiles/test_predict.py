"""Purchase model: metrics on known inputs, and better than "bought in the last 30 days"."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from campaignrec.errors import NotFittedError, ValidationError
from campaignrec.profiles.predict import (
    PurchaseModel,
    PurchaseModelConfig,
    calibration_summary,
    evaluate_purchase_model,
    reliability_bins,
)

from .conftest import T0


def test_reliability_bins_and_summary() -> None:
    y = np.array([0, 0, 1, 1, 0, 1])
    p = np.array([0.05, 0.05, 0.95, 0.95, 0.55, 0.55])
    bins = reliability_bins(y, p, n_bins=10)
    assert len(bins) == 10 and bins["n"].sum() == 6
    assert bins.loc[0, "observed"] == 0 and bins.loc[9, "observed"] == 1
    assert bins.loc[5, "mean_predicted"] == pytest.approx(0.55)
    s = calibration_summary(y, p)
    assert s["auc"] == pytest.approx(8.5 / 9)  # the two 0.55 scores tie
    assert s["brier"] == pytest.approx(np.mean((p - y) ** 2))
    assert s["ece"] == pytest.approx((2 * 0.05 + 2 * 0.05 + 2 * 0.05) / 6)


def _poisson_shop(n_users: int = 500, days: int = 150, seed: int = 0) -> pd.DataFrame:
    """Repeat buyers with stable personal rates (some stop buying): what the model should learn."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        rate = rng.gamma(0.6, 1 / 20)  # purchases per day
        alive_until = days if rng.random() < 0.7 else rng.uniform(0, days)
        t = rng.uniform(0, 20)
        while t < alive_until:
            rows.append((f"u{u}", T0 + pd.Timedelta(days=t), float(rng.gamma(2, 20))))
            t += rng.exponential(1 / rate)
    df = pd.DataFrame(rows, columns=["user_id", "timestamp", "revenue"])
    df["event_type"] = "purchase"
    df["item_id"] = "x"
    return df


def test_model_beats_bought_last_30_days() -> None:
    ev = _poisson_shop()
    r = evaluate_purchase_model(
        ev, end=T0 + pd.Timedelta(days=150), model_config=PurchaseModelConfig(max_iter=60)
    )
    model, rule = r["model"], r["baseline_bought_last_h"]
    assert 0.05 < r["test_positive_rate"] < 0.95
    assert model["auc"] > rule["auc"]
    assert model["brier"] < rule["brier"]
    assert model["brier"] <= r["baseline_bought_last_h_calibrated"]["brier"] + 0.01
    assert r["spend_mae_model"] > 0


def test_purchase_model_contract() -> None:
    with pytest.raises(NotFittedError):
        PurchaseModel().predict_proba(pd.DataFrame())
    prof = pd.DataFrame({"frequency": [1, 2, 3], "recency_days": [1.0, 2.0, 3.0]})
    full = prof.reindex(columns=[*prof.columns, "monetary"]).fillna(0.0)
    with pytest.raises(ValidationError, match="bought"):
        PurchaseModel().fit(_with_all(full), np.zeros(3), np.zeros(3))


def _with_all(df: pd.DataFrame) -> pd.DataFrame:
    from campaignrec.profiles.predict import MODEL_FEATURES

    return df.reindex(columns=list(MODEL_FEATURES))


def test_bgnbd_recovers_simulated_parameters() -> None:
    from campaignrec.profiles.predict import BGNBDModel

    rng = np.random.default_rng(1)
    r, alpha, a, b, horizon = 0.8, 10.0, 1.0, 4.0, 200.0
    rows = []
    for u in range(2_000):
        lam, p_drop = rng.gamma(r, 1 / alpha), rng.beta(a, b)
        start = rng.uniform(0, 50)
        t = 0.0
        rows.append((f"u{u}", start))
        while True:  # wait for the next purchase; after each repeat purchase, maybe drop out
            t += rng.exponential(1 / lam)
            if start + t > horizon:
                break
            rows.append((f"u{u}", start + t))
            if rng.random() < p_drop:
                break
    ev = pd.DataFrame(rows, columns=["user_id", "day"])
    ev["timestamp"] = T0 + pd.to_timedelta(ev.pop("day"), unit="D")
    ev["event_type"] = "purchase"
    ev["item_id"] = "x"
    from campaignrec.profiles.state import ProfileState

    prof = ProfileState().apply(ev).profiles(as_of=T0 + pd.Timedelta(days=horizon))
    fit = BGNBDModel().fit(prof).params_
    assert fit["r"] == pytest.approx(r, rel=0.15)
    assert fit["alpha"] == pytest.approx(alpha, rel=0.15)
    assert fit["a"] / (fit["a"] + fit["b"]) == pytest.approx(a / (a + b), rel=0.15)
    p = BGNBDModel().fit(prof).predict_proba(prof, 30)
    assert np.all((p >= 0) & (p <= 1))
