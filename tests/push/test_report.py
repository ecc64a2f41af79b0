"""``push report``: known counts of opens, clicks, purchases and opt-outs in the pushed group and
the holdout, the window after send_at, the interval, and the command's output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from campaignrec.cli.main import app
from campaignrec.errors import ValidationError
from campaignrec.push.ledger import ledger_path, record_plan, write_plan
from campaignrec.push.plan import PushPlan
from campaignrec.push.report import push_report
from campaignrec.push.run import send_push
from campaignrec.push.send import read_plan
from tests.push.helpers import NOW, plan_table, webhook

N = 200  # pushed shoppers u0000..u0199; holdout h000..h199
L = 50  # left out by the rules: l000..l049 (no events)


def _events() -> pd.DataFrame:
    rows = []

    def ev(u: str, kind: str, at: pd.Timestamp, **kw: object) -> None:
        rows.append({"user_id": u, "event_type": kind, "timestamp": at.isoformat(), **kw})

    sent_at = NOW - pd.Timedelta(minutes=1)  # plan_table's send times are NOW - (N - i) minutes
    for i in range(N):
        u = f"u{i:04d}"
        t = NOW - pd.Timedelta(minutes=N - i) + pd.Timedelta(hours=2)
        if i < 120:
            ev(u, "campaign_impression", t, campaign_id="spring")
        if i < 80:
            ev(u, "campaign_click", t, campaign_id="spring")
        if i < 60:  # 30 % buy, 50 each
            ev(u, "purchase", t, item_id="i1", revenue=50.0, order_id=f"o{u}")
        if i < 10:
            ev(u, "consent_marketing_withdrawn", t)
        if 60 <= i < 100:  # bought before the push: does not count
            ev(
                u,
                "purchase",
                t - pd.Timedelta(days=3),
                item_id="i1",
                revenue=50.0,
                order_id=f"p{u}",
            )
    for i in range(N):
        h = f"h{i:03d}"
        t = sent_at + pd.Timedelta(hours=5)
        if i < 20:  # 10 % buy, 50 each
            ev(h, "purchase", t, item_id="i1", revenue=50.0, order_id=f"o{h}")
        if i < 4:
            ev(h, "consent_marketing_withdrawn", t)
        if 20 <= i < 60:  # after the window: does not count
            ev(
                h,
                "purchase",
                t + pd.Timedelta(days=9),
                item_id="i1",
                revenue=50.0,
                order_id=f"l{h}",
            )
    return pd.DataFrame(rows)


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    f = tmp_path / "events.csv"
    _events().to_csv(f, index=False)
    res = CliRunner().invoke(app, ["--data-dir", str(home), "import", "events", str(f)])
    assert res.exit_code == 0, res.output
    table = plan_table(N)
    holdout = tuple(f"h{i:03d}" for i in range(N))
    left = tuple(f"l{i:03d}" for i in range(L))
    plan = PushPlan("spring", table, holdout, left_out=left)
    record_plan(ledger_path(home), plan, NOW.to_pydatetime())
    return home


def test_report_counts_the_window_after_send_at_against_the_holdout(home: Path) -> None:
    from campaignrec.store.sql import SQLStore

    store = SQLStore(f"sqlite:///{home / 'campaignrec.db'}")
    later = (NOW + pd.Timedelta(days=20)).to_pydatetime()
    r = push_report(store, ledger_path(home), "spring", now=later)
    assert r["basis"] == "planned"
    assert (r["treatment"], r["pushed"], r["left_out"], r["holdout"]) == (N + L, N, L, N)
    m = {x["metric"]: x for x in r["metrics"]}
    # intent to treat: the left-out shoppers are in the treatment arm
    assert m["opened"]["treatment"] == pytest.approx(120 / 250) and m["opened"]["holdout"] == 0
    assert m["clicked"]["treatment"] == pytest.approx(80 / 250)
    assert m["converted"]["treatment"] == pytest.approx(60 / 250)
    assert m["converted"]["holdout"] == pytest.approx(0.1)
    assert m["converted"]["difference"] == pytest.approx(60 / 250 - 0.1)
    x1 = np.r_[np.ones(60), np.zeros(190)]
    x0 = np.r_[np.ones(20), np.zeros(180)]
    se = np.sqrt(x1.var(ddof=1) / 250 + x0.var(ddof=1) / 200)
    assert m["converted"]["ci_low"] == pytest.approx(0.14 - 1.959964 * se, abs=1e-6)
    assert m["converted"]["ci_high"] == pytest.approx(0.14 + 1.959964 * se, abs=1e-6)
    assert m["converted"]["ci_low"] > 0
    assert m["revenue"]["difference"] == pytest.approx(60 * 50 / 250 - 5.0)
    assert m["opted_out"]["difference"] == pytest.approx(10 / 250 - 0.02)
    assert m["converted"]["relative"] == pytest.approx(1.4)
    assert r["window_complete"] and "clear" in r["sentences"]["en"]
    assert "百分点" in r["sentences"]["zh"]
    # half-way through the sends, before any response (they come two hours after a send)
    early = push_report(store, ledger_path(home), "spring", now=NOW - pd.Timedelta(minutes=100))
    assert not early["window_complete"]
    assert {x["metric"]: x["treatment"] for x in early["metrics"]}["converted"] == 0
    with pytest.raises(ValidationError, match="campaign_id"):
        push_report(store, ledger_path(home), "autumn")
    with pytest.raises(ValidationError, match="window-days"):
        push_report(store, ledger_path(home), "spring", window_days=0)
    store.close()


def test_report_uses_sent_pushes_once_sent_and_the_command_prints_both_languages(
    home: Path, tmp_path: Path
) -> None:
    part = plan_table(N).iloc[:50]
    f = write_plan(part, tmp_path / "part.csv")
    with webhook() as hook:
        send_push(home, read_plan(f), hook.url, now=NOW.to_pydatetime())
    runner = CliRunner()
    base = ["--data-dir", str(home), "push", "report", "spring", "--at", "2025-04-01T00:00Z"]
    res = runner.invoke(app, [*base, "--json"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.stdout)
    assert r["basis"] == "partly_sent" and (r["sent"], r["pushed"]) == (50, N)
    conv = {x["metric"]: x for x in r["metrics"]}["converted"]
    assert conv["treatment"] == pytest.approx(60 / 250)  # the whole arm, sent or not
    text = runner.invoke(app, base, env={"COLUMNS": "200"})
    assert text.exit_code == 0, text.output
    for word in ("converted / 转化率", "opted out / 退订率", "50 sent", "left out", "百分点"):
        assert word in text.output
