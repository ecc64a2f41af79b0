"""``push send`` against the real RabbitMQ: persistent messages with publisher confirms, a crash
after N confirms, ``kill -9`` of the command, reruns, and exactly one message per recipient.

Runs when ``CAMPAIGNREC_TEST_RABBITMQ_URL`` is set (``.ci/run`` sets it); fails when it is set
and the broker cannot be reached. Queues are named ``crtest-push-<random>`` and deleted after.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from campaignrec.push.ledger import ledger_path, read_ledger, write_plan
from campaignrec.push.run import send_push
from campaignrec.push.send import SendLog, read_plan, send_log_path
from campaignrec.push.targets import DeliveryError, RabbitTarget
from tests.push.helpers import NOW, plan_file, plan_table

URL = os.environ.get("CAMPAIGNREC_TEST_RABBITMQ_URL")
pytestmark = pytest.mark.skipif(not URL, reason="set CAMPAIGNREC_TEST_RABBITMQ_URL to run")
SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture()
def queue() -> Iterator[str]:
    import pika

    assert URL
    conn = pika.BlockingConnection(pika.URLParameters(URL))  # set and unreachable: fails
    name = f"crtest-push-{uuid.uuid4().hex[:10]}"
    try:
        yield name
    finally:
        ch = conn.channel()
        ch.queue_delete(queue=name)
        conn.close()


def drain(name: str) -> list[tuple[Any, dict[str, Any]]]:
    import pika

    assert URL
    conn = pika.BlockingConnection(pika.URLParameters(URL))
    ch = conn.channel()
    out = []
    while True:
        method, props, body = ch.basic_get(queue=name, auto_ack=True)
        if method is None:
            break
        out.append((props, json.loads(body)))
    conn.close()
    return out


class _Crash(Exception):
    pass


class _CrashAfter:
    def __init__(self, inner: RabbitTarget, n: int) -> None:
        self.inner, self.n, self.description = inner, n, inner.description

    def publish(self, key: str, message: dict[str, Any]) -> None:
        if self.n == 0:
            raise _Crash  # the process dies right after the n-th confirm
        self.inner.publish(key, message)
        self.n -= 1

    def close(self) -> None:
        self.inner.close()


def test_send_crash_after_n_confirms_rerun_one_message_each(tmp_path: Path, queue: str) -> None:
    assert URL
    home = tmp_path / "home"
    plan = read_plan(plan_file(tmp_path, 40, due=30))
    target = _CrashAfter(RabbitTarget(URL, queue=queue), 17)
    with pytest.raises(_Crash):
        send_push(home, plan, None, now=NOW.to_pydatetime(), target=target)
    target.close()
    assert len(SendLog(send_log_path(home)).keys()) == 17
    res = send_push(home, plan, URL, queue=queue, now=NOW.to_pydatetime())
    assert (res.sent, res.already_sent, res.not_due) == (13, 17, 10)
    again = send_push(home, plan, URL, queue=queue, now=NOW.to_pydatetime())
    assert again.sent == 0
    later = send_push(
        home, plan, URL, queue=queue, now=(NOW + pd.Timedelta(days=1)).to_pydatetime()
    )
    assert later.sent == 10
    got = drain(queue)
    assert len(got) == 40
    ids = [p.message_id for p, _ in got]
    assert sorted(ids) == sorted(plan["idempotency_key"])
    assert sorted(b["user_id"] for _, b in got) == sorted(plan["user_id"])
    props, body = got[0]
    assert props.delivery_mode == 2 and props.headers["Idempotency-Key"] == props.message_id
    assert body["idempotency_key"] == props.message_id and body["channel"] == "app_push"
    ledger = read_ledger(ledger_path(home))
    assert (ledger["status"] == "sent").sum() == 40


def test_kill_9_while_waiting_then_rerun(tmp_path: Path, queue: str) -> None:
    """The command itself, killed with SIGKILL between two due moments; the rerun sends the
    rest and nothing twice."""
    assert URL
    home = tmp_path / "home"
    start = pd.Timestamp.now(tz="UTC").floor("s")
    t = plan_table(30)
    at = [start - pd.Timedelta(minutes=1)] * 12 + [start + pd.Timedelta(seconds=2)] * 8
    at += [start + pd.Timedelta(minutes=30)] * 10
    t["send_at"] = [a.tz_convert("Asia/Shanghai").isoformat() for a in at]
    f = write_plan(t, tmp_path / "plan.csv")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    cmd = [
        sys.executable,
        "-m",
        "campaignrec",
        "--data-dir",
        str(home),
        "push",
        "send",
        str(f),
        "--to",
        URL,
        "--queue",
        queue,
        "--wait",
        "3600",
    ]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    log = SendLog(send_log_path(home))
    deadline = time.monotonic() + 60
    while len(log.keys()) < 20 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert proc.poll() is None, proc.communicate()
    os.kill(proc.pid, signal.SIGKILL)  # now sleeping until the rows 30 minutes out
    proc.wait(10)
    assert len(log.keys()) == 20
    later = (start + pd.Timedelta(hours=1)).isoformat()
    done = subprocess.run(
        [*cmd[:-2], "--now", later, "--json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["sent"], summary["already_sent"]) == (10, 20)
    got = drain(queue)
    assert len(got) == 30 and len({p.message_id for p, _ in got}) == 30
    assert (read_ledger(ledger_path(home))["status"] == "sent").sum() == 30


def test_unroutable_and_missing_exchange_are_clear_errors(tmp_path: Path) -> None:
    assert URL
    with pytest.raises(DeliveryError, match="exchange"):
        RabbitTarget(URL, exchange=f"crtest-push-missing-{uuid.uuid4().hex[:6]}")
    plan = read_plan(plan_file(tmp_path, 2))
    # the default exchange with a routing key no queue has: not confirmed, nothing recorded
    target = RabbitTarget(URL, exchange="amq.direct")
    home = tmp_path / "home"
    with pytest.raises(DeliveryError, match="no queue"):
        send_push(home, plan, None, now=NOW.to_pydatetime(), target=target)
    target.close()
    assert SendLog(send_log_path(home)).keys() == set()
    with pytest.raises(DeliveryError, match="cannot reach"):
        RabbitTarget("amqp://guest:guest@127.0.0.1:1/%2F", queue="crtest-push-x")
