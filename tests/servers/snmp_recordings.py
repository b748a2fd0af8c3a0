"""Simulated devices for snmpsim, written from the MIB definitions (RFC 3805 Printer-MIB,
RFC 2790 HOST-RESOURCES-MIB, RFC 2863 IF-MIB, RFC 1628 UPS-MIB, RFC 4133 ENTITY-MIB).

Each device is a list of (OID, type, value) rows; :func:`write_recordings` writes them as
``<community>.snmprec`` files (``OID|TAG|VALUE``, sorted by OID) for snmpsim. Tags: 2
INTEGER, 4 OCTET STRING (4x: hex), 6 OBJECT IDENTIFIER, 65 Counter32, 66 Gauge32,
67 TimeTicks, 70 Counter64.
"""

from __future__ import annotations

from pathlib import Path

Row = tuple[str, str, object]

HR_PRINTER = "1.3.6.1.2.1.25.3.1.5"
HR_NETWORK = "1.3.6.1.2.1.25.3.1.4"


def system(descr: str, object_id: str, name: str, uptime: int = 12_345_600) -> list[Row]:
    return [
        ("1.3.6.1.2.1.1.1.0", "4", descr),
        ("1.3.6.1.2.1.1.2.0", "6", object_id),
        ("1.3.6.1.2.1.1.3.0", "67", uptime),
        ("1.3.6.1.2.1.1.4.0", "4", "helpdesk@example.net"),
        ("1.3.6.1.2.1.1.5.0", "4", name),
        ("1.3.6.1.2.1.1.6.0", "4", "2nd floor"),
    ]


def printer(
    *,
    descr: str,
    model: str,
    serial: str,
    error_state_hex: str,
    device_status: int,
    printer_status: int,
    supplies: list[tuple[int, int, int, str, int, int]],
    colorants: list[str],
    covers: list[tuple[str, int]],
    trays: list[tuple[str, int, int]],
    pages: int,
    alerts: list[tuple[int, int, int, str]] = (),
    name: str = "printer",
    object_id: str = "1.3.6.1.4.1.11.2.3.9.1",
    uptime: int = 12_345_600,
) -> list[Row]:
    """supplies: (colorant index, class, type, description, max capacity, level).

    prtMarkerSuppliesClass: 3 supplyThatIsConsumed, 4 receptacleThatIsFilled (its level is
    the remaining space). prtMarkerSuppliesType (PrtMarkerSuppliesTypeTC): 3 toner,
    4 wasteToner, 5 ink, 6 inkCartridge, 9 opc, 10 developer, 15 fuser, 20 transferUnit,
    21 tonerCartridge. ``colorants`` empty: no prtMarkerColorantTable at all.
    """
    rows = system(descr, object_id, name, uptime)
    # hrDeviceTable: 1 = the printer, 2 = its network interface.
    rows += [
        ("1.3.6.1.2.1.25.3.2.1.1.1", "2", 1),
        ("1.3.6.1.2.1.25.3.2.1.1.2", "2", 2),
        ("1.3.6.1.2.1.25.3.2.1.2.1", "6", HR_PRINTER),
        ("1.3.6.1.2.1.25.3.2.1.2.2", "6", HR_NETWORK),
        ("1.3.6.1.2.1.25.3.2.1.3.1", "4", model),
        ("1.3.6.1.2.1.25.3.2.1.3.2", "4", "Ethernet"),
        ("1.3.6.1.2.1.25.3.2.1.5.1", "2", device_status),
        ("1.3.6.1.2.1.25.3.2.1.5.2", "2", 2),
        ("1.3.6.1.2.1.25.3.5.1.1.1", "2", printer_status),
        ("1.3.6.1.2.1.25.3.5.1.2.1", "4x", error_state_hex),
        ("1.3.6.1.2.1.43.5.1.1.16.1", "4", model),
        ("1.3.6.1.2.1.43.5.1.1.17.1", "4", serial),
    ]
    for i, (description, status) in enumerate(covers, 1):
        rows += [
            (f"1.3.6.1.2.1.43.6.1.1.2.1.{i}", "4", description),
            (f"1.3.6.1.2.1.43.6.1.1.3.1.{i}", "2", status),
        ]
    for i, (tray, capacity, level) in enumerate(trays, 1):
        rows += [
            (f"1.3.6.1.2.1.43.8.2.1.2.1.{i}", "2", 4),
            (f"1.3.6.1.2.1.43.8.2.1.9.1.{i}", "2", capacity),
            (f"1.3.6.1.2.1.43.8.2.1.10.1.{i}", "2", level),
            (f"1.3.6.1.2.1.43.8.2.1.13.1.{i}", "4", tray),
        ]
    rows += [
        ("1.3.6.1.2.1.43.10.2.1.2.1.1", "2", 4),
        ("1.3.6.1.2.1.43.10.2.1.3.1.1", "2", 7),
        ("1.3.6.1.2.1.43.10.2.1.4.1.1", "65", pages),
    ]
    for i, (colorant, klass, kind, description, capacity, level) in enumerate(supplies, 1):
        rows += [
            (f"1.3.6.1.2.1.43.11.1.1.2.1.{i}", "2", 1),
            (f"1.3.6.1.2.1.43.11.1.1.3.1.{i}", "2", colorant),
            (f"1.3.6.1.2.1.43.11.1.1.4.1.{i}", "2", klass),
            (f"1.3.6.1.2.1.43.11.1.1.5.1.{i}", "2", kind),
            (f"1.3.6.1.2.1.43.11.1.1.6.1.{i}", "4", description),
            (f"1.3.6.1.2.1.43.11.1.1.7.1.{i}", "2", 19),
            (f"1.3.6.1.2.1.43.11.1.1.8.1.{i}", "2", capacity),
            (f"1.3.6.1.2.1.43.11.1.1.9.1.{i}", "2", level),
        ]
    for i, color in enumerate(colorants, 1):
        rows += [
            (f"1.3.6.1.2.1.43.12.1.1.2.1.{i}", "2", 1),
            (f"1.3.6.1.2.1.43.12.1.1.4.1.{i}", "4", color),
        ]
    for i, (severity, group, code, description) in enumerate(alerts, 1):
        rows += [
            (f"1.3.6.1.2.1.43.18.1.1.2.1.{i}", "2", severity),
            (f"1.3.6.1.2.1.43.18.1.1.4.1.{i}", "2", group),
            (f"1.3.6.1.2.1.43.18.1.1.7.1.{i}", "2", code),
            (f"1.3.6.1.2.1.43.18.1.1.8.1.{i}", "4", description),
            (f"1.3.6.1.2.1.43.18.1.1.9.1.{i}", "67", 1000 + i),
        ]
    return rows


