"""smart: JSON to samples, and partial failures."""

from __future__ import annotations

import json
import logging

import pytest
from recorded import RecordedHost

from agent.checks.smart import SmartCheck, SmartConfig, device_samples

SMARTCTL = "/usr/sbin/smartctl"


def test_a_disk_without_smart_gives_no_samples() -> None:
    usb = {
        "smartctl": {"exit_status": 4},
        "model_name": "USB bridge",
        "smart_support": {"available": False},
    }
    assert list(device_samples("/dev/sdx", usb)) == []


def test_a_failed_device_does_not_hide_the_others(caplog: pytest.LogCaptureFixture) -> None:
    ok = {
        "smartctl": {"exit_status": 0},
        "model_name": "M",
        "serial_number": "S",
        "smart_status": {"passed": True},
        "temperature": {"current": 30},
    }
    gone = {
        "smartctl": {
            "exit_status": 2,
            "messages": [
                {
                    "string": "Smartctl open device: /dev/sdb failed: No such device",
                    "severity": "error",
                }
            ],
        }
    }
    host = RecordedHost(
        {
            "which": {"smartctl": SMARTCTL},
            "run": [
                {
                    "argv": [SMARTCTL, "--json", "-n", "standby", "-a", "/dev/sda"],
                    "stdout": json.dumps(ok),
                },
                {
                    "argv": [SMARTCTL, "--json", "-n", "standby", "-a", "/dev/sdb"],
                    "returncode": 2,
                    "stdout": json.dumps(gone),
                },
            ],
        }
    )
    check = SmartCheck(SmartConfig.model_validate({"devices": ["/dev/sda", "/dev/sdb"]}), host)
    with caplog.at_level(logging.WARNING, logger="agent.checks.smart"):
        result = check.run(now=1.8e9)
    assert result.ok
    assert {s.metric for s in result.samples} >= {"smart_healthy", "smart_temperature_celsius"}
    assert "/dev/sdb: Smartctl open device: /dev/sdb failed: No such device" in caplog.text


def test_output_that_is_not_json_fails_with_the_tools_message() -> None:
    host = RecordedHost(
        {
            "which": {"smartctl": SMARTCTL},
            "run": [
                {
                    "argv": ["sudo", "-n", SMARTCTL, "--scan-open", "--json"],
                    "returncode": 1,
                    "stderr": "sudo: a password is required\n",
                }
            ],
        }
    )
    result = SmartCheck(SmartConfig(use_sudo=True), host).run(now=1.8e9)
    assert not result.ok
    assert "sudo: a password is required" in result.events[0].message


def test_windows_default_install_path_is_found_without_path() -> None:
    host = RecordedHost(
        {
            "platform": "win32",
            "which": {},
            "path_exists": [r"C:\Program Files\smartmontools\bin\smartctl.exe"],
        }
    )
    assert SmartCheck(SmartConfig(), host).unsupported() is None
