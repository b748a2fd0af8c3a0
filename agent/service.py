"""``upkeep-agent install-service | uninstall-service | status``: run the agent as a service.

Linux (systemd): a unit written from the agent's validated config, running as the
dedicated unprivileged system user ``upkeep-agent`` (created by ``systemd-sysusers`` from a
sysusers.d file), with state and spool under ``StateDirectory=`` (/var/lib/upkeep-agent) and
the hardening options that still let the configured checks work: capabilities are granted
only for checks that need them (``CAP_NET_RAW`` for ping; raw disk access for SMART).
Everything is written below ``root`` (``--root DIR`` in tests and image builds), and every
command the installer runs goes through one injectable ``run`` callable, so tests see the
exact commands without calling systemctl.

Windows: a service registered with pywin32's service framework (``agent/winservice.py``);
:func:`windows_plan` computes everything it registers, so the configuration is tested on
any OS, and only the final pywin32 calls need Windows.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from agent.config import LoadedConfig

SERVICE_NAME = "upkeep-agent"
SERVICE_USER = "upkeep-agent"
UNIT_DIR = Path("etc/systemd/system")
SYSUSERS_DIR = Path("etc/sysusers.d")
DEFAULT_CONFIG = "/etc/upkeep/agent.yaml"
STATE_DIR = "/var/lib/upkeep-agent"

#: Checks that need more than an unprivileged user: capabilities and why.
CHECK_CAPABILITIES: dict[str, tuple[str, ...]] = {
    "ping": ("CAP_NET_RAW",),  # ICMP echo over a raw socket
    "smart": ("CAP_SYS_RAWIO", "CAP_SYS_ADMIN"),  # smartctl's ATA/NVMe pass-through
}

Runner = Callable[[Sequence[str]], int]


def run_command(argv: Sequence[str]) -> int:
    """The default runner: run, inherit stdout/stderr, return the exit status."""
    return subprocess.run(list(argv), check=False).returncode


class ServiceError(OSError):
    """A command the installer ran failed (the CLI exits 1 with the message)."""


def agent_command(config_path: Path, python: str | None = None) -> list[str]:
    """The service's command line: the venv's ``upkeep-agent`` script, else ``python -m agent``."""
    python = python or sys.executable
    script = Path(python).parent / (
        "upkeep-agent.exe" if sys.platform == "win32" else "upkeep-agent"
    )
    if script.exists():
        return [str(script), "run", "--config", str(config_path)]
    return [python, "-m", "agent", "run", "--config", str(config_path)]


def configured_checks(cfg: LoadedConfig) -> set[str]:
    names = set(cfg.checks)
    snmp = getattr(cfg.agent, "snmp", None)
    if snmp is not None and getattr(snmp, "targets", None):
        names.add("snmp")
    return names


# ---------------------------------------------------------------------- systemd


def render_unit(cfg: LoadedConfig, config_path: Path, command: Sequence[str]) -> str:
    """The systemd unit for this config (``systemd-analyze verify`` clean)."""
    checks = configured_checks(cfg)
    caps = sorted({cap for check in checks for cap in CHECK_CAPABILITIES.get(check, ())})
    read_write = []
    for name, path in (("state_dir", cfg.agent.state_dir), ("spool", cfg.agent.spool_path.parent)):
        explicit = name in cfg.agent.model_fields_set or (
            name == "spool" and cfg.agent.spool.path is not None
        )
        if explicit and not str(path).startswith(STATE_DIR):
            read_write.append(str(path))
    lines = [
        "# Written by `upkeep-agent install-service`; re-run it after changing the checks,",
        "# rather than editing this file (`systemctl edit upkeep-agent` for local overrides).",
        "[Unit]",
        "Description=Upkeep monitoring agent",
        "Documentation=https://github.com/upkeep/upkeep/blob/main/docs/deployment.md",
        "Wants=network-online.target",
        "After=network-online.target",
        "",
        "[Service]",
        "Type=simple",
        f"ExecStart={shlex.join(command)}",
        f"User={SERVICE_USER}",
        f"Group={SERVICE_USER}",
        "# Identity, spool and check state: /var/lib/upkeep-agent ($STATE_DIRECTORY).",
        "StateDirectory=upkeep-agent",
        "StateDirectoryMode=0750",
        "Restart=on-failure",
        "RestartSec=5s",
        "TimeoutStopSec=90s",
        "# The agent's budget is 30 MiB PSS; these only stop a runaway.",
        "MemoryHigh=96M",
        "MemoryMax=192M",
        "TasksMax=128",
        "",
        "# Hardening: read-only OS, no privilege gain, only the capabilities the checks need.",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "# read-only, not yes: file_age may watch folders under /home",
        "ProtectHome=read-only",
        "PrivateTmp=yes",
        "ProtectKernelTunables=yes",
        "ProtectKernelModules=yes",
        "ProtectKernelLogs=yes",
        "ProtectControlGroups=yes",
        "ProtectClock=yes",
        "ProtectHostname=yes",
        "RestrictSUIDSGID=yes",
        "RestrictRealtime=yes",
        "RestrictNamespaces=yes",
        "LockPersonality=yes",
        "RemoveIPC=yes",
        "UMask=0027",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK",
        "SystemCallArchitectures=native",
        "SystemCallFilter=@system-service",
        "SystemCallFilter=~@privileged @resources",
        "SystemCallErrorNumber=EPERM",
    ]
    if caps:
        lines += [
            f"# For the checks {', '.join(sorted(c for c in checks if c in CHECK_CAPABILITIES))}:",
            f"AmbientCapabilities={' '.join(caps)}",
            f"CapabilityBoundingSet={' '.join(caps)}",
        ]
    else:
        lines.append("CapabilityBoundingSet=")
    if "smart" in checks:
        lines += ["# smartctl opens the disks' device nodes.", "SupplementaryGroups=disk"]
    else:
        lines.append("PrivateDevices=yes")
    if read_write:
        lines.append(f"ReadWritePaths={' '.join(read_write)}")
    lines += ["", "[Install]", "WantedBy=multi-user.target", ""]
    return "\n".join(lines)


def render_sysusers() -> str:
    return (
        f"# The Upkeep agent's unprivileged system user (systemd-sysusers).\n"
        f'u {SERVICE_USER} - "Upkeep monitoring agent" {STATE_DIR} /usr/sbin/nologin\n'
    )


@dataclass
class SystemdInstaller:
    """Writes the unit below ``root`` and runs systemctl through ``run`` (see module doc)."""

    root: Path = Path("/")
    run: Runner = run_command
    enable: bool = True
    out: Callable[[str], None] = print
    written: list[Path] = field(default_factory=list)

    @property
    def unit_path(self) -> Path:
        return self.root / UNIT_DIR / f"{SERVICE_NAME}.service"

    @property
    def sysusers_path(self) -> Path:
        return self.root / SYSUSERS_DIR / f"{SERVICE_NAME}.conf"

    def _run(self, argv: list[str], check: bool = True) -> int:
        if not self.enable:
            self.out(f"skipped (--no-enable): {shlex.join(argv)}")
            return 0
        code = self.run(argv)
        if check and code != 0:
            raise ServiceError(f"{shlex.join(argv)} exited with {code}")
        return code

    def _write(self, path: Path, text: str, mode: int = 0o644) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.chmod(tmp, mode)
        os.replace(tmp, path)
        self.written.append(path)
        self.out(f"wrote {path}")

    def install(
        self, cfg: LoadedConfig, config_path: Path, command: Sequence[str] | None = None
    ) -> None:
        config_path = config_path.absolute()
        self._write(self.sysusers_path, render_sysusers())
        self._write(
            self.unit_path, render_unit(cfg, config_path, command or agent_command(config_path))
        )
        root_args = [] if self.root == Path("/") else [f"--root={self.root}"]
        self._run(["systemd-sysusers", *root_args, str(self.sysusers_path)])
        if self.root == Path("/"):
            # The service user must read its config and secrets (group read, nothing for others).
            readable = [config_path]
            collector = cfg.agent.collector
            if collector is not None:
                readable += [
                    p for p in (collector.token_file, collector.ca_bundle) if p is not None
                ]
            self._run(["chgrp", SERVICE_USER, *map(str, readable)])
            self._run(["chmod", "g+r,o-rwx", *map(str, readable)])
            self._run(["systemctl", "daemon-reload"])
            self._run(["systemctl", "enable", "--now", f"{SERVICE_NAME}.service"])
        else:
            self._run(["systemctl", f"--root={self.root}", "enable", f"{SERVICE_NAME}.service"])
            self.out(
                f"under --root, make the config and token readable by group {SERVICE_USER} yourself"
            )

    def uninstall(self) -> None:
        if self.root == Path("/"):
            self._run(["systemctl", "disable", "--now", f"{SERVICE_NAME}.service"], check=False)
        else:
            self._run(
                ["systemctl", f"--root={self.root}", "disable", f"{SERVICE_NAME}.service"],
                check=False,
            )
        for path in (self.unit_path, self.sysusers_path):
            if path.exists():
                path.unlink()
                self.out(f"removed {path}")
        if self.root == Path("/"):
            self._run(["systemctl", "daemon-reload"])
        self.out(
            f"kept {STATE_DIR} (spool, identity) and the user {SERVICE_USER}; remove them by hand if wanted"
        )

    def status(self) -> int:
        """0 running, 3 installed but not running, 4 not installed (LSB status codes)."""
        if not self.unit_path.exists():
            self.out(f"{SERVICE_NAME}: not installed ({self.unit_path} missing)")
            return 4
        self.out(f"{SERVICE_NAME}: unit {self.unit_path}")
        if not self.enable:
            return 3
        return (
            0
            if self.run(["systemctl", "--no-pager", "status", f"{SERVICE_NAME}.service"]) == 0
            else 3
        )


# ---------------------------------------------------------------------- Windows

WINDOWS_SERVICE_NAME = "UpkeepAgent"
WINDOWS_CLASS = "agent.winservice.AgentWindowsService"


@dataclass(frozen=True)
class WindowsServicePlan:
    """Everything the Windows installer registers (tested on every OS)."""

    name: str
    display_name: str
    description: str
    python_class: str
    config_path: str
    account: str  # LocalService, or LocalSystem when a check needs privileges
    start_type: str = "auto"  # delayed auto start: after the network is up
    delayed_start: bool = True
    #: sc.exe failure actions: restart after 5 s, 30 s, 60 s; reset the count after a day.
    failure_actions: tuple[tuple[str, int], ...] = (
        ("restart", 5000),
        ("restart", 30000),
        ("restart", 60000),
    )
    failure_reset_seconds: int = 86400

    def sc_failure_command(self) -> list[str]:
        actions = "/".join(f"{kind}/{delay}" for kind, delay in self.failure_actions)
        return [
            "sc.exe",
            "failure",
            self.name,
            "reset=",
            str(self.failure_reset_seconds),
            "actions=",
            actions,
        ]


def windows_plan(cfg: LoadedConfig, config_path: Path | str) -> WindowsServicePlan:
    privileged = configured_checks(cfg) & {"ping", "smart", "updates"}
    return WindowsServicePlan(
        name=WINDOWS_SERVICE_NAME,
        display_name="Upkeep monitoring agent",
        description="Collects health data and sends it to the Upkeep collector.",
        python_class=WINDOWS_CLASS,
        config_path=str(config_path),
        account="LocalSystem" if privileged else r"NT AUTHORITY\LocalService",
    )


def install_windows(
    plan: WindowsServicePlan, run: Runner = run_command
) -> None:  # pragma: no cover - Windows
    import win32service
    import win32serviceutil

    win32serviceutil.InstallService(
        plan.python_class,
        plan.name,
        plan.display_name,
        description=plan.description,
        startType=win32service.SERVICE_AUTO_START,
        userName=None if plan.account == "LocalSystem" else plan.account,
        password=None,
        delayedstart=plan.delayed_start,
    )
    win32serviceutil.SetServiceCustomOption(plan.name, "config", plan.config_path)
    run(plan.sc_failure_command())
    win32serviceutil.StartService(plan.name)


def uninstall_windows() -> None:  # pragma: no cover - Windows
    import win32serviceutil

    with contextlib.suppress(Exception):  # not running
        win32serviceutil.StopService(WINDOWS_SERVICE_NAME)
    win32serviceutil.RemoveService(WINDOWS_SERVICE_NAME)


def status_windows(out: Callable[[str], None] = print) -> int:  # pragma: no cover - Windows
    import win32service
    import win32serviceutil

    try:
        state = win32serviceutil.QueryServiceStatus(WINDOWS_SERVICE_NAME)[1]
    except Exception:
        out(f"{WINDOWS_SERVICE_NAME}: not installed")
        return 4
    running = state == win32service.SERVICE_RUNNING
    out(f"{WINDOWS_SERVICE_NAME}: {'running' if running else 'not running'}")
    return 0 if running else 3
