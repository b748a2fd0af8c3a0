"""Load averages over 1, 5 and 15 minutes, absolute and per logical CPU."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from agent.checks.base import Check, CheckConfig, MetricSpec, Sample

_PERIODS = ("1m", "5m", "15m")


class LoadConfig(CheckConfig):
    """Options of the ``load`` check (none besides the common ones)."""


class LoadCheck(Check):
    """Unix load averages. Per-core values let one rule fit machines of any size."""

    name: ClassVar[str] = "load"
    Config: ClassVar[type[CheckConfig]] = LoadConfig
    catalog: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec(
            "load_average",
            "gauge",
            "",
            ("period",),
            "Load average (runnable + uninterruptible tasks) over period 1m, 5m or 15m",
            {"period": _PERIODS},
        ),
        MetricSpec(
            "load_average_per_core",
            "gauge",
            "",
            ("period",),
            "Load average divided by the number of logical CPUs",
            {"period": _PERIODS},
        ),
    )

    def unsupported(self) -> str | None:
        # psutil emulates a load average on Windows from the processor queue length,
        # which needs a background thread and is not comparable with Unix numbers.
        if self.host.platform == "win32":
            return "load averages do not exist on Windows (use the cpu check)"
        return None

    def collect(self) -> Iterator[Sample]:
        averages = self.host.getloadavg()
        cores = self.host.cpu_count(logical=True) or 0
        for period, value in zip(_PERIODS, averages, strict=True):
            yield Sample("load_average", value, {"period": period})
            if cores:
                yield Sample("load_average_per_core", value / cores, {"period": period})
