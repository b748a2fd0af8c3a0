"""Vendor names from the IANA enterprise number in a device's sysObjectID."""

from __future__ import annotations

ENTERPRISES = "1.3.6.1.4.1."

#: IANA private enterprise numbers of vendors whose devices clients commonly run.
VENDORS: dict[int, str] = {
    9: "Cisco",
    11: "HP",
    43: "3Com",
    171: "D-Link",
    236: "Samsung",
    253: "Xerox",
    318: "APC",
    367: "Ricoh",
    476: "Vertiv",
    534: "Eaton",
    641: "Lexmark",
    674: "Dell",
    705: "Eaton (MGE)",
    890: "Zyxel",
    1129: "Toshiba",
    1248: "Epson",
    1347: "Kyocera",
    1602: "Canon",
    2001: "OKI",
    2385: "Sharp",
    2435: "Brother",
    2636: "Juniper",
    3808: "CyberPower",
    4526: "Netgear",
    5491: "Riello",
    6574: "Synology",
    8072: "Net-SNMP",
    11863: "TP-Link",
    12356: "Fortinet",
    14823: "Aruba",
    14988: "MikroTik",
    18334: "Konica Minolta",
    24681: "QNAP",
    25506: "H3C",
    41112: "Ubiquiti",
    47196: "HPE Aruba",
}


def vendor_of(sys_object_id: str | None) -> str | None:
    """``1.3.6.1.4.1.11.2.3`` → ``HP``; None when the number is not one we know."""
    if not sys_object_id or not sys_object_id.startswith(ENTERPRISES):
        return None
    number = sys_object_id[len(ENTERPRISES) :].split(".", 1)[0]
    return VENDORS.get(int(number)) if number.isdigit() else None
