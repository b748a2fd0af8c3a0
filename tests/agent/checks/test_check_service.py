"""service: systemctl output parsing and failure paths (systemd does not run here)."""

from __future__ import annotations

import pytest
from recorded import RecordedHost

from agent.checks.service import ServiceCheck, ServiceConfig, parse_systemctl_show
from agent.schema import ValidationError

SYSTEMD = {"which": {"systemctl": "/usr/bin/systemctl"}, "path_exists": ["/run/systemd/system"]}
ARGV = [
    "systemctl",
    "show",
    "--property=Id,LoadState,ActiveState,UnitFileState",
    "--",
    "nginx",
    "cron",
]


def test_parse_several_units_with_extra_blank_lines() -> None:
    text = "\nId=a.service\nActiveState=active\n\n\nId=b.service\nActiveState=failed\nDescription=x=y\n"
    assert parse_systemctl_show(text) == [
        {"Id": "a.service", "ActiveState": "active"},
        {"Id": "b.service", "ActiveState": "failed", "Description": "x=y"},
    ]


def run_with(stdout: str, returncode: int = 0, stderr: str = ""):
    host = RecordedHost(
        {
            **SYSTEMD,
            "run": [{"argv": ARGV, "returncode": returncode, "stdout": stdout, "stderr": stderr}],
        }
    )
    check = ServiceCheck(ServiceConfig(services=["nginx", "cron"]), host)
    assert check.unsupported() is None
    return check.run(now=1.8e9)


def test_systemctl_failing_fails_the_check_with_its_message() -> None:
    result = run_with("", returncode=1, stderr="Failed to connect to bus: Host is down\n")
    assert not result.ok
    assert (
        "systemctl show failed (1): Failed to connect to bus: Host is down"
        in result.events[0].message
    )


def test_an_answer_for_fewer_units_than_asked_is_an_error_not_a_shifted_report() -> None:
    result = run_with(
        "Id=nginx.service\nLoadState=loaded\nActiveState=active\nUnitFileState=enabled\n"
    )
    assert not result.ok
    assert "returned 1 units for 2 names" in result.events[0].message


def test_a_state_newer_than_the_known_list_is_still_reported() -> None:
    block = "Id={0}.service\nLoadState=loaded\nActiveState={1}\nUnitFileState=enabled\n"
    result = run_with(block.format("nginx", "active") + "\n" + block.format("cron", "hibernating"))
    states = {
        s.labels["state"]: s.value
        for s in result.samples
        if s.metric == "service_state" and s.labels["service"] == "cron"
    }
    assert states["hibernating"] == 1.0 and sum(states.values()) == 1.0


def test_unsupported_without_systemctl() -> None:
    check = ServiceCheck(ServiceConfig(services=["nginx"]), RecordedHost({"which": {}}))
    assert "systemctl not found" in check.unsupported()


@pytest.mark.parametrize("services", [[], ["nginx*"], ["--all"], [""]])
def test_config_rejects_patterns_and_options(services: list[str]) -> None:
    with pytest.raises(ValidationError):
        ServiceConfig.model_validate({"services": services})
