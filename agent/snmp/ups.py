"""UPS logic (UPS-MIB, RFC 1628), pure: on battery and the alarms.

The plain gauges (runtime, charge, voltages, load) are mapped in ``ups.yaml``, which also
declares the "not available" encodings (``sentinels:``) the profile drops before this runs.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.checks.base import Event, Sample
from agent.snmp.reading import DeviceReading, integer

ALARMS_PREFIX = "1.3.6.1.2.1.33.1.6.3."
#: The well-known alarms (upsWellKnownAlarms), by their last OID component.
ALARMS = {
    1: "batteryBad",
    2: "onBattery",
    3: "lowBattery",
    4: "depletedBattery",
    5: "tempBad",
    6: "inputBad",
    7: "outputBad",
    8: "outputOverload",
    9: "onBypass",
    10: "bypassBad",
    11: "outputOffAsRequested",
    12: "upsOffAsRequested",
    13: "chargerFailed",
    14: "upsOutputOff",
    15: "upsSystemOff",
    16: "fanFailure",
    17: "fuseFailure",
    18: "generalFault",
    19: "diagnosticTestFailed",
    20: "communicationsLost",
    21: "awaitingPower",
    22: "shutdownPending",
    23: "shutdownImminent",
    24: "testInProgress",
}
OUTPUT_SOURCE_BATTERY = 5


def present_alarms(reading: DeviceReading) -> list[str]:
    """Names of the alarms in upsAlarmTable (vendor alarms as their OID)."""
    names = []
    for _, row in sorted(reading.table("alarms").items()):
        descr = row.get("descr")
        if not isinstance(descr, str):
            continue
        suffix = descr[len(ALARMS_PREFIX) :] if descr.startswith(ALARMS_PREFIX) else ""
        names.append(ALARMS.get(int(suffix), descr) if suffix.isdigit() else descr)
    return names


def evaluate(
    reading: DeviceReading, memory: dict[str, Any], now: float
) -> Iterator[Sample | Event]:
    """The UPS profile's hook (the plain gauges are mapped in ups.yaml)."""
    source = integer(reading.scalars.get("output_source"))
    if source is not None:
        on_battery = source == OUTPUT_SOURCE_BATTERY
        yield Sample("ups_on_battery", 1.0 if on_battery else 0.0)
        was = memory.get("on_battery")
        if was is not None and was != on_battery:
            yield Event(
                "ups_power_source_changed",
                "on battery" if on_battery else "back on mains",
                {"on_battery": on_battery},
            )
        memory["on_battery"] = on_battery
    if "alarms_present" in reading.scalars or reading.table("alarms"):
        present = present_alarms(reading)
        known = set(present)
        for name in ALARMS.values():
            yield Sample("ups_alarm", 1.0 if name in known else 0.0, {"alarm": name})
        count = integer(reading.scalars.get("alarms_present"))
        yield Sample("ups_alarms_present", float(count if count is not None else len(present)))
        new = known - memory.get("alarms", set())
        for name in sorted(new):
            yield Event("ups_alarm", name, {"alarm": name})
        memory["alarms"] = known
