"""K-Means segments: k by silhouette, stable ids, names, and the planted shopper types."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from campaignrec.errors import ValidationError
from campaignrec.profiles.segments import (
    SegmentConfig,
    SegmentModel,
    assign_segments,
    fit_segments,
    silhouette_curve,
)

FEATURES = ("frequency", "monetary", "discount_share", "days_since_first_seen")


def _three_groups(seed: int = 0, n: int = 60) -> tuple[pd.DataFrame, np.ndarray]:
    """Big spenders, discount seekers and newcomers, clearly apart."""
    rng = np.random.default_rng(seed)
    centres = {
        "big": (20, 5000, 0.05, 700),
        "discount": (4, 300, 0.9, 600),
        "new": (0, 0, 0.0, 5),
    }
    rows, truth = [], []
    for name, (f, m, d, age) in centres.items():
        for _ in range(n):
            rows.append(
                {
                    "frequency": max(0, f + rng.normal(0, 1 + f * 0.05)),
                    "monetary": max(0, m * rng.uniform(0.8, 1.2)),
                    "discount_share": np.clip(d + rng.normal(0, 0.03), 0, 1) if f else np.nan,
                    "days_since_first_seen": max(0, age + rng.normal(0, 3)),
                }
            )
            truth.append(name)
    df = pd.DataFrame(rows)
    df.insert(0, "user_id", [f"u{i:03d}" for i in range(len(df))])
    return df, np.array(truth)


CFG = SegmentConfig(features=FEATURES, k_min=2, k_max=5, n_init=3)


def test_k_by_silhouette_and_names() -> None:
    prof, truth = _three_groups()
    model = fit_segments(prof, CFG)
    assert model.k_ == 3
    assert set(model.silhouette_) == {2, 3, 4, 5}
    assert max(model.silhouette_, key=model.silhouette_.get) == 3
    curve = silhouette_curve(model)
    assert curve["chosen"].sum() == 1 and curve.loc[curve["chosen"], "k"].item() == 3
    seg = assign_segments(prof, model)
    assert adjusted_rand_score(truth, seg["segment"]) == pytest.approx(1.0)
    names = seg.groupby(truth)["segment_name"].first()
    assert names["big"] == "high-value frequent buyers"
    assert names["discount"] == "discount seekers"
    assert names["new"] == "new browsers"
    zh = seg.groupby(truth)["segment_name_zh"].first()
    assert (zh["big"], zh["discount"], zh["new"]) == ("高价值高频买家", "优惠敏感型", "新访客")
    # first run: ids ordered by value, the big spenders are segment 0
    assert seg.loc[truth == "big", "segment"].unique().tolist() == [0]
    table = model.table()
    assert table["description_en"].str.contains("than the average shopper").all()
    assert table.loc[table["segment"] == 0, "monetary"].item() > 3000


def test_ids_are_stable_across_reruns() -> None:
    prof, _ = _three_groups(seed=1)
    first = assign_segments(prof, m1 := fit_segments(prof, CFG))
    # new data from the same shop, rows shuffled, another seed and forced k=4: matched ids
    more, _ = _three_groups(seed=2)
    more = more.sample(frac=1.0, random_state=3).reset_index(drop=True)
    cfg2 = SegmentConfig(features=FEATURES, k_min=2, k_max=5, n_init=3, seed=7)
    m2 = fit_segments(more, cfg2, previous=m1)
    again = assign_segments(prof, m2).set_index("user_id")["segment"]
    base = first.set_index("user_id")["segment"]
    assert (again.loc[base.index] == base).mean() == pytest.approx(1.0)
    m3 = fit_segments(more, cfg2, previous=m1, k=4)
    assert sorted(m3.segment_ids_)[:3] == [0, 1, 2] and 3 in m3.segment_ids_


def test_json_round_trip(tmp_path) -> None:
    prof, _ = _three_groups()
    model = fit_segments(prof, CFG)
    back = SegmentModel.load(model.save(tmp_path / "segments.json"))
    np.testing.assert_array_equal(back.predict(prof), model.predict(prof))
    assert back.names_zh_ == model.names_zh_ and back.silhouette_ == model.silhouette_


def test_errors() -> None:
    prof, _ = _three_groups(n=1)
    with pytest.raises(ValidationError, match="features"):
        fit_segments(prof, SegmentConfig(features=("nope",)))
    with pytest.raises(ValidationError, match="users"):
        fit_segments(prof.head(2), CFG)


def test_kmeans_recovers_planted_shopper_types() -> None:
    from campaignrec.data.synthetic import ShopConfig, generate_shop
    from campaignrec.profiles.state import ProfileState

    # ~200 events per user: enough history for per-user behaviour to show (see docs/profiles.md)
    shop = generate_shop(
        ShopConfig(n_users=300, n_items=200, n_events=60_000, n_campaigns=4, seed=0)
    )
    prof = ProfileState(shop.items).apply(shop.events).profiles(shop.users)
    model = fit_segments(prof, SegmentConfig(n_init=4))
    truth = shop.truth.user_type.reindex(prof["user_id"]).to_numpy()
    assert adjusted_rand_score(truth, model.predict(prof)) >= 0.6
