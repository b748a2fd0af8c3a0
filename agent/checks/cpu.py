"""CPU usage, total and per mode (user, system, iowait, steal, idle, …)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from agent.checks.base import Check, CheckConfig, MetricSpec, Sample

if TYPE_CHECKING:
    from agent.host import Host

#: Time the CPU spent not working. iowait is idle time with I/O outstanding: counting
#: it as busy would report a machine waiting on a slow disk as CPU-bound.
_IDLE_MODES = ("idle", "iowait")
#: On Linux guest time is already included in user/nice; summing it again would
#: understate every other mode (psutil's own percentage code does the same).
_DOUBLE_COUNTED = ("guest", "guest_nice")


class CpuConfig(CheckConfig):
    """Options of the ``cpu`` check."""

    per_cpu: bool = False


class CpuCheck(Check):
    """CPU busy percent and the share of each mode since the previous run.

    Percentages come from the difference of two readings of the CPU time counters, so
    the first run only remembers a reading and emits no CPU samples.
    """

    name: ClassVar[str] = "cpu"
    Config: ClassVar[type[CheckConfig]] = CpuConfig
    catalog: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec(
            "cpu_usage_percent",
            "gauge",
            "percent",
            (),
            "Share of CPU time spent working (not idle or iowait) since the previous run, all CPUs",
        ),
        MetricSpec(
            "cpu_mode_percent",
            "gauge",
            "percent",
            ("mode",),
            "Share of CPU time spent in each mode (user, system, iowait, steal, idle, …) since the previous run",
        ),
        MetricSpec(
            "cpu_core_usage_percent",
            "gauge",
            "percent",
            ("cpu",),
            "Busy percent of one logical CPU since the previous run (option per_cpu)",
        ),
        MetricSpec("cpu_logical_cores", "gauge", "", (), "Number of logical CPUs"),
    )

    config: CpuConfig

    def __init__(self, config: CheckConfig, host: Host) -> None:
        super().__init__(config, host)
        self._last_total: Any = None
        self._last_per_cpu: list[Any] | None = None

    def collect(self) -> Iterator[Sample]:
        count = self.host.cpu_count(logical=True)
        if count:
            yield Sample("cpu_logical_cores", count)
        total = self.host.cpu_times()
        previous, self._last_total = self._last_total, total
        if previous is not None and (shares := mode_shares(previous, total)) is not None:
            yield Sample("cpu_usage_percent", busy_percent(shares))
            for mode, share in shares.items():
                yield Sample("cpu_mode_percent", share, {"mode": mode})
        if self.config.per_cpu:
            per_cpu = self.host.cpu_times(percpu=True)
            previous_per_cpu, self._last_per_cpu = self._last_per_cpu, per_cpu
            # A CPU going offline changes the list length; skip that one run.
            if previous_per_cpu is not None and len(previous_per_cpu) == len(per_cpu):
                for index, (before, after) in enumerate(
                    zip(previous_per_cpu, per_cpu, strict=True)
                ):
                    if (shares := mode_shares(before, after)) is not None:
                        yield Sample(
                            "cpu_core_usage_percent", busy_percent(shares), {"cpu": str(index)}
                        )


def mode_shares(before: Any, after: Any) -> dict[str, float] | None:
    """Percent of elapsed CPU time per mode between two ``cpu_times`` readings.

    None when no CPU time passed (two readings within one clock tick).
    """
    deltas = {
        mode: max(0.0, value - getattr(before, mode)) for mode, value in after._asdict().items()
    }
    elapsed = sum(v for mode, v in deltas.items() if mode not in _DOUBLE_COUNTED)
    if elapsed <= 0:
        return None
    return {mode: min(100.0, 100.0 * delta / elapsed) for mode, delta in deltas.items()}


def busy_percent(shares: dict[str, float]) -> float:
    return max(0.0, 100.0 - sum(shares.get(mode, 0.0) for mode in _IDLE_MODES))
