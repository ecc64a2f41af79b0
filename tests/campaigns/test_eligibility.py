from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from campaignrec.campaigns.catalog import load_campaigns
from campaignrec.campaigns.eligibility import (
    DEFAULT_KEYS,
    CampaignServer,
    ensure_campaign_state,
    explain_eligibility,
    serve_campaigns,
)
from campaignrec.data.rules import evaluate
from campaignrec.data.schema import Campaign
from campaignrec.errors import ValidationError
from tests.campaigns.conftest import new_state

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def camp(cid: str = "c1", **kw: Any) -> Campaign:
    return Campaign(campaign_id=cid, name=cid, type="coupon", **kw)


def test_dormant_user_is_told_why() -> None:
    c = camp(audience={"field": "segment", "op": "in", "value": ["loyal", "champions"]})
    res = explain_eligibility({"segment": "dormant"}, c, NOW)
    assert not res.eligible
    assert res.codes == ["audience"]
    assert "segment is 'dormant'" in res.text()
    assert res.text("zh").startswith("不符合条件")
    assert explain_eligibility({"segment": "loyal"}, c, NOW).eligible


def test_window_status_consent_reasons() -> None:
    assert explain_eligibility({}, camp(status="paused"), NOW).codes == ["status"]
    early = camp(start_time=NOW + timedelta(hours=2))
    assert explain_eligibility({}, early, NOW).codes == ["not_started"]
    late = camp(start_time=NOW - timedelta(days=3), end_time=NOW - timedelta(days=1))
    assert explain_eligibility({}, late, NOW).codes == ["ended"]
    assert explain_eligibility({"consent_marketing": False}, camp(), NOW).codes == ["consent"]


def test_inventory_budget_cap_exclusivity(state: Any) -> None:
    c = camp(inventory=1, budget=10.0, cost_per_redemption=4.0, frequency_cap=2)
    ensure_campaign_state([c], state)
    attrs = {"user_id": "u1"}
    assert explain_eligibility(attrs, c, NOW, state).eligible
    server = CampaignServer([c], state)
    assert server.serve("u1", attrs, 1, NOW).campaign_ids == ["c1"]
    res = explain_eligibility(attrs, c, NOW, state)
    assert "inventory" in res.codes and "budget" not in res.codes  # 6 left >= 4
    assert server.serve("u2", {"user_id": "u2"}, 1, NOW).campaign_ids == []

    b = camp("b", budget=5.0, cost_per_redemption=3.0)
    server = CampaignServer([b], state)
    assert server.serve("u1", {}, 1, NOW).campaign_ids == ["b"]
    res = explain_eligibility({}, b, NOW, state, user_id="u9")
    assert res.codes == ["budget"] and "2.00 left" in res.reasons[0].text_en

    f = camp("f", frequency_cap=2)
    server = CampaignServer([f], state)
    assert server.serve("u1", {}, 1, NOW).campaign_ids == ["f"]
    assert server.serve("u1", {}, 1, NOW).campaign_ids == ["f"]
    assert server.serve("u1", {}, 1, NOW).campaign_ids == []
    assert explain_eligibility({}, f, NOW, state, user_id="u1").codes == ["frequency_cap"]
    assert explain_eligibility({}, f, NOW, state, user_id="u2").eligible

    g1 = camp("g1", exclusivity_group="spring", priority=5, frequency_cap=5)
    g2 = camp("g2", exclusivity_group="spring", priority=1)
    server = CampaignServer([g1, g2], state)
    d = server.serve("u1", {}, 3, NOW)
    assert d.campaign_ids == ["g1"] and d.skipped == {"g2": "exclusivity"}
    why = explain_eligibility({}, g2, NOW, state, user_id="u1")
    assert why.codes == ["exclusivity"] and "'g1'" in why.reasons[0].text_en
    # the campaign that holds the group can be shown again within its own cap
    assert explain_eligibility({}, g1, NOW, state, user_id="u1").eligible
    assert server.serve("u1", {}, 3, NOW).campaign_ids == ["g1"]


def test_user_id_needed_for_caps(state: Any) -> None:
    with pytest.raises(ValidationError, match="user_id"):
        explain_eligibility({}, camp(frequency_cap=1), NOW, state)


def test_order_priority_then_value_and_decision_log(state: Any) -> None:
    cs = [
        camp("low", priority=0),
        camp("hi", priority=2),
        camp("mid", priority=1),
        camp("mid2", priority=1),
    ]
    values = {"low": 9.0, "hi": 0.0, "mid": 0.1, "mid2": 0.5}
    d = serve_campaigns(
        "u", {}, 3, NOW, campaigns=cs, state=state, value_fn=lambda u, a, c: values[c.campaign_id]
    )
    assert d.campaign_ids == ["hi", "mid2", "mid"]
    ev = d.to_events()
    assert [e["propensity"] for e in ev] == [1.0, 1.0, 1.0]
    assert {e["policy"] for e in ev} == {"priority"}
    assert ev[0]["event_type"] == "campaign_impression" and ev[1]["position"] == 1
    assert d.to_dict()["candidates"] == ["hi", "mid2", "mid", "low"]


