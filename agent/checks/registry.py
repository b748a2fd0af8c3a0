"""The one table of checks: config name → ``"module:Class"``, imported lazily.

No discovery by directory listing: a check exists when it is listed here.
"""

from __future__ import annotations

import importlib
import sys
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agent.checks.base import Check

CHECKS: dict[str, str] = {
    "cpu": "agent.checks.cpu:CpuCheck",
    "load": "agent.checks.load:LoadCheck",
    "memory": "agent.checks.memory:MemoryCheck",
    "disk": "agent.checks.disk:DiskCheck",
    "diskio": "agent.checks.diskio:DiskIoCheck",
    "netio": "agent.checks.netio:NetIoCheck",
    "uptime": "agent.checks.uptime:UptimeCheck",
    "temperature": "agent.checks.temperature:TemperatureCheck",
    "process": "agent.checks.process:ProcessCheck",
    "service": "agent.checks.service:ServiceCheck",
    "file_age": "agent.checks.file_age:FileAgeCheck",
    "updates": "agent.checks.updates:UpdatesCheck",
    "smart": "agent.checks.smart:SmartCheck",
    # Script checks in the monitoring-plugins convention: they need commands, so opt-in.
    "plugin": "agent.checks.plugin:PluginCheck",
    # Network checks: they need targets, so none is in DEFAULTS.
    "ping": "agent.checks.ping:PingCheck",
    "tcp": "agent.checks.tcp:TcpCheck",
    "http": "agent.checks.http:HttpCheck",
    "tls": "agent.checks.tls:TlsCheck",
    "dns": "agent.checks.dns:DnsCheck",
}

#: Checks run when the config has no ``checks:`` section, per ``sys.platform`` prefix.
#: Only cheap checks (well under 3 ms CPU per cycle together); process, service,
#: file_age, updates and smart need configuration or cost more, so they are opt-in.
DEFAULTS: dict[str, tuple[str, ...]] = {
    "linux": ("cpu", "load", "memory", "disk", "diskio", "netio", "uptime", "temperature"),
    "win32": ("cpu", "memory", "disk", "diskio", "netio", "uptime"),
    # psutil has no temperature sensors on macOS.
    "darwin": ("cpu", "load", "memory", "disk", "diskio", "netio", "uptime"),
}


@cache
def check_class(name: str) -> type[Check]:
    """The class registered under ``name``. Raises KeyError for an unknown name."""
    module_name, _, class_name = CHECKS[name].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def default_checks(platform: str | None = None) -> tuple[str, ...]:
    platform = platform or sys.platform
    for prefix, names in DEFAULTS.items():
        if platform.startswith(prefix):
            return names
    return ()
