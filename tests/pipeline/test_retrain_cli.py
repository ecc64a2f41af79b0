"""The thin CLI faces: ``retrain``, ``health`` and ``uplift --from-store`` print one JSON object
with ``--json`` and exit 0; bad options name the option."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from campaignrec.cli.main import main
from campaignrec.pipeline import train

from .conftest import load


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(argv))
    out = capsys.readouterr()
    return int(info.value.code or 0), out.out, out.err


def test_retrain_health_and_uplift_from_store_json(small_shop, tmp_path: Path, capsys) -> None:
    shop = load(small_shop, tmp_path / "cli", small_shop.events)
    train(shop.store, shop.settings, model="item_knn")
    home = str(shop.home)
    code, out, _ = _run(capsys, "--data-dir", home, "retrain", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["outcome"] == "skipped" and report["new_events"] == 0
    code, out, _ = _run(capsys, "--data-dir", home, "retrain", "--force", "--json")
    report = json.loads(out)
    assert code == 0 and report["outcome"] == "activated"
    assert report["profiles"]["mode"] == "full"  # no saved state yet: computed once, then kept
    assert (shop.home / "profiles" / "state" / "state.json").is_file()
    code, out, _ = _run(capsys, "--data-dir", home, "health", "--json")
    health = json.loads(out)
    assert code == 0 and health["as_of_source"] == "latest event"
    assert health["last_retrain"]["outcome"] == "activated"
    assert health["active_model"]["version"] == report["candidate_version"]
    code, out, _ = _run(capsys, "--data-dir", home, "uplift", "--from-store", "--json")
    fitted = json.loads(out)
    assert (
        code == 0 and fitted["rows"] > 0 and (shop.home / "campaign_models" / "CURRENT").is_file()
    )


def test_bad_options_name_the_option(tmp_path: Path, capsys) -> None:
    home = str(tmp_path / "empty")
    code, _, err = _run(capsys, "--data-dir", home, "retrain", "--tolerance", "2")
    assert code != 0 and "tolerance" in err
    code, _, err = _run(capsys, "--data-dir", home, "uplift")
    assert code != 0 and "--from-store" in err
    code, _, err = _run(capsys, "--data-dir", home, "health", "--at", "yesterday")
    assert code != 0 and "--at" in err