def mono_printer() -> list[Row]:
    """A mono laser: toner only says "some remaining" (-3), lowToner + doorOpen set in a
    ONE-byte error state (the second byte is missing), front door open, a toner alert."""
    return printer(
        descr="HP LaserJet Pro M404dn, FW 002.2149A",
        model="HP LaserJet Pro M404dn",
        serial="PHBQX12345",
        error_state_hex="28",
        device_status=3,
        printer_status=3,
        supplies=[
            (1, 3, 21, "Black Cartridge HP CF259A", 100, -3),
            (0, 3, 9, "Imaging Drum", 23000, 9200),
        ],
        colorants=["black"],
        covers=[("Front Door", 3)],
        trays=[("Tray 1", 100, 0), ("Tray 2", 250, -3)],
        pages=48213,
        alerts=[(4, 11, 804, "Black cartridge low"), (3, 6, 501, "Door open")],
        name="printer-mono",
    )


def color_printer() -> list[Row]:
    """A colour laser: four cartridges at known levels (80, 75, 50, 0 %), a waste toner box
    that reports unknown (-2), no errors (two zero bytes), covers closed."""
    return printer(
        descr="Brother HL-L8360CDW",
        model="Brother HL-L8360CDW",
        serial="E78123K0N456789",
        error_state_hex="0000",
        device_status=2,
        printer_status=4,
        supplies=[
            (1, 3, 3, "Black Toner", 100, 80),
            (2, 3, 3, "Cyan Toner", 2000, 1500),
            (3, 3, 3, "Magenta Toner", 1000, 500),
            (4, 3, 3, "Yellow Toner", 1000, 0),
            (0, 4, 4, "Waste Toner Box", -2, -2),
        ],
        colorants=["black", "cyan", "magenta", "yellow"],
        covers=[("Top Cover", 4)],
        trays=[("MP Tray", 50, 50), ("Tray 1", 250, 200)],
        pages=120034,
        name="printer-color",
        object_id="1.3.6.1.4.1.2435.2.3.9.1",
    )


def replaced_printer(level: int) -> list[Row]:
    return printer(
        descr="Kyocera ECOSYS P2040dn",
        model="ECOSYS P2040dn",
        serial="VCF8Z12345",
        error_state_hex="0000",
        device_status=2,
        printer_status=3,
        supplies=[(1, 3, 3, "TK-1160", 7200, level)],
        colorants=["black"],
        covers=[],
        trays=[("Cassette 1", 250, 120)],
        pages=8000,
        name="printer-kyocera",
        object_id="1.3.6.1.4.1.1347.41",
    )


