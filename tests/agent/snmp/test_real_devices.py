"""Real-device shapes against Debian's snmpd: a UPS firmware's "not available" encodings
(served with snmpd ``override`` lines) and a real restart (sysUpTime going back)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

# by path: other test folders have a conftest.py too
from tests.agent.snmp.conftest import make_poller
from tests.servers.snmp import V2C_COMMUNITY, SnmpdProcess

U = "1.3.6.1.2.1.33.1."
#: A UPS that cannot measure runtime, temperature and power, as some firmwares answer.
UPS_OVERRIDES = "".join(
    f"override {oid} {kind} {value}\n"
    for oid, kind, value in (
        (U + "1.1.0", "octet_str", '"Example UPS Co"'),
        (U + "1.2.0", "octet_str", '"EX-1500"'),
        (U + "2.1.0", "integer", 2),  # batteryNormal
        (U + "2.2.0", "unsigned", 4294967295),  # upsSecondsOnBattery: all-ones (Gauge32)
        (U + "2.3.0", "integer", -1),  # upsEstimatedMinutesRemaining: -1
        (U + "2.4.0", "integer", 100),
        (U + "2.5.0", "integer", 65535),  # upsBatteryVoltage: 16-bit all-ones
        (U + "2.7.0", "integer", 65535),  # upsBatteryTemperature
        (U + "4.1.0", "integer", 3),  # normal
    )
)


@pytest.fixture
def ups_snmpd(tmp_path: Path):
    if not (shutil.which("snmpd") or Path("/usr/sbin/snmpd").exists()):
        pytest.skip("snmpd is not installed (scripts/test-system-deps installs it)")
    with SnmpdProcess(tmp_path / "snmpd", "ups-snmpd", UPS_OVERRIDES) as server:
        yield server


def test_not_available_values_are_absent_and_a_restart_is_a_reboot(ups_snmpd, profiles) -> None:
    poller = make_poller(
        [
            {
                "name": "ups",
                "address": "127.0.0.1",
                "port": ups_snmpd.port,
                "profile": "ups",
                "community": V2C_COMMUNITY,
            }
        ],
        profiles,
        timeout=2,
        retries=1,
    )
    try:
        time.sleep(1.5)  # some uptime to fall back from
        first = poller.poll(["ups"], 10)
        got = {s.metric: s.value for s in first.samples}
        assert got["snmp_up"] == 1 and got["ups_battery_status"] == 2
        assert got["ups_battery_charge_percent"] == 100 and got["ups_on_battery"] == 0
        for metric in (
            "ups_battery_runtime_seconds",  # -1 min, not -60 s
            "ups_on_battery_seconds",  # 4294967295 s
            "ups_battery_voltage_volts",  # 6553.5 V
            "ups_battery_temperature_celsius",  # 65535 °C
        ):
            assert metric not in got, f"{metric} = {got.get(metric)} from a sentinel"
        before = got["snmp_uptime_seconds"]
        assert not [e for e in first.events if e.type == "reboot"]

        ups_snmpd.stop()  # the device restarts: its sysUpTime starts from 0 again
        ups_snmpd.start()
        poller.devices["ups"].session = None
        second = poller.poll(["ups"], 10)
        uptime = next(s.value for s in second.samples if s.metric == "snmp_uptime_seconds")
        assert uptime < before and uptime < 1800  # what snmp-device-rebooted fires on
        reboots = [e for e in second.events if e.type == "reboot"]
        assert len(reboots) == 1 and reboots[0].asset == "ups"
    finally:
        poller.close()
