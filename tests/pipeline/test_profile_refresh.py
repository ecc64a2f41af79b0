"""Incremental profile refresh from the saved state equals a batch recompute."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from campaignrec.data.importer import import_frame
from campaignrec.pipeline.profiles import compute_profiles, refresh_profiles
from campaignrec.store.profiles import ProfileRepository

from .conftest import end_of, events_before, events_from, load

COMPARED = ["frequency", "monetary", "recency_days", "n_sessions", "days_since_last_event"]


def test_refresh_folds_in_only_new_events_and_matches_a_recompute(
    small_shop, tmp_path: Path
) -> None:
    cut = end_of(small_shop) - pd.Timedelta(days=10)
    shop = load(small_shop, tmp_path / "inc", events_before(small_shop, cut))
    before = compute_profiles(shop.store, tmp_path / "inc" / "profiles")
    new = events_from(small_shop, cut)
    import_frame(shop.store, "events", new)
    refreshed = refresh_profiles(shop.store, tmp_path / "inc" / "profiles")
    assert refreshed.meta["refresh"]["mode"] == "incremental"
    assert refreshed.meta["refresh"]["new_events"] == len(new)
    full = compute_profiles(
        load(small_shop, tmp_path / "full", small_shop.events).store, tmp_path / "full" / "p"
    )
    a = refreshed.profiles.set_index("user_id").sort_index()
    b = full.profiles.set_index("user_id").sort_index()
    assert list(a.index) == list(b.index)
    for col in COMPARED:
        np.testing.assert_allclose(
            a[col].to_numpy(float), b[col].to_numpy(float), rtol=1e-6, equal_nan=True
        )
    # segments come from the saved model (same ids and names), and the store's table is updated
    assert set(a["segment"]) <= set(before.profiles["segment"])
    u = str(a.index[0])
    stored = ProfileRepository(shop.store).get(u)
    assert stored is not None and stored["frequency"] == a.loc[u, "frequency"]


def test_refresh_without_a_saved_state_computes_everything(small_shop, tmp_path: Path) -> None:
    shop = load(small_shop, tmp_path / "first", small_shop.events)
    result = refresh_profiles(shop.store, tmp_path / "first" / "profiles")
    assert result.meta["refresh"]["mode"] == "full"
    assert (tmp_path / "first" / "profiles" / "state" / "state.json").is_file()
