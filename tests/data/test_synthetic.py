"""Tests of the synthetic shop generator: determinism, schema, planted structure, streaming."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from campaignrec.data.schema import (
    CAMPAIGN_COLUMNS,
    CAMPAIGN_TYPES,
    EVENT_COLUMNS,
    ITEM_COLUMNS,
    USER_COLUMNS,
    Campaign,
    Event,
    Item,
    User,
    derive_event_id,
    required_field_for,
)
from campaignrec.data.synthetic import (
    SHOPPER_TYPES,
    ShopConfig,
    SyntheticShop,
    generate_shop,
    iter_events,
    write_shop,
)
from campaignrec.errors import ValidationError

SMALL = ShopConfig(n_users=600, n_items=200, n_events=30_000, n_campaigns=9, days=45, seed=7)


BIG = ShopConfig(
    n_users=1500, n_items=300, n_events=80_000, n_campaigns=10, seed=3, impression_rate=0.9
)


@pytest.fixture(scope="module")
def shop() -> SyntheticShop:
    return generate_shop(SMALL)


@pytest.fixture(scope="module")
def big_shop() -> SyntheticShop:
    """About 50 events per user (the default ratio) and most sessions exposed to a campaign."""
    return generate_shop(BIG)


def _record(row: pd.Series) -> dict:
    out = {}
    for k, v in row.items():
        if v is None or (not isinstance(v, list | dict) and pd.isna(v)):
            continue
        out[k] = v.to_pydatetime() if isinstance(v, pd.Timestamp) else v
    return out


def test_same_config_gives_identical_frames(shop: SyntheticShop) -> None:
    again = generate_shop(SMALL)
    for name in ("users", "items", "campaigns", "events"):
        pd.testing.assert_frame_equal(getattr(shop, name), getattr(again, name))
    pd.testing.assert_frame_equal(shop.truth.campaign_effect, again.truth.campaign_effect)
    other = generate_shop(ShopConfig(**{**SMALL.__dict__, "seed": 8}))
    assert not other.events["event_id"].equals(shop.events["event_id"])


def test_canonical_columns_and_exact_size(shop: SyntheticShop) -> None:
    assert tuple(shop.users.columns) == USER_COLUMNS
    assert tuple(shop.items.columns) == ITEM_COLUMNS
    assert tuple(shop.campaigns.columns) == CAMPAIGN_COLUMNS
    assert tuple(shop.events.columns) == EVENT_COLUMNS
    assert len(shop.users) == SMALL.n_users and len(shop.items) == SMALL.n_items
    assert len(shop.events) == SMALL.n_events
    assert shop.events["event_id"].is_unique
    ts = shop.events["timestamp"]
    assert str(ts.dt.tz) == "UTC" and ts.is_monotonic_increasing
    assert ts.min() >= pd.Timestamp(SMALL.start) and ts.max() < pd.Timestamp(SMALL.end)
    assert set(shop.campaigns["type"]) == set(CAMPAIGN_TYPES)


def test_records_validate_with_the_pydantic_models(shop: SyntheticShop) -> None:
    for _, row in shop.users.iterrows():
        User(**_record(row))
    for _, row in shop.items.iterrows():
        Item(**_record(row))
    for _, row in shop.campaigns.iterrows():
        Campaign(**_record(row))
    ev = shop.events
    # every event type, plus a random sample
    sample = pd.concat(
        [ev.groupby("event_type").head(30), ev.sample(1500, random_state=0)]
    ).drop_duplicates("event_id")
    for _, row in sample.iterrows():
        rec = _record(row)
        event_id = rec.pop("event_id")
        model = Event(**rec)
        assert model.event_id == event_id  # vectorised ids agree with derive_event_id
        assert model.timestamp.tzinfo is not None
    assert set(ev["event_type"]) == {
        "view", "click", "add_to_cart", "remove_from_cart", "purchase", "search", "favorite",
        "campaign_impression", "campaign_click", "coupon_claim", "coupon_redeem",
    }  # fmt: skip


def test_required_fields_by_type(shop: SyntheticShop) -> None:
    ev = shop.events
    for etype, group in ev.groupby("event_type"):
        needed = required_field_for(str(etype))
        if needed is not None:
            assert group[needed].notna().all(), etype
    buys = ev[ev["event_type"] == "purchase"]
    assert buys["order_id"].notna().all() and (buys["quantity"] >= 1).all()
    assert np.allclose(buys["revenue"], (buys["price"] * buys["quantity"]).round(2))
    imp = ev[ev["event_type"] == "campaign_impression"]
    assert (imp["policy"] == "uniform_random").all()
    assert set(imp["variant"]) == {"treatment", "control"}
    assert ((imp["propensity"] > 0) & (imp["propensity"] <= 1)).all()
    assert ev["session_id"].notna().all()


def test_event_id_matches_schema_function(shop: SyntheticShop) -> None:
    ev = shop.events.sample(200, random_state=1)
    for row in ev.itertuples(index=False):

        def val(x: object) -> str | None:
            return None if pd.isna(x) else str(x)

        expected = derive_event_id(
            row.user_id,
            row.event_type,
            row.timestamp.to_pydatetime(),
            val(row.item_id),
            val(row.campaign_id),
            val(row.query),
            val(row.session_id),
            val(row.order_id),
        )
        assert row.event_id == expected


def test_bad_config_is_rejected_with_the_field_named() -> None:
    with pytest.raises(ValidationError, match="n_items"):
        ShopConfig(n_items=3)
    with pytest.raises(ValidationError, match="start"):
        ShopConfig(start=datetime(2025, 1, 1))
    with pytest.raises(ValidationError, match="type_shares"):
        ShopConfig(type_shares=(1.0, 2.0))


def test_truth_shapes(shop: SyntheticShop) -> None:
    truth = shop.truth
    assert set(truth.user_type) == set(SHOPPER_TYPES)
    assert truth.user_type.index.equals(pd.Index(shop.users["user_id"], name="user_id"))
    assert len(truth.complementary_pairs) > 0
    eff = truth.campaign_effect
    assert len(eff) == SMALL.n_users * SMALL.n_campaigns
    assert ((eff["p_control"] >= 0) & (eff["p_treated"] <= 1)).all()
    by_type = eff.assign(t=eff["user_id"].map(truth.user_type)).groupby("t")["uplift"].mean()
    assert by_type["bargain_hunter"] > 0.1  # persuadable
    assert by_type["bargain_hunter"] > 3 * by_type["loyal_big_spender"]
    assert by_type["dormant"] < 0  # sleeping dogs
    p_ctrl = eff.assign(t=eff["user_id"].map(truth.user_type)).groupby("t")["p_control"].mean()
    assert p_ctrl["loyal_big_spender"] > p_ctrl["bargain_hunter"]  # sure things


def test_chunked_generation_equals_in_memory(shop: SyntheticShop) -> None:
    chunks = list(iter_events(SMALL, chunk_rows=5_000))
    assert len(chunks) > 1
    for chunk in chunks:
        assert chunk["timestamp"].is_monotonic_increasing
    joined = pd.concat(chunks, ignore_index=True)
    joined = joined.iloc[np.argsort(joined["timestamp"].to_numpy(), kind="stable")]
    pd.testing.assert_frame_equal(joined.reset_index(drop=True), shop.events)
    # the tables and truth alone, for shops whose events are streamed
    bare = generate_shop(SMALL, include_events=False)
    assert bare.events.empty and tuple(bare.events.columns) == EVENT_COLUMNS
    pd.testing.assert_frame_equal(bare.users, shop.users)
    pd.testing.assert_frame_equal(bare.truth.campaign_effect, shop.truth.campaign_effect)


def test_write_shop_canonical_files(tmp_path, shop: SyntheticShop) -> None:  # type: ignore[no-untyped-def]
    small = ShopConfig(n_users=50, n_items=40, n_events=2_000, n_campaigns=7, seed=2)
    written = write_shop(small, tmp_path / "csv", fmt="csv", chunk_rows=500)
    users = pd.read_csv(written["users"])
    assert tuple(users.columns) == USER_COLUMNS
    items = pd.read_csv(written["items"], keep_default_na=False)
    assert items["tags"].str.contains("|", regex=False).all()
    events = pd.read_csv(written["events"])
    assert len(events) == 2_000 and tuple(events.columns) == EVENT_COLUMNS
    in_memory = generate_shop(small)
    assert list(events["event_id"]) == list(in_memory.events["event_id"])
    assert pd.read_parquet(written["truth/user_type"]).shape == (50, 2)
    pq = write_shop(in_memory, tmp_path / "pq", fmt="parquet", chunk_rows=700)
    back = pd.read_parquet(pq["events"])
    assert list(back["event_id"]) == list(in_memory.events["event_id"])


def test_funnel_purchases_follow_views_and_carts(shop: SyntheticShop) -> None:
    ev = shop.events[["session_id", "item_id", "event_type", "timestamp"]]
    first = ev.groupby(["session_id", "item_id", "event_type"])["timestamp"].min().unstack()
    buys = first[first["purchase"].notna()]
    viewed_before = (buys["view"] < buys["purchase"]).mean()
    carted_before = (buys["add_to_cart"] < buys["purchase"]).mean()
    assert viewed_before > 0.97 and carted_before > 0.97
    clicks = first[first["click"].notna()]
    assert (clicks["view"] < clicks["click"]).mean() > 0.97
    # removals only of carted items
    removed = first[first["remove_from_cart"].notna()]
    assert (removed["add_to_cart"] < removed["remove_from_cart"]).mean() > 0.97
    # conversion falls along the funnel
    counts = shop.events["event_type"].value_counts()
    assert counts["view"] > counts["click"] > counts["add_to_cart"] > counts["purchase"]


def test_planted_pairs_are_bought_together(shop: SyntheticShop) -> None:
    buys = shop.events[shop.events["event_type"] == "purchase"]
    baskets = buys.groupby("order_id")["item_id"].agg(set)
    n_orders = len(baskets)
    lifts = []
    for a, b in shop.truth.complementary_pairs.itertuples(index=False):
        with_a = baskets[baskets.map(lambda s, a=a: a in s)]
        if len(with_a) < 5:
            continue
        p_b_given_a = with_a.map(lambda s, b=b: b in s).mean()
        p_b = baskets.map(lambda s, b=b: b in s).mean()
        lifts.append(p_b_given_a / max(p_b, 1.0 / n_orders))
    assert len(lifts) >= 5
    assert np.median(lifts) > 10.0


def test_next_item_depends_on_the_previous_one(shop: SyntheticShop) -> None:
    views = shop.events[shop.events["event_type"] == "view"]
    cat = views["item_id"].map(shop.items.set_index("item_id")["category"])
    same_session = views["session_id"].to_numpy()[1:] == views["session_id"].to_numpy()[:-1]
    # events of a session are not interleaved with others' in this check: sort by session
    ordered = views.assign(cat=cat).sort_values(["session_id", "timestamp"], kind="stable")
    c = ordered["cat"].to_numpy()
    s = ordered["session_id"].to_numpy()
    same_session = s[1:] == s[:-1]
    same_cat = (c[1:] == c[:-1])[same_session].mean()
    share = ordered["cat"].value_counts(normalize=True)
    chance = float((share**2).sum())
    assert same_cat > 3 * chance
    # price-adjacent neighbours: the exact next item repeats far more than chance
    items = ordered["item_id"].to_numpy()
    pairs = pd.Series(list(zip(items[:-1][same_session], items[1:][same_session], strict=True)))
    top_pair_share = pairs.value_counts(normalize=True).iloc[:50].sum()
    assert top_pair_share > 0.02


def test_shopper_types_are_recoverable_by_kmeans(big_shop: SyntheticShop) -> None:
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    cfg, s = BIG, big_shop
    e = s.events
    end = pd.Timestamp(cfg.end)
    sess = e.groupby("session_id").agg(
        user_id=("user_id", "first"), t=("timestamp", "min"), n=("event_type", "size")
    )
    angle = (sess["t"].dt.hour + sess["t"].dt.minute / 60) / 24 * 2 * np.pi
    sess = sess.assign(hs=np.sin(angle), hc=np.cos(angle))
    su = sess.groupby("user_id")
    g = e.groupby("user_id")["timestamp"]
    buys = e[e["event_type"] == "purchase"].groupby("user_id")
    f = pd.DataFrame(
        {
            "sessions": np.log1p(su.size()),
            "depth": np.log(su["n"].mean()),
            "hs": su["hs"].mean(),
            "hc": su["hc"].mean(),
            "recency": (end - g.max()).dt.total_seconds() / 86400,
            "tenure": (end - g.min()).dt.total_seconds() / 86400,
        }
    )
    f["orders"] = np.log1p(buys["order_id"].nunique()).reindex(f.index).fillna(0)
    f["monetary"] = np.log1p(buys["revenue"].sum()).reindex(f.index).fillna(0)
    x = StandardScaler().fit_transform(f.to_numpy())
    with threadpool_limits(1):  # OpenMP threads on a busy 2-core machine are slower than one
        labels = KMeans(5, n_init=10, random_state=0).fit_predict(x)
        # ... but not trivially: a single feature does not separate the types
        one = KMeans(5, n_init=10, random_state=0).fit_predict(x[:, [0]])
    ari = adjusted_rand_score(f.index.map(s.truth.user_type), labels)
    assert ari >= 0.6
    assert adjusted_rand_score(f.index.map(s.truth.user_type), one) < 0.5


def _exposure_outcomes(s: SyntheticShop) -> pd.DataFrame:
    e = s.events
    imp = e[e["event_type"] == "campaign_impression"][
        ["session_id", "user_id", "campaign_id", "variant"]
    ]
    camps = s.campaigns.set_index("campaign_id")
    top = s.items.set_index("item_id")["category"].str.split("/").str[0]
    buys = e[e["event_type"] == "purchase"][["session_id", "item_id"]]
    m = imp.merge(buys, on="session_id", how="left")

    def covered(row: pd.Series) -> bool:
        if pd.isna(row["item_id"]):
            return False
        c = camps.loc[row["campaign_id"]]
        if len(c["item_ids"]):
            return row["item_id"] in c["item_ids"]
        if len(c["categories"]):
            return top[row["item_id"]] in c["categories"]
        return True

    m["conv"] = m.apply(covered, axis=1)
    conv = m.groupby(["session_id", "campaign_id"])["conv"].any().reset_index()
    out = imp.merge(conv, on=["session_id", "campaign_id"])
    return out.assign(type=out["user_id"].map(s.truth.user_type))


def test_logged_exposures_carry_the_uplift_signal(big_shop: SyntheticShop) -> None:
    s = big_shop
    out = _exposure_outcomes(s)
    rates = out.groupby(["type", "variant"])["conv"].mean().unstack()
    response = rates["treatment"]
    uplift = rates["treatment"] - rates["control"]
    # response-based targeting picks the sure things; uplift-based picks a persuadable type
    assert response.idxmax() == "loyal_big_spender"
    assert uplift.idxmax() in ("bargain_hunter", "new_browser")
    eff = s.truth.campaign_effect
    true_uplift = eff[eff["eligible"]].groupby(eff["user_id"].map(s.truth.user_type))["uplift"]
    true_by_type = true_uplift.mean()
    assert true_by_type[uplift.idxmax()] > 5 * true_by_type[response.idxmax()]
    # the estimates follow the truth, attenuated by organic purchases of covered items
    assert 0.5 * true_by_type["bargain_hunter"] < uplift["bargain_hunter"]
    assert uplift["bargain_hunter"] < 1.3 * true_by_type["bargain_hunter"]
    assert uplift["dormant"] < uplift["bargain_hunter"] and true_by_type["dormant"] < 0
    assert abs(uplift["loyal_big_spender"]) < 0.1


def test_exposures_respect_windows_audience_and_consent(shop: SyntheticShop) -> None:
    from campaignrec.data.rules import evaluate

    ev = shop.events
    imp = ev[ev["event_type"] == "campaign_impression"]
    camps = shop.campaigns.set_index("campaign_id")
    assert (
        imp["timestamp"].to_numpy() >= camps.loc[imp["campaign_id"], "start_time"].to_numpy()
    ).all()
    assert (
        imp["timestamp"].to_numpy() < camps.loc[imp["campaign_id"], "end_time"].to_numpy()
    ).all()
    users = shop.users.set_index("user_id")
    assert users.loc[imp["user_id"], "consent_marketing"].all()
    eff = shop.truth.campaign_effect.set_index(["user_id", "campaign_id"])
    assert eff.loc[list(zip(imp["user_id"], imp["campaign_id"], strict=True)), "eligible"].all()
    # eligibility agrees with the rule engine (attributes at generation time)
    rng = np.random.default_rng(0)
    for uid in rng.choice(users.index.to_numpy(), 40, replace=False):
        u = users.loc[uid]
        attrs = {
            "membership_tier": u["membership_tier"],
            "region": u["region"],
            "age": SMALL.start.year - int(u["birth_year"]),
            "segment": shop.truth.user_type[uid],
        }
        for cid, c in camps.iterrows():
            expected = evaluate(c["audience"], attrs) and bool(u["consent_marketing"])
            assert bool(eff.loc[(uid, cid), "eligible"]) == expected


def test_items_are_never_seen_before_they_exist(shop: SyntheticShop) -> None:
    ev = shop.events[shop.events["item_id"].notna()]
    created = ev["item_id"].map(shop.items.set_index("item_id")["created_time"])
    assert (created <= ev["timestamp"]).all()
    assert (shop.items["created_time"] >= pd.Timestamp(SMALL.start)).any()  # new arrivals exist
    titles = shop.items["title"]
    assert titles.str.contains(r"[a-z]").all() and titles.str.contains(r"[\u4e00-\u9fff]").all()


def test_types_differ_in_rhythm_and_price(shop: SyntheticShop) -> None:
    ev = shop.events.assign(type=shop.events["user_id"].map(shop.truth.user_type))
    hours = ev.groupby("type")["timestamp"].apply(lambda t: t.dt.hour.median())
    assert hours["new_browser"] < hours["bargain_hunter"] < hours["loyal_big_spender"]
    weekend = ev.groupby("type")["timestamp"].apply(lambda t: (t.dt.day_of_week >= 5).mean())
    assert weekend["loyal_big_spender"] > 2 / 7 > weekend["bargain_hunter"]
    views = ev[ev["event_type"] == "view"]
    median = shop.items.groupby("category")["price"].median()
    cat = views["item_id"].map(shop.items.set_index("item_id")["category"])
    rel = np.log(views["price"] / cat.map(median).to_numpy())
    by_type = rel.groupby(views["type"]).mean()
    assert by_type["bargain_hunter"] < by_type["window_shopper"] < by_type["loyal_big_spender"]
    depth = ev.groupby(["type", "session_id"]).size().groupby("type").mean()
    assert depth.idxmax() == "window_shopper"


@settings(max_examples=12, deadline=None)
@given(
    n_users=st.integers(1, 60),
    n_items=st.integers(26, 80),
    n_events=st.integers(0, 3_000),
    n_campaigns=st.integers(0, 9),
    days=st.integers(1, 30),
    seed=st.integers(0, 2**31 - 1),
)
def test_any_small_config_gives_a_consistent_shop(
    n_users: int, n_items: int, n_events: int, n_campaigns: int, days: int, seed: int
) -> None:
    cfg = ShopConfig(
        n_users=n_users, n_items=n_items, n_events=n_events, n_campaigns=n_campaigns,
        days=days, seed=seed,
    )  # fmt: skip
    s = generate_shop(cfg)
    ev = s.events
    assert len(ev) == n_events and tuple(ev.columns) == EVENT_COLUMNS
    assert ev["event_id"].is_unique and ev["timestamp"].is_monotonic_increasing
    assert set(ev["user_id"]) <= set(s.users["user_id"])
    assert set(ev["item_id"].dropna()) <= set(s.items["item_id"])
    assert set(ev["campaign_id"].dropna()) <= set(s.campaigns["campaign_id"])
    if n_events:
        assert ev["timestamp"].min() >= pd.Timestamp(cfg.start)
        assert ev["timestamp"].max() < pd.Timestamp(cfg.end)
    assert len(s.truth.campaign_effect) == n_users * n_campaigns


def test_generate_command_writes_and_loads_the_shop(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import importlib

    import typer
    from typer.testing import CliRunner

    from campaignrec.cli.generate import generate

    cli_main = importlib.import_module("campaignrec.cli.main")
    app = typer.Typer()
    app.command()(generate)

    @app.command()
    def _noop() -> None:  # a second command keeps typer from collapsing the app
        pass

    monkeypatch.setattr(cli_main.STATE, "data_dir", tmp_path / "home")
    monkeypatch.setattr(cli_main.STATE, "_settings", None)
    out = tmp_path / "shop"
    args = ["generate", str(out), "--users", "40", "--items", "30", "--events", "1500",
            "--campaigns", "7", "--days", "20", "--seed", "5", "--fmt", "csv", "--load"]  # fmt: skip
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "events" in res.output and "1,500" in res.output and "bargain_hunter" in res.output
    for name in ("users", "items", "campaigns", "events"):
        assert (out / f"{name}.csv").exists()
    assert (out / "truth" / "campaign_effect.parquet").exists()
    store = cli_main.open_store()
    assert store.count("events") == 1500 and store.count("users") == 40
    assert store.count("quarantine") == 0
    store.close()
    bad = CliRunner().invoke(app, ["generate", str(out), "--fmt", "xml"])
    assert bad.exit_code != 0


def test_within_category_moves_keep_the_brand_more_than_chance() -> None:
    # a catalogue with several items per (sub-category, brand), so brand moves can show
    shop = generate_shop(ShopConfig(n_users=600, n_items=2_000, n_events=30_000, seed=7))
    views = shop.events[shop.events["event_type"] == "view"].sort_values(
        ["session_id", "timestamp"], kind="stable"
    )
    items = shop.items.set_index("item_id")
    cat = views["item_id"].map(items["category"]).to_numpy()
    brand = views["item_id"].map(items["brand"]).to_numpy()
    item = views["item_id"].to_numpy()
    s = views["session_id"].to_numpy()
    moved = (s[1:] == s[:-1]) & (cat[1:] == cat[:-1]) & (item[1:] != item[:-1])
    same_brand = (brand[1:] == brand[:-1])[moved].mean()
    # chance: two random items of one sub-category share a brand
    shares = items.groupby("category")["brand"].value_counts(normalize=True)
    chance = float((shares**2).groupby(level=0).sum().mean())
    assert same_brand > chance + 0.1


def test_events_csv_matches_the_pandas_canonical_layout(shop: SyntheticShop) -> None:
    import io

    from campaignrec.data.synthetic.writing import _canonical_text, _events_csv

    ev = shop.events.head(3_000).copy()
    ev.loc[0, "query"] = 'red, "cheap" shoes'  # needs quoting: the pandas fallback
    for chunk in (ev.iloc[1:], ev):
        fast = pd.read_csv(io.BytesIO(_events_csv(chunk, header=True)), low_memory=False)
        slow = pd.read_csv(
            io.StringIO(_canonical_text(chunk).to_csv(index=False)), low_memory=False
        )
        pd.testing.assert_frame_equal(fast, slow)
    text = _events_csv(ev.iloc[1:3], header=False).decode()
    assert text.count("\n") == 2 and "T" in text.split(",")[3] and text.split(",")[3].endswith("Z")
