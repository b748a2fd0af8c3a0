"""Settings: defaults, YAML file, environment, *_FILE secrets, errors with their source."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.yamlsource import ConfigError
from collector.settings import Settings, default_data_dir, load_settings


def test_defaults_use_xdg_data_home(tmp_path):
    s = load_settings(environ={"XDG_DATA_HOME": str(tmp_path)})
    assert s.data_dir == tmp_path / "upkeep"
    assert s.sqlalchemy_url == f"sqlite:///{tmp_path / 'upkeep' / 'upkeep.db'}"
    assert (s.host, s.port, s.log_level) == ("127.0.0.1", 8427, "info")
    assert s.raw_retention == 48 * 3600 and s.rollup_retention == 400 * 86400
    assert s.batch_retention == 14 * 86400


def test_data_dir_from_environment_wins_and_home_fallback(tmp_path, monkeypatch):
    assert default_data_dir({"UPKEEP_DATA_DIR": "/var/lib/upkeep", "XDG_DATA_HOME": "/x"}) == Path(
        "/var/lib/upkeep"
    )
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_data_dir({}) == tmp_path / ".local" / "share" / "upkeep"


def test_file_then_environment_then_flags(tmp_path):
    config = tmp_path / "collector.yaml"
    config.write_text("port: 9000\nhost: 0.0.0.0\nraw_retention: 2d\nlog_level: debug\n")
    env = {"UPKEEP_CONFIG": str(config), "UPKEEP_PORT": "9100", "UPKEEP_DATA_DIR": str(tmp_path)}
    s = load_settings(environ=env)
    assert (s.port, s.host, s.raw_retention, s.log_level) == (9100, "0.0.0.0", 2 * 86400, "debug")
    assert load_settings(environ=env, overrides={"port": 9200, "host": None}).port == 9200


def test_database_url_from_a_secret_file(tmp_path):
    secret = tmp_path / "db-url"
    secret.write_text("postgresql+psycopg://upkeep:s3cret@db:5432/upkeep\n")
    s = load_settings(
        environ={"UPKEEP_DATABASE_URL_FILE": str(secret), "UPKEEP_DATA_DIR": str(tmp_path)}
    )
    assert s.sqlalchemy_url == "postgresql+psycopg://upkeep:s3cret@db:5432/upkeep"
    assert "s3cret" not in s.database_display and "s3cret" not in repr(s)


def test_unreadable_secret_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="UPKEEP_DATABASE_URL_FILE: cannot read"):
        load_settings(environ={"UPKEEP_DATABASE_URL_FILE": str(tmp_path / "missing")})


def test_bad_key_in_file_is_reported_with_file_and_line(tmp_path):
    config = tmp_path / "collector.yaml"
    config.write_text("host: 127.0.0.1\n\nport: eighty\nraw_retentoin: 1h\n")
    with pytest.raises(ConfigError) as info:
        load_settings(config, environ={})
    problems = info.value.problems
    assert f"{config}:3: port: Input should be a valid integer" in problems[0]
    assert problems[1] == f"{config}:4: raw_retentoin: unknown key"


def test_bad_duration_and_bad_environment_value(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("raw_retention: soon\n")
    with pytest.raises(ConfigError, match=r"c.yaml:1: raw_retention: 'soon' is not a duration"):
        load_settings(config, environ={})
    with pytest.raises(ConfigError, match=r"^UPKEEP_PORT: port: "):
        load_settings(environ={"UPKEEP_PORT": "99999"})


def test_file_must_be_a_mapping_and_valid_yaml(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_settings(config, environ={})
    config.write_text("port: [1\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_settings(config, environ={})


def test_for_data_dir(tmp_path):
    s = Settings.for_data_dir(tmp_path, port=0)
    assert s.data_dir == tmp_path and s.port == 0
    assert s.sqlalchemy_url.endswith("/upkeep.db")
