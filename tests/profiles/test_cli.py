"""The profile CLI commands on a small shop held by a stand-in store."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from campaignrec.cli import profiles as cli
from campaignrec.config import load_settings
from campaignrec.errors import ValidationError


class FakeStore:
    """Just the read side of the SQL store that the profile commands use."""

    def __init__(self, shop: Any) -> None:
        self.tables = {"events": shop.events, "users": shop.users, "items": shop.items}

    def read_table(self, name: str, columns: Any = None) -> pd.DataFrame:
        return self.tables[name].copy()

    def iter_table(self, name: str, chunk_rows: int = 500_000, columns: Any = None) -> Any:
        df = self.tables[name] if columns is None else self.tables[name][list(columns)]
        for i in range(0, len(df), 3_000):
            yield df.iloc[i : i + 3_000]

    def count(self, name: str) -> int:
        return len(self.tables[name])

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def shop():  # type: ignore[no-untyped-def]
    from campaignrec.data.synthetic import ShopConfig, generate_shop

    return generate_shop(
        ShopConfig(n_users=120, n_items=60, n_events=12_000, n_campaigns=3, seed=8)
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory):  # type: ignore[no-untyped-def]
    return tmp_path_factory.mktemp("home")  # shared: profiles are computed once


@pytest.fixture
def app(shop, home, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(cli, "_settings", lambda: load_settings(home))
    monkeypatch.setattr(cli, "_open_store", lambda: FakeStore(shop))
    root = typer.Typer()
    root.command("profile")(cli.profile_command)
    root.add_typer(cli.profiles_app, name="profiles")
    root.command("segments")(cli.segments_command)
    root.add_typer(cli.analytics_app, name="analytics")
    return root


def test_export_profile_and_segments(app, shop, home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    run = CliRunner().invoke
    out = tmp_path / "p.csv"
    r = run(app, ["profiles", "export", "--out", str(out)])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out)
    assert list(df.columns[:6]) == [
        "user_id",
        "recency_days",
        "frequency",
        "monetary",
        "lifecycle",
        "segment",
    ]
    consenting = shop.users[shop.users["consent_personalisation"].astype(bool)]
    assert len(df) == len(consenting) < len(shop.users)  # the others withheld profiling consent
    assert set(df["user_id"].astype(str)) == set(consenting["user_id"].astype(str))
    assert isinstance(json.loads(df["top_categories"].iloc[0]), list)
    assert (home / "profiles" / "profiles.parquet").is_file()
    assert (home / "profiles" / "segments.json").is_file()
    pq = tmp_path / "p.parquet"
    assert run(app, ["profiles", "export", "--out", str(pq)]).exit_code == 0
    assert pd.read_parquet(pq)["user_id"].tolist() == df["user_id"].astype(str).tolist()
    bad = run(app, ["profiles", "export", "--out", str(tmp_path / "p.xlsx")])
    assert isinstance(bad.exception, ValidationError)

    uid = df.loc[df["frequency"].idxmax(), "user_id"]
    r = run(app, ["profile", str(uid)])
    assert r.exit_code == 0 and "lifecycle" in r.output and "RFM" in r.output
    r = run(app, ["profile", str(uid), "--json"])
    assert json.loads(r.output)["user_id"] == uid

    r = run(app, ["segments"])
    assert r.exit_code == 0, r.output
    assert (home / "reports" / "profiles" / "segments.png").stat().st_size > 0
    assert (home / "reports" / "profiles" / "segments_silhouette.png").is_file()
    assert (home / "reports" / "profiles" / "segments_silhouette.csv").is_file()


@pytest.mark.parametrize(
    ("args", "png"),
    [
        (["funnel", "--by", "segment"], "funnel_segment.png"),
        (["funnel", "--by", "category"], "funnel_category.png"),
        (["funnel", "--by", "campaign"], "funnel_campaign.png"),
        (["heatmap"], "heatmap.png"),
        (["rules", "--min-count", "2"], "rules.png"),
        (["cohorts"], "cohorts.png"),
    ],
)
def test_analytics_commands(app, home, args: list[str], png: str) -> None:  # type: ignore[no-untyped-def]
    target = home / "reports" / "profiles" / png
    target.unlink(missing_ok=True)
    r = CliRunner().invoke(app, ["analytics", *args])
    assert r.exit_code == 0, r.output
    assert target.stat().st_size > 0
