"""The consume loop on a list-backed source: decoding, the importer's rules, quarantine under the
message, store and online state, acknowledgement only after the store, redelivery idempotent.

The brokers themselves are tested in ``test_brokers.py`` against real servers; here the source is
the protocol's smallest honest implementation (messages in a list, acknowledgements recorded).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from campaignrec.config import load_settings
from campaignrec.errors import ConfigError, StoreError
from campaignrec.store.online import MemoryOnlineState, user_key
from campaignrec.store.sql import SQLStore
from campaignrec.streams import Message, broker_kind, consume, process_batch
from campaignrec.streams.consumer import Decoded, decode_message

NOW = datetime.now(UTC).replace(microsecond=0)


def fresh_counts(online: MemoryOnlineState, user_id: str) -> dict[str, float]:
    return online.hgetall(user_key(user_id, "fresh"))


def _event(i: int, **over: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "user_id": f"u{i % 5}",
        "item_id": f"i{i % 7}",
        "event_type": "view",
        "timestamp": (NOW - timedelta(minutes=i)).isoformat(),
    }
    ev.update(over)
    return ev


def _msg(n: int, payload: Any) -> Message:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return Message(f"test:s:{n}", body, n)


class ListSource:
    """Messages in a list; ``fetch`` hands out the next ones, ``ack`` records the tokens."""

    kind = "test"
    name = "s"

    def __init__(self, messages: Sequence[Message]) -> None:
        self.messages = list(messages)
        self.pos = 0
        self.acked: list[Any] = []

    def fetch(self, limit: int, wait_s: float) -> list[Message]:
        out = self.messages[self.pos : self.pos + limit]
        self.pos += len(out)
        return out

    def ack(self, messages: Sequence[Message]) -> None:
        self.acked.extend(m.token for m in messages)

    def close(self) -> None:
        pass


@pytest.fixture
def shop(tmp_path: Path) -> tuple[SQLStore, MemoryOnlineState, Any]:
    settings = load_settings(tmp_path)
    return SQLStore(f"sqlite:///{tmp_path / 'store.db'}"), MemoryOnlineState(), settings


def test_decode_one_event_a_list_a_post_body_and_malformed_payloads() -> None:
    d = Decoded()
    decode_message(_msg(1, _event(1)), d)
    decode_message(_msg(2, [_event(2), 7, _event(3)]), d)
    decode_message(_msg(3, {"events": [_event(4)]}), d)
    decode_message(_msg(4, b"not json {"), d)
    decode_message(_msg(5, b"\xff\xfe"), d)
    decode_message(_msg(6, []), d)
    assert d.origins == [("test:s:1", 1), ("test:s:2", 1), ("test:s:2", 3), ("test:s:3", 1)]
    assert [(s, n) for s, n, _ in d.malformed] == [
        ("test:s:2", 2),
        ("test:s:4", 1),
        ("test:s:5", 1),
        ("test:s:6", 1),
    ]
    assert d.malformed[1][2] == "not json {"


def test_good_events_stored_and_recorded_bad_ones_quarantined_under_their_message(
    shop: tuple[SQLStore, MemoryOnlineState, Any],
) -> None:
    store, online, settings = shop
    messages = [
        _msg(1, _event(1)),
        _msg(2, _event(2, event_type="teleport")),
        _msg(3, [_event(3), _event(4, user_id=None), _event(5, timestamp="yesterday")]),
        _msg(4, b"<xml/>"),
        _msg(5, _event(6, price=-1)),
    ]
    source = ListSource(messages)
    stats = consume(source, store, online, settings=settings, idle_exit_s=0.01)
    assert (stats.messages, stats.events, stats.stored, stats.quarantined) == (5, 7, 2, 5)
    assert sorted(source.acked) == [1, 2, 3, 4, 5]
    events = store.read_table("events")
    assert sorted(events["user_id"]) == ["u1", "u3"]
    q = store.read_table("quarantine")
    got = {(r.source, int(r.line), r.field, r.reason) for r in q.itertuples()}
    assert got == {
        ("test:s:2", 1, "event_type", "unknown_event_type"),
        ("test:s:3", 2, "user_id", "missing_field"),
        ("test:s:3", 3, "timestamp", "bad_timestamp"),
        ("test:s:4", 1, "*", "malformed_row"),
        ("test:s:5", 1, "price", "negative_value"),
    }
    assert json.loads(q.loc[q["reason"] == "malformed_row", "raw"].iloc[0]) == {"text": "<xml/>"}
    # the online state received the stored events (the writer of POST /v1/events)
    assert fresh_counts(online, "u1") == {"view:i1": 1.0}
    assert fresh_counts(online, "u3") == {"view:i3": 1.0}


def test_a_redelivered_batch_stores_and_quarantines_nothing_twice(
    shop: tuple[SQLStore, MemoryOnlineState, Any],
) -> None:
    store, online, settings = shop
    messages = [_msg(n, _event(n)) for n in range(20)] + [_msg(20, b"oops")]
    first = process_batch(messages, store, online, settings=settings)
    again = process_batch(messages, store, online, settings=settings)
    assert (first.stored, first.quarantined) == (20, 1)
    assert (again.stored, again.duplicates) == (0, 20)
    assert len(store.read_table("events")) == 20
    assert len(store.read_table("quarantine")) == 1
    # the online state counted each event once
    assert sum(sum(fresh_counts(online, f"u{u}").values()) for u in range(5)) == 20


def test_nothing_is_acknowledged_when_the_store_fails(
    shop: tuple[SQLStore, MemoryOnlineState, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, online, settings = shop
    source = ListSource([_msg(n, _event(n)) for n in range(5)])

    def down(_df: pd.DataFrame) -> int:
        raise StoreError("the store is down")

    monkeypatch.setattr(store, "insert_events", down)
    with pytest.raises(StoreError):
        consume(source, store, online, settings=settings, idle_exit_s=0.01)
    assert source.acked == []


def test_max_events_stops_after_that_many_and_leaves_the_rest(
    shop: tuple[SQLStore, MemoryOnlineState, Any],
) -> None:
    store, online, settings = shop
    source = ListSource([_msg(n, _event(n)) for n in range(30)])
    stats = consume(source, store, online, settings=settings, batch=8, max_events=12)
    assert stats.events == 12 and source.acked == list(range(12))
    assert len(store.read_table("events")) == 12


def test_stop_request_ends_the_loop_between_batches(
    shop: tuple[SQLStore, MemoryOnlineState, Any],
) -> None:
    store, online, settings = shop
    source = ListSource([_msg(n, _event(n)) for n in range(30)])
    calls = []

    def stop() -> bool:
        calls.append(1)
        return len(calls) > 2  # two batches, then stop

    stats = consume(source, store, online, settings=settings, batch=10, should_stop=stop)
    assert stats.batches == 2 and len(source.acked) == 20


def test_the_same_events_give_the_same_rows_over_http_and_from_a_stream(
    shop: tuple[SQLStore, MemoryOnlineState, Any], tmp_path: Path
) -> None:
    """One definition: POST /v1/events and consume store the same ids and reject the same way."""
    import warnings

    from campaignrec.service.app import create_app
    from campaignrec.service.auth import KeyStore

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    store, online, settings = shop
    batch = [_event(1), _event(2, event_type="teleport"), _event(3, quantity=-2)]
    process_batch([_msg(1, batch)], store, online, settings=settings)
    home = tmp_path / "http"
    http_settings = load_settings(home)
    home.mkdir()
    http_store = SQLStore(http_settings.resolved_database_url)
    key, _ = KeyStore(http_store).create("ingest")
    http_store.close()
    with TestClient(create_app(http_settings)) as client:
        r = client.post(
            "/v1/events", json={"events": batch}, headers={"Authorization": f"Bearer {key}"}
        )
    assert r.status_code == 200
    http_store = SQLStore(http_settings.resolved_database_url)
    assert set(http_store.read_table("events")["event_id"]) == set(
        store.read_table("events")["event_id"]
    )

    def problems(q: pd.DataFrame) -> set[tuple[int, str, str]]:
        return {(int(r.line), r.field, r.reason) for r in q.itertuples()}

    assert problems(http_store.read_table("quarantine")) == problems(store.read_table("quarantine"))


def test_a_privacy_key_pseudonymises_stream_events_as_at_import(tmp_path: Path) -> None:
    from campaignrec.privacy.edge import privacy_edge
    from campaignrec.privacy.pseudonymise import pseudonymise_user_id

    settings = load_settings(tmp_path, pseudonymisation_key="k" * 32)
    store = SQLStore(f"sqlite:///{tmp_path / 'store.db'}")
    online = MemoryOnlineState()
    edge = privacy_edge(settings, store)
    process_batch([_msg(1, _event(1))], store, online, settings=settings, edge=edge)
    stored = store.read_table("events")["user_id"].tolist()
    assert stored == [pseudonymise_user_id(settings, "u1")] and stored != ["u1"]
    assert online.hgetall(user_key(stored[0], "fresh")) == {"view:i1": 1.0}


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("redis://127.0.0.1:6379/0", "redis"),
        ("rediss://h/1", "redis"),
        ("amqp://guest:guest@h:5672/%2F", "amqp"),
        ("nats://h:4222", "nats"),
    ],
)
def test_broker_kind_by_scheme(url: str, kind: str) -> None:
    assert broker_kind(url) == kind


def test_an_unknown_scheme_is_a_config_error_naming_the_option() -> None:
    with pytest.raises(ConfigError, match="--from"):
        broker_kind("kafka://h:9092")
