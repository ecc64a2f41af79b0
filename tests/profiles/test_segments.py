"""K-Means segments: k by silhouette among stable k, stable ids, names checked against centroids,
shrunk rates, block weights, and the planted shopper types at the generator's default density."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from campaignrec.errors import ConfigError, ValidationError
from campaignrec.profiles.segment_names import ARCHETYPES, GENERIC_NAME, archetype_holds
from campaignrec.profiles.segments import (
    SegmentConfig,
    SegmentModel,
    assign_segments,
    block_weights,
    choose_k,
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
    # three clear groups: refits on subsamples find the same three
    assert model.stability_[3] > 0.95
    curve = silhouette_curve(model)
    assert list(curve.columns) == ["k", "silhouette", "stability", "chosen"]
    assert curve["chosen"].sum() == 1 and curve.loc[curve["chosen"], "k"].item() == 3
    seg = assign_segments(prof, model)
    assert adjusted_rand_score(truth, seg["segment"]) == pytest.approx(1.0)
    names = seg.groupby(truth)["segment_name"].first()
    assert names["big"] == "high-value frequent buyers"
    assert names["discount"] == "discount seekers"
    assert names["new"] == "new visitors"
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
    assert back.stability_ == model.stability_ and back.describe_ == model.describe_
    pd.testing.assert_frame_equal(back.centroid_z(), model.centroid_z())
    pd.testing.assert_frame_equal(back.table(), model.table())


def test_errors() -> None:
    prof, _ = _three_groups(n=1)
    with pytest.raises(ValidationError, match="features"):
        fit_segments(prof, SegmentConfig(features=("nope",)))
    with pytest.raises(ValidationError, match="users"):
        fit_segments(prof.head(2), CFG)
    same = prof.assign(frequency=3.0, monetary=10.0, discount_share=0.5, days_since_first_seen=9)
    with pytest.raises(ValidationError, match="same for all users"):
        fit_segments(same, CFG)
    with pytest.raises(ConfigError, match="min_stability"):
        SegmentConfig(min_stability=1.5)
    # assigning profiles that lack a fitted feature names the feature instead of crashing
    model = fit_segments(_three_groups()[0], CFG)
    with pytest.raises(ValidationError, match="discount_share"):
        model.predict(prof.drop(columns=["discount_share"]))


def test_model_saved_before_weights_still_loads() -> None:
    prof, truth = _three_groups()
    d = fit_segments(prof, CFG).to_dict()
    for key in ("weights", "describe", "describe_mean", "describe_scale", "describe_centroids"):
        d.pop(key)
    d.pop("stability")
    d["config"].pop("describe")
    old = SegmentModel.from_dict(d)
    assert old.weights_.tolist() == [1.0] * len(old.features_) and old.describe_ == []
    assert adjusted_rand_score(truth, old.predict(prof)) == pytest.approx(1.0)
    assert len(old.table()) == old.k_


def test_choose_k_prefers_stable_k() -> None:
    sil = {3: 0.20, 4: 0.30, 5: 0.28, 6: 0.31}
    # 6 has the best silhouette but does not reproduce on subsamples: 4 wins
    assert choose_k(sil, {3: 0.95, 4: 0.97, 5: 0.99, 6: 0.70}, 0.9) == 4
    # nothing stable enough: the most stable k
    assert choose_k(sil, {3: 0.5, 4: 0.6, 5: 0.8, 6: 0.7}, 0.9) == 5
    # no stability figures: silhouette alone; ties go to the smaller k
    assert choose_k(sil, {}, 0.9) == 6
    assert choose_k({3: 0.3, 4: 0.3}, {3: 0.95, 4: 0.95}, 0.9) == 3


def test_block_weights() -> None:
    w = block_weights(["browse_depth", "view_to_click", "weekend_share", "custom_column"])
    np.testing.assert_allclose(w, [2**-0.5, 2**-0.5, 1.0, 1.0])
    np.testing.assert_allclose(block_weights(["browse_depth", "view_to_click"], False), [1, 1])


def _funnel_profiles(n: int = 40) -> pd.DataFrame:
    """Shoppers with counts only: the rates are derived (and shrunk) by the segment model."""
    rng = np.random.default_rng(0)
    views = rng.integers(5, 60, size=n).astype(float)
    views[0] = 0.0  # never viewed anything
    views[1] = 1.0  # one view, one click
    clicks = np.floor(views * rng.uniform(0.1, 0.4, size=n))
    clicks[1] = 1.0
    return pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(n)],
            "n_sessions": rng.integers(1, 6, size=n),
            "n_views": views,
            "n_clicks": clicks,
            "days_since_first_seen": rng.uniform(5, 500, size=n),
        }
    )


def test_rates_are_shrunk_towards_the_shop_rate() -> None:
    prof = _funnel_profiles()
    cfg = SegmentConfig(features=("view_to_click", "days_since_first_seen"), k_min=2, k_max=3)
    model = fit_segments(prof, cfg)
    shop_rate = prof["n_clicks"].sum() / prof["n_views"].sum()
    assert model.fill_["view_to_click"] == pytest.approx(shop_rate)
    rate = model.feature_table(prof)["view_to_click"]
    # no views: exactly the shop's rate; one view, one click: pulled most of the way back
    assert rate.iloc[0] == pytest.approx(shop_rate)
    assert rate.iloc[1] == pytest.approx((1 + 10 * shop_rate) / 11)
    raw = prof["n_clicks"] / prof["n_views"]
    # shrinking moves every rate towards the shop rate, never past it
    d_rate, d_raw = (rate - shop_rate).iloc[1:], (raw - shop_rate).iloc[1:]
    assert (d_rate * d_raw >= -1e-12).all() and (d_rate.abs() <= d_raw.abs()).all()


def test_features_without_variance_are_dropped() -> None:
    # purchases only (CDNOW-like): no views, sessions one per order day
    rng = np.random.default_rng(1)
    n = 60
    freq = rng.integers(1, 10, size=n)
    prof = pd.DataFrame(
        {
            "user_id": [f"c{i}" for i in range(n)],
            "n_sessions": freq,
            "n_views": 0,
            "n_clicks": 0,
            "n_favorites": 0,
            "n_searches": 0,
            "n_carts": 0,
            "n_purchase_lines": freq,
            "frequency": freq,
            "items_per_order": rng.uniform(1, 4, size=n),
            "monetary": freq * rng.uniform(10, 80, size=n),
            "days_since_last_event": rng.uniform(0, 300, size=n),
            "days_since_first_seen": rng.uniform(300, 500, size=n),
        }
    )
    model = fit_segments(prof, SegmentConfig(k_min=2, k_max=4, n_init=3))
    browse = {"browse_depth", "view_to_click", "favorite_rate", "search_rate", "click_to_cart"}
    assert not browse & set(model.features_)
    assert {"items_per_order", "mean_unit_price", "days_since_last_event"} <= set(model.features_)
    # orders per visit is 1 for everyone here: no variance, dropped too
    assert "orders_per_session" not in model.features_
    w = dict(zip(model.features_, model.weights_, strict=True))
    assert w["days_since_last_event"] == pytest.approx(2**-0.5)  # lifecycle: two features


def _check_names_against_centroids(model: SegmentModel) -> None:
    """Every archetype name (numbered or not) is supported by its centroid, the generic name only
    where no archetype holds; names are unique and each archetype's plain name is used once."""
    z = model.centroid_z()
    by_name = {a[1]: a for a in ARCHETYPES}
    assert len(set(model.names_en_)) == len(model.names_en_)
    assert len(set(model.names_zh_)) == len(model.names_zh_)
    for sid, en, zh in zip(model.segment_ids_, model.names_en_, model.names_zh_, strict=True):
        base = re.sub(r" \d+$", "", en)
        if base == GENERIC_NAME[0]:
            holding = [a[1] for a in ARCHETYPES if archetype_holds(z.loc[sid], a[3])]
            assert not holding, (sid, holding)
            continue
        _, _, zh_name, cond = by_name[base]
        assert zh.startswith(zh_name)
        assert archetype_holds(z.loc[sid], cond), (en, z.loc[sid].round(2).to_dict())
        if base != en:  # a numbered name: the plain one is taken by another segment
            assert base in model.names_en_


