"""``upkeep-agent discover``: find the SNMP devices in an address range the admin names,
tell printers, UPSes and switches apart, and write the ``snmp:`` config for them.

One request per address and community (a GETBULK with the identifying scalars as
non-repeaters and one row of each identifying column; GETNEXTs on SNMPv1), all on the
agent's one SNMP loop and engine, many addresses at a time.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from agent.snmp.config import Credentials
from agent.snmp.reading import text

#: Larger ranges need ``--force``: a /22 is 1,022 addresses, the most an office has.
MAX_ADDRESSES = 1024

SCALARS = {
    "sys_descr": (1, 3, 6, 1, 2, 1, 1, 1, 0),
    "sys_object_id": (1, 3, 6, 1, 2, 1, 1, 2, 0),
    "sys_name": (1, 3, 6, 1, 2, 1, 1, 5, 0),
    "if_number": (1, 3, 6, 1, 2, 1, 2, 1, 0),  # IF-MIB ifNumber
    "bridge_ports": (1, 3, 6, 1, 2, 1, 17, 1, 2, 0),  # BRIDGE-MIB dot1dBaseNumPorts
    "ups_model": (1, 3, 6, 1, 2, 1, 33, 1, 1, 2, 0),  # UPS-MIB upsIdentModel
}
COLUMNS = {
    "hr_device_type": (1, 3, 6, 1, 2, 1, 25, 3, 2, 1, 2),  # HOST-RESOURCES-MIB hrDeviceType
    "hr_printer_status": (1, 3, 6, 1, 2, 1, 25, 3, 5, 1, 1),  # hrPrinterStatus
    "printer_name": (1, 3, 6, 1, 2, 1, 43, 5, 1, 1, 16),  # Printer-MIB prtGeneralPrinterName
    "if_index": (1, 3, 6, 1, 2, 1, 2, 2, 1, 1),  # ifIndex, where ifNumber is missing
}
#: Rows read per column: one says the table exists; hrDeviceType needs a few (a print
#: server lists processors and network cards before the printer).
ROWS = {"hr_device_type": 16, "hr_printer_status": 1, "printer_name": 1, "if_index": 1}
HR_DEVICE_PRINTER = "1.3.6.1.2.1.25.3.1.5"
NAME_CHARS = re.compile(r"[^A-Za-z0-9._\-]+")


class RangeError(ValueError):
    """The range is not a network, or is larger than allowed without ``--force``."""


def addresses(cidr: str, force: bool = False) -> list[str]:
    """The host addresses of ``cidr`` (a bare address is one host)."""
    try:
        network = ipaddress.ip_network(cidr, strict=False)
    except ValueError as exc:
        raise RangeError(
            f"{cidr!r} is not an address range (write e.g. 192.168.1.0/24): {exc}"
        ) from None
    if network.num_addresses > MAX_ADDRESSES and not force:
        raise RangeError(
            f"{cidr} has {network.num_addresses} addresses; ranges above {MAX_ADDRESSES} "
            "(/22 for IPv4) need --force"
        )
    if network.num_addresses <= 2:  # /32, /31 (and IPv6 /128, /127): every address is a host
        return [str(a) for a in network]
    return [str(a) for a in network.hosts()]


@dataclass
class FoundDevice:
    """An address that answered, what it said, and the profile that fits it."""

    address: str
    community: str
    profile: str
    sys_name: str = ""
    sys_descr: str = ""
    details: dict[str, Any] = field(default_factory=dict)


def classify(scalars: dict[str, Any], columns: dict[str, dict[str, Any]]) -> str:
    """printer | ups | switch | generic, from what the identifying objects said."""
    device_types = {str(v) for v in columns.get("hr_device_type", {}).values()}
    if (
        HR_DEVICE_PRINTER in device_types
        or columns.get("printer_name")
        or columns.get("hr_printer_status")
    ):
        return "printer"
    if scalars.get("ups_model") is not None:
        return "ups"
    has_interfaces = scalars.get("if_number") is not None or bool(columns.get("if_index"))
    if (
        has_interfaces
        and isinstance(scalars.get("bridge_ports"), int)
        and scalars["bridge_ports"] > 0
    ):
        return "switch"
    return "generic"


async def probe(
    snmp: Any,
    address: str,
    port: int,
    communities: list[str],
    version: str,
    timeout: float,
    retries: int,
) -> FoundDevice | None:
    """Ask one address with each community in turn; None if none answers."""
    from agent.snmp.engine import DeviceSession, SnmpError

    for community in communities:
        session = DeviceSession(
            snmp, address, port, Credentials(version, community=community), timeout, retries
        )
        limits = {COLUMNS[name]: rows for name, rows in ROWS.items()}
        try:
            values, scalar_values = await session.walk(
                list(COLUMNS.values()), max(ROWS.values()), limits, list(SCALARS.values())
            )
        except (SnmpError, OSError):
            continue
        by_oid = {oid: name for name, oid in SCALARS.items()}
        scalars = {by_oid[oid]: value for oid, value in scalar_values.items()}
        if not scalars and not any(values.values()):
            continue  # answered, but not one object: wrong view or an empty agent
        columns = {name: values.get(oid, {}) for name, oid in COLUMNS.items()}
        found = FoundDevice(
            address,
            community,
            classify(scalars, columns),
            text(scalars.get("sys_name")) or "",
            text(scalars.get("sys_descr")) or "",
        )
        if model := text(scalars.get("ups_model")):
            found.details["model"] = model
        if printer := next(iter(columns["printer_name"].values()), None):
            found.details["model"] = text(printer)
        return found
    return None


async def discover(
    snmp: Any,
    hosts: list[str],
    port: int,
    communities: list[str],
    version: str,
    timeout: float,
    retries: int,
    concurrency: int = 64,
) -> list[FoundDevice]:
    limit = asyncio.Semaphore(concurrency)

    async def one(address: str) -> FoundDevice | None:
        async with limit:
            return await probe(snmp, address, port, communities, version, timeout, retries)

    return [found for found in await asyncio.gather(*(one(a) for a in hosts)) if found is not None]


def target_name(found: FoundDevice, taken: set[str]) -> str:
    """sysName made a valid asset name, else ``<profile>-<address>``; unique in the snippet."""
    base = NAME_CHARS.sub("-", found.sys_name).strip("-.")[:100]
    if not base or not base[0].isalnum():
        base = f"{found.profile}-{NAME_CHARS.sub('-', found.address)}"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    taken.add(name)
    return name


def config_snippet(
    devices: list[FoundDevice], port: int, version: str, community_file: str | None
) -> str:
    """The ``snmp:`` section for the devices found, as YAML with a comment per device."""
    lines = ["snmp:", "  targets:"]
    taken: set[str] = set()
    communities = {d.community for d in devices}
    for found in devices:
        target: dict[str, Any] = {"name": target_name(found, taken), "address": found.address}
        if port != 161:
            target["port"] = port
        target["profile"] = found.profile
        target["version"] = version
        if community_file and len(communities) == 1:
            target["community_file"] = community_file
        else:
            target["community"] = found.community
        about = " — ".join(
            x
            for x in (
                found.details.get("model"),
                found.sys_descr.splitlines()[0][:100] if found.sys_descr else "",
            )
            if x
        )
        if about:
            lines.append(f"    # {about}")
        body = yaml.safe_dump(
            [target], sort_keys=False, allow_unicode=True, default_flow_style=False
        )
        lines += ["    " + line for line in body.rstrip("\n").splitlines()]
    if not devices:
        lines[-1] = "  targets: []"
    return "\n".join(lines) + "\n"
