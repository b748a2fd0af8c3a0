"""Printer logic (HOST-RESOURCES-MIB, Printer-MIB RFC 3805), pure: plain values in, samples out.

The Printer-MIB's sentinels are never reported as numbers: a level of -3 means "some
remaining", -2 "unknown", -1 "other"; a capacity of -1/-2 makes the percentage unknown.
They become :class:`SupplyState` values instead (``printer_supply_state``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from agent.checks.base import Event, Sample
from agent.snmp.reading import DeviceReading, integer, text

#: hrPrinterDetectedErrorState bits in order: bit 0 is the most significant bit of byte 0.
ERROR_FLAGS = (
    "lowPaper",
    "noPaper",
    "lowToner",
    "noToner",
    "doorOpen",
    "jammed",
    "offline",
    "serviceRequested",
    "inputTrayMissing",
    "outputTrayMissing",
    "markerSupplyMissing",
    "outputNearFull",
    "outputFull",
    "inputTrayEmpty",
    "overduePreventMaint",
)

SUPPLY_STATES = ("ok", "some_remaining", "unknown", "empty")

#: prtMarkerSuppliesTypeTC
SUPPLY_TYPES = {
    1: "other",
    2: "unknown",
    3: "toner",
    4: "waste_toner",
    5: "ink",
    6: "ink_cartridge",
    7: "ink_ribbon",
    8: "waste_ink",
    9: "opc",
    10: "developer",
    11: "fuser_oil",
    12: "solid_wax",
    13: "ribbon_wax",
    14: "waste_wax",
    15: "fuser",
    16: "corona_wire",
    17: "fuser_oil_wick",
    18: "cleaner_unit",
    19: "fuser_cleaning_pad",
    20: "transfer_unit",
    21: "toner_cartridge",
    22: "fuser_oiler",
    23: "water",
    24: "waste_water",
    25: "glue_water_additive",
    26: "waste_paper",
    27: "binding_supply",
    28: "banding_supply",
    29: "stitching_wire",
    30: "shrink_wrap",
    31: "paper_wrap",
    32: "staples",
    33: "inserts",
    34: "covers",
    35: "matte_toner",
    36: "matte_ink",
}

#: prtAlertSeverityLevelTC
ALERT_SEVERITIES = {1: "other", 3: "critical", 4: "warning", 5: "warning_binary_change"}

#: The prtAlertCodeTC values technicians meet most; others are reported as ``code_<n>``.
ALERT_CODES = {
    1: "other",
    2: "unknown",
    3: "coverOpen",
    4: "coverClosed",
    5: "interlockOpen",
    6: "interlockClosed",
    7: "configurationChange",
    8: "jam",
    9: "subunitMissing",
    10: "subunitLifeAlmostOver",
    11: "subunitLifeOver",
    12: "subunitAlmostEmpty",
    13: "subunitEmpty",
    14: "subunitAlmostFull",
    15: "subunitFull",
    501: "doorOpen",
    502: "doorClosed",
    503: "poweredUp",
    504: "poweredDown",
    801: "markerTonerEmpty",
    802: "markerInkEmpty",
    804: "markerTonerAlmostEmpty",
    805: "markerInkAlmostEmpty",
    807: "markerWasteTonerReceptacleAlmostFull",
    809: "markerWasteTonerReceptacleFull",
    1101: "inputMediaTrayMissing",
    1102: "inputMediaSupplyLow",
    1103: "inputMediaSupplyEmpty",
    1201: "outputMediaTrayMissing",
    1202: "outputMediaTrayAlmostFull",
    1203: "outputMediaTrayFull",
}

#: prtCoverStatus values that mean "open".
COVER_OPEN = {3, 5}  # coverOpen, interlockOpen
#: hrDeviceType for a printer (hrDevicePrinter).
HR_DEVICE_PRINTER = "1.3.6.1.2.1.25.3.1.5"

#: A supply whose level rises by at least this many percentage points was replaced.
REPLACED_MIN_RISE = 10.0


def decode_error_state(value: bytes | None) -> dict[str, bool]:
    """hrPrinterDetectedErrorState → every flag, True/False.

    Bit 0 is the most significant bit of the first byte. Devices send one or two bytes
    (some send none when nothing is wrong): missing bytes count as zero.
    """
    raw = (value or b"").ljust(2, b"\x00")
    return {flag: bool(raw[bit // 8] & (0x80 >> (bit % 8))) for bit, flag in enumerate(ERROR_FLAGS)}


@dataclass(frozen=True, slots=True)
class SupplyLevel:
    """A supply or tray level after the sentinels are handled: a percentage or only a state."""

    percent: float | None
    state: str


def supply_level(level: Any, max_capacity: Any) -> SupplyLevel:
    """prtMarkerSuppliesLevel / MaxCapacity (also prtInputCurrentLevel / MaxCapacity).

    -3 → some_remaining, -2 / -1 / not a number → unknown, 0 → empty; a percentage only
    when both are real numbers (capacity > 0), clamped to 0..100.
    """
    level, capacity = integer(level), integer(max_capacity)
    if level is None or level in (-1, -2) or level < -3:
        return SupplyLevel(None, "unknown")
    if level == -3:
        return SupplyLevel(None, "some_remaining")
    if level == 0:
        return SupplyLevel(0.0 if capacity is not None and capacity > 0 else None, "empty")
    if capacity is None or capacity <= 0:
        return SupplyLevel(None, "unknown")
    return SupplyLevel(min(100.0, 100.0 * level / capacity), "ok")


@dataclass(frozen=True, slots=True)
class PrinterSupply:
    """One row of prtMarkerSuppliesTable, named and decoded."""

    index: str
    name: str
    supply_type: str
    color: str
    level: SupplyLevel

    @property
    def labels(self) -> dict[str, str]:
        return {"supply": self.name, "supply_type": self.supply_type, "color": self.color}


def supplies(reading: DeviceReading) -> list[PrinterSupply]:
    """Every supply with its colour (via prtMarkerSuppliesColorantIndex) and level."""
    colorants = reading.table("colorants")
    out: list[PrinterSupply] = []
    names: set[str] = set()
    for index, row in sorted(
        reading.table("supplies").items(), key=lambda item: _index_key(item[0])
    ):
        device = index.split(".", 1)[0]
        colorant = integer(row.get("colorant_index"))
        color = (
            text(colorants.get(f"{device}.{colorant}", {}).get("value")).lower() if colorant else ""
        )
        kind = integer(row.get("type"))
        name = text(row.get("description")) or f"supply {index}"
        if name in names:  # two supplies with one description: keep the series apart
            name = f"{name} #{index}"
        names.add(name)
        out.append(
            PrinterSupply(
                index,
                name,
                SUPPLY_TYPES.get(kind or 0, "other"),
                color or "none",
                supply_level(row.get("level"), row.get("max_capacity")),
            )
        )
    return out


def _index_key(index: str) -> tuple[int, ...]:
    return tuple(int(part) for part in index.split(".") if part.isdigit())


def evaluate(
    reading: DeviceReading, memory: dict[str, Any], now: float
) -> Iterator[Sample | Event]:
    """The printer profile's hook: supplies, errors, status, covers, trays, alerts."""
    previous: dict[str, float] = memory.get("supply_percent", {})
    current: dict[str, float] = {}
    for supply in supplies(reading):
        labels = supply.labels
        if supply.level.percent is not None:
            yield Sample("printer_supply_level_percent", supply.level.percent, labels)
            current[supply.name] = supply.level.percent
            before = previous.get(supply.name)
            if before is not None and supply.level.percent - before >= REPLACED_MIN_RISE:
                yield Event(
                    "supply_replaced",
                    f"{supply.name}: {before:.0f}% → {supply.level.percent:.0f}%",
                    {
                        **labels,
                        "before_percent": round(before, 1),
                        "after_percent": round(supply.level.percent, 1),
                    },
                )
        for state in SUPPLY_STATES:
            yield Sample(
                "printer_supply_state",
                1.0 if supply.level.state == state else 0.0,
                {**labels, "state": state},
            )
    # A supply that reads unknown this time keeps its last known level for the comparison.
    memory["supply_percent"] = {**previous, **current}

    printers = reading.table("printers")
    devices = reading.table("devices")
    for index, row in sorted(printers.items()):
        if "error_state" in row:
            raw = row["error_state"]
            flags = decode_error_state(raw if isinstance(raw, bytes) else None)
            for flag, on in flags.items():
                yield Sample("printer_error", 1.0 if on else 0.0, {"flag": flag})
        status = integer(row.get("status"))
        if status is not None:
            yield Sample("printer_status", float(status))
        device_status = integer(devices.get(index, {}).get("status"))
        if device_status is not None:
            yield Sample("device_status", float(device_status))
        break  # one printer per device; a second hrPrinter row would duplicate the series

    for index, row in sorted(reading.table("markers").items()):
        count = integer(row.get("life_count"))
        if count is not None and count >= 0:
            yield Sample("printer_page_count_total", float(count), {"marker": index.split(".")[-1]})

    for index, row in sorted(reading.table("covers").items()):
        status = integer(row.get("status"))
        if status is not None and status not in (1, 2):
            name = text(row.get("description")) or f"cover {index}"
            yield Sample(
                "printer_cover_open", 1.0 if status in COVER_OPEN else 0.0, {"cover": name}
            )

    for index, row in sorted(reading.table("inputs").items()):
        tray = (
            text(row.get("name")) or text(row.get("description")) or f"tray {index.split('.')[-1]}"
        )
        level = supply_level(row.get("level"), row.get("max_capacity"))
        if level.percent is not None:
            yield Sample("printer_input_level_percent", level.percent, {"tray": tray})
        for state in SUPPLY_STATES:
            yield Sample(
                "printer_input_state",
                1.0 if level.state == state else 0.0,
                {"tray": tray, "state": state},
            )

    yield from _alerts(reading, memory)


