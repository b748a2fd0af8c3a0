"""systemd units: deploy/systemd and the ones install-service writes pass `systemd-analyze verify`.

Verification runs against a throw-away root (``--root``) holding a copy of the host's
system units, the unit under test and a stub for its ExecStart binary, so it neither needs
/opt/upkeep… on this machine nor a running systemd. ``install-service --root`` runs the
real ``systemd-sysusers --root`` and ``systemctl --root enable`` (offline operations).
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from agent.checks.base import CheckConfig
from agent.config import AgentConfig, CollectorConfig, LoadedConfig
from agent.service import SystemdInstaller, WindowsServicePlan, render_unit, windows_plan

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
SYSTEM_UNITS = next(
    (p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")) if p.is_dir()), None
)


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} not installed (Debian package 'systemd'; scripts/test-system-deps)")
    if SYSTEM_UNITS is None:
        pytest.skip("no system unit directory to verify against")
    return path


def verify(tmp_path: Path, unit_text: str, name: str, others: dict[str, str] | None = None) -> None:
    """`systemd-analyze verify` must pass without a single warning (``others``: units it needs)."""
    analyze = _need("systemd-analyze")
    root = tmp_path / "verify-root"
    shutil.copytree(SYSTEM_UNITS, root / "usr/lib/systemd/system", symlinks=True)
    for unit_name, text in {name: unit_text, **(others or {})}.items():
        unit = root / "etc/systemd/system" / unit_name
        unit.parent.mkdir(parents=True, exist_ok=True)
        unit.write_text(text)
        for line in text.splitlines():
            if line.startswith("ExecStart="):
                binary = root / shlex.split(line.removeprefix("ExecStart="))[0].lstrip("/")
                binary.parent.mkdir(parents=True, exist_ok=True)
                if not binary.exists():
                    binary.write_text("#!/bin/sh\n")
                    binary.chmod(0o755)
    proc = subprocess.run(
        [analyze, "verify", f"--root={root}", name], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and not (proc.stdout + proc.stderr).strip(), (
        f"systemd-analyze verify {name}:\n{proc.stdout}{proc.stderr}"
    )


@pytest.mark.parametrize(
    "name", ["upkeep-agent.service", "upkeep-collector.service", "upkeep-backup.service"]
)
def test_deploy_units_verify(tmp_path, name):
    verify(tmp_path, (DEPLOY / name).read_text(), name)


def test_backup_timer_verifies(tmp_path):
    verify(
        tmp_path,
        (DEPLOY / "upkeep-backup.timer").read_text(),
        "upkeep-backup.timer",
        {"upkeep-backup.service": (DEPLOY / "upkeep-backup.service").read_text()},
    )


def test_verify_catches_a_broken_unit(tmp_path):
    text = (
        (DEPLOY / "upkeep-agent.service")
        .read_text()
        .replace("ProtectSystem=strict", "ProtectSystem=bogus")
    )
    with pytest.raises(AssertionError, match="protect system"):
        verify(tmp_path, text, "upkeep-agent.service")


def test_deploy_agent_unit_is_what_install_service_writes_for_the_default_checks(tmp_path):
    cfg = LoadedConfig(AgentConfig(), {"cpu": CheckConfig()}, "<test>")
    generated = render_unit(
        cfg,
        Path("/etc/upkeep/agent.yaml"),
        ["/opt/upkeep-agent/bin/upkeep-agent", "run", "--config", "/etc/upkeep/agent.yaml"],
    )

    def settings(text: str) -> list[str]:
        return [line for line in text.splitlines() if line and not line.startswith("#")]

    assert settings(generated) == settings((DEPLOY / "upkeep-agent.service").read_text())


def _config(tmp_path: Path, checks: str = "") -> Path:
    token = tmp_path / "agent.token"
    token.write_text("upk_test\n")
    path = tmp_path / "agent.yaml"
    path.write_text(
        f"collector: {{url: 'https://collector.example.net:8427', token_file: '{token}'}}\n"
        f"site: office-a\n{checks}"
    )
    return path


def test_install_service_writes_a_hardened_unit_below_root_and_enables_it_offline(tmp_path):
    _need("systemctl")
    _need("systemd-sysusers")
    root = tmp_path / "root"
    config = _config(tmp_path)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "agent",
            "install-service",
            "--config",
            str(config),
            "--root",
            str(root),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    unit = (root / "etc/systemd/system/upkeep-agent.service").read_text()
    for line in (
        "User=upkeep-agent",
        "StateDirectory=upkeep-agent",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=",
        "PrivateDevices=yes",
    ):
        assert line in unit.splitlines()
    assert "AmbientCapabilities" not in unit  # no check here needs a capability
    exec_start = next(line for line in unit.splitlines() if line.startswith("ExecStart="))
    assert shlex.split(exec_start)[1:] == ["run", "--config", str(config)]
    assert Path(shlex.split(exec_start.removeprefix("ExecStart="))[0]).exists()  # this venv's agent
    # the real offline tools ran against the root: user created, unit enabled
    assert "upkeep-agent:x:" in (root / "etc/passwd").read_text()
    assert (root / "etc/systemd/system/multi-user.target.wants/upkeep-agent.service").is_symlink()
    verify(tmp_path, unit, "upkeep-agent.service")

    status = subprocess.run(
        [sys.executable, "-m", "agent", "status", "--root", str(root), "--no-enable"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 3 and "upkeep-agent.service" in status.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "agent", "uninstall-service", "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not (root / "etc/systemd/system/upkeep-agent.service").exists()
    assert not (root / "etc/systemd/system/multi-user.target.wants/upkeep-agent.service").exists()
    status = subprocess.run(
        [sys.executable, "-m", "agent", "status", "--root", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 4 and "not installed" in status.stdout


def test_install_service_refuses_a_bad_config(tmp_path):
    config = _config(tmp_path, "checks:\n  cpu: {interval: soon}\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "agent",
            "install-service",
            "--config",
            str(config),
            "--root",
            str(tmp_path / "root"),
            "--no-enable",
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "checks.cpu.interval" in proc.stderr
    assert not (tmp_path / "root").exists()


def test_on_the_real_root_install_runs_sysusers_permissions_and_systemctl(tmp_path):
    commands: list[list[str]] = []
    installer = SystemdInstaller(
        root=Path("/"), run=lambda argv: commands.append(list(argv)) or 0, out=lambda line: None
    )
    # write below tmp_path although root is "/": only the paths are redirected
    type(installer).unit_path = property(lambda self: tmp_path / "upkeep-agent.service")  # type: ignore[method-assign]
    type(installer).sysusers_path = property(lambda self: tmp_path / "upkeep-agent.conf")  # type: ignore[method-assign]
    try:
        token = tmp_path / "agent.token"
        cfg = LoadedConfig(
            AgentConfig(collector=CollectorConfig(url="https://c:8427", token_file=token)),
            {"cpu": CheckConfig()},
            "<test>",
        )
        installer.install(cfg, Path("/etc/upkeep/agent.yaml"), ["/opt/a/bin/upkeep-agent", "run"])
    finally:
        del type(installer).unit_path, type(installer).sysusers_path
    assert commands == [
        ["systemd-sysusers", str(tmp_path / "upkeep-agent.conf")],
        ["chgrp", "upkeep-agent", "/etc/upkeep/agent.yaml", str(token)],
        ["chmod", "g+r,o-rwx", "/etc/upkeep/agent.yaml", str(token)],
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now", "upkeep-agent.service"],
    ]


def test_capabilities_only_for_checks_that_need_them(tmp_path):
    def unit(*checks: str) -> list[str]:
        cfg = LoadedConfig(AgentConfig(), {name: CheckConfig() for name in checks}, "<test>")
        return render_unit(
            cfg, Path("/etc/upkeep/agent.yaml"), ["/usr/bin/upkeep-agent", "run"]
        ).splitlines()

    assert "AmbientCapabilities=CAP_NET_RAW" in unit("cpu", "ping")
    assert "CapabilityBoundingSet=CAP_NET_RAW" in unit("cpu", "ping")
    smart = unit("smart")
    assert "AmbientCapabilities=CAP_SYS_ADMIN CAP_SYS_RAWIO" in smart
    assert "SupplementaryGroups=disk" in smart and "PrivateDevices=yes" not in smart
    plain = unit("cpu", "disk")
    assert "CapabilityBoundingSet=" in plain and not any(
        line.startswith("AmbientCapabilities") for line in plain
    )
    verify(tmp_path, "\n".join(unit("ping", "smart")) + "\n", "upkeep-agent.service")


def test_a_state_dir_outside_var_lib_is_made_writable(tmp_path):
    agent = AgentConfig(state_dir=Path("/srv/upkeep-state"))
    text = render_unit(
        LoadedConfig(agent, {}, "<test>"), Path("/etc/upkeep/agent.yaml"), ["/usr/bin/upkeep-agent"]
    )
    assert "ReadWritePaths=/srv/upkeep-state" in text.splitlines()


def test_windows_service_configuration():
    cfg = LoadedConfig(AgentConfig(), {"cpu": CheckConfig()}, "<test>")
    plan = windows_plan(cfg, r"C:\ProgramData\Upkeep\agent.yaml")
    assert plan == WindowsServicePlan(
        name="UpkeepAgent",
        display_name="Upkeep monitoring agent",
        description="Collects health data and sends it to the Upkeep collector.",
        python_class="agent.winservice.AgentWindowsService",
        config_path=r"C:\ProgramData\Upkeep\agent.yaml",
        account=r"NT AUTHORITY\LocalService",
    )
    assert plan.sc_failure_command() == [
        "sc.exe",
        "failure",
        "UpkeepAgent",
        "reset=",
        "86400",
        "actions=",
        "restart/5000/restart/30000/restart/60000",
    ]
    privileged = windows_plan(
        LoadedConfig(AgentConfig(), {"updates": CheckConfig()}, "<test>"), "c.yaml"
    )
    assert privileged.account == "LocalSystem"
