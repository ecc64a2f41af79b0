from __future__ import annotations

import importlib
import json

import typer
from typer.testing import CliRunner

import campaignrec.pipeline
from campaignrec.cli.evaluate import evaluate
from tests.evaluation.conftest import make_shop

cli_main = importlib.import_module("campaignrec.cli.main")


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command()(evaluate)

    @app.command()
    def _noop() -> None:  # a second command keeps typer from collapsing the app into one command
        pass

    return app


def test_evaluate_writes_report_and_prints_leaderboard(tmp_path, monkeypatch):
    shop = make_shop(n_users=40, n_items=25, per_user=8)
    monkeypatch.setattr(campaignrec.pipeline, "build_snapshot", lambda store, settings: shop)
    monkeypatch.setattr("campaignrec.cli.evaluate.open_store", lambda: None)
    cli_main.STATE.data_dir = tmp_path
    cli_main.STATE._settings = None
    out = tmp_path / "rep"
    split_dir = tmp_path / "split"
    args = [
        "evaluate",
        "most_popular",
        "item_knn",
        "-k",
        "5",
        "-p",
        "item_knn.neighbours=10",
        "--out",
        str(out),
        "--split",
        str(split_dir),
    ]
    res = CliRunner().invoke(_app(), args)
    assert res.exit_code == 0, res.output
    assert "40 test users, full ranking" in res.output and "report:" in res.output
    assert (out / "report.md").exists() and (out / "results.json").exists()
    data = json.loads((out / "results.json").read_text())
    assert set(data["models"]) == {"most_popular", "item_knn"}
    assert data["models"]["item_knn"]["params"]["neighbours"] == 10
    assert (split_dir / "split.json").exists()
    # the saved split is reused
    res2 = CliRunner().invoke(
        _app(),
        [
            "evaluate",
            "most_popular",
            "-k",
            "5",
            "--out",
            str(tmp_path / "r2"),
            "--split",
            str(split_dir),
            "--json",
        ],
    )
    assert res2.exit_code == 0, res2.output
    assert json.loads(res2.output)["protocol"]["snapshot_id"] == shop.snapshot_id


def test_evaluate_rejects_param_for_other_model(tmp_path, monkeypatch):
    monkeypatch.setattr(campaignrec.pipeline, "build_snapshot", lambda store, settings: make_shop())
    cli_main.STATE.data_dir = tmp_path
    res = CliRunner().invoke(_app(), ["evaluate", "most_popular", "-p", "ease.l2=3"])
    assert res.exit_code != 0
    assert "ease" in str(res.exception)
