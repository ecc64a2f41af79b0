"""The ``retrain_decisions`` table (migration 9) on every backend: ids ascend, the last decision
is the newest, the JSON round-trips."""

from __future__ import annotations

from campaignrec.store.retrain import RetrainDecisionRepository
from campaignrec.store.sql import SQLStore


def test_decisions_round_trip_newest_first(store: SQLStore) -> None:
    repo = RetrainDecisionRepository(store)
    assert repo.last() is None and repo.latest(3) == []
    first = repo.insert({"outcome": "activated", "model": "ease", "candidate_version": "v1",
                         "sentence": {"en": "activated", "zh": "已启用"}})  # fmt: skip
    second = repo.insert({"outcome": "kept", "model": "ease", "candidate_version": "v2",
                          "active_version": "v1", "judgement": {"diff": -0.1, "n_users": 40}})  # fmt: skip
    assert second > first
    last = repo.last()
    assert last is not None and last["outcome"] == "kept" and last["decision_id"] == second
    assert last["judgement"] == {"diff": -0.1, "n_users": 40} and last["active_version"] == "v1"
    assert [d["candidate_version"] for d in repo.latest(5)] == ["v2", "v1"]
    assert repo.latest(1)[0]["created_at"] >= repo.latest(5)[1]["created_at"]
    assert repo.latest(5)[1]["sentence"]["zh"] == "已启用"
