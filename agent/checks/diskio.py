"""Disk I/O rates per physical disk: bytes and operations per second, busy percent."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, ClassVar

from agent.checks.base import Check, CheckConfig, MetricSpec, Sample
from agent.checks.patterns import NameFilter, NamePattern
from agent.checks.rates import CounterRates
from agent.schema import Field

if TYPE_CHECKING:
    from agent.host import Host

#: Partitions double-count their disk; loop, RAM, zram, optical and floppy devices
#: say nothing about the machine's storage.
DEFAULT_EXCLUDE_DEVICES = (
    "loop*",
    "ram*",
    "zram*",
    "sr*",
    "fd*",
    r"re:(sd|hd|vd|xvd)[a-z]+\d+",  # Linux SCSI/SATA/virtio/Xen partitions: sda1, vdb2
    r"re:(nvme\d+n\d+|mmcblk\d+|md\d+)p\d+",  # nvme0n1p1, mmcblk0p2, md0p1
    r"re:disk\d+s\d+",  # macOS partitions: disk0s2
)

#: psutil counter field → (metric, divisor turning its per-second rate into the unit).
_RATES = {
    "read_bytes": ("diskio_read_bytes_per_second", 1.0),
    "write_bytes": ("diskio_write_bytes_per_second", 1.0),
    "read_count": ("diskio_reads_per_second", 1.0),
    "write_count": ("diskio_writes_per_second", 1.0),
    # busy_time is milliseconds (Linux, FreeBSD): ms per second / 10 = percent.
    "busy_time": ("diskio_busy_percent", 10.0),
}


class DiskIoConfig(CheckConfig):
    """Options of the ``diskio`` check. Patterns are globs, or regexes after ``re:``."""

    exclude_devices: list[NamePattern] = Field(
        default_factory=lambda: list(DEFAULT_EXCLUDE_DEVICES)
    )
    #: When given, only devices matching one of these are reported.
    include_devices: list[NamePattern] = Field(default_factory=list)


class DiskIoCheck(Check):
    """Per-second I/O rates from the OS's cumulative disk counters.

    Rates need the previous reading: the first run only remembers the counters and
    emits no diskio samples.
    """

    name: ClassVar[str] = "diskio"
    needs_previous: ClassVar[bool] = True
    Config: ClassVar[type[CheckConfig]] = DiskIoConfig
    catalog: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec(
            "diskio_read_bytes_per_second",
            "gauge",
            "bytes_per_second",
            ("device",),
            "Bytes read per second since the previous run",
        ),
        MetricSpec(
            "diskio_write_bytes_per_second",
            "gauge",
            "bytes_per_second",
            ("device",),
            "Bytes written per second since the previous run",
        ),
        MetricSpec(
            "diskio_reads_per_second",
            "gauge",
            "per_second",
            ("device",),
            "Read operations per second since the previous run",
        ),
        MetricSpec(
            "diskio_writes_per_second",
            "gauge",
            "per_second",
            ("device",),
            "Write operations per second since the previous run",
        ),
        MetricSpec(
            "diskio_busy_percent",
            "gauge",
            "percent",
            ("device",),
            "Share of time the disk had I/O in flight (Linux, FreeBSD)",
        ),
    )

    config: DiskIoConfig

    def __init__(self, config: CheckConfig, host: Host) -> None:
        super().__init__(config, host)
        self._devices = NameFilter(self.config.include_devices, self.config.exclude_devices)
        self._rates = CounterRates()

    def collect(self) -> Iterator[Sample]:
        now = self.host.monotonic()
        readings: dict[str, Mapping[str, float]] = {
            device: {
                field: getattr(counters, field) for field in _RATES if hasattr(counters, field)
            }
            for device, counters in self.host.disk_io_counters().items()
            if self._devices.allows(device)
        }
        for device, rates in sorted(self._rates.update(now, readings).items()):
            for field, rate in rates.items():
                metric, divisor = _RATES[field]
                value = rate / divisor
                if field == "busy_time":
                    value = min(100.0, value)  # counter updates lag the clock a little
                yield Sample(metric, value, {"device": device})
