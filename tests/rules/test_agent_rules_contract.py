"""The contract between the agent and the rule packs, end to end.

For every simulated device (tests/servers/snmp_recordings.py, served by a real snmpsim),
the real agent — ``upkeep-agent once --print`` in a subprocess, so exactly what it would
ship — polls it; its samples, held for two hours at a 5-minute poll interval (a device that
stays as it is), go through every shipped rule pack with the ``upkeep rules test``
machinery. :data:`EXPECTED` says which rules fire for each recording. This is the test
that would have caught ``toner-low`` never firing on ``toner_cartridge`` supplies.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from collector.rules.testing import format_result, run_file
from tests.servers.snmp import SnmpsimProcess
from tests.servers.snmp_recordings import DEVICES, write_recordings

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "rules"
PACKS = sorted(p for p in RULES.glob("*.yaml") if not p.name.endswith(".test.yaml"))

#: recording (its community) → profile → the rules that fire on what the agent reads there,
#: ``rule:severity`` where the severity matters (a rule listed twice fires for two series).
EXPECTED: dict[str, tuple[str, list[str]]] = {
    # toner only "some remaining" (-3), lowToner + doorOpen bits: the open door alerts
    "printer-mono": ("printer", ["cover-open"]),
    # yellow toner (type 3) at level 0 of 1000: 0 %, critical
    "printer-color": ("printer", ["toner-low:critical"]),
    "printer-replaced-before": ("printer", ["toner-low:warning"]),  # 5 %
    "printer-replaced-after": ("printer", []),
    # HP tonerCartridge (21) supplies, yellow at 9 % (the bug: this never fired)
    "printer-hp-color": ("printer", ["toner-low:warning"]),
    # Canon inkCartridge (6) without a colorant table, yellow at 8 %; waste ink 88 % full
    "printer-canon-ink": ("printer", ["toner-low:warning"]),
    # level 0 with unknown capacity (-2) is 0 %: toner-low critical, and the noToner bit
    "printer-kyocera-empty": ("printer", ["toner-low:critical", "toner-empty"]),
    # duplicate descriptions, one drum at 3 %, the waste box 95 % full, restarted 10 min ago
    "printer-dupes": (
        "printer",
        ["drum-worn", "waste-toner-full:warning", "snmp-device-rebooted"],
    ),
    "ups-onbattery": ("ups", ["ups-on-battery"]),
    # all-ones runtime / seconds on battery: absent, so nothing fires on a fake number
    "ups-allones": ("ups", []),
    # 65535 runtime/temperature/power dropped; restarted 10 minutes ago
    "ups-65535": ("ups", ["snmp-device-rebooted"]),
    "switch-48": ("switch", ["link-down"]),  # port 3 down, enabled
    # no ifXTable: names from ifDescr, port 2 down; the saturated 10G ifSpeed is no speed
    "switch-old": ("switch", ["link-down"]),
}


def test_every_recording_has_an_expectation() -> None:
    assert set(EXPECTED) == {c for c in DEVICES if not c.endswith("-later")}


@pytest.fixture(scope="module")
def agent_output(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """One ``upkeep-agent once --print`` over every recording (one target per recording)."""
    root = tmp_path_factory.mktemp("contract")
    data = write_recordings(root / "data")
    with SnmpsimProcess(data, root / "sim").start("printer-mono") as sim:
        config = {
            "collector": {"url": "http://127.0.0.1:9"},
            "state_dir": str(root / "state"),
            "checks": {},  # SNMP only: no host checks
            "snmp": {
                "timeout": "2s",
                "retries": 1,
                "targets": [
                    {
                        "name": community,
                        "address": "127.0.0.1",
                        "port": sim.port,
                        "profile": profile,
                        "community": community,
                    }
                    for community, (profile, _) in EXPECTED.items()
                ],
            },
        }
        path = root / "agent.yaml"
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
        done = subprocess.run(
            [sys.executable, "-m", "agent", "once", "--print", "-c", str(path), "--wait", "0"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
    assert done.returncode == 0, done.stderr
    samples = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    up = {s["asset"]: s["value"] for s in samples if s["metric"] == "snmp_up"}
    assert up == dict.fromkeys(EXPECTED, 1.0), f"devices that did not answer: {up}"
    return samples


def test_shipped_rule_packs_fire_on_what_the_agent_sends(
    agent_output: list[dict], tmp_path: Path
) -> None:
    series = [
        {
            "metric": s["metric"],
            "labels": {"client": "acme", "asset": s["asset"], **s["labels"]},
            # the device stays as it is: one poll every 5 minutes for two hours
            "values": f"{s['value']!r}x24",
        }
        for s in agent_output
    ]
    firing = []
    for asset, (_, rules) in EXPECTED.items():
        for entry in rules:
            rule, _, severity = entry.partition(":")
            firing.append(
                {
                    "rule": rule,
                    "labels": {"asset": asset},
                    **({"severity": severity} if severity else {}),
                }
            )
    test_file = tmp_path / "contract.test.yaml"
    test_file.write_text(
        yaml.safe_dump(
            {
                "rule_files": [str(p) for p in PACKS],
                "tests": [
                    {
                        "name": "every recording through every shipped pack",
                        "interval": "5m",
                        "series": series,
                        "expect": [{"at": "2h", "firing": firing}],
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    result = run_file(test_file)
    assert result.tests == 1 and result.ok, format_result(result)


def test_agent_output_shapes(agent_output: list[dict]) -> None:
    """What the rules above rely on, read off the agent's own output."""

    def of(asset: str, metric: str) -> list[dict]:
        return [s for s in agent_output if s["asset"] == asset and s["metric"] == metric]

    levels = {
        s["labels"]["supply"]: s for s in of("printer-hp-color", "printer_supply_level_percent")
    }
    yellow = levels["Yellow Cartridge HP W2032A"]
    assert yellow["labels"] == {
        "supply": "Yellow Cartridge HP W2032A",
        "supply_type": "toner_cartridge",
        "color": "yellow",
    } and yellow["value"] == pytest.approx(9.0)
    # no colorant table: colours from the descriptions, none invented for the absorber
    canon = {
        s["labels"]["supply"]: s["labels"].get("color")
        for s in of("printer-canon-ink", "printer_supply_level_percent")
    }
    assert canon == {
        "CANON Matte Black Ink Tank": "matte_black",
        "Cyan Ink Tank GI-56 C": "cyan",
        "Magenta Ink Tank GI-56 M": "magenta",
        "Yellow Ink Tank GI-56 Y": "yellow",
        "Maintenance Cartridge MC-G02": None,
    }
    absorber = [s for s in of("printer-canon-ink", "printer_supply_level_percent")]
    assert {s["labels"]["supply_type"] for s in absorber} == {"ink_cartridge", "waste_ink"}
    assert next(s["value"] for s in absorber if s["labels"]["supply_type"] == "waste_ink") == 88
    assert not any(s["labels"].get("color") == "none" for s in agent_output)
    # empty toner of unknown capacity: 0 %, state empty; the drum's colour from its text
    kyocera = of("printer-kyocera-empty", "printer_supply_level_percent")
    assert {(s["labels"]["supply"], s["labels"].get("color"), s["value"]) for s in kyocera} == {
        ("TK-1160", None, 0.0),
        ("Drum Unit (Black)", "black", 61.0),
    }
    # duplicate descriptions stay apart (one series each)
    dupes = Counter(s["labels"]["supply"] for s in of("printer-dupes", "printer_supply_state"))
    assert len(dupes) == 9 and set(dupes.values()) == {5}
    # "not available" encodings are absent, never numbers
    for asset in ("ups-allones", "ups-65535"):
        assert not of(asset, "ups_battery_runtime_seconds"), asset
    assert not of("ups-allones", "ups_on_battery_seconds")
    assert not of("ups-65535", "ups_battery_temperature_celsius")
    assert not of("ups-65535", "ups_output_power_watts")
    assert of("ups-65535", "ups_on_battery_seconds")[0]["value"] == 0
    assert all(s["value"] < 10**6 for s in agent_output if s["metric"].startswith("ups_"))
    # no ifXTable: ifDescr names, and no speed from a saturated ifSpeed
    old = {s["labels"]["interface"]: s for s in of("switch-old", "if_speed_bytes_per_second")}
    assert set(old) == {f"Port {i}" for i in range(1, 8)}
    assert old["Port 1"]["value"] == 100_000_000 / 8
