"""Campaign models from the store's own logged exposures: on the synthetic shop (which plants
each shopper's true uplift and logs a control holdout) they rank the truly responsive shoppers
first, and ``campaigns plan`` uses them in place of the per-segment fallback."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from campaignrec.campaigns.audience import audience_of
from campaignrec.data.synthetic import ShopConfig, generate_shop
from campaignrec.errors import ValidationError
from campaignrec.pipeline.campaigns import FALLBACK_LABEL, load_catalog, plan_for
from campaignrec.pipeline.profiles import all_attributes, compute_profiles
from campaignrec.pipeline.uplift import (
    campaign_models_dir,
    fit_campaign_models,
    load_campaign_models,
    uplift_estimates,
)

from .conftest import LoadedShop, load

NOW = datetime(2025, 3, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[LoadedShop, Path]:
    shop = generate_shop(
        ShopConfig(n_users=1500, n_items=200, n_events=60_000, impression_rate=0.6, seed=11)
    )
    loaded = load(shop, tmp_path_factory.mktemp("uplift"), shop.events)
    compute_profiles(loaded.store, loaded.home / "profiles")
    directory = campaign_models_dir(loaded.home)
    fit_campaign_models(loaded.store, directory, now=NOW)
    return loaded, directory


def test_the_models_rank_truly_responsive_shoppers_above_the_others(fitted) -> None:
    shop, directory = fitted
    models = load_campaign_models(directory)
    assert models is not None
    h = models.meta["holdout"]
    assert h["qini"] > h["qini_random"] and h["qini"] > 0  # on held-out logged exposures
    assert h["uplift_at_30"] > h["uplift_at_30_random"]
    truth = shop.shop.truth.campaign_effect
    attrs = all_attributes(shop.store, NOW)
    items = shop.store.read_table("items", columns=["item_id", "category"])
    catalog = load_catalog(shop.store)
    lifts = []
    for c in catalog:
        audience = audience_of(c, attrs)
        if len(audience) < 200:
            continue
        est = uplift_estimates(models, c, audience, attrs, items)
        true = est["user_id"].map(
            truth[truth["campaign_id"] == c.campaign_id].set_index("user_id")["uplift"]
        )
        score = est["p_treated"] - est["p_control"]
        top = true[score.rank(ascending=False, method="first") <= 0.3 * len(est)]
        lifts.append(top.mean() - true.mean())  # the planted uplift of the top 30 % vs everyone
    assert len(lifts) >= 5
    assert np.mean(lifts) > 0 and np.mean(np.array(lifts) > 0) >= 0.7


def test_campaigns_plan_uses_the_store_model_and_reaches_shoppers(fitted) -> None:
    shop, directory = fitted
    catalog = load_catalog(shop.store)
    coupon = next(c for c in catalog if str(c.type) == "coupon")
    plan = plan_for(shop.store, coupon.campaign_id, now=NOW, models_dir=directory,
                    objective="conversions")  # fmt: skip
    assert plan.source.startswith("uplift model fitted on the store's logged exposures")
    rows = {r["strategy"]: r for r in plan.plan["strategies"]}
    assert rows["uplift"]["reach"] > 0
    # the same budget buys more incremental conversions when targeted by uplift
    assert rows["uplift"]["incremental_conversions"] > rows["random"]["incremental_conversions"]
    fallback = plan_for(shop.store, coupon.campaign_id, now=NOW)  # no models_dir: the fallback
    assert fallback.source.startswith(FALLBACK_LABEL)


def test_no_logged_holdout_is_a_clear_error(tmp_path: Path) -> None:
    shop = generate_shop(ShopConfig(n_users=100, n_items=60, n_events=3_000, seed=2))
    events = shop.events[shop.events["variant"].astype("string").fillna("") != "control"]
    loaded = load(shop, tmp_path / "no-holdout", events)
    with pytest.raises(ValidationError, match="held-out"):
        fit_campaign_models(loaded.store, tmp_path / "models", now=NOW)
    assert load_campaign_models(tmp_path / "models") is None


def test_the_service_preview_uses_the_store_model(fitted) -> None:
    import warnings

    from campaignrec.service.app import create_app
    from campaignrec.service.auth import KeyStore

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient
    shop, _ = fitted
    coupon = next(c for c in load_catalog(shop.store) if str(c.type) == "coupon")
    key = KeyStore(shop.store).create("read")[0]
    with TestClient(create_app(shop.settings)) as client:
        r = client.get(
            f"/v1/campaigns/{coupon.campaign_id}/preview",
            headers={"Authorization": f"Bearer {key}"},
        )
    assert r.status_code == 200, r.text
    assert r.json()["source"].startswith("uplift model fitted on the store's logged exposures")
