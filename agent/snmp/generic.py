"""Every device (SNMPv2-MIB system group), pure: uptime and a reboot event."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.checks.base import Event, Sample
from agent.snmp.reading import DeviceReading, integer

#: sysUpTime is TimeTicks (1/100 s) in 32 bits: it wraps after 497 days.
TICKS_WRAP = 2**32


def rebooted(before_ticks: int, after_ticks: int, elapsed: float) -> bool:
    """Did sysUpTime go backwards because the device restarted (not because it wrapped)?"""
    if after_ticks >= before_ticks:
        return False
    expected = before_ticks + elapsed * 100
    # Near the top of the range and the new value matches the wrap: not a reboot.
    return not (
        expected >= TICKS_WRAP
        and abs((expected - TICKS_WRAP) - after_ticks) < max(elapsed * 100, 6000)
    )


def evaluate(
    reading: DeviceReading, memory: dict[str, Any], now: float
) -> Iterator[Sample | Event]:
    """The generic profile's hook: ``snmp_uptime_seconds`` and ``reboot`` events."""
    ticks = integer(reading.scalars.get("sys_uptime"))
    if ticks is None or ticks < 0:
        return
    before = memory.get("uptime")
    wraps = memory.get("wraps", 0)
    if before is not None and ticks < before[0]:
        if rebooted(before[0], ticks, now - before[1]):
            wraps = 0
            yield Event(
                "reboot",
                f"the device restarted (uptime {before[0] / 100:.0f}s → {ticks / 100:.0f}s)",
                {"uptime_before_seconds": before[0] / 100, "uptime_seconds": ticks / 100},
            )
        else:
            wraps += 1
    # After a wrap the uptime keeps counting (the reboot rule watches it fall below a
    # threshold: a wrap after 497 days is not a reboot).
    yield Sample("snmp_uptime_seconds", (ticks + wraps * TICKS_WRAP) / 100.0)
    memory["uptime"] = (ticks, now)
    memory["wraps"] = wraps
