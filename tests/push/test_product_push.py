"""Product-recommendation pushes over a store with a trained model: ``push plan --products``
through typer's CliRunner and ``POST /v1/push/plans`` with ``products``; the content is the
ranking path's top items (``campaignrec recommend``'s), titles in the shopper's language; the
ledger, the report and the caps shared with a campaign push; bad input refused naming the field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from campaignrec.cli.main import app
from campaignrec.config import load_settings
from campaignrec.errors import ValidationError
from tests.push.test_push_cli import START, _shop

AT = "2025-03-03T01:00:00Z"  # 09:00 in Shanghai, 01:00 in London
DAY = "2025-03-03"
ITEMS = {"i1": "绿茶 Green tea", "i2": "茶杯 Tea cup", "i3": "水壶 Kettle", "i4": "蜂蜜 Honey"}


def _product_shop(tmp: Path) -> tuple[Path, dict[str, Path]]:
    files = _shop(tmp)
    prices = {"i1": 12.0, "i2": 30.0, "i3": 80.0, "i4": 25.0}
    pd.DataFrame(
        {"item_id": list(ITEMS), "title": list(ITEMS.values()), "price": list(prices.values())}
    ).to_csv(tmp / "items.csv", index=False)
    events = pd.read_csv(files["events"])
    more = []
    for n, user in enumerate(["evening", "london", *[f"h{i}" for i in range(40)]]):
        at = START - pd.Timedelta(days=3, hours=n)
        item = ["i1", "i2", "i3", "i4"][n % 4]
        more.append({"user_id": user, "item_id": item, "event_type": "view",
                     "timestamp": at.isoformat()})  # fmt: skip
        if n % 3 == 0:
            more.append({"user_id": user, "item_id": item, "event_type": "purchase",
                         "price": prices[item], "timestamp": (at + pd.Timedelta(minutes=3)).isoformat()})  # fmt: skip
    pd.concat([events, pd.DataFrame(more)]).to_csv(files["events"], index=False)
    files["items"] = tmp / "items.csv"
    home = tmp / "home"
    runner = CliRunner()
    for kind in ("items", "users", "campaigns", "events"):
        res = runner.invoke(app, ["--data-dir", str(home), "import", kind, str(files[kind])])
        assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["--data-dir", str(home), "train", "--model", "item_knn"])
    assert res.exit_code == 0, res.output
    return home, files


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    return _product_shop(tmp_path_factory.mktemp("products"))


@pytest.fixture()
def shop(template, tmp_path: Path) -> tuple[Path, dict[str, Path]]:  # type: ignore[no-untyped-def]
    import shutil

    home = tmp_path / "home"
    shutil.copytree(template[0], home)
    return home, template[1]


def _plan(home: Path, *args: str) -> Any:
    return CliRunner().invoke(
        app, ["--data-dir", str(home), "push", "plan", "--products", "--at", AT, *args]
    )


def test_push_plan_products_writes_each_shoppers_top_items_in_their_language(shop) -> None:  # type: ignore[no-untyped-def]
    home, _ = shop
    out = home.parent / "products.csv"
    res = _plan(home, "--k", "2", "--day", DAY, "--out", str(out), "--json")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    plan = pd.read_csv(out)
    assert list(plan.columns[:6]) == [
        "user_id", "campaign_id", "channel", "send_at", "content", "expected_value",
    ]  # fmt: skip
    assert set(plan["campaign_id"]) == {"products-2025-03-03"} == {summary["campaign_id"]}
    assert summary["pushes"] == len(plan) > 0 and summary["holdout"] >= 1
    rows = plan.set_index("user_id")
    assert "no_marketing" not in rows.index
    assert summary["skipped"]["no_marketing_consent"] == 1
    # the items are the ranking path's: what `campaignrec recommend` gives each shopper
    recs = CliRunner().invoke(
        app, ["--data-dir", str(home), "recommend", *rows.index[:5], "--k", "2", "--json"]
    )
    assert recs.exit_code == 0, recs.output
    served = {
        doc["user_id"]: " ".join(i["item_id"] for i in doc["items"])
        for doc in map(json.loads, recs.stdout.splitlines())
    }
    for user in rows.index[:5]:
        assert rows.loc[user, "item_ids"] == served[user]
    # the zh shopper's text is Chinese and names the items' titles
    ev = rows.loc["evening"]
    assert ev["language"] == "zh" and ev["content"].startswith("为您推荐：")
    for item in ev["item_ids"].split():
        assert f"「{ITEMS[item]}」" in ev["content"]
    ld = rows.loc["london"]
    assert ld["content"].startswith("Recommended for you: ") and ld["channel"] == "sms"
    # inside the day, outside the quiet hours, after the planning moment
    for at, tz in zip(plan["send_at_utc"], plan["timezone"], strict=True):
        local = pd.Timestamp(at).tz_convert(tz)
        assert 8 <= local.hour < 22 and pd.Timestamp(at) > pd.Timestamp(AT)
        assert pd.Timestamp(at).tz_convert("Asia/Shanghai").date().isoformat() == DAY
    assert (plan["expected_value"] > 0).all()
    ledger = pd.read_parquet(home / "push" / "ledger.parquet")
    assert set(ledger["campaign_id"]) == {"products-2025-03-03"}
    # the report reads it like a campaign's
    rep = CliRunner().invoke(
        app, ["--data-dir", str(home), "push", "report", "products-2025-03-03", "--json",
              "--at", "2025-03-10T00:00Z"],
    )  # fmt: skip
    assert rep.exit_code == 0, rep.output
    assert json.loads(rep.stdout)["pushed"] == len(plan)


def test_a_campaign_push_and_a_product_push_share_the_daily_cap(shop) -> None:  # type: ignore[no-untyped-def]
    home, files = shop
    runner = CliRunner()
    res = runner.invoke(
        app,
        ["--data-dir", str(home), "push", "plan", "spring", "--uplift", str(files["uplift"]),
         "--at", AT, "--out", str(home.parent / "spring.csv")],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    spring = pd.read_csv(home.parent / "spring.csv")
    for day in pd.to_datetime(spring["send_at_utc"]).dt.tz_convert("Asia/Shanghai").dt.date:
        got = _plan(home, "--day", day.isoformat(), "--json", "--dry-run",
                    "--out", str(home.parent / "p.csv"))  # fmt: skip
        assert got.exit_code == 0, got.output
        products = pd.read_csv(home.parent / "p.csv")
        both = pd.concat([spring, products])
        local = [
            pd.Timestamp(a).tz_convert(tz).date()
            for a, tz in zip(both["send_at_utc"], both["timezone"], strict=True)
        ]
        per_day = both.assign(day=local).groupby(["user_id", "day"]).size()
        assert per_day.max() <= 1, per_day[per_day > 1]


def test_the_command_needs_a_campaign_or_products_and_refuses_bad_options(shop) -> None:  # type: ignore[no-untyped-def]
    home, _ = shop
    runner = CliRunner()
    base = ["--data-dir", str(home), "push", "plan", "--out", str(home.parent / "x.csv")]
    neither = runner.invoke(app, base)
    assert isinstance(neither.exception, ValidationError)
    assert neither.exception.field == "CAMPAIGN_ID" and "--products" in neither.exception.reason
    assert "请指定" in neither.exception.reason
    both = runner.invoke(app, [*base, "spring", "--products"])
    assert isinstance(both.exception, ValidationError) and "not both" in both.exception.reason
    for args, field in (
        (["--k", "0"], "--k"),
        (["--day", "03/03/2025"], "--day"),
        (["--day", "2025-02-30"], "--day"),
        (["--limit", "0"], "--limit"),
    ):
        res = _plan(home, *args, "--out", str(home.parent / "x.csv"))
        assert isinstance(res.exception, ValidationError), (args, res.output)
        assert res.exception.field == field
    day_only = runner.invoke(app, [*base, "spring", "--day", DAY])
    assert isinstance(day_only.exception, ValidationError)
    assert day_only.exception.field == "--day"
    past = _plan(home, "--day", "2025-03-01", "--out", str(home.parent / "x.csv"))
    assert isinstance(past.exception, ValidationError) and "no time left" in str(past.exception)
    assert past.exception.field == "--day"
    assert not (home.parent / "x.csv").exists()
    assert not (home / "push" / "ledger.parquet").exists()


@pytest.fixture()
def api(shop) -> Iterator[tuple[Any, dict[str, str]]]:  # type: ignore[no-untyped-def]
    from campaignrec.service.app import create_app
    from tests.service.conftest import TestClient, make_keys

    home, _ = shop
    keys = make_keys(home)
    with TestClient(create_app(load_settings(home, api_rate_per_second=1e6))) as c:
        yield c, keys


def test_the_api_plans_a_product_push_for_review(api) -> None:  # type: ignore[no-untyped-def]
    from tests.service.conftest import auth

    c, keys = api
    admin, read = auth(keys["admin"]), auth(keys["read"])
    body = {"products": {"k": 2, "day": DAY}, "at": AT}
    res = c.post("/v1/push/plans", json=body, headers=admin)
    assert res.status_code == 201, res.text
    made = res.json()
    assert made["campaign_id"] == "products-2025-03-03" and made["kind"] == "products"
    assert made["summary"]["pushes"] > 0 and made["products"]["k"] == 2
    one = c.get(f"/v1/push/plans/{made['plan_id']}?rows=100", headers=read).json()
    row = next(r for r in one["rows"] if r["user_id"] == "evening")
    assert row["content"].startswith("为您推荐：") and len(row["item_ids"].split()) == 2
    listed = c.get("/v1/push/plans?campaign_id=products-2025-03-03", headers=read).json()
    assert [p["plan_id"] for p in listed["plans"]] == [made["plan_id"]]
    rep = c.get("/v1/push/reports/products-2025-03-03?at=2025-03-10T00:00:00Z", headers=read)
    assert rep.status_code == 200 and rep.json()["pushed"] == made["summary"]["pushes"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"products": {"k": 0}}, "products.k"),
        ({"products": {"k": 51}}, "products.k"),
        ({"products": {"day": "03/03/2025"}}, "products.day"),
        ({"products": {"day": "2025-02-30"}}, "products.day"),
        ({"products": {"limit": 0}}, "products.limit"),
        ({"products": {"colour": "red"}}, "products.colour"),
        ({}, "campaign_id"),
        ({"campaign_id": "spring", "products": {}}, "products"),
        ({"products": {}, "uplift": [{"user_id": "a", "p_control": 0, "p_treated": 1}]}, "uplift"),
        ({"products": {"day": "2025-03-01"}}, "products.day"),
    ],
)
def test_bad_product_push_bodies_are_422_naming_the_field(api, body, field) -> None:  # type: ignore[no-untyped-def]
    from tests.service.conftest import auth

    c, keys = api
    res = c.post("/v1/push/plans", json={"at": AT, **body}, headers=auth(keys["admin"]))
    assert res.status_code == 422, res.text
    assert res.json()["error"]["field"] == field, res.text
    assert c.get("/v1/push/plans", headers=auth(keys["read"])).json()["plans"] == []


def test_the_openapi_documents_the_products_body(api) -> None:  # type: ignore[no-untyped-def]
    c, _ = api
    spec = c.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    assert {"k", "day", "limit", "margin_rate"} <= set(schemas["ProductsIn"]["properties"])
    assert "products" in schemas["PushPlanIn"]["properties"]
    assert schemas["ProductsIn"]["properties"]["k"]["minimum"] == 1
