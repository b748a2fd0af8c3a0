"""Evidence of preventive work as a client reads it: "disk / on srv1: 93 % → 61 %".

Pure functions over plain values (no I/O): what a metric with its labels is called, its unit,
how a value is written, and the evidence dict every preventive item carries::

    {"text": str, "before": float | None, "after": float | None, "unit": str,
     "source": "metric" | "event" | "none", ...}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: What a metric is called in evidence text; ``{label}`` is filled from the series' labels.
NAMES: dict[str, str] = {
    "disk_used_percent": "disk {mountpoint}",
    "disk_inodes_used_percent": "inodes on {mountpoint}",
    "disk_free_bytes": "free space on {mountpoint}",
    "memory_used_percent": "memory use",
    "swap_used_percent": "swap use",
    "cpu_usage_percent": "CPU use",
    "load_average_per_core": "load per core",
    "temperature_celsius": "temperature {sensor}",
    "file_age_seconds": "age of {path}",
    "os_updates_pending": "pending updates",
    "os_security_updates_pending": "pending security updates",
    "os_reboot_required": "reboot required",
    "printer_supply_level_percent": "{supply}",
    "ups_battery_charge_percent": "UPS battery charge",
    "ups_battery_runtime_seconds": "UPS runtime",
    "tls_cert_expiry_seconds": "certificate {target} valid for",
    "service_up": "service {service} up",
    "process_up": "process {process} up",
    "smart_pending_sectors": "pending sectors on {device}",
    "smart_reallocated_sectors": "reallocated sectors on {device}",
}

_UNITS = (
    ("_percent", "%"),
    ("_seconds", "s"),
    ("_bytes", "B"),
    ("_celsius", "°C"),
    ("_volts", "V"),
    ("_watts", "W"),
    ("_ratio", ""),
)


def unit_of(metric: str) -> str:
    """The unit a metric name carries by convention (``_percent`` → ``%``), else ``""``."""
    for suffix, unit in _UNITS:
        if metric.endswith(suffix):
            return unit
    return ""


def describe(metric: str, labels: Mapping[str, str]) -> str:
    """``disk_used_percent{mountpoint="/"}`` → ``disk /``; unknown metrics read as their words."""
    template = NAMES.get(metric)
    if template is not None:
        try:
            return template.format_map(dict(labels))
        except (KeyError, ValueError):
            pass
    words = metric
    for suffix, _ in _UNITS:
        words = words.removesuffix(suffix)
    text = words.replace("_", " ")
    shown = [
        v
        for k, v in sorted(labels.items())
        if k not in ("scope", "scope_policy", "fstype", "device")
    ]
    return f"{text} {' '.join(shown)}".strip()


def _number(value: float) -> str:
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}".rstrip("0").rstrip(".")


def format_value(value: float | None, unit: str) -> str:
    """``93.4, "%"`` → ``93 %``; seconds as a duration, bytes in binary units."""
    if value is None:
        return "no data"
    if unit == "%":
        return f"{round(value):d} %" if abs(value) >= 10 else f"{_number(round(value, 1))} %"
    if unit == "s":
        return _duration(value)
    if unit == "B":
        size = float(value)
        for prefix in ("B", "KiB", "MiB", "GiB", "TiB"):
            if abs(size) < 1024 or prefix == "TiB":
                return f"{_number(round(size, 1))} {prefix}"
            size /= 1024
    return f"{_number(value)} {unit}".rstrip()


def _duration(seconds: float) -> str:
    seconds = abs(seconds)
    for size, name in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{_number(round(seconds / size, 1))} {name}"
    return f"{_number(round(seconds))} s"


def change_text(
    what: str, asset: str | None, before: float | None, after: float | None, unit: str
) -> str:
    """``disk / on srv1: 93 % → 61 %`` (``before`` unknown: just the value after)."""
    where = f"{what} on {asset}" if asset else what
    if before is None:
        return f"{where}: {format_value(after, unit)}"
    return f"{where}: {format_value(before, unit)} → {format_value(after, unit)}"


def metric_evidence(
    metric: str,
    labels: Mapping[str, str],
    asset: str | None,
    before: float | None,
    after: float | None,
) -> dict[str, Any]:
    """The evidence of a value that changed (an incident's metric, a task's metric)."""
    unit = unit_of(metric)
    return {
        "text": change_text(describe(metric, labels), asset, before, after, unit),
        "before": before,
        "after": after,
        "unit": unit,
        "source": "metric",
        "metric": metric,
        "labels": dict(labels),
    }


def supply_evidence(
    asset: str | None, data: Mapping[str, Any], message: str = ""
) -> dict[str, Any]:
    """A ``supply_replaced`` event from the agent → "black toner replaced on printer-2nd-floor"."""
    supply = str(data.get("supply") or data.get("supply_type") or "supply")
    before, after = data.get("before_percent"), data.get("after_percent")
    text = f"{supply} replaced on {asset}" if asset else f"{supply} replaced"
    if isinstance(before, int | float) and isinstance(after, int | float):
        text += f": {format_value(before, '%')} → {format_value(after, '%')}"
    else:
        before = after = None
    return {
        "text": text,
        "before": before,
        "after": after,
        "unit": "%",
        "source": "event",
        "event": "supply_replaced",
        "supply": supply,
    }


def no_evidence(title: str) -> dict[str, Any]:
    """An item whose metric cannot be read back (a per-asset rule, a series gone)."""
    return {"text": title, "before": None, "after": None, "unit": "", "source": "none"}


def several(
    what: str, parts: list[tuple[str, float | None, float | None]], unit: str, limit: int = 5
) -> str:
    """One text for a task that covers several assets: ``pending updates: srv1 14 → 0, srv2 3 → 0``."""
    shown = []
    for asset, before, after in parts[:limit]:
        value = (
            format_value(after, unit)
            if before is None
            else f"{format_value(before, unit)} → {format_value(after, unit)}"
        )
        shown.append(f"{asset} {value}")
    more = f" and {len(parts) - limit} more" if len(parts) > limit else ""
    return f"{what}: {', '.join(shown)}{more}"