def hp_color_cartridges() -> list[Row]:
    """An HP Color LaserJet: four tonerCartridge (21) supplies with a colorant table, yellow at
    9 % (the shape that never fired toner-low), a toner collection unit (wasteToner,
    receptacle) that only says "some space remaining" (-3)."""
    return printer(
        descr="HP Color LaserJet Pro M454dw",
        model="HP Color LaserJet Pro M454dw",
        serial="VNB3K12345",
        error_state_hex="0000",
        device_status=2,
        printer_status=3,
        supplies=[
            (1, 3, 21, "Black Cartridge HP W2030A", 2400, 1560),
            (2, 3, 21, "Cyan Cartridge HP W2031A", 2100, 840),
            (3, 3, 21, "Magenta Cartridge HP W2033A", 2100, 735),
            (4, 3, 21, "Yellow Cartridge HP W2032A", 2100, 189),
            (0, 4, 4, "Toner Collection Unit HP 3WT90A", -2, -3),
        ],
        colorants=["black", "cyan", "magenta", "yellow"],
        covers=[("Front Door", 4)],
        trays=[("Tray 1", 50, 20), ("Tray 2", 250, 180)],
        pages=18230,
        name="printer-hp-color",
    )


def canon_ink_no_colorants() -> list[Row]:
    """A Canon inkjet: inkCartridge (6) supplies, NO colorant table (indexes 1..4 point at
    nothing), colour only in the descriptions in Canon's spellings; yellow at 8 %, a
    waste-ink absorber (wasteInk, receptacle) with 12 % of its space left (88 % full)."""
    return printer(
        descr="Canon MAXIFY GX7050",
        model="Canon GX7000 series",
        serial="KMQA01234",
        error_state_hex="0000",
        device_status=2,
        printer_status=3,
        supplies=[
            (1, 3, 6, "CANON Matte Black Ink Tank", 100, 70),
            (2, 3, 6, "Cyan Ink Tank GI-56 C", 100, 55),
            (3, 3, 6, "Magenta Ink Tank GI-56 M", 100, 50),
            (4, 3, 6, "Yellow Ink Tank GI-56 Y", 100, 8),
            (0, 4, 8, "Maintenance Cartridge MC-G02", 100, 12),
        ],
        colorants=[],
        covers=[],
        trays=[("Cassette", 250, 100)],
        pages=5120,
        name="printer-canon-ink",
        object_id="1.3.6.1.4.1.1602.4.7",
    )


def empty_toner_unknown_capacity() -> list[Row]:
    """A Kyocera that lost track of its capacity: toner level 0 with max -2, and the noToner
    bit set; a colorant index (2) that the colorant table (one row) does not have, so the
    drum's colour is read from its description ("Drum Unit (Black)")."""
    return printer(
        descr="KYOCERA Document Solutions Printing System",
        model="ECOSYS P2235dn",
        serial="VCG9X10001",
        error_state_hex="1000",  # bit 3: noToner
        device_status=5,
        printer_status=1,
        supplies=[
            (1, 3, 3, "TK-1160", -2, 0),
            (2, 3, 9, "Drum Unit (Black)", 100000, 61000),
        ],
        colorants=["unknown"],
        covers=[],
        trays=[("Cassette 1", 250, 120)],
        pages=30011,
        name="printer-kyocera-empty",
        object_id="1.3.6.1.4.1.1347.41",
    )


def duplicate_descriptions() -> list[Row]:
    """A colour MFP (Konica-style) whose four drums and four toners share descriptions
    ("Toner", "Drum Unit"), colours from the colorant table; one drum nearly worn (3 %), the
    waste toner box 95 % full (5 of 100 space left); restarted 10 minutes ago."""
    supplies = []
    for colorant in range(1, 5):
        supplies.append((colorant, 3, 3, "Toner", 1000, 500))
    for colorant in range(1, 5):
        supplies.append((colorant, 3, 9, "Drum Unit", 100, 3 if colorant == 2 else 60))
    supplies.append((0, 4, 4, "Waste Toner Box", 100, 5))
    return printer(
        descr="KONICA MINOLTA bizhub C300i",
        model="bizhub C300i",
        serial="AA2J021012345",
        error_state_hex="0000",
        device_status=2,
        printer_status=3,
        supplies=supplies,
        colorants=["yellow", "magenta", "cyan", "black"],
        covers=[("Front Door", 4)],
        trays=[("Tray1", 500, 400)],
        pages=210456,
        name="printer-dupes",
        object_id="1.3.6.1.4.1.18334.1.1.1.2.1.183",
        uptime=60_000,  # 10 minutes
    )