def _alerts(reading: DeviceReading, memory: dict[str, Any]) -> Iterator[Sample | Event]:
    """prtAlertTable: a count per severity, and an event for each alert not seen before."""
    seen: set[str] = memory.get("alerts", set())
    current: set[str] = set()
    counts = dict.fromkeys(("critical", "warning", "other"), 0)
    for index, row in sorted(reading.table("alerts").items(), key=lambda item: _index_key(item[0])):
        severity = ALERT_SEVERITIES.get(integer(row.get("severity")) or 1, "other")
        counts["warning" if severity.startswith("warning") else severity] += 1
        code_number = integer(row.get("code")) or 2
        code = ALERT_CODES.get(code_number, f"code_{code_number}")
        description = text(row.get("description"))
        key = f"{index}|{code_number}|{row.get('time')}"
        current.add(key)
        if key not in seen:
            yield Event(
                "printer_alert",
                f"{severity}: {description or code}",
                {
                    "severity": severity,
                    "code": code,
                    "description": description,
                    "group": integer(row.get("group")),
                    "index": index,
                },
            )
    memory["alerts"] = current
    for severity, count in counts.items():
        yield Sample("printer_alerts", float(count), {"severity": severity})


def inventory(reading: DeviceReading) -> dict[str, str | None]:
    """The printer's model (hrDeviceDescr of the hrDevicePrinter row) and prtGeneralSerialNumber."""
    model = serial = None
    for index, row in sorted(reading.table("devices").items()):
        if row.get("type") == HR_DEVICE_PRINTER:
            model = text(row.get("descr")) or None
            serial = text(reading.table("general").get(index, {}).get("serial")) or None
            break
    return {"model": model, "serial": serial}
