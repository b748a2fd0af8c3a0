"""Table tests for the pure SNMP logic: printer error bits, supply maths, counters, uptime."""

from __future__ import annotations

import pytest

from agent.snmp.generic import rebooted
from agent.snmp.interfaces import counter_delta
from agent.snmp.printer import ERROR_FLAGS, decode_error_state, supply_color, supply_level
from agent.snmp.reading import DeviceReading
from agent.snmp.ups import present_alarms
from agent.snmp.vendors import vendor_of


@pytest.mark.parametrize(
    ("raw", "expected_on"),
    [
        (None, set()),
        (b"", set()),
        (b"\x00", set()),
        (b"\x00\x00", set()),
        (b"\x80", {"lowPaper"}),  # bit 0 = MSB of byte 0
        (b"\x40\x00", {"noPaper"}),
        (b"\x28", {"lowToner", "doorOpen"}),  # one byte only: second byte padded
        (b"\x01", {"serviceRequested"}),  # bit 7
        (b"\x00\x80", {"inputTrayMissing"}),  # bit 8 = MSB of byte 1
        (b"\x00\x04", {"inputTrayEmpty"}),  # bit 13
        (b"\x00\x02", {"overduePreventMaint"}),  # bit 14
        (b"\x00\x01", set()),  # bit 15 is not defined
        (b"\xff\xfe", set(ERROR_FLAGS)),
        (b"\x04\x00\x00", {"jammed"}),  # extra bytes are ignored
    ],
)
def test_error_state_bits(raw: bytes | None, expected_on: set[str]) -> None:
    flags = decode_error_state(raw)
    assert list(flags) == list(ERROR_FLAGS) and len(flags) == 15
    assert {flag for flag, on in flags.items() if on} == expected_on


@pytest.mark.parametrize(
    ("level", "capacity", "percent", "state"),
    [
        (80, 100, 80.0, "ok"),
        (1500, 2000, 75.0, "ok"),
        (0, 1000, 0.0, "empty"),
        (0, -2, 0.0, "empty"),  # nothing left of any capacity: 0 %, not "no value"
        (-3, 100, None, "some_remaining"),  # never a number
        (-2, 100, None, "unknown"),
        (-1, 100, None, "unknown"),
        (-7, 100, None, "unknown"),  # not a defined sentinel: no value
        (50, -2, None, "unknown"),  # unknown capacity: no percentage
        (50, 0, None, "unknown"),
        (150, 100, 100.0, "ok"),  # broken firmware: clamp
        (b"garbage", 100, None, "unknown"),
        (None, None, None, "unknown"),
    ],
)
def test_supply_level(level, capacity, percent, state) -> None:
    result = supply_level(level, capacity)
    assert result.state == state
    assert result.percent == (pytest.approx(percent) if percent is not None else None)


@pytest.mark.parametrize(
    ("level", "capacity", "percent", "state"),
    [
        (100, 100, 0.0, "ok"),  # a waste box's level is its remaining space: all free
        (10, 100, 90.0, "ok"),  # 10 % space left = 90 % full
        (0, 100, 100.0, "full"),
        (0, -2, 100.0, "full"),
        (-3, 100, None, "some_remaining"),
        (-2, -2, None, "unknown"),
    ],
)
def test_receptacle_level_is_how_full(level, capacity, percent, state) -> None:
    result = supply_level(level, capacity, receptacle=True)
    assert (result.percent, result.state) == (percent, state)


