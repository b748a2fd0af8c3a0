"""updates: the output parsers, as pure functions of recorded text."""

from __future__ import annotations

import pytest
from recorded import RecordedHost

from agent.checks.updates import (
    WINDOWS_SECURITY_CATEGORY,
    WINDOWS_UPDATE_SCRIPT,
    UpdatesCheck,
    UpdatesConfig,
    parse_apt_simulation,
    parse_dnf_check_update,
    parse_dnf_updateinfo,
    parse_windows_update,
)


def test_apt_counts_inst_lines_only_and_security_by_origin() -> None:
    text = (
        "Inst a [1] (2 Debian:12.15/oldstable [amd64])\n"
        "Conf a (2 Debian:12.15/oldstable [amd64])\n"
        "Inst b [1] (2 Debian-Security:12/oldstable-security [amd64]) []\n"
        "Inst c (3 Ubuntu:24.04/noble-updates, Ubuntu:24.04/noble-security [amd64])\n"
        "Inst security-tools [1] (2 Debian:12.15/oldstable [amd64])\n"  # the name does not count
        "Remv d [1]\n"
    )
    assert parse_apt_simulation(text) == (4, 2)
    assert parse_apt_simulation(
        "0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n"
    ) == (0, 0)


def test_dnf_check_update_wrapped_names_and_obsoletes() -> None:
    text = (
        "\n"
        "a-very-long-package-name-that-wraps.noarch\n"
        "                                 1.2-3.el9          appstream\n"
        "bash.x86_64                      5.1.8-9.el9        baseos\n"
        "Last metadata expiration check: 0:12:01 ago on Mon 25 Nov 2026 10:00:00 UTC.\n"
        "Obsoleting Packages\n"
        "grub2-tools.x86_64               1:2.06-80.el9      baseos\n"
    )
    assert parse_dnf_check_update(text) == {
        "a-very-long-package-name-that-wraps.noarch",
        "bash.x86_64",
    }


def test_dnf_updateinfo_names_with_epochs_and_dashes() -> None:
    text = (
        "RHSA-2024:2447 Moderate/Sec.  openssl-libs-1:3.0.7-27.el9.x86_64\n"
        "RHSA-2024:3619 Important/Sec. kernel-5.14.0-427.22.1.el9_4.x86_64\n"
        "FEDORA-2024-1a2b3c4d5e Low/Sec. python3-urllib3-1.26.18-2.fc39.noarch\n"
        "this line is not an advisory\n"
    )
    assert parse_dnf_updateinfo(text) == {
        "openssl-libs.x86_64",
        "kernel.x86_64",
        "python3-urllib3.noarch",
    }


def test_windows_output_and_garbage() -> None:
    assert parse_windows_update("pending=0\nsecurity=0\nreboot_required=0\n") == (0, 0, False)
    with pytest.raises(ValueError, match="unexpected output"):
        parse_windows_update("New-Object : Retrieving the COM class factory failed\n")


def test_windows_script_finds_security_updates_by_category_id_not_by_translated_name() -> None:
    assert WINDOWS_SECURITY_CATEGORY in WINDOWS_UPDATE_SCRIPT
    assert "Security Updates" not in WINDOWS_UPDATE_SCRIPT
    assert (
        "{" in WINDOWS_UPDATE_SCRIPT and "{{" not in WINDOWS_UPDATE_SCRIPT
    )  # f-string braces resolved


def test_dnf_error_exit_fails_the_check() -> None:
    host = RecordedHost(
        {
            "which": {"dnf": "/usr/bin/dnf"},
            "run": [
                {
                    "argv": ["dnf", "-q", "-C", "check-update"],
                    "returncode": 1,
                    "stderr": "Error: Cache-only enabled but no cache for 'baseos'\n",
                }
            ],
        }
    )
    result = UpdatesCheck(UpdatesConfig(), host).run(now=1.8e9)
    assert not result.ok
    assert (
        "dnf exited with 1: Error: Cache-only enabled but no cache for 'baseos'"
        in result.events[0].message
    )


def test_a_windows_update_search_gets_ten_minutes_by_default() -> None:
    assert UpdatesConfig().effective_timeout() == 600.0
    assert UpdatesConfig(timeout=120).effective_timeout() == 120.0
