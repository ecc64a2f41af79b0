"""``push send`` to a webhook (a local HTTP server on 127.0.0.1): due rows only, idempotency
keys, retries on 5xx, a rejected row, the send log, the ledger, a crash and a rerun."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from campaignrec.cli.main import app
from campaignrec.errors import ValidationError
from campaignrec.push.ledger import ledger_path, read_ledger
from campaignrec.push.run import send_push
from campaignrec.push.send import SendLog, idempotency_key, read_plan, send_log_path, send_plan
from campaignrec.push.targets import DeliveryError, WebhookTarget, target_for
from tests.push.helpers import NOW, plan_file, plan_table, webhook


def test_idempotency_key_is_stable_across_offsets_and_files(tmp_path: Path) -> None:
    a = idempotency_key("c", "u1", "2025-03-03T12:00:00+08:00")
    assert a == idempotency_key("c", "u1", pd.Timestamp("2025-03-03T04:00:00Z"))
    assert a != idempotency_key("c", "u2", "2025-03-03T12:00:00+08:00")
    assert a != idempotency_key("c", "u1", "2025-03-03T13:00:00+08:00")
    assert a != idempotency_key("d", "u1", "2025-03-03T12:00:00+08:00")
    csv = read_plan(plan_file(tmp_path, 5))
    pq = read_plan(plan_file(tmp_path, 5, suffix=".parquet"))
    assert csv["idempotency_key"].tolist() == pq["idempotency_key"].tolist()
    assert csv["idempotency_key"].is_unique


def test_bad_plan_rows_are_refused_naming_row_and_field(tmp_path: Path) -> None:
    t = plan_table(3)
    t.loc[1, "send_at"] = "2025-03-03T12:00:00"  # no offset
    t.to_csv(tmp_path / "a.csv", index=False)
    with pytest.raises(ValidationError, match="row 3: field 'send_at'"):
        read_plan(tmp_path / "a.csv")
    t.loc[1, "send_at"] = "soon"
    t.to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(ValidationError, match="send_at"):
        read_plan(tmp_path / "b.csv")
    t = plan_table(3).drop(columns=["channel"])
    t.to_csv(tmp_path / "c.csv", index=False)
    with pytest.raises(ValidationError, match="'channel'"):
        read_plan(tmp_path / "c.csv")
    t = pd.concat([plan_table(2), plan_table(2)])
    t.to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(ValidationError, match="twice"):
        read_plan(tmp_path / "d.csv")
    with pytest.raises(ValidationError, match="--to"):
        target_for("ftp://example.com/x")


def test_sends_due_rows_once_with_keys_and_marks_the_ledger(tmp_path: Path) -> None:
    home = tmp_path / "home"
    plan = read_plan(plan_file(tmp_path, 10, due=6))
    with webhook() as hook:
        r1 = send_push(home, plan, hook.url, now=NOW.to_pydatetime())
        assert (r1.sent, r1.not_due, r1.already_sent) == (6, 4, 0)
        assert r1.next_due == (NOW + pd.Timedelta(hours=1)).to_pydatetime()
        keys = hook.keys()
        assert keys == plan["idempotency_key"].iloc[:6].tolist()
        headers, body = hook.received[0]
        assert headers["Content-Type"] == "application/json"
        assert body["user_id"] == "u0000" and body["content"] == "春季促销 0"
        assert body["idempotency_key"] == keys[0] and body["send_at"].endswith("+08:00")
        # the same moment again: nothing new
        r2 = send_push(home, plan, hook.url, now=NOW.to_pydatetime())
        assert (r2.sent, r2.already_sent) == (0, 6) and len(hook.received) == 6
        # two hours later: the next two rows
        r3 = send_push(home, plan, hook.url, now=(NOW + pd.Timedelta(hours=2)).to_pydatetime())
        assert (r3.sent, r3.already_sent, r3.not_due) == (2, 6, 2)
        assert len(set(hook.keys())) == len(hook.keys()) == 8
    ledger = read_ledger(ledger_path(home))
    assert (ledger["status"] == "sent").sum() == 8  # a plan file not in the ledger: added as sent
    log = SendLog(send_log_path(home)).records()
    assert [r["key"] for r in log] == hook.keys()


def test_sent_pushes_replace_planned_ledger_rows(tmp_path: Path) -> None:
    from campaignrec.push.ledger import record_plan
    from campaignrec.push.plan import PushPlan

    home = tmp_path / "home"
    table = plan_table(4)
    record_plan(ledger_path(home), PushPlan("spring", table, ("h1",)), NOW.to_pydatetime())
    with webhook() as hook:
        send_push(home, read_plan(plan_file(tmp_path, 4)), hook.url, now=NOW.to_pydatetime())
    ledger = read_ledger(ledger_path(home))
    pushes = ledger[ledger["group"] == "push"]
    assert len(pushes) == 4 and (pushes["status"] == "sent").all()
    assert (ledger["group"] == "holdout").sum() == 1


def test_webhook_retries_5xx_then_rejects_4xx_rows(tmp_path: Path) -> None:
    waits: list[float] = []
    plan = read_plan(plan_file(tmp_path, 3))
    log = SendLog(tmp_path / "sent.jsonl")
    with webhook() as hook:
        hook.script = [503, 502, 200, 422]  # row 0: two 5xx then ok; row 1: refused
        target = WebhookTarget(hook.url, retries=3, backoff=0.25, sleep=waits.append)
        res = send_plan(plan, target, log, now=NOW.to_pydatetime())
        assert res.sent == 2 and [u for u, _ in res.rejected] == ["u0001"]
        assert waits == [0.25, 0.5]
        assert hook.keys() == [plan["idempotency_key"][0], plan["idempotency_key"][2]]
        # a rejected row is not recorded: a rerun offers it again
        again = send_plan(plan, target, log, now=NOW.to_pydatetime())
        assert again.sent == 1 and again.already_sent == 2
        # a webhook that keeps failing stops the run with what was sent kept
        hook.script = [500] * 10
        more = read_plan(plan_file(tmp_path, 5))
        with pytest.raises(DeliveryError, match="failed 2 times"):
            send_plan(
                more,
                WebhookTarget(hook.url, retries=1, sleep=waits.append),
                log,
                now=NOW.to_pydatetime(),
            )
    assert len(log.keys()) == 3


class _Crash(Exception):
    pass


class _CrashAfter:
    """A target that dies (like a kill) right after its n-th confirmed message."""

    def __init__(self, inner: Any, n: int) -> None:
        self.inner, self.n, self.description = inner, n, inner.description

    def publish(self, key: str, message: dict[str, Any]) -> None:
        if self.n == 0:
            raise _Crash
        self.inner.publish(key, message)
        self.n -= 1

    def close(self) -> None:
        self.inner.close()


def test_a_crash_mid_plan_and_a_rerun_send_each_message_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    plan = read_plan(plan_file(tmp_path, 30))
    with webhook() as hook:
        with pytest.raises(_Crash):
            send_push(
                home,
                plan,
                None,
                now=NOW.to_pydatetime(),
                target=_CrashAfter(WebhookTarget(hook.url), 11),
            )
        assert len(hook.received) == 11
        res = send_push(home, plan, hook.url, now=NOW.to_pydatetime())
        assert (res.sent, res.already_sent) == (19, 11)
        assert sorted(hook.keys()) == sorted(plan["idempotency_key"])
    assert (read_ledger(ledger_path(home))["status"] == "sent").sum() == 30


def test_a_torn_last_log_line_is_dropped_and_repaired(tmp_path: Path) -> None:
    plan = read_plan(plan_file(tmp_path, 4))
    log = SendLog(tmp_path / "sent.jsonl")
    with webhook() as hook:
        send_plan(plan.iloc[:2], WebhookTarget(hook.url), log, now=NOW.to_pydatetime())
        with log.path.open("a") as fh:
            fh.write('{"key": "half')  # a kill while writing the third line
        assert len(log.keys()) == 2
        res = send_plan(plan, WebhookTarget(hook.url), log, now=NOW.to_pydatetime())
        assert res.sent == 2
    lines = log.path.read_text().splitlines()
    assert len(lines) == 4 and all(json.loads(x)["key"] for x in lines)


def test_wait_sleeps_until_the_next_row_within_the_bound(tmp_path: Path) -> None:
    plan = read_plan(plan_file(tmp_path, 5, due=2))  # then +1 h, +2 h, +3 h
    clock = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        clock[0] += s

    with webhook() as hook:
        res = send_plan(
            plan,
            WebhookTarget(hook.url),
            SendLog(tmp_path / "s.jsonl"),
            now=NOW.to_pydatetime(),
            wait_seconds=2.5 * 3600,
            sleep=sleep,
            monotonic=lambda: clock[0],
        )
        assert (res.sent, res.not_due) == (4, 1)
        assert [round(s) for s in slept] == [3600, 3600]
        assert len(hook.received) == 4


def test_push_send_command_dry_run_and_errors(tmp_path: Path) -> None:
    home = tmp_path / "home"
    f = plan_file(tmp_path, 6, due=4)
    runner = CliRunner()
    base = ["--data-dir", str(home), "push", "send", str(f), "--now", "2025-03-03T04:00Z"]
    dry = runner.invoke(app, [*base, "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["due"] == 4
    assert not send_log_path(home).exists()
    with webhook() as hook:
        res = runner.invoke(app, [*base, "--to", hook.url])
        assert res.exit_code == 0, res.output
        assert "已发送 4" in res.output and len(hook.received) == 4
        res = runner.invoke(app, [*base, "--to", hook.url, "--json"])
        assert json.loads(res.stdout)["already_sent"] == 4 and len(hook.received) == 4
    from campaignrec.cli.main import main

    for args, field in (([*base], "--to"), ([*base[:-1], "tomorrow", "--dry-run"], "--now")):
        with pytest.raises(SystemExit) as info:
            main(args)
        assert info.value.code == 3, field
