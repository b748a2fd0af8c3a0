"""Printer logic (HOST-RESOURCES-MIB, Printer-MIB RFC 3805), pure: plain values in, samples out.

The Printer-MIB's sentinels are never reported as numbers: a level of -3 means "some
remaining", -2 "unknown", -1 "other"; a capacity of -1/-2 makes the percentage unknown.
They become supply states instead (``printer_supply_state``). A level of 0 is 0 % whatever
the capacity. For a receptacle (``prtMarkerSuppliesClass`` receptacleThatIsFilled: waste
toner, waste ink) the MIB's level is the *remaining space*; the agent reports how full it
is (100 − remaining %), so for every supply a higher level means "more in it".

A supply's colour comes from the colorant table (``prtMarkerSuppliesColorantIndex``), else
from its description ("Toner (Black)", "CANON Matte Black Ink Tank", "TN-243C"); when
neither names exactly one colour the sample has no ``color`` label.
"""

from __future__ import annotations

import functools
import re
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

SUPPLY_STATES = ("ok", "some_remaining", "unknown", "empty", "full")
#: An input tray is a container: it never reads "full" in the MIB's sense.
INPUT_STATES = SUPPLY_STATES[:4]
#: prtMarkerSuppliesClass
SUPPLY_CLASS_CONTAINER, SUPPLY_CLASS_RECEPTACLE = 3, 4

#: Colour names a supply can get (the ``color`` label): what the Printer-MIB colorant table
#: or the supply's description says, normalised. Anything else the colorant table names
#: is ``other``; a supply whose colour nobody says has no ``color`` label at all.
COLORS = (
    "black",
    "matte_black",
    "photo_black",
    "light_black",
    "cyan",
    "light_cyan",
    "magenta",
    "light_magenta",
    "yellow",
    "gray",
    "light_gray",
    "red",
    "green",
    "blue",
    "orange",
    "violet",
    "white",
    "clear",
    "tri_color",
    "other",
)

#: Words and phrases (lower case) that name a colour, in English and the spellings vendors
#: put into supply descriptions and colorant names (German, French, Spanish, Italian UIs).
_COLOR_WORDS: dict[str, str] = {
    "matte black": "matte_black",
    "matt black": "matte_black",
    "mattschwarz": "matte_black",
    "photo black": "photo_black",
    "photoblack": "photo_black",
    "photo schwarz": "photo_black",
    "light light black": "light_gray",
    "light black": "light_black",
    "light cyan": "light_cyan",
    "photo cyan": "light_cyan",
    "light magenta": "light_magenta",
    "vivid light magenta": "light_magenta",
    "vivid magenta": "magenta",
    "photo magenta": "light_magenta",
    "light gray": "light_gray",
    "light grey": "light_gray",
    "tri-color": "tri_color",
    "tri-colour": "tri_color",
    "tricolor": "tri_color",
    "tricolour": "tri_color",
    "tri color": "tri_color",
    "black": "black",
    "blk": "black",
    "bk": "black",
    "schwarz": "black",
    "noir": "black",
    "negro": "black",
    "nero": "black",
    "preto": "black",
    "zwart": "black",
    "cyan": "cyan",
    "cian": "cyan",
    "ciano": "cyan",
    "magenta": "magenta",
    "yellow": "yellow",
    "gelb": "yellow",
    "jaune": "yellow",
    "amarillo": "yellow",
    "giallo": "yellow",
    "geel": "yellow",
    "gray": "gray",
    "grey": "gray",
    "grau": "gray",
    "gris": "gray",
    "red": "red",
    "rot": "red",
    "rouge": "red",
    "green": "green",
    "grün": "green",
    "blue": "blue",
    "blau": "blue",
    "bleu": "blue",
    "orange": "orange",
    "violet": "violet",
    "white": "white",
    "weiß": "white",
    "clear": "clear",
    "transparent": "clear",
    "gloss optimizer": "clear",
}
_WORDS_RE = re.compile(
    r"(?<![\w-])("
    + "|".join(re.escape(w) for w in sorted(_COLOR_WORDS, key=len, reverse=True))
    + r")(?![\w-])",
    re.IGNORECASE,
)
#: Part numbers whose last letters name the colour: Brother TN-243BK / TN-243C, Kyocera
#: TK-5240K / TK-5240Y (letters, digits, then BK|K|C|M|Y), and Samsung's CLT-K504S prefix.
_PART_SUFFIX_RE = re.compile(r"^[A-Z]{1,5}-?\d{2,6}(BK|K|C|M|Y)$")
_PART_PREFIX_RE = re.compile(r"^CLT-([KCMY])\d{3}[A-Z]?$")
_PART_LETTERS = {"BK": "black", "K": "black", "C": "cyan", "M": "magenta", "Y": "yellow"}


