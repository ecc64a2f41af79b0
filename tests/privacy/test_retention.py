"""Retention: events older than the period are deleted, newer ones kept, the file scrubbed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from campaignrec.config import load_settings
from campaignrec.data.importer import import_frame
from campaignrec.errors import ConfigError
from campaignrec.privacy.retention import apply_retention
from campaignrec.store.privacy import PrivacyRepository
from campaignrec.store.sql import SQLStore
from tests.privacy.conftest import files_containing

NOW = datetime(2025, 6, 1, tzinfo=UTC)


def _store(home):
    settings = load_settings(home, retention_days=30)
    home.mkdir(parents=True, exist_ok=True)
    store = SQLStore(settings.resolved_database_url)
    ages = [1, 10, 29, 31, 45, 400]
    frame = pd.DataFrame(
        {
            "event_id": [f"evt-age-{a:04d}-zz" for a in ages],
            "user_id": "u1",
            "event_type": "view",
            "item_id": "i1",
            "timestamp": [(NOW - timedelta(days=a)).isoformat() for a in ages],
        }
    )
    import_frame(store, "events", frame)
    return settings, store


def test_old_events_go_recent_ones_stay(tmp_path):
    settings, store = _store(tmp_path / "shop")
    result = apply_retention(settings, store, now=NOW, actor="test:cron")
    assert result.events_deleted == 3 and result.days == 30
    kept = sorted(store.read_table("events")["event_id"])
    assert kept == ["evt-age-0001-zz", "evt-age-0010-zz", "evt-age-0029-zz"]
    gone = [b"evt-age-0031-zz", b"evt-age-0045-zz", b"evt-age-0400-zz"]
    assert files_containing(tmp_path / "shop", gone) == {}
    assert files_containing(tmp_path / "shop", [b"evt-age-0029-zz"])  # the search can see
    audit = PrivacyRepository(store).audit_records()
    assert audit.iloc[-1]["action"] == "retention" and audit.iloc[-1]["detail"]["events"] == 3
    again = apply_retention(settings, store, now=NOW)
    assert again.events_deleted == 0
    store.close()


def test_no_period_is_a_clear_error(tmp_path):
    settings = load_settings(tmp_path)
    store = SQLStore(settings.resolved_database_url)
    with pytest.raises(ConfigError, match="retention_days"):
        apply_retention(settings, store)
    store.close()


def test_cli_retention_days_option(tmp_path, cli):
    home = tmp_path / "shop"
    _, store = _store(home)
    store.close()
    code, out, err = cli("--data-dir", str(home), "retention", "--days", "100000", "--json")
    assert code == 0, err
    assert json.loads(out)["events_deleted"] == 0
    code, out, err = cli("--data-dir", str(home), "retention", "--days", "0.5", "--json")
    assert code == 0, err
    assert json.loads(out)["events_deleted"] == 6  # 'now' is today: every 2025 event is old


def test_scrub_reports_a_busy_database_instead_of_failing(tmp_path, monkeypatch):
    import sqlite3

    monkeypatch.setattr("campaignrec.store.erasure.SCRUB_BUSY_MS", 200)
    _, store = _store(tmp_path / "shop")
    other = sqlite3.connect(str(tmp_path / "shop" / "campaignrec.db"))
    other.execute("BEGIN")
    other.execute("SELECT COUNT(*) FROM events").fetchone()  # an open read transaction
    try:
        result = store.scrub(vacuum=True)
    finally:
        other.rollback()
        other.close()
    assert result["wal_truncated"] is False  # said, not raised, after a short wait
    again = store.scrub(vacuum=True)
    assert again["vacuumed"] is True and again["wal_truncated"] is True  # the reader is gone
    store.close()
