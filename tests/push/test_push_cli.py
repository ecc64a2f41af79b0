"""``campaignrec push plan CAMPAIGN_ID --out FILE`` through typer's CliRunner: CSV and Parquet,
the ledger, and errors as one line."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from campaignrec.cli.main import app
from campaignrec.errors import EXIT_VALIDATION, ValidationError

START = pd.Timestamp("2025-03-03T00:00:00Z")  # a Monday


def _shop(tmp: Path) -> dict[str, Path]:
    users = [
        # active around 20:00 Shanghai (12:00 UTC), Chinese
        {"user_id": "evening", "region": "east", "attributes": json.dumps({"language": "zh"})},
        # active around 09:00 London, opted in to SMS only
        {
            "user_id": "london",
            "city": "London",
            "attributes": json.dumps(
                {
                    "consent_sms": True,
                    "consent_app_push": False,
                    "consent_in_app": False,
                    "consent_email": False,
                }
            ),
        },
        {"user_id": "no_marketing", "region": "east", "consent_marketing": False},
    ]
    users += [{"user_id": f"h{i}", "region": "east"} for i in range(40)]
    pd.DataFrame(users).to_csv(tmp / "users.csv", index=False)
    events = []
    for d in range(20):
        day = START - pd.Timedelta(days=d + 1)
        events.append(
            {
                "user_id": "evening",
                "item_id": "i1",
                "event_type": "view",
                "timestamp": (day + pd.Timedelta(hours=12, minutes=5)).isoformat(),
            }
        )
        events.append(
            {
                "user_id": "london",
                "item_id": "i2",
                "event_type": "view",
                "timestamp": (day + pd.Timedelta(hours=9, minutes=10)).isoformat(),
            }
        )
    for i in range(40):
        events.append(
            {
                "user_id": f"h{i}",
                "item_id": "i1",
                "event_type": "view",
                "timestamp": (START - pd.Timedelta(hours=30 + i)).isoformat(),
            }
        )
    pd.DataFrame(events).to_csv(tmp / "events.csv", index=False)
    pd.DataFrame(
        [
            {
                "campaign_id": "spring",
                "name": "Spring sale",
                "type": "coupon",
                "start_time": "2025-03-01T00:00:00Z",
                "end_time": "2025-03-20T00:00:00Z",
                "title_en": "Spring sale",
                "title_zh": "春季促销",
            }
        ]
    ).to_csv(tmp / "campaigns.csv", index=False)
    ids = [u["user_id"] for u in users]
    pd.DataFrame({"user_id": ids, "p_control": 0.05, "p_treated": 0.25}).to_csv(
        tmp / "uplift.csv", index=False
    )
    return {
        "users": tmp / "users.csv",
        "events": tmp / "events.csv",
        "campaigns": tmp / "campaigns.csv",
        "uplift": tmp / "uplift.csv",
    }


@pytest.fixture()
def shop(tmp_path: Path) -> tuple[Path, dict[str, Path]]:
    files = _shop(tmp_path)
    home = tmp_path / "home"
    runner = CliRunner()
    for kind in ("users", "campaigns", "events"):
        res = runner.invoke(app, ["--data-dir", str(home), "import", kind, str(files[kind])])
        assert res.exit_code == 0, res.output
    return home, files


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_push_plan_writes_the_plan_with_local_times_and_consented_channels(shop, suffix) -> None:  # type: ignore[no-untyped-def]
    home, files = shop
    out = home.parent / f"plan{suffix}"
    res = CliRunner().invoke(
        app,
        [
            "--data-dir",
            str(home),
            "push",
            "plan",
            "spring",
            "--out",
            str(out),
            "--uplift",
            str(files["uplift"]),
            "--at",
            "2025-03-03T01:00Z",
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    plan = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
    assert list(plan.columns[:6]) == [
        "user_id",
        "campaign_id",
        "channel",
        "send_at",
        "content",
        "expected_value",
    ]
    rows = plan.set_index("user_id")
    assert "no_marketing" not in rows.index
    assert summary["pushes"] == len(plan) and summary["holdout"] >= 1
    assert not set(rows.index) & set(
        pd.read_parquet(home / "push" / "ledger.parquet").query("group == 'holdout'")["user_id"]
    )
    ev = rows.loc["evening"]
    # their own hour, in local time with its offset (the day follows the shrunk weekday pattern)
    assert ev["send_at"].startswith("2025-03-") and ev["send_at"].endswith("T20:00:00+08:00")
    assert ev["channel"] == "app_push" and ev["content"].startswith("春季促销")
    ld = rows.loc["london"]
    assert ld["channel"] == "sms" and ld["send_at"].endswith("T09:00:00+00:00")
    assert ld["content"].startswith("Spring sale")
    assert (plan["expected_value"] > 0).all()


def test_replanning_replaces_the_campaign_rows_and_caps_count_other_campaigns(shop) -> None:  # type: ignore[no-untyped-def]
    home, files = shop
    runner = CliRunner()
    args = [
        "--data-dir",
        str(home),
        "push",
        "plan",
        "spring",
        "--uplift",
        str(files["uplift"]),
        "--at",
        "2025-03-03T01:00Z",
        "--out",
    ]
    assert runner.invoke(app, [*args, str(home.parent / "a.csv")]).exit_code == 0
    first = pd.read_parquet(home / "push" / "ledger.parquet")
    assert runner.invoke(app, [*args, str(home.parent / "b.csv")]).exit_code == 0
    second = pd.read_parquet(home / "push" / "ledger.parquet")
    assert len(first) == len(second)  # the same plan again, not twice
    a, b = pd.read_csv(home.parent / "a.csv"), pd.read_csv(home.parent / "b.csv")
    pd.testing.assert_frame_equal(a, b)
    # a dry run plans without recording
    dry = runner.invoke(app, [*args[:-1], "--dry-run", "--out", str(home.parent / "c.csv")])
    assert dry.exit_code == 0
    assert len(pd.read_parquet(home / "push" / "ledger.parquet")) == len(second)


def test_push_plan_errors_are_one_line(shop, capsys) -> None:  # type: ignore[no-untyped-def]
    from campaignrec.cli.main import main

    home, files = shop
    with pytest.raises(SystemExit) as info:
        main(["--data-dir", str(home), "push", "plan", "spring", "--out", "plan.xlsx"])
    assert info.value.code == EXIT_VALIDATION
    assert "--out" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(
            [
                "--data-dir",
                str(home),
                "push",
                "plan",
                "spring",
                "--out",
                str(home / "p.csv"),
                "--uplift",
                str(files["uplift"]),
                "--at",
                "2025-04-01T00:00Z",
            ]
        )
    assert info.value.code == EXIT_VALIDATION  # the campaign has ended: no time left
    err = capsys.readouterr().err
    assert "no time left" in err and "Traceback" not in err
    assert not (home / "p.csv").exists()


def test_replanning_after_a_send_leaves_out_the_shoppers_already_reached(shop) -> None:  # type: ignore[no-untyped-def]
    from tests.push.helpers import webhook

    home, files = shop
    runner = CliRunner()
    plan = [
        "--data-dir",
        str(home),
        "push",
        "plan",
        "spring",
        "--uplift",
        str(files["uplift"]),
        "--at",
        "2025-03-03T01:00Z",
        "--json",
        "--out",
    ]
    first = runner.invoke(app, [*plan, str(home.parent / "a.csv")])
    assert first.exit_code == 0, first.output
    a = pd.read_csv(home.parent / "a.csv")
    part = a.iloc[:5]
    part.to_csv(home.parent / "part.csv", index=False)
    with webhook() as hook:
        sent = runner.invoke(
            app,
            [
                "--data-dir",
                str(home),
                "push",
                "send",
                str(home.parent / "part.csv"),
                "--to",
                hook.url,
                "--now",
                "2025-03-20T00:00Z",
            ],
        )
        assert sent.exit_code == 0, sent.output
        assert len(hook.received) == 5
    again = runner.invoke(app, [*plan, str(home.parent / "b.csv")])
    assert again.exit_code == 0, again.output
    b = pd.read_csv(home.parent / "b.csv")
    assert not set(b["user_id"]) & set(part["user_id"])
    assert set(b["user_id"]) == set(a["user_id"]) - set(part["user_id"])
    assert json.loads(again.stdout)["skipped"]["already_sent"] == 5
    ledger = pd.read_parquet(home / "push" / "ledger.parquet")
    pushes = ledger[ledger["group"] == "push"]
    assert (pushes["status"] == "sent").sum() == 5 and len(pushes) == len(a)


def test_push_send_to_a_named_target_of_the_settings(shop) -> None:  # type: ignore[no-untyped-def]
    from tests.push.helpers import webhook

    home, files = shop
    runner = CliRunner()
    out = home.parent / "plan.csv"
    planned = runner.invoke(
        app,
        ["--data-dir", str(home), "push", "plan", "spring", "--uplift", str(files["uplift"]),
         "--at", "2025-03-03T01:00Z", "--out", str(out)],
    )  # fmt: skip
    assert planned.exit_code == 0, planned.output
    send = ["--data-dir", str(home), "push", "send", str(out), "--now", "2025-03-20T00:00Z"]
    with webhook() as hook:
        (home / "campaignrec.toml").write_text(
            f'[push.targets.hook]\nurl = "{hook.url}?token=T0PSECRET"\n', encoding="utf-8"
        )
        unknown = runner.invoke(app, [*send, "--target", "nope"])
        assert isinstance(unknown.exception, ValidationError)
        assert unknown.exception.field == "--target" and "hook" in str(unknown.exception)
        both = runner.invoke(app, [*send, "--target", "hook", "--to", hook.url])
        assert isinstance(both.exception, ValidationError) and not hook.received
        ok = runner.invoke(app, [*send, "--target", "hook"])
        assert ok.exit_code == 0, ok.output
        assert len(hook.received) == len(pd.read_csv(out)) > 0
        assert "T0PSECRET" not in ok.output
