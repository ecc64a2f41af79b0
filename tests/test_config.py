import pytest

from campaignrec.config import load_settings
from campaignrec.errors import ConfigError


def test_defaults_point_into_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("CAMPAIGNREC_DATABASE_URL", raising=False)
    s = load_settings(tmp_path)
    assert s.resolved_database_url == f"sqlite:///{(tmp_path / 'campaignrec.db').resolve()}"
    assert s.online_url == "memory://"
    assert s.artifacts_dir == tmp_path / "artifacts"


def test_file_then_env_then_overrides(tmp_path, monkeypatch):
    (tmp_path / "campaignrec.toml").write_text('half_life_days = 7\nonline_url = "redis://x:1/0"\n')
    monkeypatch.setenv("CAMPAIGNREC_ONLINE_URL", "memory://")
    s = load_settings(tmp_path)
    assert s.half_life_days == 7 and s.online_url == "memory://"
    assert load_settings(tmp_path, half_life_days=3).half_life_days == 3


def test_bad_settings_are_one_clear_error(tmp_path):
    (tmp_path / "campaignrec.toml").write_text("reject_threshold = 2\n")
    with pytest.raises(ConfigError, match="reject_threshold"):
        load_settings(tmp_path)
    (tmp_path / "campaignrec.toml").write_text("unknown_knob = 1\n")
    with pytest.raises(ConfigError, match="unknown_knob"):
        load_settings(tmp_path)
    (tmp_path / "campaignrec.toml").write_text("= broken")
    with pytest.raises(ConfigError, match="TOML"):
        load_settings(tmp_path)


def test_secret_is_not_printed(tmp_path, monkeypatch):
    monkeypatch.setenv("CAMPAIGNREC_PSEUDONYMISATION_KEY", "s3cret-value")
    s = load_settings(tmp_path)
    assert "s3cret-value" not in repr(s) and "s3cret-value" not in str(s.model_dump())
