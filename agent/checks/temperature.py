"""Hardware temperatures (CPU packages and cores, disks, boards) where the OS reports them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from agent.checks.base import Check, CheckConfig, MetricSpec, Sample, Unsupported

_LABELS = ("chip", "sensor")


class TemperatureConfig(CheckConfig):
    """Options of the ``temperature`` check (none besides the common ones)."""


class TemperatureCheck(Check):
    """Sensor readings in °C, plus the hardware's own high/critical marks.

    The marks are the chip's values, not Upkeep thresholds; rules may compare against
    them ("within 5 °C of critical"). psutil reads sensors on Linux and FreeBSD only;
    virtual machines usually have none, which makes the check unsupported there.
    """

    name: ClassVar[str] = "temperature"
    Config: ClassVar[type[CheckConfig]] = TemperatureConfig
    #: Temperatures move slowly, and reading every sensor file in /sys is the most
    #: expensive of the default checks.
    default_interval: ClassVar[float | None] = 60.0
    catalog: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec(
            "temperature_celsius", "gauge", "celsius", _LABELS, "Current temperature of a sensor"
        ),
        MetricSpec(
            "temperature_high_celsius",
            "gauge",
            "celsius",
            _LABELS,
            "The chip's own 'high' mark for the sensor, where it has one",
        ),
        MetricSpec(
            "temperature_critical_celsius",
            "gauge",
            "celsius",
            _LABELS,
            "The chip's own 'critical' mark for the sensor, where it has one",
        ),
    )

    def unsupported(self) -> str | None:
        if self.host.sensors_temperatures() is None:
            return f"psutil cannot read temperatures on {self.host.platform}"
        return None

    def collect(self) -> Iterator[Sample]:
        chips = self.host.sensors_temperatures()
        if not chips:
            raise Unsupported("the OS reports no temperature sensors")
        for chip, readings in sorted(chips.items()):
            seen: dict[str, int] = {}
            for index, reading in enumerate(readings, start=1):
                sensor = reading.label or f"temp{index}"
                # Some chips report several unlabelled or identically labelled sensors;
                # a suffix keeps each one its own series.
                seen[sensor] = seen.get(sensor, 0) + 1
                if seen[sensor] > 1:
                    sensor = f"{sensor} #{seen[sensor]}"
                labels = {"chip": chip, "sensor": sensor}
                yield Sample("temperature_celsius", reading.current, labels)
                if reading.high:
                    yield Sample("temperature_high_celsius", reading.high, dict(labels))
                if reading.critical:
                    yield Sample("temperature_critical_celsius", reading.critical, dict(labels))
