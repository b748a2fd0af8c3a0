"""The poller against real SNMP agents: snmpsim recordings and Debian's snmpd."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from conftest import make_poller, sim_target

from agent.snmp.config import Credentials
from agent.wire import Asset
from tests.servers.snmp import V2C_COMMUNITY, V3_AUTH_KEY, V3_PRIV_KEY, V3_USER


def values(result, asset: str, metric: str) -> dict[tuple, float]:
    return {
        tuple(sorted(s.labels.items())): s.value
        for s in result.samples
        if s.asset == asset and s.metric == metric
    }


def value(result, asset: str, metric: str, **labels: str) -> float:
    return values(result, asset, metric)[tuple(sorted(labels.items()))]


@pytest.fixture(scope="module")
def sim_poll(snmpsim, profiles):
    """Two polls of every simulated device (rates need two)."""
    poller = make_poller(
        [
            sim_target(snmpsim, "mono", "printer-mono", "printer"),
            sim_target(snmpsim, "color", "printer-color", "printer"),
            sim_target(snmpsim, "ups", "ups-onbattery", "ups"),
            sim_target(snmpsim, "sw", "switch-48", "switch"),
        ],
        profiles,
    )
    first = poller.poll(list(poller.devices), 20)
    # The switch's counters move on between the polls: point it at the later recording.
    poller._credentials["sw"] = Credentials("2c", community="switch-48-later")
    poller.devices["sw"].session = None
    time.sleep(0.5)
    second = poller.poll(list(poller.devices), 20)
    yield poller, first, second
    poller.close()


def test_mono_printer_sentinel_and_error_state(sim_poll) -> None:
    _, first, result = sim_poll
    toner = {
        "supply": "Black Cartridge HP CF259A",
        "supply_type": "toner_cartridge",
        "color": "black",
    }
    # -3 "some remaining" is a state, never a number
    assert tuple(sorted(toner.items())) not in values(
        result, "mono", "printer_supply_level_percent"
    )
    assert value(result, "mono", "printer_supply_state", **toner, state="some_remaining") == 1
    assert value(result, "mono", "printer_supply_state", **toner, state="ok") == 0
    assert (
        value(
            result,
            "mono",
            "printer_supply_level_percent",
            supply="Imaging Drum",
            supply_type="opc",
            color="none",
        )
        == 40
    )
    errors = {dict(k)["flag"]: v for k, v in values(result, "mono", "printer_error").items()}
    assert len(errors) == 15 and {f for f, v in errors.items() if v} == {"lowToner", "doorOpen"}
    assert (
        value(result, "mono", "printer_status") == 3 and value(result, "mono", "device_status") == 3
    )
    assert value(result, "mono", "printer_page_count_total", marker="1") == 48213
    assert value(result, "mono", "printer_cover_open", cover="Front Door") == 1
    assert value(result, "mono", "printer_input_state", tray="Tray 1", state="empty") == 1
    assert value(result, "mono", "printer_input_state", tray="Tray 2", state="some_remaining") == 1
    assert value(result, "mono", "printer_alerts", severity="critical") == 1
    # alerts are events once (first poll), not again while they stay
    alerts = [e for e in first.events if e.asset == "mono" and e.type == "printer_alert"]
    assert {e.data["code"] for e in alerts} == {"markerTonerAlmostEmpty", "doorOpen"}
    assert not [e for e in result.events if e.type == "printer_alert"]


def test_color_printer_four_cartridges(sim_poll) -> None:
    _, _, result = sim_poll
    levels = {
        dict(k)["color"]: v
        for k, v in values(result, "color", "printer_supply_level_percent").items()
    }
    assert levels == {"black": 80, "cyan": 75, "magenta": 50, "yellow": 0}
    waste = {"supply": "Waste Toner Box", "supply_type": "waste_toner", "color": "none"}
    assert value(result, "color", "printer_supply_state", **waste, state="unknown") == 1
    assert (
        value(
            result,
            "color",
            "printer_supply_state",
            supply="Yellow Toner",
            supply_type="toner",
            color="yellow",
            state="empty",
        )
        == 1
    )
    assert not any(values(result, "color", "printer_error").values())


def test_ups_on_battery(sim_poll) -> None:
    _, _, result = sim_poll
    assert value(result, "ups", "ups_on_battery") == 1
    assert value(result, "ups", "ups_output_source") == 5
    assert value(result, "ups", "ups_battery_charge_percent") == 87
    assert value(result, "ups", "ups_battery_runtime_seconds") == 14 * 60
    assert value(result, "ups", "ups_on_battery_seconds") == 95
    assert value(result, "ups", "ups_battery_voltage_volts") == pytest.approx(54.5)
    assert value(result, "ups", "ups_output_load_percent", line="1") == 43
    assert value(result, "ups", "ups_alarm", alarm="onBattery") == 1
    assert value(result, "ups", "ups_alarm", alarm="lowBattery") == 0
    assert value(result, "ups", "ups_alarms_present") == 1


def test_switch_port_down_and_rates(sim_poll) -> None:
    _, first, result = sim_poll
    port3 = {"interface": "Gi1/0/3", "alias": ""}
    assert value(result, "sw", "if_oper_status", **port3) == 2
    assert value(result, "sw", "if_admin_status", **port3) == 1
    assert len(values(result, "sw", "if_oper_status")) == 48
    assert not values(first, "sw", "if_in_bytes_per_second"), "no rate from a single reading"
    rates = values(result, "sw", "if_in_bytes_per_second")
    assert len(rates) == 48 and all(v > 0 for v in rates.values())
    uplink = value(result, "sw", "if_in_bytes_per_second", interface="Gi1/0/1", alias="uplink")
    assert uplink == pytest.approx(8 * 10**7 / (result.samples[0].ts or 1), rel=1) or uplink > 0


def test_assets_describe_each_device(sim_poll) -> None:
    poller, _, _ = sim_poll
    assets = {a["name"]: a for a in poller.assets()}
    for asset in assets.values():
        Asset.model_validate(asset)  # what the collector accepts
    assert assets["mono"]["kind"] == "printer" and assets["mono"]["vendor"] == "HP"
    assert (
        assets["mono"]["model"] == "HP LaserJet Pro M404dn"
        and assets["mono"]["serial"] == "PHBQX12345"
    )
    assert assets["color"]["vendor"] == "Brother"
    assert assets["ups"]["kind"] == "ups" and assets["ups"]["model"] == "5PX 1500"
    assert assets["sw"]["kind"] == "switch" and assets["sw"]["serial"] == "FOC1234X0AB"
    assert assets["sw"]["attributes"]["sysObjectID"] == "1.3.6.1.4.1.9.1.1208"
    for asset in assets.values():
        assert (
            "printer-" not in str(asset) or asset["name"] != "mono" or "community" not in str(asset)
        )


def test_supply_replaced_between_polls(snmpsim, profiles) -> None:
    poller = make_poller(
        [sim_target(snmpsim, "kyo", "printer-replaced-before", "printer")], profiles
    )
    try:
        first = poller.poll(["kyo"], 10)
        assert (
            value(
                first,
                "kyo",
                "printer_supply_level_percent",
                supply="TK-1160",
                supply_type="toner",
                color="black",
            )
            == 5
        )
        poller._credentials["kyo"] = Credentials("2c", community="printer-replaced-after")
        poller.devices["kyo"].session = None
        second = poller.poll(["kyo"], 10)
        replaced = [e for e in second.events if e.type == "supply_replaced"]
        assert len(replaced) == 1 and replaced[0].asset == "kyo"
        assert replaced[0].data["before_percent"] == 5 and replaced[0].data["after_percent"] == 100
    finally:
        poller.close()


@pytest.fixture
def garbage_server():
    """A UDP server that answers every datagram with bytes that are not SNMP."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                _, peer = sock.recvfrom(4096)
            except OSError:
                continue
            sock.sendto(b"\x30\x05\x02\x01\x09garbage", peer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join()
    sock.close()


def test_silent_and_garbage_devices_do_not_stop_the_others(
    snmpsim, garbage_server, profiles
) -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        poller = make_poller(
            [
                sim_target(snmpsim, "good", "printer-color", "printer"),
                {
                    "name": "silent",
                    "address": "127.0.0.1",
                    "port": silent.getsockname()[1],
                    "community": "x",
                },
                {
                    "name": "garbage",
                    "address": "127.0.0.1",
                    "port": garbage_server,
                    "community": "x",
                    "profile": "printer",
                },
            ],
            profiles,
            timeout=0.3,
        )
        start = time.monotonic()
        result = poller.poll(list(poller.devices), 10)
        assert time.monotonic() - start < 5
        assert value(result, "good", "snmp_up") == 1
        assert value(result, "silent", "snmp_up") == 0 and value(result, "garbage", "snmp_up") == 0
        down = {e.asset for e in result.events if e.type == "snmp_device_down"}
        assert down == {"silent", "garbage"}
        again = poller.poll(list(poller.devices), 10)
        assert not [e for e in again.events if e.type == "snmp_device_down"], (
            "said once, not every poll"
        )
        poller.close()
    finally:
        silent.close()


def test_snmpd_v2c_generic_and_interfaces(snmpd, profiles) -> None:
    poller = make_poller(
        [
            {
                "name": "srv",
                "address": "127.0.0.1",
                "port": snmpd.port,
                "profile": "switch",
                "community": V2C_COMMUNITY,
            }
        ],
        profiles,
    )
    try:
        result = poller.poll(["srv"], 10)
        assert value(result, "srv", "snmp_up") == 1
        assert value(result, "srv", "snmp_uptime_seconds") >= 0
        assert values(result, "srv", "if_oper_status"), "IF-MIB rows from a real agent"
        asset = poller.assets()[0]
        assert (
            asset["attributes"]["sysName"] == "upkeep-test-snmpd" and asset["vendor"] == "Net-SNMP"
        )
    finally:
        poller.close()


@pytest.mark.parametrize(("version", "community"), [("1", V2C_COMMUNITY)])
def test_snmpd_v1(snmpd, profiles, version, community) -> None:
    poller = make_poller(
        [
            {
                "name": "srv1",
                "address": "127.0.0.1",
                "port": snmpd.port,
                "profile": "switch",
                "version": version,
                "community": community,
            }
        ],
        profiles,
    )
    try:
        result = poller.poll(["srv1"], 10)
        assert value(result, "srv1", "snmp_up") == 1 and values(result, "srv1", "if_oper_status")
    finally:
        poller.close()


def test_snmpd_v3_auth_priv(snmpd, profiles) -> None:
    v3 = {
        "address": "127.0.0.1",
        "port": snmpd.port,
        "profile": "generic",
        "version": 3,
        "user": V3_USER,
        "auth_protocol": "sha256",
        "priv_protocol": "aes",
    }
    poller = make_poller(
        [
            {**v3, "name": "good", "auth_key": V3_AUTH_KEY, "priv_key": V3_PRIV_KEY},
            {**v3, "name": "bad", "auth_key": V3_AUTH_KEY, "priv_key": "wrong-priv-key"},
        ],
        profiles,
    )
    try:
        result = poller.poll(["good", "bad"], 10)
        assert value(result, "good", "snmp_up") == 1
        assert poller.assets(["good"])[0]["attributes"]["sysName"] == "upkeep-test-snmpd"
        assert value(result, "bad", "snmp_up") == 0
        for item in (*result.samples, *result.events, *poller.assets()):
            assert V3_PRIV_KEY not in repr(item) and V3_AUTH_KEY not in repr(item)
    finally:
        poller.close()