def test_concurrent_serving_never_exceeds_inventory_or_cap() -> None:
    state = new_state()
    c = camp(inventory=50, frequency_cap=3, budget=1000.0, cost_per_redemption=1.0)
    server = CampaignServer([c], state)
    served: list[tuple[str, list[str]]] = []
    lock = threading.Lock()

    def worker(wid: int) -> None:
        for r in range(100):
            uid = f"u{r % 7}"
            d = server.serve(uid, {}, 1, NOW)
            with lock:
                served.append((uid, d.campaign_ids))

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = sum(len(ids) for _, ids in served)
    per_user: dict[str, int] = {}
    for uid, ids in served:
        per_user[uid] = per_user.get(uid, 0) + len(ids)
    assert total == 7 * 3  # every user capped at 3, inventory 50 not reached
    assert max(per_user.values()) == 3
    assert state.get_budget(DEFAULT_KEYS.inventory("c1")) == pytest.approx(50 - 21)


# ---- property: nothing ineligible is ever served -------------------------------------------------

FIELDS = ("segment", "region", "age", "is_new")
SEGMENTS = ("loyal", "dormant", "new", "vip")
leaf = st.one_of(
    st.builds(
        lambda v: {"field": "segment", "op": "in", "value": list(v)},
        st.sets(st.sampled_from(SEGMENTS), min_size=1),
    ),
    st.builds(lambda v: {"field": "segment", "op": "eq", "value": v}, st.sampled_from(SEGMENTS)),
    st.builds(lambda v: {"field": "age", "op": "gte", "value": v}, st.integers(10, 70)),
    st.builds(
        lambda lo, w: {"field": "age", "op": "between", "value": [lo, lo + w]},
        st.integers(10, 60),
        st.integers(0, 30),
    ),
    st.builds(lambda v: {"field": "is_new", "op": "eq", "value": v}, st.booleans()),
    st.just({"field": "region", "op": "exists"}),
)
rules = st.recursive(
    leaf,
    lambda kids: st.one_of(
        st.builds(lambda k: {"all": k}, st.lists(kids, max_size=3)),
        st.builds(lambda k: {"any": k}, st.lists(kids, min_size=1, max_size=3)),
        st.builds(lambda k: {"not": k}, kids),
    ),
    max_leaves=5,
)
attrs_st = st.fixed_dictionaries(
    {},
    optional={
        "segment": st.sampled_from(SEGMENTS),
        "region": st.sampled_from(("north", "south")),
        "age": st.integers(10, 80),
        "is_new": st.booleans(),
    },
)
campaign_st = st.builds(
    lambda i, rule, status, start, inv, budget, cpr, cap, group, prio: camp(
        f"c{i}",
        audience=rule,
        status=status,
        start_time=NOW + timedelta(hours=start) if start is not None else None,
        inventory=inv,
        budget=budget,
        cost_per_redemption=cpr,
        frequency_cap=cap,
        exclusivity_group=group,
        priority=prio,
    ),
    st.integers(0, 10_000),
    st.one_of(st.none(), rules),
    st.sampled_from(("active", "active", "active", "paused", "draft")),
    st.one_of(st.none(), st.integers(-5, 2)),
    st.one_of(st.none(), st.integers(0, 3)),
    st.one_of(st.none(), st.floats(0, 10)),
    st.sampled_from((0.0, 1.0, 2.5)),
    st.one_of(st.none(), st.integers(1, 2)),
    st.one_of(st.none(), st.sampled_from(("g1", "g2"))),
    st.integers(0, 3),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    campaigns=st.lists(campaign_st, min_size=1, max_size=5, unique_by=lambda c: c.campaign_id),
    requests=st.lists(
        st.tuples(st.sampled_from(("u1", "u2", "u3")), attrs_st, st.integers(1, 3)),
        min_size=1,
        max_size=12,
    ),
)
def test_no_ineligible_campaign_is_ever_served(campaigns, requests) -> None:
    state = new_state()
    cat = load_campaigns(campaigns)
    server = CampaignServer(cat, state)
    counts: dict[tuple[str, str], int] = {}
    issued: dict[str, int] = {}
    group_owner: dict[tuple[str, str], str] = {}
    for uid, attrs, k in requests:
        before = {
            c.campaign_id: explain_eligibility(attrs, c, NOW, state, user_id=uid) for c in cat
        }
        d = server.serve(uid, attrs, k, NOW)
        assert len(d.served) <= k
        assert len(set(d.campaign_ids)) == len(d.campaign_ids)
        for cid in d.campaign_ids:
            c = cat.get(cid)
            assert before[cid].eligible, before[cid].text()
            assert c.status == "active" and (c.start_time is None or c.start_time <= NOW)
            assert evaluate(c.audience, attrs)
            counts[(uid, cid)] = counts.get((uid, cid), 0) + 1
            issued[cid] = issued.get(cid, 0) + 1
            if c.frequency_cap is not None:
                assert counts[(uid, cid)] <= c.frequency_cap
            if c.inventory is not None:
                assert issued[cid] <= c.inventory
            if c.budget is not None:
                assert issued[cid] * c.cost_per_redemption <= c.budget + 1e-9
            if c.exclusivity_group is not None:
                owner = group_owner.setdefault((uid, c.exclusivity_group), cid)
                assert owner == cid


def test_counters_are_initialised_once_and_never_refilled(state: Any) -> None:
    from campaignrec.campaigns.eligibility import set_campaign_counters

    c = camp(inventory=2)
    first = CampaignServer([c], state)
    assert first.serve("u1", {}, 1, NOW).campaign_ids == ["c1"]
    second = CampaignServer([c], state)  # a worker restarting
    assert state.get_budget(DEFAULT_KEYS.inventory("c1")) == 1.0
    assert second.serve("u2", {}, 1, NOW).campaign_ids == ["c1"]
    assert first.serve("u3", {}, 1, NOW).campaign_ids == []
    set_campaign_counters(c, state, inventory_left=5)  # an operator tops it up
    assert second.serve("u3", {}, 1, NOW).campaign_ids == ["c1"]
