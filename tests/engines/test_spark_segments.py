"""K-Means segments on Spark MLlib against the local scikit-learn ones on the same profiles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from campaignrec.engines.spark.profiles import to_local_frame
from campaignrec.engines.spark.segments import assign_segments_spark, fit_segments_spark
from campaignrec.profiles.segments import (
    SegmentConfig,
    SegmentModel,
    assign_segments,
    fit_segments,
)

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def profiles(profile_table: Any) -> Any:
    return profile_table


def _blobs(n_per: int = 40, seed: int = 0) -> pd.DataFrame:
    """Profiles of three planted kinds of shopper, far apart in the segment features."""
    rng = np.random.default_rng(seed)
    rows = []
    for kind, (freq, spend, depth, days) in enumerate(
        [(1.0, 20.0, 2.0, 60.0), (8.0, 900.0, 6.0, 3.0), (0.0, 0.0, 25.0, 20.0)]
    ):
        for _ in range(n_per):
            rows.append(
                {
                    "user_id": f"u{len(rows):04d}",
                    "kind": kind,
                    "frequency": max(freq + rng.normal(0, 0.3), 0.0),
                    "monetary": max(spend * rng.lognormal(0, 0.1), 0.0),
                    "browse_depth": depth * rng.lognormal(0, 0.1),
                    "days_since_last_event": days * rng.lognormal(0, 0.1),
                    "weekend_share": rng.uniform(0.2, 0.4),
                }
            )
    return pd.DataFrame(rows)


def test_planted_segments_are_found_by_both(spark: Any, tmp_path: Path) -> None:
    """Both engines pick the same k and give the same labels and names (MLlib K-Means fits,
    assignment in partitions)."""
    blobs = _blobs()
    cfg = SegmentConfig(k_min=2, k_max=4, seed=0, n_init=3)
    local = fit_segments(blobs, cfg)
    frame = spark.createDataFrame(blobs)
    got = fit_segments_spark(spark, frame, cfg)
    assert local.k_ == got.k_
    assigned = assign_segments_spark(frame, got).toPandas().sort_values("user_id")
    want = assign_segments(blobs, local)
    assert adjusted_rand_score(want["segment"], assigned["segment"]) == 1.0
    assert assigned["segment"].tolist() == want["segment"].tolist()  # stable ids: equal labels
    assert assigned["segment_name"].tolist() == want["segment_name"].tolist()
    back = SegmentModel.load(got.save(tmp_path / "segments.json"))
    assert back.predict(blobs).tolist() == want["segment"].tolist()


def test_shop_segments_equal_local(spark: Any, profiles: Any) -> None:
    """The synthetic shop's profiles, k chosen by the rule on both sides: the same features, the
    same k, silhouette and stability curves, and the same partition (ARI = 1), ids and names.
    MLlib starts from the k-means++ seeds scikit-learn draws for the same seed."""
    local_profiles = to_local_frame(profiles)
    cfg = SegmentConfig(k_min=3, k_max=5, seed=0, n_init=3, stability_rounds=2)
    local = fit_segments(local_profiles, cfg)
    got = fit_segments_spark(spark, profiles, cfg)
    assert got.features_ == local.features_
    for f in local.features_:
        assert got.fill_[f] == pytest.approx(local.fill_[f], rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(got.mean_, local.mean_, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got.scale_, local.scale_, rtol=1e-9)
    assert got.k_ == local.k_
    assert got.silhouette_ == pytest.approx(local.silhouette_, rel=1e-9)
    assert got.stability_ == pytest.approx(local.stability_, rel=1e-9)
    np.testing.assert_allclose(got.centroids_, local.centroids_, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(got.describe_centroids_, local.describe_centroids_, atol=1e-9)
    assigned = to_local_frame(assign_segments_spark(profiles, got))
    want = assign_segments(local_profiles, local)
    assert adjusted_rand_score(want["segment"], assigned["segment"]) == 1.0
    assert assigned["segment"].tolist() == want["segment"].tolist()
    assert assigned["segment_name"].tolist() == want["segment_name"].tolist()
    assert got.descriptions_en_ == local.descriptions_en_


def test_seeds_are_those_of_scikit_learn() -> None:
    """The k-means++ starts given to MLlib are the ones scikit-learn's KMeans draws: Lloyd from
    them (scikit-learn, one start each) ends where KMeans(n_init, random_state) ends."""
    from sklearn.cluster import KMeans

    from campaignrec.engines.spark.segments import kmeans_plus_plus_seeds

    x = np.random.default_rng(1).normal(size=(300, 4))
    seeds = kmeans_plus_plus_seeds(x, 4, 3, seed=7)
    fits = [KMeans(4, init=s, n_init=1).fit(x) for s in seeds]
    best = min(fits, key=lambda f: f.inertia_)
    want = KMeans(4, n_init=3, random_state=7).fit(x)
    assert adjusted_rand_score(want.labels_, best.labels_) == 1.0
    np.testing.assert_allclose(
        np.sort(best.cluster_centers_, axis=0), np.sort(want.cluster_centers_, axis=0), atol=1e-9
    )
    assert len({s.tobytes() for s in seeds}) == 3  # three different starts


def test_previous_segment_ids_are_kept(spark: Any) -> None:
    cfg = SegmentConfig(k_min=3, k_max=3, seed=0, n_init=1)
    profiles = spark.createDataFrame(_blobs(n_per=10))
    first = fit_segments_spark(spark, profiles, cfg)
    shuffled = SegmentModel.from_dict(
        first.to_dict() | {"segment_ids": [10 + s for s in reversed(first.segment_ids_)]}
    )
    again = fit_segments_spark(spark, profiles, cfg, previous=shuffled)
    assert sorted(again.segment_ids_) == sorted(shuffled.segment_ids_)


def test_too_few_users_is_a_validation_error(spark: Any) -> None:
    from campaignrec.errors import ValidationError

    tiny = spark.createDataFrame(
        pd.DataFrame({"browse_depth": [1.0, 2.0], "weekend_share": [0.3, 0.4]})
    )
    with pytest.raises(ValidationError, match="users"):
        fit_segments_spark(spark, tiny, SegmentConfig())


def test_more_users_than_the_fit_sample(spark: Any, profiles: Any) -> None:
    """Above ``fit_sample`` the k-means++ seeds come from a seeded sample of the users, and MLlib
    still fits every user: a valid model of the forced k whose labels cover every user."""
    cfg = SegmentConfig(k_min=3, k_max=3, seed=0, n_init=1, fit_sample=60, silhouette_sample=40)
    got = fit_segments_spark(spark, profiles, cfg, k=3)
    assert got.k_ == 3 and sorted(got.segment_ids_) == [0, 1, 2]
    assigned = to_local_frame(assign_segments_spark(profiles, got))
    assert len(assigned) == profiles.count()
    assert set(assigned["segment"]) <= {0, 1, 2} and assigned["segment"].nunique() >= 2
    assert len(got.names_en_) == 3 and all(got.names_en_)