@pytest.mark.parametrize(
    ("colorant", "description", "color"),
    [
        ("black", "TK-1160", "black"),
        ("Cyan", "", "cyan"),
        ("gloss", "Clear coat", "other"),  # the device names a colorant we do not know
        ("", "Toner (Black)", "black"),
        ("", "Black Cartridge HP CF410A", "black"),
        ("", "CANON Matte Black Ink Tank", "matte_black"),
        ("", "Cyan Toner", "cyan"),
        ("", "Photo Black Ink", "photo_black"),
        ("", "Light Cyan", "light_cyan"),
        ("", "MAGENTA TONER", "magenta"),
        ("", "Toner Gelb", "yellow"),
        ("", "TN-243BK", "black"),
        ("", "Brother TN-243C", "cyan"),
        ("", "TK-5240Y", "yellow"),
        ("", "Samsung CLT-K504S", "black"),
        ("none", "Drum Unit", None),
        ("", "Black/Cyan/Magenta/Yellow Drum", None),  # shared by all four: no colour
        ("", "TN-243C TN-243M", None),  # two part numbers disagree
        ("", "HP 26A CF226A", None),  # an HP part number names no colour
        ("", "Imaging Drum", None),
        ("", "TK-1160", None),
        ("unknown", "", None),
    ],
)
def test_supply_color(colorant, description, color) -> None:
    assert supply_color(colorant, description) == color


@pytest.mark.parametrize(
    ("before", "after", "bits", "limit", "delta"),
    [
        (100, 250, 64, None, 150),
        (2**32 - 100, 50, 32, None, 150),  # 32-bit wrap
        (2**32 - 100, 50, 32, 1000.0, 150),
        (1000, 10, 32, None, None),  # low value went down: a reset
        (2**32 - 100, 50, 32, 100.0, None),  # the wrap would exceed the link: reset
        (5000, 10, 64, None, None),  # 64-bit never wraps in practice: reset
    ],
)
def test_counter_delta(before, after, bits, limit, delta) -> None:
    assert counter_delta(before, after, bits, limit) == delta


@pytest.mark.parametrize(
    ("before", "after", "elapsed", "reboot"),
    [
        (100_000, 130_000, 300, False),
        (100_000, 500, 300, True),
        (2**32 - 1000, 29_000, 300, False),  # sysUpTime wrapped after 497 days
        (2**32 - 1000, 500_000, 300, True),
    ],
)
def test_rebooted(before, after, elapsed, reboot) -> None:
    assert rebooted(before, after, elapsed) is reboot


def test_ups_alarm_names_and_vendor_alarms() -> None:
    reading = DeviceReading(
        tables={
            "alarms": {
                "1": {"descr": "1.3.6.1.2.1.33.1.6.3.2"},
                "2": {"descr": "1.3.6.1.4.1.534.1.99"},
                "3": {"descr": b"junk"},
            }
        }
    )
    assert present_alarms(reading) == ["onBattery", "1.3.6.1.4.1.534.1.99"]


@pytest.mark.parametrize(
    ("oid", "vendor"),
    [
        ("1.3.6.1.4.1.11.2.3.9.1", "HP"),
        ("1.3.6.1.4.1.2435.2.3.9.1", "Brother"),
        ("1.3.6.1.4.1.999999.1", None),
        ("1.3.6.1.2.1.1", None),
        (None, None),
    ],
)
def test_vendor_from_sys_object_id(oid, vendor) -> None:
    assert vendor_of(oid) == vendor


def test_uptime_carries_on_across_the_32_bit_wrap_and_restarts_from_a_reboot() -> None:
    from agent.snmp import generic

    memory: dict = {}

    def poll(ticks: int, now: float) -> tuple[float, list[str]]:
        items = list(generic.evaluate(DeviceReading({"sys_uptime": ticks}), memory, now))
        uptime = next(i.value for i in items if getattr(i, "metric", "") == "snmp_uptime_seconds")
        return uptime, [i.type for i in items if not hasattr(i, "metric")]

    top = 2**32 - 30_000  # 5 minutes before the wrap after 497 days
    assert poll(top, 0.0) == (top / 100, [])
    # 10 minutes later the counter wrapped: not a reboot, and the uptime keeps growing
    after, events = poll(30_000, 600.0)
    assert events == [] and after == pytest.approx((2**32 + 30_000) / 100)
    # a real restart: the reboot event, and the uptime starts from the device's again
    assert poll(500, 1200.0) == (5.0, ["reboot"])
