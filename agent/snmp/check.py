"""The SNMP poller inside the agent's scheduler: one check per interval group.

Every group shares one :class:`~agent.snmp.poller.SnmpPoller` (one asyncio loop, one
SNMP engine). A group's run polls all its devices concurrently and must finish within
the group's timeout; its samples carry each device's own asset name.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from agent.checks.base import Check, CheckConfig, Event, Sample
from agent.durations import Duration
from agent.schema import Field
from agent.snmp.config import SnmpConfig, SnmpTarget
from agent.snmp.poller import SnmpPoller
from agent.snmp.profiles import CORE_CATALOG, load_profiles

if TYPE_CHECKING:
    from agent.host import Host


class SnmpGroupConfig(CheckConfig):
    """Interval and timeout of one group of SNMP targets (set from ``snmp:``, not by hand)."""

    interval: Duration = Field(default=300.0, gt=0)


class SnmpPollCheck(Check):
    """Polls the SNMP targets that share one interval."""

    name = "snmp"
    Config = SnmpGroupConfig
    catalog = CORE_CATALOG

    def __init__(
        self,
        config: CheckConfig,
        host: Host,
        poller: SnmpPoller,
        targets: list[str],
        name: str = "snmp",
    ) -> None:
        super().__init__(config, host)
        self.name = name  # type: ignore[misc]  # one instance per interval group
        self.poller = poller
        self.targets = targets
        self._asset_sink: Callable[[list[dict[str, Any]]], None] | None = None

    def bind_assets(self, sink: Callable[[list[dict[str, Any]]], None]) -> None:
        """Where to send device descriptions when they change (the spool's ``set_assets``)."""
        self._asset_sink = sink
        sink(self.poller.assets(self.targets))

    def collect(self) -> Iterable[Sample | Event]:
        # Leave a margin so the poll returns before the runner gives up on this check.
        timeout = self.config.effective_timeout()
        result = self.poller.poll(self.targets, deadline=max(1.0, timeout * 0.9 - 0.5))
        if result.assets and self._asset_sink is not None:
            self._asset_sink(result.assets)
        yield from result.samples
        yield from result.events


#: How many slow requests (each answered just before its timeout, after its retries) a
#: device's poll may take before its group's deadline counts it late.
SLOW_REQUESTS_PER_DEVICE = 3
#: CPU of one device's poll on a loaded machine (decoding answers, profile logic), seconds.
CPU_PER_DEVICE = 0.05


def group_timeout(config: SnmpConfig, targets: list[SnmpTarget], interval: float) -> float:
    """The deadline of one group's poll, scaled with its size.

    Devices are polled ``concurrency`` at a time, so N devices take ceil(N / concurrency)
    waves; a wave can take :data:`SLOW_REQUESTS_PER_DEVICE` requests that each use up the
    timeout and every retry. Plus the CPU of every device's poll. Never below 60 s, never
    above the interval (the next poll is due then). A group that still runs out of time
    keeps what it has: the devices not done are reported ``snmp_up 0``.
    """
    if not targets:
        return min(interval, 60.0)
    slowest = max(
        (t.timeout if t.timeout is not None else config.timeout)
        * ((t.retries if t.retries is not None else config.retries) + 1)
        for t in targets
    )
    waves = math.ceil(len(targets) / config.concurrency)
    needed = waves * slowest * SLOW_REQUESTS_PER_DEVICE + len(targets) * CPU_PER_DEVICE
    return min(interval, max(60.0, needed))


def snmp_checks(
    config: SnmpConfig, host: Host, poller: SnmpPoller | None = None
) -> dict[str, Check]:
    """One check per interval among the enabled targets (``snmp``, or ``snmp_300s`` … if several)."""
    targets = [t for t in config.targets if t.enabled]
    if not targets:
        return {}
    poller = poller or SnmpPoller(config, load_profiles(config.profiles_dir))
    groups: dict[float, list[str]] = {}
    for target in targets:
        groups.setdefault(config.interval_of(target), []).append(target.name)
    checks: dict[str, Check] = {}
    for interval, names in sorted(groups.items()):
        name = "snmp" if len(groups) == 1 else f"snmp_{interval:g}s"
        members = [t for t in targets if t.name in names]
        timeout = group_timeout(config, members, interval)
        checks[name] = SnmpPollCheck(
            SnmpGroupConfig(interval=interval, timeout=timeout), host, poller, names, name
        )
    return checks
