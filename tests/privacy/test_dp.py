"""Differential privacy: the noise scale meets its ε by OpenDP's own privacy map, the noise has
the discrete Laplace spread, per-user clipping bounds the sensitivity, the budget is enforced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from campaignrec.config import load_settings
from campaignrec.errors import PrivacyBudgetError
from campaignrec.privacy.dp import (
    campaign_report_counts,
    funnel_counts,
    heatmap_counts,
    laplace_measurement,
    noisy_counts,
    release_counts,
    segment_size_counts,
)
from campaignrec.store.privacy import PrivacyRepository
from campaignrec.store.sql import SQLStore

pytest.importorskip("opendp")


@pytest.mark.parametrize(("sensitivity", "epsilon"), [(1, 0.5), (1, 1.0), (3, 2.0), (20, 1.0)])
def test_scale_meets_epsilon_by_the_librarys_map(sensitivity, epsilon):
    meas, scale, charged = laplace_measurement(sensitivity, epsilon)
    assert scale == pytest.approx(sensitivity / epsilon)
    assert charged == pytest.approx(epsilon, rel=1e-9) and charged <= epsilon * (1 + 1e-9)
    assert float(meas.map(2 * sensitivity)) == pytest.approx(2 * epsilon)  # twice the change


def test_noise_has_the_discrete_laplace_variance():
    scale = 1 / 0.5
    counts = {str(k): 1000 for k in range(20_000)}
    noisy = np.array(list(noisy_counts(counts, 1, 0.5).values()), dtype=float) - 1000
    t = np.exp(-1 / scale)
    expected_var = 2 * t / (1 - t) ** 2  # the discrete Laplace with parameter t
    assert abs(noisy.mean()) < 0.1
    assert noisy.var() == pytest.approx(expected_var, rel=0.08)
    assert np.abs(noisy).max() > 0  # not a no-op


def _events() -> pd.DataFrame:
    t0 = datetime(2026, 3, 2, tzinfo=UTC)
    rows = []
    for u in range(30):
        n = 60 if u == 0 else 5  # one heavy shopper
        for k in range(n):
            rows.append(
                {
                    "user_id": f"u{u}",
                    "event_type": ["view", "click", "add_to_cart", "purchase"][k % 4],
                    "item_id": "i1",
                    "campaign_id": None,
                    "timestamp": t0 + timedelta(hours=k + u),
                }
            )
        for k in range(20 if u == 0 else 1):
            rows.append(
                {
                    "user_id": f"u{u}",
                    "event_type": "campaign_impression",
                    "item_id": None,
                    "campaign_id": "c1",
                    "timestamp": t0 + timedelta(minutes=k),
                }
            )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("count", [funnel_counts, heatmap_counts, campaign_report_counts])
def test_clipping_bounds_what_one_shopper_changes(count):
    events = _events()
    with_all = count(events, 8)
    without = count(events[events["user_id"] != "u0"], 8)
    keys = set(with_all) | set(without)
    l1 = sum(abs(with_all.get(k, 0) - without.get(k, 0)) for k in keys)
    assert 0 < l1 <= 8
    unclipped = count(events, 10_000)
    unclipped_without = count(events[events["user_id"] != "u0"], 10_000)
    assert sum(abs(unclipped.get(k, 0) - unclipped_without.get(k, 0)) for k in keys) > 8


def test_budget_is_enforced_per_dataset(tmp_path):
    settings = load_settings(tmp_path, dp_epsilon_budget=2.0)
    store = SQLStore(settings.resolved_database_url)
    sizes = segment_size_counts(pd.DataFrame({"segment_name": ["a"] * 40 + ["b"] * 10 + [None]}))
    assert sizes == {"(unknown)": 1, "a": 40, "b": 10}
    first = release_counts(
        store, settings, sizes, epsilon=1.0, sensitivity=1, query="segments", actor="t"
    )
    assert set(first.values) == set(sizes) and first.spent_epsilon == pytest.approx(1.0)
    assert all(v >= 0 for v in first.values.values())
    release_counts(store, settings, sizes, epsilon=0.75, sensitivity=1, query="s", actor="t")
    with pytest.raises(PrivacyBudgetError, match=r"0\.25"):
        release_counts(store, settings, sizes, epsilon=0.5, sensitivity=1, query="s", actor="t")
    repo = PrivacyRepository(store)
    assert repo.spent("shop") == (pytest.approx(1.75), 0.0)  # the refused one was not charged
    release_counts(store, settings, sizes, epsilon=0.25, sensitivity=1, query="s", actor="t")
    other = release_counts(
        store, settings, sizes, epsilon=2.0, sensitivity=1, query="s", actor="t", dataset="b2b"
    )
    assert other.spent_epsilon == pytest.approx(2.0)
    with pytest.raises(PrivacyBudgetError):
        release_counts(store, settings, sizes, epsilon=0.01, sensitivity=1, query="s", actor="t")
    audit = repo.audit_records()
    assert (audit["action"] == "dp_release").sum() == 4
    store.close()


def test_cli_dp_release_charges_the_budget_and_refuses_when_spent(tmp_path, cli):
    from tests.privacy.conftest import write_shop

    home = tmp_path / "shop"
    home.mkdir()
    (home / "campaignrec.toml").write_text("dp_epsilon_budget = 1.5\n")
    files = write_shop(tmp_path / "incoming")
    d = ["--data-dir", str(home)]
    for entity in ("users", "items", "events"):
        assert cli(*d, "import", entity, str(files[entity]))[0] == 0
    code, out, err = cli(*d, "dp", "funnel", "--epsilon", "1", "--max-events", "5", "--json")
    assert code == 0, err
    import json

    body = json.loads(out)
    assert set(body["values"]) == {"view", "click", "add_to_cart", "purchase"}
    assert body["sensitivity"] == 5 and body["spent_epsilon"] == pytest.approx(1.0)
    code, out, err = cli(*d, "dp", "segments", "--epsilon", "0.5", "--out", str(tmp_path / "s.csv"))
    assert code == 0, err
    assert (tmp_path / "s.csv").read_text().startswith("key,count")
    code, _, err = cli(*d, "dp", "heatmap", "--epsilon", "0.1")
    assert code == 1 and "is left" in err and "Traceback" not in err
