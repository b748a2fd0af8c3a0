"""DNS: does a name resolve through the system resolver, and how fast."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from agent.checks.base import Check, CheckConfig, MetricSpec, Sample
from agent.checks.targets import Target, probe_all, unique_names
from agent.schema import Field, field_validator, model_validator

if TYPE_CHECKING:
    from agent.host import Resolution

FAMILIES = {"any": 0, "ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}


class DnsTarget(Target):
    """One name to resolve. Written as a mapping, or as the plain name (then also the label)."""

    query: str = Field(min_length=1, max_length=253, description="the name to resolve")
    family: Literal["any", "ipv4", "ipv6"] = "any"

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"name": value, "query": value}
        return value


class DnsConfig(CheckConfig):
    """Options of the ``dns`` check."""

    targets: list[DnsTarget] = Field(min_length=1)

    @field_validator("targets")
    @classmethod
    def _unique(cls, value: list[DnsTarget]) -> list[DnsTarget]:
        unique_names(value)
        return value


class DnsCheck(Check):
    """Resolves each name as the machine's programs would (``getaddrinfo``: hosts file,
    then the configured DNS servers). A name that does not resolve gives ``dns_up 0``."""

    name: ClassVar[str] = "dns"
    Config: ClassVar[type[CheckConfig]] = DnsConfig
    default_interval: ClassVar[float | None] = 60.0
    catalog: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec(
            "dns_up", "gauge", "", ("target",), "1 if the name resolved to at least one address"
        ),
        MetricSpec(
            "dns_resolve_seconds",
            "gauge",
            "seconds",
            ("target",),
            "Time the resolver took (only when the name resolved)",
        ),
        MetricSpec(
            "dns_addresses", "gauge", "", ("target",), "Number of distinct addresses returned"
        ),
    )

    config: DnsConfig

    def _probe(self, target: DnsTarget) -> Resolution | None:
        try:
            return self.host.resolve(target.query, FAMILIES[target.family])
        except (OSError, UnicodeError):  # gaierror; a label too long for IDNA
            return None

    def collect(self) -> Iterator[Sample]:
        for target, answer in zip(
            self.config.targets, probe_all(self._probe, self.config.targets), strict=True
        ):
            labels = {"target": target.name}
            up = answer is not None and bool(answer.addresses)
            yield Sample("dns_up", 1.0 if up else 0.0, labels)
            if answer is not None and up:
                yield Sample("dns_resolve_seconds", answer.seconds, dict(labels))
                yield Sample("dns_addresses", len(answer.addresses), dict(labels))
