"""ICMP ping: round-trip times and loss over a few probes per target (ping3).

Unprivileged processes may not send ICMP unless the kernel allows it: on Linux the
agent needs CAP_NET_RAW or a ``net.ipv4.ping_group_range`` that covers its group. Then
ping3 raises PermissionError; the check says once how to fix it and, for targets with a
``fallback_tcp_port``, measures a TCP connect instead (``method="tcp"``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from agent.checks.base import Check, CheckConfig, Event, MetricSpec, Sample, Unsupported
from agent.checks.targets import Target, probe_all, unique_names
from agent.durations import Duration
from agent.schema import Field, field_validator, model_validator


class PingTarget(Target):
    """One host to ping. Written as a mapping, or as a plain address (then also its name)."""

    address: str = Field(min_length=1, max_length=253)
    timeout: Duration = Field(default=1.0, gt=0, le=60, description="per probe")
    fallback_tcp_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="if ICMP is not permitted, time a TCP connect to this port instead",
    )

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"name": value, "address": value}
        return value


class PingConfig(CheckConfig):
    """Options of the ``ping`` check."""

    targets: list[PingTarget] = Field(min_length=1)
    count: int = Field(default=3, ge=1, le=20, description="probes per target and run")

    @field_validator("targets")
    @classmethod
    def _unique(cls, value: list[PingTarget]) -> list[PingTarget]:
        unique_names(value)
        return value


def permission_fix(platform: str) -> str:
    """How to let the agent send ICMP, with the exact commands."""
    if not platform.startswith("linux"):
        return "run the agent with the rights to open ICMP sockets, or give targets a fallback_tcp_port"
    python = sys.executable or "python3"
    gid = os.getgid() if hasattr(os, "getgid") else 0
    return (
        "allow one of: `setcap cap_net_raw+ep $(readlink -f " + python + ")`; "
        f'`sysctl -w net.ipv4.ping_group_range="0 2147483647"` (group {gid} must be in the range; '
        "persist it in /etc/sysctl.d/); or AmbientCapabilities=CAP_NET_RAW in the agent's systemd unit "
        "— then restart the agent"
    )


@dataclass(slots=True)
class Probes:
    """The answers to one target's probes: round trips in seconds, None for a lost one."""

    method: str
    rtts: list[float | None]


class PingCheck(Check):
    """Sends ``count`` probes to each target (targets in parallel, probes one after the
    other) and reports loss and min/avg/max round trip. No reply at all is a finding
    (``ping_up 0``), not a failure of the check."""

    name: ClassVar[str] = "ping"
    Config: ClassVar[type[CheckConfig]] = PingConfig
    default_interval: ClassVar[float | None] = 60.0
    catalog: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec(
            "ping_up", "gauge", "", ("target", "method"), "1 if at least one probe was answered"
        ),
        MetricSpec(
            "ping_loss_ratio",
            "gauge",
            "",
            ("target", "method"),
            "Share of probes without an answer (0 to 1)",
        ),
        MetricSpec(
            "ping_rtt_seconds",
            "gauge",
            "seconds",
            ("target", "method", "stat"),
            "Round-trip time of the answered probes: stat min, avg or max",
        ),
    )

    config: PingConfig

    def __init__(self, config: CheckConfig, host: Any) -> None:
        super().__init__(config, host)
        self._icmp_denied = False

    def _icmp(self, target: PingTarget) -> Probes:
        return Probes(
            "icmp",
            [
                self.host.ping(target.address, target.timeout, seq)
                for seq in range(self.config.count)
            ],
        )

    def _tcp(self, target: PingTarget) -> Probes:
        rtts: list[float | None] = []
        for _ in range(self.config.count):
            try:
                rtts.append(
                    self.host.tcp_connect(
                        target.address, target.fallback_tcp_port or 0, target.timeout
                    )
                )
            except OSError:
                rtts.append(None)
        return Probes("tcp", rtts)

    def _probe(self, target: PingTarget) -> Probes | None:
        if not self._icmp_denied:
            try:
                return self._icmp(target)
            except PermissionError:
                self._icmp_denied = True
        return self._tcp(target) if target.fallback_tcp_port else None

    def collect(self) -> Iterator[Sample | Event]:
        was_denied = self._icmp_denied
        results = probe_all(self._probe, self.config.targets)
        if self._icmp_denied and not was_denied:
            fix = permission_fix(self.host.platform)
            fallback = [t.name for t in self.config.targets if t.fallback_tcp_port]
            if not fallback:
                raise Unsupported(f"ICMP is not permitted for the agent: {fix}")
            skipped = [t.name for t in self.config.targets if not t.fallback_tcp_port]
            yield Event(
                "ping_not_permitted",
                f"ICMP is not permitted for the agent; TCP connect instead for {', '.join(fallback)}"
                + (f"; not probed: {', '.join(skipped)}" if skipped else "")
                + f". To fix: {fix}",
                {"fallback": fallback, "skipped": skipped},
            )
        for target, probes in zip(self.config.targets, results, strict=True):
            if probes is None:
                continue
            labels = {"target": target.name, "method": probes.method}
            answered = [rtt for rtt in probes.rtts if rtt is not None]
            yield Sample("ping_up", 1.0 if answered else 0.0, labels)
            yield Sample("ping_loss_ratio", 1 - len(answered) / len(probes.rtts), dict(labels))
            if answered:
                for stat, value in (
                    ("min", min(answered)),
                    ("avg", sum(answered) / len(answered)),
                    ("max", max(answered)),
                ):
                    yield Sample("ping_rtt_seconds", value, {**labels, "stat": stat})
