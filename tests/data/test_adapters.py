"""Dataset adapters on tiny hand-written copies of each public data set's format."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from campaignrec.data.adapters import (
    ADAPTERS,
    read_cdnow,
    read_completejourney,
    read_dataset,
    read_hillstrom,
    read_movielens,
    read_obd,
    read_taobao,
)
from campaignrec.data.importer import import_dataset
from campaignrec.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_movielens_atomic(tmp_path):
    write(
        tmp_path / "ml-100k.inter",
        "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
        "1\t10\t5\t881250949\n1\t11\t2\t881250950\n2\t10\t4\t881250951\n",
    )
    write(
        tmp_path / "ml-100k.user",
        "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n"
        "1\t24\tM\ttechnician\t85711\n2\t53\tF\tother\t94043\n",
    )
    write(
        tmp_path / "ml-100k.item",
        "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n"
        "10\tToy Story\t1995\tAnimation Children's Comedy\n11\tHeat\t\tAction\n",
    )
    ds = read_movielens(tmp_path)
    assert ds.events["event_type"].tolist() == ["rating", "rating", "rating"]
    assert ds.events["rating"].tolist() == [5.0, 2.0, 4.0]
    old = read_movielens(tmp_path, favorite_threshold=4.0)
    assert old.events["event_type"].tolist() == ["favorite", "view", "favorite"]
    assert ds.events["timestamp"].iloc[0] == datetime.fromtimestamp(881250949, UTC)
    assert ds.users["gender"].tolist() == ["male", "female"]
    assert ds.users["attributes"].iloc[0] == {
        "age": 24,
        "occupation": "technician",
        "zip_code": "85711",
    }
    assert ds.items["tags"].iloc[0] == ["Animation", "Children's", "Comedy"]
    assert ds.items["category"].iloc[0] == "Animation"
    assert ds.items["attributes"].tolist() == [{"release_year": 1995}, {}]


def test_movielens_original(tmp_path):
    write(tmp_path / "u.data", "1\t10\t5\t881250949\n2\t10\t1\t881250951\n")
    write(tmp_path / "u.user", "1|24|M|technician|85711\n2|53|F|other|94043\n")
    flags = ["0"] * 19
    flags[1] = flags[5] = "1"  # Action, Comedy
    write(
        tmp_path / "u.item", "10|Some Film (1995)|01-Jan-1995||http://x|" + "|".join(flags) + "\n"
    )
    ds = read_movielens(tmp_path / "u.data")
    assert ds.events["event_type"].tolist() == ["rating", "rating"]
    assert ds.events["rating"].tolist() == [5.0, 1.0]
    assert ds.items["title"].tolist() == ["Some Film"]
    assert ds.items["tags"].iloc[0] == ["Action", "Comedy"]
    assert ds.items["attributes"].iloc[0] == {"release_year": 1995}


OBD_LOG = (
    ",timestamp,item_id,position,click,propensity_score,user_feature_0,user_feature_1,"
    "user_feature_2,user_feature_3,user-item_affinity_0,user-item_affinity_1\n"
    "0,2019-11-24 00:00:34.762830+00:00,1,3,0,0.0125,a,b,c,d,0.0,1.0\n"
    "1,2019-11-24 00:00:53.965051+00:00,0,1,1,0.0125,a,b,c,d,0.0,0.0\n"
    "2,2019-11-24 00:01:10.000000+00:00,1,2,1,0.0125,e,b,c,d,0.0,0.0\n"
)


def obd_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "obd" / "random" / "all"
    write(folder / "all.csv", OBD_LOG)
    write(
        folder / "item_context.csv",
        ",item_id,item_feature_0,item_feature_1\n0,0,-0.5,x\n1,1,0.3,y\n",
    )
    return folder


def test_obd(tmp_path):
    ds = read_obd(obd_dir(tmp_path))
    ev = ds.events
    assert (ev["event_type"] == "campaign_impression").sum() == 3
    assert (ev["event_type"] == "click").sum() == 2
    assert set(ev["policy"]) == {"random"} and set(ev["propensity"]) == {0.0125}
    assert set(ev["campaign_id"]) == {"obd-all"}
    imp = ev[ev["event_type"] == "campaign_impression"]
    assert imp["position"].tolist() == [3, 1, 2] and imp["item_id"].tolist() == ["1", "0", "1"]
    assert ev["user_id"].iloc[0] == ev["user_id"].iloc[1] != ev["user_id"].iloc[2]
    assert len(ds.users) == 2 and ds.users["attributes"].iloc[0]["user_feature_0"] == "a"
    assert ds.items["attributes"].iloc[0] == {"item_feature_0": "-0.5", "item_feature_1": "x"}
    assert list(ds.extras["context"].columns[:2]) == ["session_id", "user_feature_0"]
    assert ds.campaigns["item_ids"].iloc[0] == ["0", "1"]


def test_taobao(tmp_path):
    path = write(
        tmp_path / "UserBehavior.csv",
        "1,2268318,2520377,pv,1511544070\n1,2333346,2520771,cart,1511561733\n"
        "2,2268318,2520377,buy,1511572885\n2,99,7,fav,1511572886\n",
    )
    ds = read_taobao(path)
    assert ds.events["event_type"].tolist() == ["view", "add_to_cart", "purchase", "favorite"]
    assert ds.items.set_index("item_id")["category"].to_dict() == {
        "2268318": "2520377",
        "2333346": "2520771",
        "99": "7",
    }
    assert ds.users["user_id"].tolist() == ["1", "2"]


def test_cdnow(tmp_path):
    path = write(
        tmp_path / "CDNOW_master.txt",
        " customer_id  date number_of_cds  dollar_value\n"
        " 00001 19970101  1   11.77\n 00002 19970112  1   12.00\n 00002 19970112  5   77.00\n",
    )
    ds = read_cdnow(path)
    ev = ds.events
    # no order id is made up (an order is a purchase day); the two lines of one day stay two events
    assert "order_id" not in ev.columns or ev["order_id"].isna().all()
    assert ev["event_id"].tolist() == [
        "cdnow:00001:19970101:0",
        "cdnow:00002:19970112:0",
        "cdnow:00002:19970112:1",
    ]
    assert ev["timestamp"].iloc[1] == datetime(1997, 1, 12, tzinfo=UTC)
    assert ev["revenue"].tolist() == ["11.77", "12.00", "77.00"]
    assert set(ev["event_type"]) == {"purchase"} and len(ds.users) == 2


HILLSTROM = (
    "recency,history_segment,history,mens,womens,zip_code,newbie,channel,segment,visit,conversion,spend\n"
    "10,2) $100 - $200,142.44,1,0,Surburban,0,Phone,Womens E-Mail,0,0,0\n"
    "6,3) $200 - $350,329.08,1,1,Rural,1,Web,No E-Mail,1,0,0\n"
    "7,2) $100 - $200,180.65,0,1,Surburban,1,Web,Mens E-Mail,1,1,29.99\n"
)


def test_hillstrom(tmp_path):
    ds = read_hillstrom(write(tmp_path / "hillstrom.csv", HILLSTROM))
    ev = ds.events
    imp = ev[ev["event_type"] == "campaign_impression"]
    assert imp["user_id"].tolist() == ["h00001", "h00003"]
    assert imp["campaign_id"].tolist() == ["hillstrom-womens", "hillstrom-mens"]
    assert imp["variant"].tolist() == ["womens", "mens"]
    assert imp["propensity"].tolist() == pytest.approx([1 / 3, 1 / 3])
    assert ev.loc[ev["event_type"] == "click", "user_id"].tolist() == ["h00002", "h00003"]
    buy = ev[ev["event_type"] == "purchase"]
    assert buy["user_id"].tolist() == ["h00003"] and buy["revenue"].tolist() == ["29.99"]
    assert ds.users["attributes"].iloc[1]["hillstrom_segment"] == "No E-Mail"
    assert ds.users["attributes"].iloc[0]["history"] == 142.44
    assert len(ds.campaigns) == 2


def cj_dir(tmp_path: Path) -> Path:
    d = tmp_path / "cj"
    d.mkdir()
    ts = [datetime(2017, 1, 1, 11, 53), datetime(2017, 1, 2, 12, 0), datetime(2017, 1, 2, 12, 0)]
    pl.DataFrame(
        {
            "household_id": [900, 900, 1228],
            "store_id": [330, 330, 406],
            "basket_id": [31198570044, 31198570044, 31198655051],
            "product_id": [1095275, 9878513, 1095275],
            "quantity": [2, 1, 0],
            "sales_value": [3.0, 2.49, 0.0],
            "retail_disc": [0.0, 0.0, 0.0],
            "coupon_disc": [0.0, 0.0, 0.0],
            "coupon_match_disc": [0.0, 0.0, 0.0],
            "week": [1, 1, 1],
            "transaction_timestamp": ts,
        }
    ).write_parquet(d / "transactions.parquet")
    pl.DataFrame(
        {
            "household_id": [900, 5],
            "age": ["65+", "45-54"],
            "income": ["35-49K", None],
            "home_ownership": ["Homeowner", None],
            "marital_status": ["Married", "Unmarried"],
            "household_size": ["2", "1"],
            "household_comp": ["2 Adults No Kids", "1 Adult No Kids"],
            "kids_count": ["0", "0"],
        }
    ).write_parquet(d / "demographics.parquet")
    pl.DataFrame(
        {
            "product_id": [1095275, 9878513],
            "manufacturer_id": [2, 69],
            "department": ["GROCERY", "PASTRY"],
            "brand": ["National", "Private"],
            "product_category": ["FRZN ICE", None],
            "product_type": ["ICE - CRUSHED/CUBED", None],
            "package_size": ["22 LB", None],
        }
    ).write_parquet(d / "products.parquet")
    pl.DataFrame(
        {
            "campaign_id": [1, 2],
            "campaign_type": ["Type B", "Type A"],
            "start_date": [datetime(2017, 3, 3), datetime(2017, 3, 8)],
            "end_date": [datetime(2017, 4, 9), datetime(2017, 4, 9)],
        }
    ).write_parquet(d / "campaign_descriptions.parquet")
    pl.DataFrame({"campaign_id": [1, 1, 2], "household_id": [900, 1228, 900]}).write_parquet(
        d / "campaigns.parquet"
    )
    pl.DataFrame(
        {
            "coupon_upc": [10, 10, 11],
            "product_id": [1095275, 9878513, 1095275],
            "campaign_id": [1, 1, 2],
        }
    ).write_parquet(d / "coupons.parquet")
    pl.DataFrame(
        {
            "household_id": [900, 900],
            "coupon_upc": [10, 11],
            "campaign_id": [1, 1],
            "redemption_date": [datetime(2017, 3, 5), datetime(2017, 3, 5)],
        }
    ).write_parquet(d / "coupon_redemptions.parquet")
    return d


def test_completejourney(tmp_path):
    ds = read_completejourney(cj_dir(tmp_path))
    assert ds.users["user_id"].tolist() == ["5", "900", "1228"]
    u = ds.users.set_index("user_id")
    assert u.loc["900", "age_band"] == "65+" and u.loc["900", "attributes"]["income"] == "35-49K"
    assert u.loc["1228", "attributes"] == {}
    assert ds.items["category"].tolist() == ["GROCERY/FRZN ICE/ICE - CRUSHED, CUBED", "PASTRY"]
    ev = ds.events
    buys = ev[ev["event_type"] == "purchase"]
    assert buys["order_id"].tolist() == ["31198570044", "31198570044", "31198655051"]
    assert buys["price"].iloc[0] == 1.5 and buys["price"].isna().iloc[2]
    assert (ev["event_type"] == "campaign_impression").sum() == 3
    red = ev[ev["event_type"] == "coupon_redeem"]
    assert red["order_id"].tolist() == ["coupon:10", "coupon:11"]
    c = ds.campaigns.set_index("campaign_id")
    assert c.loc["1", "item_ids"] == ["1095275", "9878513"] and c.loc["2", "type"] == "coupon"


def test_every_adapter_imports_cleanly(ingest_store, tmp_path):
    sources = {
        "obd": obd_dir(tmp_path),
        "hillstrom": write(tmp_path / "h" / "hillstrom.csv", HILLSTROM),
        "completejourney": cj_dir(tmp_path),
    }
    for name, path in sources.items():
        out = import_dataset(ingest_store, read_dataset(name, path))
        for entity, s in out.items():
            assert s.quarantined == 0, (name, entity, s.by_reason)
            assert s.accepted + s.duplicates == s.rows
    # the two coupon redemptions of one household on one day stay two events
    ev = ingest_store.read_table("events")
    assert (ev["event_type"] == "coupon_redeem").sum() == 2
    again = import_dataset(
        ingest_store, read_dataset("completejourney", sources["completejourney"])
    )
    assert again["events"].accepted == 0


def test_unknown_adapter_and_missing_files(tmp_path):
    assert set(ADAPTERS) == {"movielens", "obd", "taobao", "cdnow", "hillstrom", "completejourney"}
    with pytest.raises(ConfigError, match="no dataset adapter"):
        read_dataset("netflix", tmp_path)
    with pytest.raises(ConfigError, match=r"hillstrom\.csv"):
        read_dataset("hillstrom", tmp_path)