def test_names_follow_the_centroid() -> None:
    # a group that browses deeply but also buys a lot per visit is not "window shoppers"
    rng = np.random.default_rng(3)
    rows = []
    for depth, opv, age in ((30, 0.8, 400), (5, 0.1, 400), (5, 0.1, 10)):
        for _ in range(40):
            s = int(rng.integers(3, 8))
            rows.append(
                {
                    "n_sessions": s,
                    "n_views": s * depth * rng.uniform(0.9, 1.1),
                    "frequency": round(s * opv),
                    "monetary": round(s * opv) * 50.0,
                    "days_since_first_seen": age * rng.uniform(0.9, 1.1),
                }
            )
    prof = pd.DataFrame(rows)
    prof.insert(0, "user_id", [f"u{i}" for i in range(len(prof))])
    cfg = SegmentConfig(
        features=("browse_depth", "orders_per_session", "days_since_first_seen"),
        k_min=3,
        k_max=3,
        n_init=3,
    )
    model = fit_segments(prof, cfg)
    seg = assign_segments(prof, model)
    names = seg.groupby(np.repeat([0, 1, 2], 40))["segment_name"].agg(lambda s: s.mode().iloc[0])
    assert "window shoppers" not in set(model.names_en_)
    assert names[0] == "high-value frequent buyers"
    assert names[2] == "new visitors"
    _check_names_against_centroids(model)


def test_segments_recover_planted_shopper_types_at_default_density() -> None:
    """The generator's default density (50 events per user) on a small shop.

    ``benchmarks/segments.py`` asserts ARI >= 0.6 on the default 2,000-user shop over ten seeds
    (0.80-0.83); on 300-user shops it measured 0.68-0.85 over five seeds, so the target itself is
    the bound here.
    """
    from campaignrec.data.synthetic import ShopConfig, generate_shop
    from campaignrec.profiles.state import ProfileState

    cfg = ShopConfig(n_users=300, n_items=100, n_events=15_000, seed=0)
    assert cfg.n_events / cfg.n_users == ShopConfig().n_events / ShopConfig().n_users
    shop = generate_shop(cfg)
    prof = ProfileState(shop.items).apply(shop.events).profiles(shop.users)
    model = fit_segments(prof, SegmentConfig(n_init=4))
    seg = model.predict(prof)
    truth = shop.truth.user_type.reindex(prof["user_id"]).to_numpy()
    assert adjusted_rand_score(truth, seg) >= 0.6
    # the segments are not "bought or not" (the k = 2 split this replaced: ARI 1.0 with it)
    assert adjusted_rand_score(prof["frequency"].to_numpy() > 0, seg) < 0.3
    assert 3 <= model.k_ <= 8 and model.stability_[model.k_] >= 0.9
    _check_names_against_centroids(model)