def color_from_text(value: str) -> str | None:
    """The one colour ``value`` names ("Toner (Black)", "CANON Matte Black Ink Tank",
    "TN-243C"), or None: no colour word, or words of two colours ("Black/Cyan/Magenta/Yellow
    Drum" is shared by all four). Part-number letters count only when no word names a colour
    and every part number agrees."""
    words = {_COLOR_WORDS[m.group(1).lower()] for m in _WORDS_RE.finditer(value)}
    if words:
        return words.pop() if len(words) == 1 else None
    parts = set()
    for token in re.split(r"[\s,;/()\[\]]+", value.upper()):
        match = _PART_SUFFIX_RE.match(token) or _PART_PREFIX_RE.match(token)
        if match:
            parts.add(_PART_LETTERS[match.group(1)])
    return parts.pop() if len(parts) == 1 else None


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


def supply_level(level: Any, max_capacity: Any, receptacle: bool = False) -> SupplyLevel:
    """prtMarkerSuppliesLevel / MaxCapacity (also prtInputCurrentLevel / MaxCapacity).

    -3 → some_remaining, -2 / -1 / not a number → unknown, 0 → empty (0 %, even when the
    capacity is unknown: nothing is left of any capacity); otherwise a percentage only when
    both are real numbers (capacity > 0), clamped to 0..100. A ``receptacle``'s level is its
    remaining space: 0 → full (100 %), else 100 − the remaining percentage.
    """
    level, capacity = integer(level), integer(max_capacity)
    if level is None or level in (-1, -2) or level < -3:
        return SupplyLevel(None, "unknown")
    if level == -3:
        return SupplyLevel(None, "some_remaining")
    if level == 0:
        return SupplyLevel(100.0, "full") if receptacle else SupplyLevel(0.0, "empty")
    if capacity is None or capacity <= 0:
        return SupplyLevel(None, "unknown")
    percent = min(100.0, 100.0 * level / capacity)
    return SupplyLevel(100.0 - percent if receptacle else percent, "ok")


@dataclass(frozen=True, slots=True)
class PrinterSupply:
    """One row of prtMarkerSuppliesTable, named and decoded."""

    index: str
    name: str
    supply_type: str
    color: str | None
    level: SupplyLevel

    @property
    def labels(self) -> dict[str, str]:
        labels = {"supply": self.name, "supply_type": self.supply_type}
        if self.color is not None:
            labels["color"] = self.color
        return labels


@functools.lru_cache(maxsize=4096)  # the same few (colorant, description) pairs every poll
def supply_color(colorant: str, description: str) -> str | None:
    """The colorant table's colour, else the description's, else None (never a guess).

    A colorant name that is not a colour we know ("gloss", a vendor code) is ``other``; an
    empty, ``none`` or ``unknown`` colorant counts as not given.
    """
    if colorant and colorant.lower() not in ("none", "unknown", "other"):
        return color_from_text(colorant) or "other"
    return color_from_text(description)


def supplies(reading: DeviceReading) -> list[PrinterSupply]:
    """Every supply with its colour (colorant table, else description) and level."""
    colorants = reading.table("colorants")
    out: list[PrinterSupply] = []
    names: set[str] = set()
    for index, row in sorted(
        reading.table("supplies").items(), key=lambda item: _index_key(item[0])
    ):
        device = index.split(".", 1)[0]
        colorant = integer(row.get("colorant_index"))
        colorant_name = (
            text(colorants.get(f"{device}.{colorant}", {}).get("value")) if colorant else ""
        )
        kind = SUPPLY_TYPES.get(integer(row.get("type")) or 0, "other")
        description = text(row.get("description"))
        name = description or f"supply {index}"
        if name in names:  # two supplies with one description: keep the series apart
            name = f"{name} #{index}"
        names.add(name)
        klass = integer(row.get("class"))
        # Waste types are receptacles by definition; a device that reports them with class
        # other/unknown still fills them up.
        receptacle = klass == SUPPLY_CLASS_RECEPTACLE or (
            klass != SUPPLY_CLASS_CONTAINER and kind.startswith("waste_")
        )
        out.append(
            PrinterSupply(
                index,
                name,
                kind,
                supply_color(colorant_name, description),
                supply_level(row.get("level"), row.get("max_capacity"), receptacle),
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
        for state in INPUT_STATES:
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
