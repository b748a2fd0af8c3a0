"""The agent watching itself: spool depth, drops, rejects, its own memory and CPU.

Always on, not in the registry (it is not something an admin configures). It also
enforces the spool's bounds, so a full disk or a long outage is visible at the collector
as ``upkeep_agent_spool_dropped_samples_total`` rising plus a ``spool_dropped`` event,
and reports a corrupt spool the agent moved aside (``spool_corrupt`` event,
``upkeep_agent_spool_corruptions_total``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar

import psutil

from agent.checks.base import Check, CheckConfig, Event, MetricSpec, Sample

if TYPE_CHECKING:
    from agent.host import Host
    from agent.shipper import Shipper
    from agent.spool import Spool


class AgentSelfCheck(Check):
    """Samples about the agent itself; runs every 30 s."""

    name: ClassVar[str] = "agent"
    catalog: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec(
            "upkeep_agent_spool_samples",
            "gauge",
            "",
            (),
            "Samples waiting in the spool (not yet acknowledged)",
        ),
        MetricSpec(
            "upkeep_agent_spool_bytes", "gauge", "bytes", (), "Bytes the spool uses on disk"
        ),
        MetricSpec(
            "upkeep_agent_spool_dropped_samples_total",
            "counter",
            "",
            (),
            "Samples dropped because the spool hit its size or age bound",
        ),
        MetricSpec(
            "upkeep_agent_spool_corruptions_total",
            "counter",
            "",
            (),
            "Corrupt spool files moved aside (the agent went on with a fresh spool)",
        ),
        MetricSpec(
            "upkeep_agent_rejected_samples_total",
            "counter",
            "",
            (),
            "Samples in batches the collector rejected as invalid",
        ),
        MetricSpec(
            "upkeep_agent_sent_samples_total",
            "counter",
            "",
            (),
            "Samples the collector acknowledged since the agent started",
        ),
        MetricSpec(
            "upkeep_agent_clock_offset_seconds",
            "gauge",
            "seconds",
            (),
            "This machine's clock minus the collector's, from the last accepted answer's Date"
            " (positive: ahead; absent until the first send)",
        ),
        MetricSpec(
            "upkeep_agent_resident_memory_bytes",
            "gauge",
            "bytes",
            (),
            "The agent's resident memory",
        ),
        MetricSpec(
            "upkeep_agent_cpu_seconds_total",
            "counter",
            "seconds",
            (),
            "CPU time the agent used since it started",
        ),
    )

    def __init__(self, spool: Spool, shipper: Shipper | None, host: Host) -> None:
        super().__init__(CheckConfig(interval=30.0), host)
        self.spool = spool
        self.shipper = shipper
        self._process = psutil.Process(os.getpid())

    def collect(self) -> Iterator[Sample | Event]:
        dropped = self.spool.enforce_limits(
            time.time(), self.shipper.in_flight if self.shipper else None
        )
        if dropped:
            yield Event(
                "spool_dropped",
                f"spool over its bounds: dropped the {dropped} oldest samples",
                {"samples": dropped},
            )
        for notice in self.spool.take_corruption_notices():
            yield Event(
                "spool_corrupt",
                f"the spool was corrupt ({notice.reason}); moved aside to {notice.moved_to},"
                " collecting into a fresh spool; samples in the bad file were not sent",
                {"moved_to": notice.moved_to, "reason": notice.reason},
                ts=notice.ts,
            )
        stats = self.spool.stats()
        yield Sample("upkeep_agent_spool_samples", stats.pending_samples + stats.outgoing_samples)
        yield Sample("upkeep_agent_spool_bytes", stats.used_bytes)
        yield Sample("upkeep_agent_spool_dropped_samples_total", stats.dropped_samples)
        yield Sample("upkeep_agent_spool_corruptions_total", stats.corruptions)
        yield Sample("upkeep_agent_rejected_samples_total", stats.rejected_samples)
        yield Sample(
            "upkeep_agent_sent_samples_total", self.shipper.sent_samples if self.shipper else 0
        )
        if self.shipper is not None and self.shipper.clock_offset is not None:
            yield Sample("upkeep_agent_clock_offset_seconds", self.shipper.clock_offset)
        yield Sample("upkeep_agent_resident_memory_bytes", self._process.memory_info().rss)
        cpu = self._process.cpu_times()
        yield Sample("upkeep_agent_cpu_seconds_total", cpu.user + cpu.system)
