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


def _events_csv(path):
    """Two taste groups over four days: enough for every validation protocol."""
    rows = ["user_id,item_id,event_type,timestamp"]
    for u in range(30):
        group = u % 2
        for step in range(8):
            item = f"i{group * 10 + (u + step) % 10}"
            ts = 1_700_000_000 + step * 43_200 + u * 60
            rows.append(f"u{u},{item},view,{ts}")
    path.write_text("\n".join(rows) + "\n")
    return path


def test_train_with_a_tiny_time_budget_keeps_popularity_and_says_why(tmp_path, capsys):
    home = str(tmp_path / "shop")
    csv = _events_csv(tmp_path / "events.csv")
    assert run(capsys, "--data-dir", home, "import", "events", str(csv))[0] == 0
    code, out, err = run(capsys, "--data-dir", home, "train", "--time-budget", "0.01")
    assert code == 0, err
    assert "most_popular" in out and "skipped (已跳过)" in out and "time budget" in out
    meta = json.loads(next((tmp_path / "shop" / "artifacts").rglob("meta.json")).read_text())
    selection = meta["metrics"]["selection"]
    assert selection["chosen"] == "most_popular"
    assert selection["budget"]["seconds"] == 0.01 and not selection["budget"]["default"]
    assert any(s["name"] == "ease (recency)" for s in selection["budget"]["skipped"])
    code, out, _ = run(capsys, "--data-dir", home, "recommend", "u1", "--k", "3")
    assert code == 0 and "i" in out


def test_train_default_on_a_chosen_validation_protocol(tmp_path, capsys):
    home = str(tmp_path / "shop")
    csv = _events_csv(tmp_path / "events.csv")
    assert run(capsys, "--data-dir", home, "import", "events", str(csv))[0] == 0
    code, out, err = run(
        capsys,
        "--data-dir",
        home,
        "train",
        "--trials",
        "1",
        "--validation",
        "global_temporal",
        "--validation-days",
        "1",
    )
    assert code == 0, err
    assert "validation leaderboard" in out and "global_temporal" in out
    # a candidate this shop cannot run (no item categories) is listed with the reason
    assert "category_popular" in out and "skipped:" in out
    meta = json.loads(next((tmp_path / "shop" / "artifacts").rglob("meta.json")).read_text())
    assert meta["metrics"]["selection"]["validation"]["protocol"] == "global_temporal"
    # days without the global protocol, or an unknown protocol: a usage error naming the fix
    code, _, err = run(capsys, "--data-dir", home, "train", "--validation-days", "1")
    assert code == EXIT_USAGE and "global_temporal" in err
    code, _, err = run(capsys, "--data-dir", home, "train", "--validation", "weekly")
    assert code == EXIT_USAGE and "user_temporal" in err


def test_search_and_rating_evaluation_from_the_cli(tmp_path, capsys):
    """`search` maps words to items with the trained content model; `evaluate rating_mf` on
    imported ratings reports RMSE and MAE."""
    home = str(tmp_path / "shop")
    items = tmp_path / "items.csv"
    items.write_text(
        "item_id,title,category,hidden\n"
        "s1,trail running shoes,sports/shoes,false\ns2,road running shoes,sports/shoes,false\n"
        "m1,ceramic coffee mug,home/kitchen,false\nm2,glass tea cup,home/kitchen,false\n"
        "h1,hidden running shoes,sports/shoes,true\n"
    )
    rows = ["user_id,item_id,event_type,timestamp,rating"]
    for u in range(24):
        for step, item in enumerate(("s1", "s2", "m1", "m2")):
            value = 5 if (item[0] == "s") == (u % 2 == 0) else 1
            rows.append(f"u{u},{item},rating,{1_700_000_000 + u * 600 + step * 60},{value}")
    events = tmp_path / "ratings.csv"
    events.write_text("\n".join(rows) + "\n")
    assert run(capsys, "--data-dir", home, "import", "items", str(items))[0] == 0
    assert run(capsys, "--data-dir", home, "import", "events", str(events))[0] == 0
    code, _, err = run(capsys, "--data-dir", home, "train", "--model", "content")
    assert code == 0, err
    code, out, err = run(capsys, "--data-dir", home, "search", "running shoes", "--json")
    assert code == 0, err
    found = [row["item_id"] for row in json.loads(out)]
    assert set(found[:2]) == {"s1", "s2"} and "h1" not in found  # hidden items never come back
    code, _, err = run(capsys, "--data-dir", home, "search", " ")
    assert code == EXIT_USAGE and "empty" in err
    code, out, err = run(
        capsys,
        "--data-dir",
        home,
        "evaluate",
        "rating_mf",
        "--protocol",
        "random",
        "--param",
        "rating_mf.factors=2",
        "--out",
        str(tmp_path / "report"),
    )
    assert code == 0, err
    assert "RMSE" in out and "rating prediction" in out
    report = (tmp_path / "report" / "report.md").read_text()
    assert "## Rating prediction" in report
