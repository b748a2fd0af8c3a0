"""The agent config is validated at load and every problem names its place in the file."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from agent.config import load_config, require_collector
from agent.yamlsource import ConfigError

GOOD = """\
collector:
  url: https://collector.example.net:8427
  token_file: {token}
  ca_bundle: /etc/upkeep/ca.pem
site: office-a
spool: {{path: {spool}, max_mb: 200, max_age: 7d}}
checks:
  cpu: {{interval: 30s}}
  disk: {{interval: 60s, exclude_fstypes: [tmpfs, overlay]}}
  file_age: {{interval: 5m, paths: [/srv/backup]}}
"""


def write(tmp_path, text: str):
    path = tmp_path / "agent.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_issue_example_loads(tmp_path):
    token = tmp_path / "agent.token"
    token.write_text("upk_abc\n")
    cfg = load_config(write(tmp_path, GOOD.format(token=token, spool=tmp_path / "spool.db")))
    assert cfg.agent.site == "office-a"
    assert cfg.agent.spool.max_age == 7 * 86400
    assert cfg.agent.collector.read_token() == "upk_abc"
    assert list(cfg.checks) == ["cpu", "disk", "file_age"]
    assert cfg.checks["disk"].interval == 60 and cfg.checks["file_age"].interval == 300
    require_collector(cfg)


@pytest.mark.parametrize(
    ("text", "line", "where", "what"),
    [
        ("site: a\nspool:\n  max_mb: lots\n", 3, "spool.max_mb", "number"),
        ("site: a\nchecks:\n  cpu: {interval: soon}\n", 3, "checks.cpu.interval", "not a duration"),
        (
            "site: a\nchecks:\n  cpu: {}\n  disk:\n    intervall: 5m\n",
            5,
            "checks.disk.intervall",
            "unknown key",
        ),
        ("site: a\nchecks:\n  cpu: {}\n  teleport: {}\n", 2, "checks", "unknown check 'teleport'"),
        ("colector:\n  url: http://x\n", 1, "colector", "unknown key"),
        ("collector:\n  url: ftp://x\n  token: t\n", 2, "collector.url", "pattern"),
        (
            "collector:\n  url: http://x\n  token: a\n  token_file: /b\n",
            1,
            "collector",
            "either token or token_file",
        ),
        # The brace opened on line 2 is the mistake, not where the parser gave up (line 3).
        ("site: a\nspool: {max_mb: 1\n  other: b: c\n", 2, "", "invalid YAML: the '{' opened"),
    ],
)
def test_bad_config_names_file_line_and_path(tmp_path, text, line, where, what):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    message = str(exc.value)
    assert f"{path}:{line}:" in message
    assert where in message and what in message


def test_run_requires_collector_and_token(tmp_path, monkeypatch):
    monkeypatch.delenv("UPKEEP_AGENT_TOKEN", raising=False)
    monkeypatch.delenv("UPKEEP_AGENT_TOKEN_FILE", raising=False)
    with pytest.raises(ConfigError, match="collector: required"):
        require_collector(load_config(write(tmp_path, "site: a\n")))
    cfg = load_config(write(tmp_path, "collector: {url: 'http://127.0.0.1:1'}\n"))
    with pytest.raises(ConfigError, match="no agent token"):
        require_collector(cfg)
    monkeypatch.setenv("UPKEEP_AGENT_TOKEN", "upk_from_env")
    require_collector(cfg)
    assert cfg.agent.collector.read_token() == "upk_from_env"


def test_defaults_without_checks_section(tmp_path):
    cfg = load_config(write(tmp_path, "site: a\n"))
    from agent.checks import registry

    assert list(cfg.checks) == list(registry.default_checks())
    assert cfg.checks  # this OS has default checks


def test_cli_check_config_refuses_bad_file(tmp_path):
    path = write(tmp_path, "site: a\nchecks:\n  cpu: {interval: -1}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "check-config", "--config", str(path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert f"{path}:3: checks.cpu.interval" in proc.stderr
    ok = write(tmp_path, "site: a\n")
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "check-config", "--config", str(ok)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0 and "ok" in proc.stdout


def test_run_refuses_to_start_on_bad_config(tmp_path):
    path = write(tmp_path, "collector: {url: 'http://127.0.0.1:1', token: t}\nspool: {max_mb: 0}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2 and "spool.max_mb" in proc.stderr


def test_shipped_sample_and_example_configs_validate():
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for name in ("agent/sample-config.yaml", "deploy/agent.example.yaml"):
        cfg = load_config(root / name)
        assert cfg.agent.collector is not None, name
    sample = load_config(root / "agent/sample-config.yaml")
    assert {"file_age", "process", "service", "updates", "smart"} <= set(sample.checks)
