"""Consent on every path: a withdrawal event stops campaigns and push at once (the online state),
reaches the users table (audiences, plans), and a later grant restores them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from campaignrec.campaigns.audience import audience_of
from campaignrec.campaigns.eligibility import CampaignServer, explain_eligibility
from campaignrec.config import load_settings
from campaignrec.data.importer import import_frame
from campaignrec.data.schema import Campaign
from campaignrec.pipeline.campaigns import check_eligibility
from campaignrec.pipeline.profiles import all_attributes
from campaignrec.privacy.consent import (
    apply_consent_events,
    consent_key,
    contactable,
    marketing_allowed,
    personalisation_allowed,
    record_consent,
)
from campaignrec.store.online import MemoryOnlineState
from campaignrec.store.sql import SQLStore

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def _campaign(cid: str = "c1") -> Campaign:
    return Campaign(campaign_id=cid, name=cid, type="coupon", status="active")


def _event(kind: str, minutes: int, user: str = "u1") -> dict:
    return {
        "user_id": user,
        "event_type": f"consent_marketing_{kind}",
        "timestamp": NOW + timedelta(minutes=minutes),
    }


def test_withdrawal_takes_effect_at_once_and_a_later_grant_restores():
    online = MemoryOnlineState()
    attrs = {"user_id": "u1", "consent_marketing": True}  # the stored row still says yes
    server = CampaignServer([_campaign("c1"), _campaign("c2")], online)
    assert len(server.serve("u1", attrs, 2, NOW).served) == 2
    assert record_consent(online, _event("withdrawn", 1))
    res = explain_eligibility(attrs, _campaign(), NOW, online, user_id="u1")
    assert not res.eligible and res.codes == ["consent"]
    assert "营销" in res.text("zh")
    assert server.serve("u1", attrs, 2, NOW).served == ()
    assert not marketing_allowed(attrs, online, "u1")
    assert contactable(["u1", "u2"], {"u1": attrs, "u2": {}}, online) == ["u2"]  # push
    # an older grant arriving late does not undo the newer withdrawal
    record_consent(online, _event("granted", -5))
    assert not marketing_allowed(attrs, online, "u1")
    record_consent(online, _event("granted", 10))
    assert marketing_allowed(attrs, online, "u1")
    assert len(server.serve("u1", attrs, 2, NOW).served) >= 1
    # personalisation is a separate consent
    record_consent(online, {"user_id": "u1", "event_type": "consent_personalisation_withdrawn"})
    assert not personalisation_allowed(attrs, online, "u1")
    assert marketing_allowed(attrs, online, "u1")
    assert not record_consent(online, {"user_id": "u1", "event_type": "view"})
    assert online.clear_user("u1") >= 1 and online.get(consent_key("u1")) is None  # erasure


def test_consent_events_reach_the_users_table_and_batch_audiences(tmp_path):
    settings = load_settings(tmp_path)
    store = SQLStore(settings.resolved_database_url)
    import_frame(store, "users", pd.DataFrame({"user_id": ["u1", "u2"], "region": ["e", "w"]}))
    import_frame(store, "campaigns", pd.DataFrame([_campaign().model_dump(mode="json")]))
    events = pd.DataFrame(
        [
            {**_event("withdrawn", 1), "timestamp": (NOW + timedelta(minutes=1)).isoformat()},
            {
                "user_id": "u2",
                "event_type": "consent_personalisation_withdrawn",
                "timestamp": NOW.isoformat(),
            },
        ]
    )
    summary = import_frame(store, "events", events)  # the event types validate
    assert summary.accepted == 2
    assert apply_consent_events(store, store.read_table("events")) == 2
    users = store.read_table("users").set_index("user_id")
    assert not users.loc["u1", "consent_marketing"] and users.loc["u1", "consent_personalisation"]
    assert users.loc["u2", "consent_marketing"] and not users.loc["u2", "consent_personalisation"]
    assert users.loc["u1", "region"] == "e"  # the other columns are kept
    attrs = all_attributes(store, NOW + timedelta(days=1))
    assert audience_of(_campaign(), attrs) == ["u2"]
    res = check_eligibility(store, "c1", "u1", NOW, MemoryOnlineState)
    assert not res.eligible and "consent" in res.codes
    store.close()


def test_cli_import_of_consent_events_updates_the_users_table(tmp_path, cli):
    home = tmp_path / "shop"
    users = tmp_path / "users.csv"
    users.write_text("user_id,region\nu1,e\nu2,w\n")
    events = tmp_path / "events.csv"
    events.write_text(
        "user_id,event_type,timestamp\n"
        "u1,consent_marketing_withdrawn,2026-05-01T00:00:00Z\n"
        "u1,consent_marketing_granted,2026-04-01T00:00:00Z\n"
    )
    d = ["--data-dir", str(home)]
    assert cli(*d, "import", "users", str(users))[0] == 0
    code, _, err = cli(*d, "import", "events", str(events))
    assert code == 0, err
    store = SQLStore(load_settings(home).resolved_database_url)
    users_t = store.read_table("users").set_index("user_id")
    assert not users_t.loc["u1", "consent_marketing"] and users_t.loc["u2", "consent_marketing"]
    store.close()


def test_campaign_estimates_use_no_profile_segment_without_personalisation_consent(tmp_path):
    from campaignrec.data.synthetic import ShopConfig, generate_shop
    from campaignrec.pipeline.campaigns import fallback_estimates, load_catalog

    shop = generate_shop(
        ShopConfig(n_users=200, n_items=80, n_events=12_000, seed=5, impression_rate=1.0)
    )
    store = SQLStore(f"sqlite:///{tmp_path / 'shop.db'}")
    store.upsert_users(shop.users)
    store.upsert_items(shop.items)
    store.upsert_campaigns(shop.campaigns)
    store.insert_events(shop.events)
    cat = load_catalog(store)
    attrs = all_attributes(store, NOW)
    users = sorted(attrs)
    segments = {u: f"seg{n % 4}" for n, u in enumerate(users)}
    with_consent = {u: {**a, "segment": segments[u]} for u, a in attrs.items()}
    frame, _ = fallback_estimates(store, cat, "c000", users, with_consent, "segment")
    assert frame["p_treated"].nunique() > 1  # the segments tell shoppers apart
    without = {u: {**a, "consent_personalisation": False} for u, a in with_consent.items()}
    frame, _ = fallback_estimates(store, cat, "c000", users, without, "segment")
    assert frame["p_treated"].nunique() == 1 and frame["p_control"].nunique() == 1
    store.close()


def test_profiles_export_leaves_out_shoppers_without_personalisation_consent(tmp_path, cli):
    from tests.privacy.conftest import raw_id, write_shop

    home = tmp_path / "shop"
    files = write_shop(tmp_path / "incoming")
    d = ["--data-dir", str(home)]
    for entity in ("users", "items", "events"):
        assert cli(*d, "import", entity, str(files[entity]))[0] == 0
    withdraw = tmp_path / "consent.csv"
    withdraw.write_text(
        f"user_id,event_type,timestamp\n{raw_id(2)},consent_personalisation_withdrawn,"
        "2024-03-30T00:00:00Z\n"
    )
    assert cli(*d, "import", "events", str(withdraw))[0] == 0
    out = tmp_path / "profiles.csv"
    code, _, err = cli(*d, "profiles", "export", "--out", str(out), "--refresh")
    assert code == 0, err
    exported = set(pd.read_csv(out)["user_id"])
    assert raw_id(2) not in exported and raw_id(3) in exported
