"""uptime: the reboot event, in memory and across agent restarts via ``state_file``."""

from __future__ import annotations

import json
from pathlib import Path

import psutil
import pytest
from recorded import RecordedHost

from agent.checks.uptime import UptimeCheck, UptimeConfig
from agent.host import Host

BOOT_ID = "/proc/sys/kernel/random/boot_id"


def linux_host(boot_time: float, boot_id: str, now: float = 1_795_400_000.0) -> RecordedHost:
    return RecordedHost(
        {"time": now, "boot_time": boot_time, "read_file": {BOOT_ID: boot_id + "\n"}}
    )


def reboots(check: UptimeCheck) -> list[dict]:
    return [e.data for e in check.run(now=1_795_400_000.0).events if e.type == "reboot"]


def test_a_reboot_is_seen_across_agent_restarts(tmp_path: Path) -> None:
    state = tmp_path / "state" / "uptime.json"
    config = UptimeConfig(state_file=state)
    assert (
        reboots(UptimeCheck(config, linux_host(1_795_300_000.0, "boot-a"))) == []
    )  # first run ever
    assert json.loads(state.read_text())["boot_id"] == "boot-a"
    # The agent restarts without a reboot: nothing to report.
    assert reboots(UptimeCheck(config, linux_host(1_795_300_000.0, "boot-a"))) == []
    # The machine rebooted; the agent starts again with a fresh process.
    assert reboots(UptimeCheck(config, linux_host(1_795_390_000.0, "boot-b"))) == [
        {"boot_time": 1_795_390_000.0, "previous_boot_time": 1_795_300_000.0}
    ]
    # Reported once: the next start knows about boot-b.
    assert reboots(UptimeCheck(config, linux_host(1_795_390_000.0, "boot-b"))) == []
    assert not list(state.parent.glob("*.tmp")), "the state file is written atomically"


def test_without_a_state_file_a_restart_forgets(tmp_path: Path) -> None:
    assert reboots(UptimeCheck(UptimeConfig(), linux_host(1_795_300_000.0, "boot-a"))) == []
    assert reboots(UptimeCheck(UptimeConfig(), linux_host(1_795_390_000.0, "boot-b"))) == []
    assert list(tmp_path.iterdir()) == []


def test_a_corrupt_state_file_is_ignored(tmp_path: Path) -> None:
    state = tmp_path / "uptime.json"
    state.write_text("{not json")
    check = UptimeCheck(UptimeConfig(state_file=state), linux_host(1_795_300_000.0, "boot-a"))
    result = check.run(now=1_795_400_000.0)
    assert result.ok and result.events == []
    assert json.loads(state.read_text())["boot_time"] == 1_795_300_000.0


def test_an_unwritable_state_file_does_not_fail_the_check(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    check = UptimeCheck(
        UptimeConfig(state_file=blocker / "uptime.json"), linux_host(1_795_300_000.0, "a")
    )
    result = check.run(now=1_795_400_000.0)
    assert result.ok
    assert {s.metric: s.value for s in result.samples}["uptime_seconds"] == 100_000.0


def test_state_file_is_a_documented_option_and_validated() -> None:
    assert UptimeConfig.model_validate(
        {"state_file": "/var/lib/upkeep/uptime.json"}
    ).state_file == Path("/var/lib/upkeep/uptime.json")
    with pytest.raises(ValueError, match="Extra inputs"):
        UptimeConfig.model_validate({"state": "/tmp/x"})


def test_real_host() -> None:
    check = UptimeCheck(UptimeConfig(), Host("test"))
    first, second = check.run(), check.run()
    assert first.ok and second.ok and second.events == []
    values = {s.metric: s.value for s in first.samples}
    assert values["uptime_seconds"] > 0
    assert values["boot_time_seconds"] == pytest.approx(psutil.boot_time(), abs=2)
