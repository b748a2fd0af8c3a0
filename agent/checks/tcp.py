"""TCP connect: can a port be reached, and how long the connection takes to open."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from agent.checks.base import Check, CheckConfig, MetricSpec, Sample
from agent.checks.targets import Target, probe_all, unique_names
from agent.schema import Field, field_validator, model_validator


def split_host_port(text: str, default_port: int | None = None) -> tuple[str, int]:
    """``host:port``, ``[v6]:port`` or (with a default port) a bare host."""
    host, sep, port = text.rpartition(":")
    if not sep or (host.count(":") and not host.startswith("[")) or not port.isdigit():
        if default_port is None:
            raise ValueError(f"{text!r}: write host:port (IPv6: [addr]:port)")
        host, port = text, str(default_port)
    return host.strip("[]"), int(port)


class TcpTarget(Target):
    """One ``host:port``. Written as a mapping, or as ``"host:port"`` (then also its name)."""

    address: str = Field(min_length=1, max_length=253)
    port: int = Field(ge=1, le=65535)

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            address, port = split_host_port(value)
            return {"name": value, "address": address, "port": port}
        return value


class TcpConfig(CheckConfig):
    """Options of the ``tcp`` check."""

    targets: list[TcpTarget] = Field(min_length=1)

    @field_validator("targets")
    @classmethod
    def _unique(cls, value: list[TcpTarget]) -> list[TcpTarget]:
        unique_names(value)
        return value


class TcpCheck(Check):
    """Opens (and closes) one TCP connection per target. A refused, unreachable or timed
    out port is a finding (``tcp_up 0``), not a failure of the check."""

    name: ClassVar[str] = "tcp"
    Config: ClassVar[type[CheckConfig]] = TcpConfig
    default_interval: ClassVar[float | None] = 60.0
    catalog: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec("tcp_up", "gauge", "", ("target",), "1 if a TCP connection could be opened"),
        MetricSpec(
            "tcp_connect_seconds",
            "gauge",
            "seconds",
            ("target",),
            "Time to open the connection, name resolution included (only when up)",
        ),
    )

    config: TcpConfig

    def _probe(self, target: TcpTarget) -> float | None:
        try:
            return self.host.tcp_connect(target.address, target.port, target.timeout)
        except OSError:
            return None

    def collect(self) -> Iterator[Sample]:
        for target, seconds in zip(
            self.config.targets, probe_all(self._probe, self.config.targets), strict=True
        ):
            labels = {"target": target.name}
            yield Sample("tcp_up", 0.0 if seconds is None else 1.0, labels)
            if seconds is not None:
                yield Sample("tcp_connect_seconds", seconds, dict(labels))
