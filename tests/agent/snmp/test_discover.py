"""``upkeep-agent discover`` against the simulated devices on loopback only."""

from __future__ import annotations

import pytest
import yaml

from agent.cli import main
from agent.snmp.config import SnmpConfig
from agent.snmp.discover import (
    FoundDevice,
    RangeError,
    addresses,
    classify,
    config_snippet,
    target_name,
)


def test_ranges() -> None:
    assert addresses("127.0.0.1/32") == ["127.0.0.1"]
    assert addresses("127.0.0.1") == ["127.0.0.1"]
    assert addresses("127.0.0.0/30") == ["127.0.0.1", "127.0.0.2"]
    assert len(addresses("10.0.0.0/22")) == 1022
    with pytest.raises(RangeError, match="need --force"):
        addresses("10.0.0.0/21")
    assert len(addresses("10.0.0.0/21", force=True)) == 2046
    with pytest.raises(RangeError, match="not an address range"):
        addresses("printers")


@pytest.mark.parametrize(
    ("scalars", "columns", "profile"),
    [
        (
            {},
            {"hr_device_type": {"1": "1.3.6.1.2.1.25.3.1.3", "2": "1.3.6.1.2.1.25.3.1.5"}},
            "printer",
        ),
        ({}, {"printer_name": {"1": b"HP"}}, "printer"),
        ({}, {"hr_printer_status": {"1": 3}}, "printer"),
        ({"ups_model": b"5PX"}, {}, "ups"),
        ({"if_number": 52, "bridge_ports": 48}, {}, "switch"),
        ({"bridge_ports": 48}, {"if_index": {"1": 1}}, "switch"),
        (
            {"if_number": 3, "bridge_ports": 0},
            {},
            "generic",
        ),  # a host with a bridge that has no ports
        ({"if_number": 3}, {"hr_device_type": {"1": "1.3.6.1.2.1.25.3.1.3"}}, "generic"),
    ],
)
def test_classify(scalars: dict, columns: dict, profile: str) -> None:
    assert classify(scalars, columns) == profile


def test_names_are_valid_and_unique() -> None:
    taken: set[str] = set()
    assert (
        target_name(FoundDevice("10.0.0.5", "c", "printer", sys_name="Drucker 2.OG"), taken)
        == "Drucker-2.OG"
    )
    assert (
        target_name(FoundDevice("10.0.0.6", "c", "printer", sys_name="Drucker 2.OG"), taken)
        == "Drucker-2.OG-2"
    )
    assert target_name(FoundDevice("10.0.0.7", "c", "ups"), taken) == "ups-10.0.0.7"


def test_empty_snippet_is_still_valid_config() -> None:
    assert (
        SnmpConfig.model_validate(
            yaml.safe_load(config_snippet([], 161, "2c", None))["snmp"]
        ).targets
        == []
    )


@pytest.mark.parametrize(
    ("community", "profile", "name"),
    [
        ("printer-mono", "printer", "printer-mono"),
        ("printer-color", "printer", None),
        ("ups-onbattery", "ups", "ups-rack"),
        ("switch-48", "switch", "switch-48"),
    ],
)
def test_discover_identifies_simulated_devices(
    snmpsim, capsys, community: str, profile: str, name: str | None
) -> None:
    assert (
        main(
            [
                "discover",
                "127.0.0.1/32",
                "--port",
                str(snmpsim.port),
                "--community",
                "no-such-community",
                "--community",
                community,
                "--timeout",
                "0.5",
                "--retries",
                "0",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    config = SnmpConfig.model_validate(yaml.safe_load(out)["snmp"])  # ready to paste
    [target] = config.targets
    assert (target.address, target.port, target.profile, target.version) == (
        "127.0.0.1",
        snmpsim.port,
        profile,
        "2c",
    )
    assert target.credentials().community == community
    if name:
        assert target.name == name


def test_discover_a_range_with_silent_addresses_and_a_community_file(
    snmpsim, capsys, tmp_path
) -> None:
    secret = tmp_path / "community"
    secret.write_text("printer-mono\n")
    assert (
        main(
            [
                "discover",
                "127.0.0.0/30",
                "--port",
                str(snmpsim.port),
                "--community",
                "printer-mono",
                "--community-file",
                str(secret),
                "--timeout",
                "0.3",
                "--retries",
                "0",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    assert "probing 2 address(es)" in captured.err
    config = SnmpConfig.model_validate(yaml.safe_load(captured.out)["snmp"])
    # snmpsim listens on 127.0.0.1 only: 127.0.0.2 stays silent
    assert [(t.address, t.profile, str(t.community_file)) for t in config.targets] == [
        ("127.0.0.1", "printer", str(secret))
    ]
    assert config.targets[0].credentials().community == "printer-mono"
    assert "HP LaserJet Pro M404dn" in captured.out  # the comment says what it is


def test_discover_refuses_a_large_range(capsys) -> None:
    assert main(["discover", "10.0.0.0/16"]) == 2
    assert "need --force" in capsys.readouterr().err
