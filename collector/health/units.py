"""A metric value in a person's terms: ``12.3 GiB``, ``87.5 %``, ``3 days``, ``1.2 MB/s``.

Pure functions of a number and the catalog's unit (``bytes``, ``percent``, ``seconds``, …).
The charts' axes use the same unit names (``collector/web/static/asset-charts.js``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
_DECIMAL_RATE = ("B/s", "kB/s", "MB/s", "GB/s", "TB/s")
_SUFFIX = {
    "celsius": " °C",
    "volts": " V",
    "watts": " W",
    "hertz": " Hz",
    "per_second": " /s",
}


def _short(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{value:.2f}".rstrip("0").rstrip(".")


def duration(seconds: float) -> str:
    """``3 days``, ``5 hours``, ``12 minutes``, ``40 seconds`` (whole units, rounded down
    above two of the next smaller unit, so "3 days" means at least three)."""
    seconds = abs(float(seconds))
    for unit, size in (("year", 365 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size * (1 if unit == "minute" else 2):
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    count = int(seconds)
    return f"{count} second{'s' if count != 1 else ''}"


def scaled(value: float, units: tuple[str, ...], step: float) -> str:
    sign = "-" if value < 0 else ""
    value = abs(value)
    index = 0
    while value >= step and index < len(units) - 1:
        value /= step
        index += 1
    return f"{sign}{_short(value)} {units[index]}"


def human(value: float | None, unit: str, states: Mapping[int, str] | None = None) -> str:
    """``value`` with its unit; an enumeration code by its name (``states``)."""
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    if states:
        name = states.get(int(value)) if float(value).is_integer() else None
        if name is not None:
            return name
    if unit == "bytes":
        return scaled(value, _BINARY, 1024.0)
    if unit == "bytes_per_second":
        return scaled(value, _DECIMAL_RATE, 1000.0)
    if unit == "percent":
        return f"{_short(value)} %"
    if unit == "seconds":
        if abs(value) < 1:
            return f"{_short(value * 1000)} ms"
        return duration(value)
    if unit in _SUFFIX:
        return _short(value) + _SUFFIX[unit]
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    if abs(value) >= 1e6:
        return f"{value:.4g}"
    return _short(value)
