"""The demo runs the whole offline pipeline end to end (small shop) and leaves its outputs."""

import json

import pandas as pd
import pytest

from campaignrec.cli.main import main


def test_demo_runs_to_the_end_on_a_small_shop(tmp_path, capsys):
    home = tmp_path / "demo"
    with pytest.raises(SystemExit) as info:
        main(["--data-dir", str(home), "demo", "--users", "300", "--items", "120", "--events", "20000", "--trials", "1"])
    out = capsys.readouterr().out
    assert info.value.code == 0, out
    assert "done" in out and "bad_rows.csv" in out
    recs = pd.read_csv(home / "recommendations.csv")
    assert list(recs.columns) == ["user_id", "rank", "item_id", "score", "reason"]
    assert recs.groupby("user_id").size().max() <= 10
    assert not recs.duplicated(["user_id", "item_id"]).any()
    # the five bad rows are kept in the quarantine, and the model registry has an active version
    with pytest.raises(SystemExit):
        main(["--data-dir", str(home), "stats", "--json"])
    counts = json.loads(capsys.readouterr().out)["counts"]
    assert counts["quarantine"] == 5 and counts["users"] == 300
