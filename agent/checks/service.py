"""Services: systemd units on Linux, Windows services on Windows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from agent.checks.base import Check, CheckConfig, MetricSpec, Sample
from agent.schema import Field, field_validator

#: Every state is sent each run, the current one as 1 and the others as 0: the collector
#: keeps the latest value per series, so sending only the current state would leave
#: an old "failed" series at 1 after the service recovered.
SYSTEMD_STATES = (
    "active",
    "reloading",
    "inactive",
    "failed",
    "activating",
    "deactivating",
    "maintenance",
    "refreshing",
)
WINDOWS_STATES = (
    "running",
    "stopped",
    "start_pending",
    "stop_pending",
    "paused",
    "pause_pending",
    "continue_pending",
)
#: Not a state of a service but the most common misconfiguration: a typo in the name.
NOT_FOUND = "not-found"
#: Exists only when systemd is PID 1 (what sd_booted() tests); systemctl is installed
#: in plenty of containers where it cannot answer.
SYSTEMD_RUNTIME_DIR = "/run/systemd/system"
_SYSTEMD_PROPERTIES = "Id,LoadState,ActiveState,UnitFileState"


class ServiceConfig(CheckConfig):
    """Options of the ``service`` check."""

    services: list[str] = Field(min_length=1, description="systemd unit or Windows service names")

    @field_validator("services")
    @classmethod
    def _plain_names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name or name.startswith("-") or any(c in name for c in "*?[\n"):
                raise ValueError(f"{name!r} is not a service name (no patterns, no leading '-')")
        return value


class ServiceCheck(Check):
    """Whether each configured service runs, its state, and whether it starts at boot."""

    name: ClassVar[str] = "service"
    Config: ClassVar[type[CheckConfig]] = ServiceConfig
    default_interval: ClassVar[float | None] = 60.0
    catalog: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec(
            "service_up",
            "gauge",
            "",
            ("service",),
            "1 if the service runs (systemd: active or reloading; Windows: running)",
        ),
        MetricSpec(
            "service_state",
            "gauge",
            "",
            ("service", "state"),
            "1 for the service's current state, 0 for every other state",
        ),
        MetricSpec(
            "service_enabled",
            "gauge",
            "",
            ("service",),
            "1 if the service starts at boot (systemd: enabled; Windows: automatic)",
        ),
    )

    config: ServiceConfig

    def unsupported(self) -> str | None:
        if self.host.platform == "win32":
            return None
        if self.host.platform != "linux":
            return f"services are checked on Linux (systemd) and Windows, not {self.host.platform}"
        if self.host.which("systemctl") is None:
            return "systemctl not found (only systemd is supported on Linux)"
        if not self.host.path_exists(SYSTEMD_RUNTIME_DIR):
            return "systemd is not running on this machine"
        return None

    def collect(self) -> Iterator[Sample]:
        states: tuple[str, ...]
        if self.host.platform == "win32":
            states, units = WINDOWS_STATES, self._windows()
        else:
            states, units = SYSTEMD_STATES, self._systemd()
        known = (*states, NOT_FOUND)
        for service, (state, up, enabled) in units.items():
            yield Sample("service_up", 1.0 if up else 0.0, {"service": service})
            yield Sample("service_enabled", 1.0 if enabled else 0.0, {"service": service})
            # A state newer than this list is still reported rather than lost.
            for candidate in known if state in known else (*known, state):
                yield Sample(
                    "service_state",
                    1.0 if candidate == state else 0.0,
                    {"service": service, "state": candidate},
                )

    def _systemd(self) -> dict[str, tuple[str, bool, bool]]:
        names = self.config.services
        result = self.host.run(
            ["systemctl", "show", f"--property={_SYSTEMD_PROPERTIES}", "--", *names],
            timeout=self.config.effective_timeout(),
            env={"LC_ALL": "C"},
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"systemctl show failed ({result.returncode}): {result.stderr.strip()[-300:]}"
            )
        blocks = parse_systemctl_show(result.stdout)
        if len(blocks) != len(names):
            raise RuntimeError(
                f"systemctl show returned {len(blocks)} units for {len(names)} names"
            )
        units = {}
        for name, props in zip(names, blocks, strict=True):
            if props.get("LoadState") == "not-found":
                units[name] = (NOT_FOUND, False, False)
                continue
            state = props.get("ActiveState", "")
            units[name] = (
                state,
                state in ("active", "reloading"),
                props.get("UnitFileState", "") in ("enabled", "enabled-runtime"),
            )
        return units

    def _windows(self) -> dict[str, tuple[str, bool, bool]]:
        units = {}
        for name in self.config.services:
            info = self.host.win_service_get(name)
            if info is None:
                units[name] = (NOT_FOUND, False, False)
            else:
                units[name] = (
                    info["status"],
                    info["status"] == "running",
                    info["start_type"] == "automatic",
                )
        return units


def parse_systemctl_show(text: str) -> list[dict[str, str]]:
    """``systemctl show`` output for several units: one ``Key=Value`` block per unit."""
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, _, value = line.partition("=")
        current[key] = value
    if current:
        blocks.append(current)
    return blocks