def ups_device(
    *,
    name: str,
    descr: str,
    object_id: str,
    manufacturer: str,
    model: str,
    scalars: dict[str, tuple[str, object]],
    uptime: int = 12_345_600,
) -> list[Row]:
    """A UPS-MIB device; ``scalars``: upsBattery/upsOutput object → (tag, value)."""
    u = "1.3.6.1.2.1.33.1."
    objects = {
        "battery_status": "2.1.0",
        "seconds_on_battery": "2.2.0",
        "minutes_remaining": "2.3.0",
        "charge": "2.4.0",
        "battery_voltage": "2.5.0",
        "battery_temperature": "2.7.0",
        "input_frequency": "3.3.1.2.1",
        "input_voltage": "3.3.1.3.1",
        "output_source": "4.1.0",
        "output_voltage": "4.4.1.2.1",
        "output_current": "4.4.1.3.1",
        "output_power": "4.4.1.4.1",
        "output_load": "4.4.1.5.1",
        "alarms_present": "6.1.0",
    }
    rows = system(descr, object_id, name, uptime) + [
        (u + "1.1.0", "4", manufacturer),
        (u + "1.2.0", "4", model),
    ]
    for key, (tag, value) in scalars.items():
        rows.append((u + objects[key], tag, value))
    return rows


def ups_all_ones() -> list[Row]:
    """A UPS on mains that cannot estimate: upsEstimatedMinutesRemaining and
    upsSecondsOnBattery as all-ones (4294967295, sent as Gauge32 by its firmware), charge
    100 %, no alarms."""
    return ups_device(
        name="ups-allones",
        descr="CyberPower OL1500ERTXL2U",
        object_id="1.3.6.1.4.1.3808.1.1.1",
        manufacturer="CyberPower",
        model="OL1500ERTXL2U",
        scalars={
            "battery_status": ("2", 2),
            "seconds_on_battery": ("66", 4294967295),
            "minutes_remaining": ("66", 4294967295),
            "charge": ("2", 100),
            "battery_voltage": ("2", 545),
            "input_frequency": ("2", 500),
            "input_voltage": ("2", 231),
            "output_source": ("2", 3),
            "output_voltage": ("2", 230),
            "output_load": ("2", 21),
            "alarms_present": ("66", 0),
        },
    )


def ups_65535() -> list[Row]:
    """A UPS whose "not available" is 65535 (16-bit all-ones): runtime, battery temperature
    and output power; restarted 10 minutes ago (a firmware update)."""
    return ups_device(
        name="ups-65535",
        descr="Riello Sentinel Pro SEP 1500",
        object_id="1.3.6.1.4.1.5491.6",
        manufacturer="RPS SpA",
        model="SEP 1500",
        scalars={
            "battery_status": ("2", 2),
            "seconds_on_battery": ("2", 0),
            "minutes_remaining": ("2", 65535),
            "charge": ("2", 98),
            "battery_temperature": ("2", 65535),
            "input_voltage": ("2", 229),
            "output_source": ("2", 3),
            "output_voltage": ("2", 229),
            "output_power": ("2", 65535),
            "output_load": ("2", 35),
            "alarms_present": ("66", 0),
        },
        uptime=60_000,
    )


def ups_on_battery() -> list[Row]:
    """An Eaton UPS running on battery for 95 s: 87 % charge, 14 min left, onBattery alarm."""
    u = "1.3.6.1.2.1.33.1."
    return system("Eaton 5PX 1500", "1.3.6.1.4.1.534.1", "ups-rack") + [
        (u + "1.1.0", "4", "EATON"),
        (u + "1.2.0", "4", "5PX 1500"),
        (u + "1.3.0", "4", "INV: 1.40"),
        (u + "1.5.0", "4", "ups-rack"),
        (u + "2.1.0", "2", 2),
        (u + "2.2.0", "2", 95),
        (u + "2.3.0", "2", 14),
        (u + "2.4.0", "2", 87),
        (u + "2.5.0", "2", 545),
        (u + "2.7.0", "2", 27),
        (u + "3.3.1.2.1", "2", 0),
        (u + "3.3.1.3.1", "2", 0),
        (u + "4.1.0", "2", 5),
        (u + "4.2.0", "2", 500),
        (u + "4.4.1.2.1", "2", 230),
        (u + "4.4.1.3.1", "2", 31),
        (u + "4.4.1.4.1", "2", 650),
        (u + "4.4.1.5.1", "2", 43),
        (u + "6.1.0", "66", 1),
        (u + "6.2.1.2.1", "6", u + "6.3.2"),
        (u + "6.2.1.3.1", "67", 12_345_000),
    ]


