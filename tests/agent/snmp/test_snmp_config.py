"""The ``snmp:`` config section: validation with file:line, secrets never shown, and the
poller running inside the agent service (devices become assets in the spool)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from agent.config import load_config
from agent.yamlsource import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_targets_as_in_the_issue(tmp_path: Path) -> None:
    (tmp_path / "community").write_text("s3cret-community\n")
    cfg = load_config(
        write(
            tmp_path,
            f"""
snmp:
  targets:
    - name: printer-2nd-floor
      address: 192.0.2.10
      port: 161
      profile: printer
      version: 2c
      community_file: {tmp_path / "community"}
      interval: 5m
      tags: [office-a]
    - name: core-switch
      address: 192.0.2.1
      profile: switch
      version: 3
      user: monitor
      auth_protocol: sha256
      auth_key: authkey-123
      priv_protocol: aes
      priv_key_file: {tmp_path / "community"}
""",
        )
    )
    snmp = cfg.agent.snmp
    assert snmp is not None and [t.name for t in snmp.targets] == [
        "printer-2nd-floor",
        "core-switch",
    ]
    assert (
        snmp.targets[0].interval == 300
        and snmp.targets[0].credentials().community == "s3cret-community"
    )
    assert snmp.targets[1].version == "3"
    assert "s3cret" not in repr(snmp) and "authkey-123" not in repr(snmp)
    assert "authkey-123" not in repr(snmp.targets[1].credentials())


@pytest.mark.parametrize(
    ("target", "line", "message"),
    [
        ("      version: 2c\n", 3, "needs community"),
        ("      community: x\n      profile: nope\n", 6, "no profile 'nope'"),
        (
            "      version: 3\n      user: u\n      priv_protocol: aes\n      priv_key: 12345678\n",
            3,
            "privacy (priv_*) needs authentication",
        ),
        (
            "      version: 3\n      user: u\n      auth_protocol: sha\n      auth_key: short\n",
            3,
            "at least 8 characters",
        ),
        (
            "      community: x\n      community_file: /nonexistent/c\n",
            3,
            "give either community or community_file",
        ),
        ("      community_file: /nonexistent/c\n", 3, "cannot read /nonexistent/c"),
        ("      community: x\n      bogus: 1\n", 6, "unknown key"),
    ],
)
def test_bad_targets_name_file_and_line(
    tmp_path: Path, target: str, line: int, message: str
) -> None:
    path = write(
        tmp_path, "snmp:\n  targets:\n    - name: dev\n      address: 127.0.0.1\n" + target
    )
    with pytest.raises(ConfigError) as err:
        load_config(path)
    text = str(err.value)
    assert message in text and f"{path}:" in text, text
    assert f"{path}:{line}:" in text, text


def test_host_only_agent_does_not_import_pysnmp(tmp_path: Path) -> None:
    import subprocess

    code = (
        "import sys; from agent.config import load_config; from agent.runner import build_checks; "
        "from agent.host import Host; cfg = load_config(None); build_checks(cfg, Host('x')); "
        "print('pysnmp' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_agent_service_polls_devices_and_spools_their_assets(tmp_path: Path, snmpsim) -> None:
    from agent.runner import AgentService

    cfg = load_config(
        write(
            tmp_path,
            f"""
state_dir: {tmp_path / "state"}
checks: {{memory: {{}}}}
snmp:
  timeout: 1
  retries: 0
  targets:
    - {{name: mono, address: 127.0.0.1, port: {snmpsim.port}, profile: printer, community: printer-mono, interval: 60}}
    - {{name: ups, address: 127.0.0.1, port: {snmpsim.port}, profile: ups, community: ups-onbattery, interval: 30}}
""",
        )
    )
    service = AgentService(cfg)
    try:
        assert {"memory", "snmp_30s", "snmp_60s"} <= set(service.runner.checks)
        service.run_group(["snmp_60s", "snmp_30s"])
        batch = service.spool.next_batch()
        import json

        body = (
            json.loads(batch.body({"id": "x"}, 1_800_000_000.0)) if hasattr(batch, "body") else None
        )
        assert body is not None
        assets = {a["name"]: a for a in body["assets"]}
        assert assets["mono"]["kind"] == "printer" and assets["mono"]["serial"] == "PHBQX12345"
        assert assets["ups"]["kind"] == "ups"
        metrics = {(s["asset"], s["metric"]) for s in body["samples"]}
        assert ("mono", "printer_page_count_total") in metrics and (
            "ups",
            "ups_on_battery",
        ) in metrics
        assert ("mono", "snmp_up") in metrics
        checks = {
            s["labels"].get("check") for s in body["samples"] if s["metric"] == "upkeep_check_up"
        }
        assert {"snmp_30s", "snmp_60s"} <= checks
        assert '"community"' not in json.dumps(body), "credentials never leave the agent"
    finally:
        service.stop()
