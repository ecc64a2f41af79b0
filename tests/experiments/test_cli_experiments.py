"""The ``ope`` and ``uplift`` commands on small synthetic files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from campaignrec.cli.experiments import ope, uplift
from campaignrec.errors import ConfigError, ValidationError
from campaignrec.experiments.synthetic_logs import SyntheticBanditEnv

app = typer.Typer()
app.command("ope")(ope)
app.command("uplift")(uplift)
runner = CliRunner()


def run(args: list[str]) -> dict:
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # exactly one JSON object


@pytest.fixture(scope="module")
def generic_log(tmp_path_factory):
    env = SyntheticBanditEnv(n_actions=3, dim=2, behaviour_beta=0.0, seed=0)  # uniform logging
    d = env.sample_log(1200, seed=1)
    df = pd.DataFrame(
        {
            "campaign": np.array(["c0", "c1", "c2"])[d.log.action],
            "clicked": d.log.reward,
            "p": d.log.pscore,
            "x0": d.log.context[:, 0],
            "x1": d.log.context[:, 1],
        }
    )
    folder = tmp_path_factory.mktemp("logs")
    path = folder / "log.csv"
    df.to_csv(path, index=False)
    mapping = folder / "mapping.json"
    mapping.write_text(json.dumps({"action": "campaign", "reward": "clicked", "pscore": "p"}))
    return path, mapping, df


def test_ope_uniform_policy_on_uniform_log(generic_log) -> None:
    path, mapping, df = generic_log
    out = run(["ope", "--logs", str(path), "--mapping", str(mapping), "--n-boot", "50", "--json"])
    assert out["rounds"] == len(df)
    assert set(out["estimates"]) >= {"ips", "snips", "dm", "dr"}
    for est in out["estimates"].values():
        assert est["ci_low"] <= est["value"] <= est["ci_high"]
    # logging was uniform, so IPS of the uniform policy is exactly the mean reward
    assert out["estimates"]["ips"]["value"] == pytest.approx(df["clicked"].mean())


def test_ope_policy_file_long_and_wide(generic_log, tmp_path) -> None:
    path, mapping, df = generic_log
    n = len(df)
    wide = pd.DataFrame({"c0": np.ones(n), "c1": np.zeros(n), "c2": np.zeros(n)})
    wide.to_csv(tmp_path / "wide.csv", index=False)
    long = pd.DataFrame({"round": np.arange(n), "action": "c0", "prob": 1.0})
    long.to_csv(tmp_path / "long.csv", index=False)
    base = ["ope", "--logs", str(path), "--mapping", str(mapping), "--n-boot", "20", "--json"]
    a = run([*base, "--policy", str(tmp_path / "wide.csv")])
    b = run([*base, "--policy", str(tmp_path / "long.csv")])
    assert a["estimates"]["ips"] == b["estimates"]["ips"]
    # always showing c0: IPS equals 3 x the clicks of rounds that showed c0, over all rounds
    expected = 3 * df.loc[df.campaign == "c0", "clicked"].sum() / n
    assert a["estimates"]["ips"]["value"] == pytest.approx(expected)


def test_ope_model_policy_and_errors(generic_log, tmp_path) -> None:
    path, mapping, _ = generic_log
    out = run(
        [
            "ope",
            "--logs",
            str(path),
            "--mapping",
            str(mapping),
            "--policy",
            "model",
            "--n-boot",
            "20",
            "--json",
        ]
    )
    assert out["policy"] == "model" and out["estimates"]["dr"]["value"] is not None
    bad = pd.DataFrame({"round": [0], "action": ["nope"], "prob": [1.0]})
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValidationError, match="unknown action"):
        runner.invoke(
            app,
            [
                "ope",
                "--logs",
                str(path),
                "--mapping",
                str(mapping),
                "--policy",
                str(tmp_path / "bad.csv"),
            ],
            catch_exceptions=False,
        )
    with pytest.raises(ConfigError, match="preset"):
        runner.invoke(app, ["ope", "--logs", str(path), "--preset", "zzz"], catch_exceptions=False)


def test_ope_switch_tau_and_refit_options(generic_log) -> None:
    path, mapping, _ = generic_log
    base = ["ope", "--logs", str(path), "--mapping", str(mapping), "--n-boot", "10", "--json"]
    default = run(base)
    assert default["switch_tau"] == "20" and default["refit_reward_model"] is False
    assert default["estimates"]["switch-dr"]["tau"] == 20.0
    assert "tau" not in default["estimates"]["dr"]
    auto = run([*base, "--switch-tau", "auto", "--policy", "model"])
    sw = auto["estimates"]["switch-dr"]
    assert sw["tau"] > 0 and 0.0 <= sw["switched_share"] <= 1.0
    zero = run([*base, "--switch-tau", "0"])  # tau 0 is the direct method
    assert zero["estimates"]["switch-dr"]["value"] == pytest.approx(
        zero["estimates"]["dm"]["value"]
    )
    refit = run([*base, "--refit-reward-model"])
    assert refit["refit_reward_model"] is True
    assert refit["estimates"]["dm"]["value"] == default["estimates"]["dm"]["value"]
    dm, dm_refit = default["estimates"]["dm"], refit["estimates"]["dm"]
    assert dm_refit["ci_high"] - dm_refit["ci_low"] > dm["ci_high"] - dm["ci_low"]
    for bad in ("best", "-1", "nan"):
        with pytest.raises(ValidationError, match="switch_tau"):
            runner.invoke(app, [*base, "--switch-tau", bad], catch_exceptions=False)
    table = runner.invoke(app, [*base[:-1], "--switch-tau", "auto"], catch_exceptions=False)
    assert table.exit_code == 0 and "switch-dr tau" in table.stdout


def test_ope_obd_preset(tmp_path) -> None:
    rng = np.random.default_rng(0)
    n, k = 600, 4
    df = pd.DataFrame(
        {
            "timestamp": pd.date_range("2019-11-24", periods=n, freq="min", tz="UTC"),
            "item_id": rng.integers(0, k, n),
            "position": rng.integers(1, 4, n),
            "click": (rng.random(n) < 0.1).astype(int),
            "propensity_score": 1 / k,
        }
    )
    for i in range(4):
        df[f"user_feature_{i}"] = rng.choice(["aa", "bb", "cc"], n)
    for j in range(k):
        df[f"user-item_affinity_{j}"] = rng.random(n) * (rng.random(n) < 0.1)
    df.to_csv(tmp_path / "all.csv")  # OBD files carry an unnamed index column
    ic = pd.DataFrame(
        {
            "item_id": range(k),
            "item_feature_0": rng.normal(size=k),
            "item_feature_1": ["h1", "h2", "h1", "h3"],
        }
    )
    ic.to_csv(tmp_path / "item_context.csv")
    out = run(
        ["ope", "--logs", str(tmp_path / "all.csv"), "--preset", "obd", "--n-boot", "20", "--json"]
    )
    assert out["rounds"] == n and out["n_actions"] == k
    assert out["estimates"]["ips"]["value"] == pytest.approx(df["click"].mean())


def test_uplift_command(tmp_path) -> None:
    rng = np.random.default_rng(0)
    n = 3000
    x = rng.normal(size=(n, 2))
    group = rng.choice(["none", "email"], n)
    p = 0.2 + np.where(group == "email", 0.25 * (x[:, 0] > 0), 0.0)
    df = pd.DataFrame(
        {
            "x0": x[:, 0],
            "x1": x[:, 1],
            "region": rng.choice(["n", "s"], n),
            "group": group,
            "buy": (rng.random(n) < p).astype(int),
            "spend": rng.random(n),
        }
    )
    df.to_csv(tmp_path / "d.csv", index=False)
    scores = tmp_path / "scores.csv"
    out = run(
        [
            "uplift",
            "--data",
            str(tmp_path / "d.csv"),
            "--treatment",
            "group",
            "--control",
            "none",
            "--outcome",
            "buy",
            "--exclude",
            "spend",
            "--learner",
            "t",
            "--learner",
            "x",
            "--n-boot",
            "30",
            "--scores-out",
            str(scores),
            "--json",
        ]
    )
    assert set(out["learners"]) == {"t", "x"}
    assert abs(out["test_rows"] - n // 2) <= 1
    for r in out["learners"].values():
        assert r["qini"]["value"] > out["random"]["qini"]["value"]
        assert r["qini"]["ci_low"] > 0
    written = pd.read_csv(scores)
    assert list(written.columns) == ["row", "uplift_t", "uplift_x"]
    assert len(written) == out["test_rows"]
    with pytest.raises(ValidationError, match="control"):
        runner.invoke(
            app,
            [
                "uplift",
                "--data",
                str(tmp_path / "d.csv"),
                "--treatment",
                "group",
                "--outcome",
                "buy",
            ],
            catch_exceptions=False,
        )