def switch(
    ports: int = 48, down: tuple[int, ...] = (3,), octets: int = 10**9, name: str = "switch-48"
) -> list[Row]:
    """A 48-port gigabit switch with 64-bit counters; port 3 is down, port 1 is the uplink."""
    rows = system("Cisco IOS Software, C2960X", "1.3.6.1.4.1.9.1.1208", name)
    rows += [
        ("1.3.6.1.2.1.17.1.2.0", "2", ports),
        ("1.3.6.1.2.1.47.1.1.1.1.11.1", "4", "FOC1234X0AB"),
        ("1.3.6.1.2.1.47.1.1.1.1.13.1", "4", "WS-C2960X-48TS-L"),
    ]
    for i in range(1, ports + 1):
        up = i not in down
        t, x = "1.3.6.1.2.1.2.2.1.", "1.3.6.1.2.1.31.1.1.1."
        rows += [
            (f"{t}1.{i}", "2", i),
            (f"{t}2.{i}", "4", f"GigabitEthernet1/0/{i}"),
            (f"{t}3.{i}", "2", 6),
            (f"{t}5.{i}", "66", 1_000_000_000 if up else 10_000_000),
            (f"{t}7.{i}", "2", 1),
            (f"{t}8.{i}", "2", 1 if up else 2),
            (f"{t}10.{i}", "65", (octets * i) % 2**32),
            (f"{t}13.{i}", "65", 0),
            (f"{t}14.{i}", "65", i % 3),
            (f"{t}16.{i}", "65", (octets * 2 * i) % 2**32),
            (f"{t}19.{i}", "65", 0),
            (f"{t}20.{i}", "65", 0),
            (f"{x}1.{i}", "4", f"Gi1/0/{i}"),
            (f"{x}6.{i}", "70", octets * i),
            (f"{x}10.{i}", "70", octets * 2 * i),
            (f"{x}15.{i}", "66", 1000 if up else 10),
            (f"{x}18.{i}", "4", "uplink" if i == 1 else ""),
            (f"{x}19.{i}", "67", 0),
        ]
    return rows


def switch_without_ifx(ports: int = 8) -> list[Row]:
    """An old switch without ifXTable: no ifName, no 64-bit counters, no ifHighSpeed; port 2
    is down (enabled), port 8 is a 10G uplink whose ifSpeed saturates at 4294967295."""
    rows = system("ProCurve J4899B Switch 2650", "1.3.6.1.4.1.11.2.3.7.11.44", "switch-old")
    t = "1.3.6.1.2.1.2.2.1."
    for i in range(1, ports + 1):
        up = i != 2
        rows += [
            (f"{t}1.{i}", "2", i),
            (f"{t}2.{i}", "4", f"Port {i}"),
            (f"{t}3.{i}", "2", 6),
            (f"{t}5.{i}", "66", 4294967295 if i == 8 else 100_000_000),
            (f"{t}7.{i}", "2", 1),
            (f"{t}8.{i}", "2", 1 if up else 2),
            (f"{t}10.{i}", "65", 1000 * i),
            (f"{t}13.{i}", "65", 0),
            (f"{t}14.{i}", "65", 0),
            (f"{t}16.{i}", "65", 2000 * i),
            (f"{t}19.{i}", "65", 0),
            (f"{t}20.{i}", "65", 0),
        ]
    return rows


def snmprec(rows: list[Row]) -> str:
    ordered = sorted(rows, key=lambda row: tuple(int(p) for p in row[0].split(".")))
    return "".join(f"{oid}|{tag}|{value}\n" for oid, tag, value in ordered)


#: community → device rows
DEVICES = {
    "printer-mono": mono_printer,
    "printer-color": color_printer,
    "printer-replaced-before": lambda: replaced_printer(360),  # 5 % of 7200
    "printer-replaced-after": lambda: replaced_printer(7200),  # a new cartridge: 100 %
    "ups-onbattery": ups_on_battery,
    "ups-allones": ups_all_ones,
    "ups-65535": ups_65535,
    "printer-hp-color": hp_color_cartridges,
    "printer-canon-ink": canon_ink_no_colorants,
    "printer-kyocera-empty": empty_toner_unknown_capacity,
    "printer-dupes": duplicate_descriptions,
    "switch-old": switch_without_ifx,
    "switch-48": switch,
    "switch-48-later": lambda: switch(octets=10**9 + 10**7),
}


def write_recordings(data_dir: Path) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    for community, make in DEVICES.items():
        (data_dir / f"{community}.snmprec").write_text(snmprec(make()), encoding="utf-8")
    return data_dir
