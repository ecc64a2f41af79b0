from __future__ import annotations

import importlib
import json
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from campaignrec.cli.campaigns import app
from campaignrec.data.synthetic import ShopConfig, generate_shop
from campaignrec.store.sql import SQLStore

main_mod = importlib.import_module("campaignrec.cli.main")


@pytest.fixture(scope="module")
def shop_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("shop")
    shop = generate_shop(
        ShopConfig(n_users=200, n_items=80, n_events=12_000, seed=5, impression_rate=1.0)
    )
    store = SQLStore(f"sqlite:///{home / 'campaignrec.db'}")
    store.migrate()
    store.upsert_users(shop.users)
    store.upsert_items(shop.items)
    store.upsert_campaigns(shop.campaigns)
    store.insert_events(shop.events)
    store.close()
    return home


def _run(home: Path, *args: str) -> tuple[int, str]:
    parent = typer.Typer()
    parent.callback()(main_mod._root)
    parent.add_typer(app, name="campaigns")
    res = CliRunner().invoke(parent, ["--data-dir", str(home), "campaigns", *args])
    if res.exception and not isinstance(res.exception, SystemExit):
        raise res.exception
    return res.exit_code, res.output


def test_list_and_show(shop_dir: Path) -> None:
    code, out = _run(shop_dir, "list", "--json", "--at", "2025-01-20T00:00:00Z")
    assert code == 0
    data = json.loads(out)
    assert len(data["campaigns"]) == 12
    assert {r["state"] for r in data["campaigns"]} <= {"live", "scheduled", "expired", "ended"}
    code, out = _run(shop_dir, "show", "c002", "--json")
    rec = json.loads(out)
    assert rec["campaign_id"] == "c002" and rec["audience"]["field"] == "membership_tier"


def test_check_explains(shop_dir: Path) -> None:
    users = SQLStore(f"sqlite:///{shop_dir / 'campaignrec.db'}").read_table("users")
    basic = users[(users.membership_tier == "basic") & users.consent_marketing].user_id.iloc[0]
    code, out = _run(shop_dir, "check", basic, "c002", "--json", "--at", "2025-02-10T00:00Z")
    res = json.loads(out)
    assert code == 0 and res["eligible"] is False
    codes = [r["code"] for r in res["reasons"]]
    assert "audience" in codes
    assert any("membership_tier is 'basic'" in r["text_en"] for r in res["reasons"])
    with pytest.raises(Exception, match="unknown user"):
        _run(shop_dir, "check", "nobody", "c002")


def test_plan_json_with_fallback_and_uplift_file(shop_dir: Path, tmp_path: Path) -> None:
    code, out = _run(shop_dir, "plan", "c000", "--json", "--objective", "conversions")
    assert code == 0
    plan = json.loads(out)
    assert plan["uplift_source"].startswith("fallback: logged response rates per segment")
    names = [s["strategy"] for s in plan["strategies"]]
    assert names == ["uplift", "response", "random"]
    assert all(s["expected_cost"] <= plan["budget"] + 1e-6 for s in plan["strategies"])
    users = SQLStore(f"sqlite:///{shop_dir / 'campaignrec.db'}").read_table("users")
    est = pd.DataFrame({"user_id": users.user_id, "p_control": 0.1, "p_treated": 0.5})
    path = tmp_path / "uplift.csv"
    est.to_csv(path, index=False)
    code, out = _run(
        shop_dir,
        "plan",
        "c000",
        "--json",
        "--uplift",
        str(path),
        "--order-value",
        "200",
        "--margin-rate",
        "0.5",
    )
    plan = json.loads(out)
    assert plan["uplift_source"] == "uplift estimates from uplift.csv"
    up = plan["strategies"][0]
    camp = json.loads(_run(shop_dir, "show", "c000", "--json")[1])
    assert camp["discount_type"] == "percent"
    # p_treated x (cost per redemption + the percent discount on an order of 200)
    per_coupon = 0.5 * (camp["cost_per_redemption"] + camp["discount_value"] / 100 * 200)
    assert up["reach"] == min(plan["audience_size"], int(plan["budget"] // per_coupon))
    assert up["incremental_conversions"] == pytest.approx(0.4 * up["reach"])
