"""The command line's contract: one clear line per error, documented exit codes, --data-dir."""

import json

import pytest

from campaignrec.cli.main import main
from campaignrec.errors import EXIT_USAGE


def run(capsys, *args):
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


def test_init_is_idempotent_and_stats_reads_the_chosen_store(tmp_path, capsys):
    home = tmp_path / "shop"
    code, out, _ = run(capsys, "--data-dir", str(home), "init")
    assert code == 0 and (home / "campaignrec.toml").exists() and (home / "campaignrec.db").exists()
    code, _, _ = run(capsys, "--data-dir", str(home), "init")
    assert code == 0
    code, out, _ = run(capsys, "--data-dir", str(home), "stats", "--json")
    assert code == 0
    assert json.loads(out)["counts"] == {
        "users": 0,
        "items": 0,
        "campaigns": 0,
        "events": 0,
        "quarantine": 0,
    }


def test_errors_are_one_line_with_a_hint_and_an_exit_code(tmp_path, capsys):
    code, _, err = run(capsys, "--data-dir", str(tmp_path), "recommend")
    assert code == EXIT_USAGE
    assert "USER_IDS" in err and "Traceback" not in err


def test_bad_settings_file_is_reported_not_raised(tmp_path, capsys):
    (tmp_path / "campaignrec.toml").write_text("reject_threshold = 7\n")
    code, _, err = run(capsys, "--data-dir", str(tmp_path), "stats")
    assert code == EXIT_USAGE and "reject_threshold" in err and "Traceback" not in err


def test_unknown_command_is_a_usage_error(capsys):
    code, _, _ = run(capsys, "no-such-command")
    assert code == 2
