from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from campaignrec.cli import serve
from campaignrec.cli.context import STATE


def _app() -> typer.Typer:
    app = typer.Typer()
    app.add_typer(serve.keys_app, name="keys")
    app.command("for")(serve.campaigns_for)
    return app


def test_keys_create_list_revoke(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(STATE, "data_dir", home)
    monkeypatch.setattr(STATE, "_settings", None)
    runner = CliRunner()
    app = _app()
    r = runner.invoke(app, ["keys", "create", "--scopes", "read,ingest", "--json"])
    assert r.exit_code == 0, r.output
    made = json.loads(r.output.strip().splitlines()[-1])
    assert made["key"].startswith("crk_") and made["scopes"] == ["read", "ingest"]
    listed = runner.invoke(app, ["keys", "list"]).output
    assert str(made["id"]) in listed and made["key"] not in listed
    assert runner.invoke(app, ["keys", "revoke", str(made["id"])]).exit_code == 0
    assert "revoked" in runner.invoke(app, ["keys", "list"]).output


def test_campaigns_for_user(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(STATE, "data_dir", home)
    monkeypatch.setattr(STATE, "_settings", None)
    r = CliRunner().invoke(_app(), ["for", "u0"])
    assert r.exit_code == 0, r.output
    assert [c["campaign_id"] for c in json.loads(r.output)["campaigns"]] == ["c1"]
