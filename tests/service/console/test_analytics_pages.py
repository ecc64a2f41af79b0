"""Campaign ROI over time on the Overview and the lifecycle flow on the Shoppers page."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from campaignrec.campaigns.roi import campaign_roi_by_day, roi_over_time
from campaignrec.pipeline.profiles import profiles_dir
from campaignrec.profiles.pipeline import load_profiles
from campaignrec.service.console.i18n import translate
from tests.service.console.conftest import chart_of


def test_overview_roi_is_the_redemption_cost_against_the_incremental_revenue(
    admin: TestClient,
) -> None:
    state = admin.app.state.service  # type: ignore[attr-defined]
    store = state.store
    expected = roi_over_time(
        campaign_roi_by_day(
            store.read_table("events"), store.read_table("campaigns"), store.read_table("items")
        )
    )
    html = admin.get("/console/overview?lang=en").text
    figure = chart_of(html, "chart-roi")
    cost, incremental, cumulative = figure["data"]
    assert cost["x"] == list(expected["day"])
    assert cost["y"] == pytest.approx(list(expected["cost"]))
    assert incremental["y"] == pytest.approx(list(expected["incremental_revenue"]))
    assert cumulative["y"] == pytest.approx(list(expected["cumulative_roi"]))
    assert cumulative["yaxis"] == "y2"
    # by hand (conftest): c2 shown to u2, u3 (20 each in the session), held out from u0 (20)
    # and u1 (nothing): baseline 10 per exposure, incremental 40 - 2 x 10 = 20; u2 redeemed
    # once at 5 off + 5 handling = 10: ROI (20 - 10) / 10 = 100%
    shown = dict(re.findall(r'data-roi="(\w+)">([^<]+)<', html))
    assert shown == {"cost": "$10.00", "incremental": "$20.00", "roi": "100.0%"}
    assert translate("en", "roi_title") in html and cost["name"] == translate("en", "roi_cost")


def test_overview_roi_speaks_chinese(admin: TestClient) -> None:
    html = admin.get("/console/overview?lang=zh").text
    assert translate("zh", "roi_title") in html and translate("zh", "roi_help") in html
    names = [t["name"] for t in chart_of(html, "chart-roi")["data"]]
    assert names == [translate("zh", k) for k in ("roi_cost", "roi_incremental", "roi_cumulative")]


def test_a_shop_without_campaign_activity_says_so(admin: TestClient) -> None:
    state = admin.app.state.service  # type: ignore[attr-defined]
    from sqlalchemy import delete

    events = state.store.tables.events
    with state.store.engine.begin() as conn:
        conn.execute(
            delete(events).where(events.c.event_type.in_(["campaign_impression", "coupon_redeem"]))
        )
    html = admin.get("/console/overview").text
    assert 'id="chart-roi"' not in html and translate("en", "roi_none") in html


def test_lifecycle_flow_moves_every_profiled_shopper(admin: TestClient) -> None:
    state = admin.app.state.service  # type: ignore[attr-defined]
    profiles = load_profiles(profiles_dir(state.settings.home)).profiles
    for lang in ("en", "zh"):
        html = admin.get(f"/console/shoppers?lang={lang}").text
        sankey = chart_of(html, "chart-flow")["data"][0]
        assert sankey["type"] == "sankey"
        links = sankey["link"]
        assert sum(links["value"]) == len(profiles)
        labels = sankey["node"]["label"]
        # the right-hand side is the profiles' lifecycle at the latest event
        after: dict[str, int] = {}
        for target, value in zip(links["target"], links["value"], strict=True):
            after[labels[target]] = after.get(labels[target], 0) + value
        want = profiles["lifecycle"].value_counts()
        assert after == {translate(lang, f"lc_{k}"): int(v) for k, v in want.items()}
        assert translate(lang, "lifecycle_flow") in html
        assert "30" in re.sub(r"<[^>]+>", "", html.split('id="lifecycle-flow"')[1][:400])


def test_flow_pairs_come_from_the_library(admin: TestClient) -> None:
    from campaignrec.pipeline.profiles import iter_events
    from campaignrec.profiles.flow import lifecycle_flow
    from campaignrec.service.console.analytics import FLOW_DAYS

    store = admin.app.state.service.store  # type: ignore[attr-defined]
    end = pd.to_datetime(store.read_table("events")["timestamp"], utc=True).max()
    flow = lifecycle_flow(
        iter_events(store),
        start=end - pd.Timedelta(days=FLOW_DAYS),
        end=end,
        users=store.read_table("users"),
        items=store.read_table("items"),
    )
    sankey = chart_of(admin.get("/console/shoppers?lang=en").text, "chart-flow")["data"][0]
    labels = sankey["node"]["label"]
    got = {
        (labels[s], labels[t]): v
        for s, t, v in zip(
            sankey["link"]["source"], sankey["link"]["target"], sankey["link"]["value"], strict=True
        )
    }
    want = {
        (translate("en", f"lc_{r['before']}"), translate("en", f"lc_{r['after']}")): r["shoppers"]
        for r in flow.to_dict("records")
    }
    assert got == want and got
