"""Memory and swap: sizes in bytes and used percent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from agent.checks.base import Check, CheckConfig, MetricSpec, Sample


class MemoryConfig(CheckConfig):
    """Options of the ``memory`` check (none besides the common ones)."""


class MemoryCheck(Check):
    """Physical memory and swap as the OS reports them through psutil."""

    name: ClassVar[str] = "memory"
    Config: ClassVar[type[CheckConfig]] = MemoryConfig
    catalog: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec("memory_total_bytes", "gauge", "bytes", (), "Physical memory installed"),
        MetricSpec(
            "memory_available_bytes",
            "gauge",
            "bytes",
            (),
            "Memory that can be given to programs without swapping (includes reclaimable cache)",
        ),
        MetricSpec("memory_used_bytes", "gauge", "bytes", (), "Memory in use as the OS counts it"),
        MetricSpec(
            "memory_used_percent",
            "gauge",
            "percent",
            (),
            "Share of memory not available: (total - available) / total",
        ),
        MetricSpec(
            "swap_total_bytes", "gauge", "bytes", (), "Swap space configured (0 without swap)"
        ),
        MetricSpec("swap_used_bytes", "gauge", "bytes", (), "Swap space in use"),
        MetricSpec("swap_free_bytes", "gauge", "bytes", (), "Swap space free"),
        MetricSpec(
            "swap_used_percent", "gauge", "percent", (), "Share of swap in use (0 without swap)"
        ),
    )

    def collect(self) -> Iterator[Sample]:
        memory = self.host.virtual_memory()
        yield Sample("memory_total_bytes", memory.total)
        yield Sample("memory_available_bytes", memory.available)
        yield Sample("memory_used_bytes", memory.used)
        # psutil's percent is based on "available", which is what matters for
        # "is this machine short of memory"; "used" alone ignores reclaimable cache.
        yield Sample("memory_used_percent", memory.percent)
        swap = self.host.swap_memory()
        yield Sample("swap_total_bytes", swap.total)
        yield Sample("swap_used_bytes", swap.used)
        yield Sample("swap_free_bytes", swap.free)
        yield Sample("swap_used_percent", swap.percent if swap.total else 0.0)
