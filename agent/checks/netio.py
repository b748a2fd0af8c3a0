"""Network I/O per interface: byte and packet rates, error and drop counters, link state."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar

from agent.checks.base import Check, CheckConfig, MetricSpec, Sample
from agent.checks.patterns import NameFilter, NamePattern
from agent.checks.rates import CounterRates
from agent.schema import Field

if TYPE_CHECKING:
    from agent.host import Host

#: Loopback carries no client traffic; veth ends of containers come and go with each
#: container and would only add short-lived series.
DEFAULT_EXCLUDE_INTERFACES = ("lo", "lo0", "Loopback Pseudo-Interface*", "veth*")

#: psutil counter → rate metric (per second since the previous run).
_RATES = {
    "bytes_recv": "netio_receive_bytes_per_second",
    "bytes_sent": "netio_transmit_bytes_per_second",
    "packets_recv": "netio_receive_packets_per_second",
    "packets_sent": "netio_transmit_packets_per_second",
}
#: psutil counter → counter metric, sent as is: errors are rare, and a rule on
#: "increased since" is clearer than a tiny per-second rate.
_COUNTERS = {
    "errin": "netio_receive_errors_total",
    "errout": "netio_transmit_errors_total",
    "dropin": "netio_receive_drops_total",
    "dropout": "netio_transmit_drops_total",
}


class NetIoConfig(CheckConfig):
    """Options of the ``netio`` check. Patterns are globs, or regexes after ``re:``."""

    exclude_interfaces: list[NamePattern] = Field(
        default_factory=lambda: list(DEFAULT_EXCLUDE_INTERFACES)
    )
    #: When given, only interfaces matching one of these are reported.
    include_interfaces: list[NamePattern] = Field(default_factory=list)


class NetIoCheck(Check):
    """Traffic rates and error counters per network interface.

    Rates need the previous reading: the first run emits only counters and link state.
    """

    name: ClassVar[str] = "netio"
    needs_previous: ClassVar[bool] = True
    Config: ClassVar[type[CheckConfig]] = NetIoConfig
    catalog: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec(
            "netio_receive_bytes_per_second",
            "gauge",
            "bytes_per_second",
            ("interface",),
            "Bytes received per second since the previous run",
        ),
        MetricSpec(
            "netio_transmit_bytes_per_second",
            "gauge",
            "bytes_per_second",
            ("interface",),
            "Bytes sent per second since the previous run",
        ),
        MetricSpec(
            "netio_receive_packets_per_second",
            "gauge",
            "per_second",
            ("interface",),
            "Packets received per second since the previous run",
        ),
        MetricSpec(
            "netio_transmit_packets_per_second",
            "gauge",
            "per_second",
            ("interface",),
            "Packets sent per second since the previous run",
        ),
        MetricSpec(
            "netio_receive_errors_total", "counter", "", ("interface",), "Receive errors since boot"
        ),
        MetricSpec(
            "netio_transmit_errors_total",
            "counter",
            "",
            ("interface",),
            "Transmit errors since boot",
        ),
        MetricSpec(
            "netio_receive_drops_total",
            "counter",
            "",
            ("interface",),
            "Received packets dropped since boot",
        ),
        MetricSpec(
            "netio_transmit_drops_total",
            "counter",
            "",
            ("interface",),
            "Outgoing packets dropped since boot",
        ),
        MetricSpec(
            "netio_link_up",
            "gauge",
            "",
            ("interface",),
            "1 if the interface is up, 0 if it is down",
        ),
        MetricSpec(
            "netio_link_speed_bytes_per_second",
            "gauge",
            "bytes_per_second",
            ("interface",),
            "Negotiated link speed, where the driver reports one",
        ),
    )

    config: NetIoConfig

    def __init__(self, config: CheckConfig, host: Host) -> None:
        super().__init__(config, host)
        self._interfaces = NameFilter(
            self.config.include_interfaces, self.config.exclude_interfaces
        )
        self._rates = CounterRates()

    def collect(self) -> Iterator[Sample]:
        now = self.host.monotonic()
        counters = {
            nic: c for nic, c in self.host.net_io_counters().items() if self._interfaces.allows(nic)
        }
        rates = self._rates.update(
            now,
            {nic: {field: getattr(c, field) for field in _RATES} for nic, c in counters.items()},
        )
        stats = self.host.net_if_stats()
        for nic in sorted(counters):
            labels = {"interface": nic}
            for field, rate in rates.get(nic, {}).items():
                yield Sample(_RATES[field], rate, dict(labels))
            for field, metric in _COUNTERS.items():
                yield Sample(metric, getattr(counters[nic], field), dict(labels))
            if (stat := stats.get(nic)) is not None:
                yield Sample("netio_link_up", 1.0 if stat.isup else 0.0, dict(labels))
                if stat.speed > 0:  # psutil gives Mbit/s, 0 when unknown (virtual NICs)
                    yield Sample(
                        "netio_link_speed_bytes_per_second",
                        stat.speed * 1_000_000 / 8,
                        dict(labels),
                    )
