"""Erasure everywhere: after ``erase``, no file under the data directory, no table and no Redis
key or value holds the shopper's id or the ids of their events; everyone else is intact."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import inspect, text

from campaignrec.config import load_settings
from campaignrec.data.importer import import_file
from campaignrec.models.registry import load_model
from campaignrec.pipeline.profiles import compute_profiles, profiles_dir
from campaignrec.pipeline.training import train
from campaignrec.privacy.erasure import erase_users
from campaignrec.privacy.pseudonymise import audit_namer
from campaignrec.ranking import Ranker, recommend_frame
from campaignrec.ranking.history import record_event
from campaignrec.store.online import MemoryOnlineState, RedisOnlineState, random_prefix
from campaignrec.store.privacy import PrivacyRepository
from campaignrec.store.sql import SQLStore
from tests.privacy.conftest import N_USERS, files_containing, raw_id, write_shop

MODELS = {
    "most_popular": {},
    "als": {"factors": 4, "iterations": 2},
    "bpr": {"factors": 4, "iterations": 2},
    "item_knn": {},
    "user_knn": {},
    "ease": {},
    "category_popular": {},
    "content": {},
    "transition": {},
    "hybrid": {"epochs": 2, "dim": 8},
    "sasrec": {"epochs": 1, "max_len": 8, "dim": 8, "n_blocks": 1},
    "blend": {"models": ("most_popular", "item_knn")},
    "rerank": {"candidates": ("item_knn", "most_popular"), "n_estimators": 5, "n_candidates": 10},
}
VICTIM, OTHER = raw_id(7), raw_id(8)


def _rows_holding(store: SQLStore, needle: str) -> dict[str, int]:
    out = {}
    with store.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            cols = [c["name"] for c in inspect(conn).get_columns(table)]
            where = " OR ".join(f'instr(CAST("{c}" AS TEXT), :n) > 0' for c in cols)
            n = conn.execute(text(f'SELECT COUNT(*) FROM "{table}" WHERE {where}'), {"n": needle})
            count = int(n.scalar_one())
            if count:
                out[table] = count
    return out


def _redis_traces(state: RedisOnlineState, needle: str) -> list[str]:
    client = state._redis
    hits = []
    for key in client.scan_iter(match="*", count=1000):
        if needle in key:
            hits.append(key)
            continue
        kind = client.type(key)
        values: list[str] = []
        if kind == "string":
            values = [client.get(key) or ""]
        elif kind == "list":
            values = client.lrange(key, 0, -1)
        elif kind == "hash":
            values = [f"{k}={v}" for k, v in client.hgetall(key).items()]
        if any(needle in v for v in values):
            hits.append(key)
    return hits


def _shop(tmp_path: Path, store: SQLStore | None = None):
    home = tmp_path / "shop"
    home.mkdir()
    settings = load_settings(home)
    files = write_shop(tmp_path / "incoming")
    store = store or SQLStore(settings.resolved_database_url)
    for entity in ("users", "items", "events"):
        import_file(store, entity, files[entity])
    versions = {}
    for name, params in MODELS.items():
        versions[name] = train(store, settings, name, params).path
    compute_profiles(store, profiles_dir(home))
    model = load_model(versions["als"])
    ranker = Ranker(model, store.read_table("items"), MemoryOnlineState())
    recs = recommend_frame(ranker, [raw_id(n) for n in range(N_USERS)], 5)
    (home / "exports").mkdir()
    recs.to_csv(home / "exports" / "recs.csv", index=False)
    recs.to_parquet(home / "exports" / "recs.parquet", index=False)
    (home / "exports" / "audience.json").write_text(
        json.dumps({"campaign": "c1", "users": [VICTIM, OTHER], "by_user": {VICTIM: 1, OTHER: 2}})
    )
    return home, settings, store, versions


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def online(request):
    if request.param == "memory":
        yield MemoryOnlineState()
        return
    url = os.environ.get("CAMPAIGNREC_TEST_REDIS_URL")
    if not url:
        pytest.skip("CAMPAIGNREC_TEST_REDIS_URL is not set; set it to run against a real Redis")
    state = RedisOnlineState(url, prefix=random_prefix())
    try:
        yield state
    finally:
        state.clear_prefix()
        state.close()


def test_erase_leaves_no_trace_anywhere(tmp_path, online):
    home, settings, store, versions = _shop(tmp_path)
    victim_events = store.read_table("events")
    victim_event_ids = victim_events.loc[victim_events["user_id"] == VICTIM, "event_id"].tolist()
    others_before = int((victim_events["user_id"] != VICTIM).sum())
    for uid in (VICTIM, OTHER):
        for item in ("item01", "item02"):
            record_event(
                online,
                {"user_id": uid, "item_id": item, "event_type": "view", "session_id": "s-1"},
            )
    online.incr_capped(f"user:{VICTIM}:cap:c1", cap=3, ttl_seconds=60)
    needles = [VICTIM.encode(), *(e.encode() for e in victim_event_ids)]
    before = files_containing(home, needles)
    assert any(p.startswith("artifacts") for p in before)  # the setup really spread the id
    assert any(p.startswith("profiles") for p in before) and "exports/recs.csv" in before
    assert "campaignrec.db" in before or "campaignrec.db-wal" in before

    report = erase_users(settings, store, [VICTIM], actor="test:dpo", online=online)

    assert report.verified, report.to_dict()
    assert files_containing(home, needles) == {}
    assert _rows_holding(store, VICTIM) == {}
    for event_id in victim_event_ids[:5]:
        assert _rows_holding(store, event_id) == {}
    assert online.recent(VICTIM) == [] and online.recent(OTHER) == ["item02", "item01"]
    if isinstance(online, RedisOnlineState):
        assert _redis_traces(online, VICTIM) == []
        assert _redis_traces(online, OTHER)
    # everyone else is intact
    assert store.count("events") == others_before
    assert report.store["events"] == len(victim_event_ids) and report.store["users"] == 1
    assert report.store["profiles"] == 1 and report.online_keys >= 4
    # every model still loads and serves the others; the victim is now a stranger
    for name, path in versions.items():
        model = load_model(path)
        assert VICTIM not in model.users_, name
        ids, _ = model.recommend(np.asarray([OTHER], dtype=object), k=3)
        assert (ids != None).sum() > 0, name  # noqa: E711 - object array of ids
        meta = json.loads((Path(path) / "meta.json").read_text())
        assert meta["erasure"]["users_erased"] == 1, name
    assert {a["model"] for a in report.artifacts} == set(MODELS)
    assert report.retrain_required == []  # every shipped model's per-user arrays are known
    # cached profiles lost the victim (and their state's hashed rows), kept the others
    import pandas as pd

    prof = pd.read_parquet(profiles_dir(home) / "profiles.parquet")
    assert VICTIM not in set(prof["user_id"]) and OTHER in set(prof["user_id"])
    assert len(prof) == N_USERS - 1
    recs = pd.read_csv(home / "exports" / "recs.csv")
    assert set(recs["user_id"]) == {raw_id(n) for n in range(N_USERS)} - {VICTIM}
    audience = json.loads((home / "exports" / "audience.json").read_text())
    assert audience["users"] == [OTHER] and audience["by_user"] == {OTHER: 2}
    # the audit record names the shopper by a keyed hash only
    audit = PrivacyRepository(store).audit_records()
    row = audit.iloc[-1]
    assert row["actor"] == "test:dpo" and row["action"] == "erase"
    assert row["subject"] == audit_namer(settings).audit_name(VICTIM) != VICTIM
    assert row["detail"]["store"]["events"] == len(victim_event_ids)
    assert VICTIM not in json.dumps(report.to_dict())
    # the file itself: WAL emptied, no free pages left with old rows
    assert report.scrub["wal_truncated"] is True
    wal = home / "campaignrec.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    store.close()


def test_cli_erase_with_pseudonymisation_and_json_report(tmp_path, cli):
    home = tmp_path / "shop"
    home.mkdir()
    (home / "campaignrec.toml").write_text('pseudonymisation_key = "erase-test-key-0123456789"\n')
    files = write_shop(tmp_path / "incoming")
    d = ["--data-dir", str(home)]
    for entity in ("users", "items", "events"):
        assert cli(*d, "import", entity, str(files[entity]))[0] == 0
    assert cli(*d, "train", "--model", "item_knn")[0] == 0
    settings = load_settings(home)
    from campaignrec.privacy import pseudonymise_user_id

    pseudonym = pseudonymise_user_id(settings, VICTIM)
    assert pseudonym.encode() in (home / "campaignrec.db").read_bytes() or files_containing(
        home, [pseudonym.encode()]
    )
    code, out, err = cli(*d, "erase", VICTIM, "--json", "--actor", "dpo@shop")
    assert code == 0, err
    report = json.loads(out)
    assert report["verified"] is True and report["removed"]["store"]["users"] == 1
    assert report["removed"]["store"]["events"] > 0 and report["audit_ids"]
    assert report["online_note"]  # the CLI cannot reach a server's in-process state
    assert files_containing(home, [pseudonym.encode(), VICTIM.encode()]) == {}
    # erasing again finds nothing to remove and still verifies
    code, out, _ = cli(*d, "erase", VICTIM, "--json")
    again = json.loads(out)
    assert code == 0 and set(again["removed"]["store"].values()) == {0} and again["verified"]


def test_an_unknown_per_user_array_marks_the_artifact_for_retraining(tmp_path):
    from campaignrec.privacy.artifacts import erase_from_artifact

    folder = tmp_path / "future" / "v1"
    folder.mkdir(parents=True)
    (folder / "meta.json").write_text(json.dumps({"model": "future", "arrays": []}))
    np.savez_compressed(
        folder / "state.npz",
        _user_ids=np.asarray(["a", "b", "c"]),
        _item_ids=np.asarray(["i0", "i1", "i2", "i3"]),
        _seen_indptr=np.asarray([0, 2, 3, 4]),
        _seen_indices=np.asarray([0, 1, 2, 3]),
        _popularity=np.ones(4),
        user_factors=np.ones((3, 2)),
        mystery_embedding=np.ones((3, 5)),
    )
    assert erase_from_artifact(folder, ["zzz"]) is None  # not there: untouched
    done = erase_from_artifact(folder, ["b"])
    assert done is not None and done.retrain_required
    assert done.unknown_arrays == ["mystery_embedding"]
    with np.load(folder / "state.npz") as z:
        ids = list(z["_user_ids"])
        assert "b" not in ids and ids[0] == "a" and ids[2] == "c"
        assert z["user_factors"][1].tolist() == [0, 0] and z["user_factors"][0].tolist() == [1, 1]
        assert z["_seen_indptr"].tolist() == [0, 2, 2, 3]
        assert z["_seen_indices"].tolist() == [0, 1, 3]
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["erasure"]["retrain_required"] is True


@pytest.mark.postgres
def test_erase_on_postgresql(tmp_path):
    url = os.environ.get("CAMPAIGNREC_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("CAMPAIGNREC_TEST_POSTGRES_URL is not set; set it to run against PostgreSQL")
    import uuid

    store = SQLStore(url, table_prefix=f"t{uuid.uuid4().hex[:10]}_")
    try:
        home, settings, store, versions = _shop(tmp_path, store)
        n_victim = int((store.read_table("events")["user_id"] == VICTIM).sum())
        report = erase_users(settings, store, [VICTIM], actor="test:pg", online=MemoryOnlineState())
        assert report.verified, report.to_dict()
        assert report.store["events"] == n_victim > 0 and report.scrub["vacuumed"] is True
        assert store.find_user(VICTIM) == {}
        assert files_containing(home, [VICTIM.encode()]) == {}
        for path in versions.values():
            assert VICTIM not in load_model(path).users_
    finally:
        store.drop_tables()
        store.close()
