"""What one poll read from a device, as plain Python values (no pysnmp types).

Integers (INTEGER, Counter32/64, Gauge32, TimeTicks) are ``int``, OCTET STRINGs are
``bytes``, OBJECT IDENTIFIERs and IpAddresses are dotted ``str``; a missing object is
absent. Decoding logic (printer, switch, UPS) works on this, so it is tested with plain
values and recorded readings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: table name → row index (dotted, e.g. "1.2") → column name → value
Tables = dict[str, dict[str, dict[str, Any]]]


@dataclass(slots=True)
class DeviceReading:
    """Scalars and tables read in one poll, keyed by the names the profile gives them."""

    scalars: dict[str, Any] = field(default_factory=dict)
    tables: Tables = field(default_factory=dict)

    def table(self, name: str) -> dict[str, dict[str, Any]]:
        return self.tables.get(name) or {}


def text(value: Any) -> str:
    """A DisplayString as text: UTF-8 (Latin-1 if that fails), without NULs and padding."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        try:
            decoded = value.decode("utf-8")
        except UnicodeDecodeError:
            decoded = value.decode("latin-1")
        return decoded.replace("\x00", "").strip()
    return str(value).strip()


def integer(value: Any) -> int | None:
    """An INTEGER-like value, or None when the device sent something else (garbage, a string)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    return None
