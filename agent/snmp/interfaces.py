"""Switch logic (IF-MIB), pure: interface status and per-second rates from counters.

Rates come from the 64-bit HC counters where the device has them, else the 32-bit ones.
A counter that went down either wrapped (32-bit, and the wrapped delta is plausible) or
was reset (device or line card restart, ifCounterDiscontinuityTime changed): a reset gives
no rate for that interval instead of a huge spike.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agent.checks.base import Sample
from agent.snmp.reading import DeviceReading, integer, text

WRAP32 = 2**32
WRAP64 = 2**64

#: (metric, 64-bit column, 32-bit column, octets?). Traffic is in bytes per second, the
#: base unit Prometheus conventions (and ``promtool check metrics``) ask for; a dashboard
#: that wants bit/s multiplies by 8.
RATES = (
    ("if_in_bytes_per_second", "hc_in_octets", "in_octets", True),
    ("if_out_bytes_per_second", "hc_out_octets", "out_octets", True),
    ("if_in_errors_per_second", None, "in_errors", False),
    ("if_out_errors_per_second", None, "out_errors", False),
    ("if_in_discards_per_second", None, "in_discards", False),
    ("if_out_discards_per_second", None, "out_discards", False),
)


def counter_delta(before: int, after: int, bits: int, max_delta: float | None = None) -> int | None:
    """How much a counter grew; None when it was reset rather than wrapped.

    A 32-bit counter that went down wrapped if the wrapped delta is no more than
    ``max_delta`` (what the link could carry in the interval) — or, without a link speed,
    if it was in the top quarter of its range. A 64-bit counter does not wrap in practice:
    going down is a reset.
    """
    if after >= before:
        return after - before
    if bits == 32:
        wrapped = WRAP32 - before + after
        if max_delta is not None:
            return wrapped if wrapped <= max_delta else None
        return wrapped if before >= WRAP32 * 3 // 4 else None
    return None


def interface_name(index: str, row: dict[str, Any]) -> str:
    return text(row.get("name")) or text(row.get("descr")) or f"if{index}"


def speed_bytes(row: dict[str, Any]) -> float | None:
    """Link speed in bytes/s: ifHighSpeed (Mbit/s) when set, else ifSpeed (bit/s;
    saturates at 4.29 Gbit/s)."""
    high = integer(row.get("high_speed"))
    if high:
        return high * 1e6 / 8
    speed = integer(row.get("speed"))
    return speed / 8 if speed else None


def evaluate(reading: DeviceReading, memory: dict[str, Any], now: float) -> Iterator[Sample]:
    """The switch profile's hook."""
    previous: dict[str, dict[str, Any]] = memory.get("interfaces", {})
    current: dict[str, dict[str, Any]] = {}
    names: set[str] = set()
    for index, row in sorted(
        reading.table("interfaces").items(),
        key=lambda item: int(item[0]) if item[0].isdigit() else 0,
    ):
        name = interface_name(index, row)
        if name in names:
            name = f"{name} ({index})"
        names.add(name)
        labels = {"interface": name, "alias": text(row.get("alias"))}
        for metric, column in (
            ("if_oper_status", "oper_status"),
            ("if_admin_status", "admin_status"),
        ):
            value = integer(row.get(column))
            if value is not None:
                yield Sample(metric, float(value), labels)
        speed = speed_bytes(row)
        if speed is not None:
            yield Sample("if_speed_bytes_per_second", speed, labels)

        state = {"ts": now, "discontinuity": row.get("discontinuity")}
        before = previous.get(index)
        reset = before is not None and before.get("discontinuity") != row.get("discontinuity")
        for metric, hc_column, column, octets in RATES:
            value, bits, key = integer(row.get(hc_column)) if hc_column else None, 64, hc_column
            if value is None:
                value, bits, key = integer(row.get(column)), 32, column
            if value is None or key is None:
                continue
            state[key] = value
            if before is None or reset or key not in before:
                continue
            elapsed = now - before["ts"]
            if elapsed <= 0:
                continue
            limit = speed * elapsed * 1.1 if speed and octets else None
            delta = counter_delta(before[key], value, bits, limit)
            if delta is not None:
                yield Sample(metric, delta / elapsed, labels)
        current[index] = state
    memory["interfaces"] = current
