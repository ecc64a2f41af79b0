"""Experiment definitions in the store, layers and sticky assignment."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from campaignrec.cli.main import main
from campaignrec.errors import EXIT_VALIDATION, UnknownIdError, ValidationError
from campaignrec.experiments.registry import (
    HOLDOUT,
    assign_user,
    create_experiment,
    get_experiment,
    list_experiments,
)
from campaignrec.store.sql import SQLStore

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MID = datetime(2026, 1, 15, tzinfo=UTC)


def spec(eid: str, **kw):  # type: ignore[no-untyped-def]
    base = {
        "experiment_id": eid,
        "variants": [{"name": "A", "share": 0.5}, {"name": "B", "share": 0.5}],
        "start_time": "2026-01-01T00:00:00Z",
        "end_time": "2026-02-01T00:00:00Z",
    }
    base.update(kw)
    return base


@pytest.fixture
def store(tmp_path):  # type: ignore[no-untyped-def]
    s = SQLStore(f"sqlite:///{tmp_path / 'shop.db'}")
    yield s
    s.close()


def test_definitions_round_trip_through_the_store(store) -> None:  # type: ignore[no-untyped-def]
    made = create_experiment(
        store,
        spec(
            "rank-div", layer="recs", traffic=0.4, holdout_share=0.1,
            primary_metric="revenue_per_user", guardrail_metrics=["ctr"],
            variants=[{"name": "A", "share": 1, "config": {"diversity": 0.0}},
                      {"name": "B", "share": 1, "config": {"diversity": 0.3}}],
        ),
    )  # fmt: skip
    got = get_experiment(store, "rank-div")
    assert got == made
    assert (got.range_low, got.range_high) == (0.0, 0.4)
    assert got.variants[1].config == {"diversity": 0.3}
    assert got.expected_shares() == pytest.approx({"A": 0.45, "B": 0.45, HOLDOUT: 0.1})
    assert [e.experiment_id for e in list_experiments(store)] == ["rank-div"]
    with pytest.raises(ValidationError, match="exists"):
        create_experiment(store, spec("rank-div"))
    with pytest.raises(UnknownIdError):
        get_experiment(store, "nope")


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"variants": [{"name": "A", "share": 1}]}, "variants"),
        ({"variants": [{"name": "A", "share": 1}, {"name": "A", "share": 1}]}, "unique"),
        ({"variants": [{"name": "A", "share": 1}, {"name": "holdout", "share": 1}]}, "reserved"),
        ({"end_time": "2025-01-01T00:00:00Z"}, "after"),
        ({"start_time": "2026-01-01T00:00:00"}, "timezone"),
        ({"holdout_share": 1.5}, "holdout_share"),
        ({"primary_metric": "happiness"}, "primary_metric"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_definitions_name_the_field(store, bad, field) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValidationError, match=field):
        create_experiment(store, spec("x", **bad))
    assert list_experiments(store) == []


def test_a_layer_gives_overlapping_experiments_disjoint_ranges(store) -> None:  # type: ignore[no-untyped-def]
    a = create_experiment(store, spec("a", layer="recs", traffic=0.5))
    b = create_experiment(store, spec("b", layer="recs", traffic=0.3))
    with pytest.raises(ValidationError, match="traffic"):
        create_experiment(store, spec("c", layer="recs", traffic=0.3))  # only 20 % left
    # another layer, and a later window of the same layer, start from 0 again
    other = create_experiment(store, spec("d", layer="campaigns", traffic=1.0))
    later = create_experiment(
        store, spec("e", layer="recs", start_time="2026-02-01T00:00:00Z", end_time=None)
    )
    assert [(x.range_low, x.range_high) for x in (a, b, other, later)] == [
        (0.0, 0.5), (0.5, 0.8), (0.0, 1.0), (0.0, 1.0),
    ]  # fmt: skip
    exps = list_experiments(store)
    in_recs: Counter[str] = Counter()
    for i in range(4000):
        got = assign_user(f"u{i}", exps, at=MID)
        layers = [g.layer for g in got]
        assert len(layers) == len(set(layers))  # at most one experiment per layer
        assert "campaigns" in layers  # d takes every shopper of its layer
        in_recs.update(g.experiment_id for g in got if g.layer == "recs")
    assert in_recs["a"] / 4000 == pytest.approx(0.5, abs=0.03)
    assert in_recs["b"] / 4000 == pytest.approx(0.3, abs=0.03)
    # before the start and after the end, nobody is assigned
    assert assign_user("u1", exps, at=datetime(2025, 6, 1, tzinfo=UTC)) == []


def test_shares_and_holdout_are_respected(store) -> None:  # type: ignore[no-untyped-def]
    exp = create_experiment(
        store,
        spec("w", holdout_share=0.2,
             variants=[{"name": "A", "share": 3}, {"name": "B", "share": 1}]),
    )  # fmt: skip
    first = assign_user("user-0", [exp], at=MID)[0]
    assert first.log_fields() == {
        "policy": "w", "variant": first.variant,
        "propensity": pytest.approx(exp.expected_shares()[first.variant]),
    }  # fmt: skip
    counts = Counter(assign_user(f"user-{i}", [exp], at=MID)[0].variant for i in range(20_000))
    n = sum(counts.values())
    for name, share in exp.expected_shares().items():
        assert counts[name] / n == pytest.approx(share, abs=0.015)


_CHILD = """
import json, sys
from datetime import datetime, UTC
from campaignrec.experiments.registry import Experiment, assign_user
exp = Experiment.model_validate_json(sys.stdin.read())
at = datetime(2026, 1, 15, tzinfo=UTC)
print(json.dumps([assign_user(f"u{i}", [exp], at=at)[0].variant for i in range(300)]))
"""


def test_assignment_is_the_same_in_another_process(store) -> None:  # type: ignore[no-untyped-def]
    exp = create_experiment(store, spec("sticky", holdout_share=0.1))
    here = [assign_user(f"u{i}", [exp], at=MID)[0].variant for i in range(300)]
    src = str(Path(__file__).resolve().parents[2] / "src")
    child = subprocess.run(
        [sys.executable, "-c", _CHILD],
        input=exp.model_dump_json(),
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": src, "PYTHONHASHSEED": "12345"},
    )
    assert json.loads(child.stdout) == here
    assert len(set(here)) == 3
    # a new salt re-shuffles shoppers
    resalted = exp.model_copy(update={"salt": "relaunch"})
    again = [assign_user(f"u{i}", [resalted], at=MID)[0].variant for i in range(300)]
    assert again != here


def run(capsys, *args: str) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out = capsys.readouterr()
    return int(info.value.code or 0), out.out, out.err


def test_cli_create_list_assign(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    home = str(tmp_path / "shop")
    path = tmp_path / "exp.json"
    path.write_text(json.dumps(spec("cli-exp", layer="recs", end_time=None)))
    code, out, err = run(capsys, "--data-dir", home, "experiments", "create", str(path), "--json")
    assert code == 0, err
    assert json.loads(out)["range_high"] == 1.0
    code, out, _ = run(capsys, "--data-dir", home, "experiments", "list", "--json")
    assert [e["experiment_id"] for e in json.loads(out)["experiments"]] == ["cli-exp"]
    code, out, _ = run(
        capsys, "--data-dir", home, "experiments", "assign", "u42", "--at", "2026-01-10T00:00Z",
        "--json",
    )  # fmt: skip
    got = json.loads(out)["assignments"]
    assert code == 0 and len(got) == 1 and got[0]["variant"] in {"A", "B"}
    code, _, err = run(capsys, "--data-dir", home, "experiments", "create", str(path))
    assert code == EXIT_VALIDATION and "exists" in err and "Traceback" not in err
    path.write_text(json.dumps(spec("bad", traffic=0)))
    code, _, err = run(capsys, "--data-dir", home, "experiments", "create", str(path))
    assert code == EXIT_VALIDATION and "traffic" in err


def test_cli_results_reads_the_store(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from campaignrec.config import load_settings
    from campaignrec.experiments.simulation import ArmTruth, simulate_experiment_events

    home = tmp_path / "shop"
    path = tmp_path / "exp.json"
    path.write_text(json.dumps(spec("r1", minimum_detectable_effect=0.3)))
    code, out, err = run(
        capsys, "--data-dir", str(home), "experiments", "create", str(path), "--json"
    )
    assert code == 0, err
    from campaignrec.experiments.registry import Experiment

    exp = Experiment.model_validate_json(out)
    ev = simulate_experiment_events(
        exp, {"A": ArmTruth(0.03), "B": ArmTruth(0.09)}, n_users=3000, days=10, seed=2
    )
    store = SQLStore(load_settings(home).resolved_database_url)
    ev["event_id"] = [f"e{i}" for i in range(len(ev))]
    store.insert_events(ev)
    store.close()
    args = ["--data-dir", str(home), "experiments", "results", "r1", "--at", "2026-01-20T00:00Z"]
    code, out, err = run(capsys, *args, "--json")
    assert code == 0, err
    got = json.loads(out)
    assert got["decision"]["winner"] == "B"
    code, out, _ = run(capsys, *args)
    assert code == 0 and "B wins on conversion" in out and "胜出" in out
    code, _, err = run(capsys, "--data-dir", str(home), "experiments", "results", "nope")
    assert code != 0 and "nope" in err and "Traceback" not in err


def test_cli_size_matches_the_calculators(capsys) -> None:  # type: ignore[no-untyped-def]
    from campaignrec.experiments.ab import sample_size_per_variant
    from campaignrec.experiments.sequential import sample_size_for_mean

    code, out, _ = run(
        capsys, "experiments", "size", "--baseline", "0.05", "--mde", "0.1", "--daily", "2000",
        "--json",
    )  # fmt: skip
    got = json.loads(out)
    n = sample_size_per_variant(0.05, 0.1, relative=True)
    assert code == 0 and got == {"per_variant": n, "total": 2 * n, "days": -(-2 * n // 2000)}
    code, out, _ = run(
        capsys, "experiments", "size", "--baseline", "40", "--sd", "80", "--mde", "0.05",
        "--variants", "3", "--json",
    )  # fmt: skip
    assert json.loads(out)["per_variant"] == sample_size_for_mean(80, 2.0)
    code, _, err = run(capsys, "experiments", "size", "--baseline", "1.5", "--mde", "0.1")
    assert code == EXIT_VALIDATION and "baseline_rate" in err
