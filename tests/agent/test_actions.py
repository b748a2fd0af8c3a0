"""The agent's remediation actions (agent/actions.py): real file work in temporary folders,
and the commands each OS gets. Windows commands are checked as generated argv lists
(PowerShell); they are not run here (no Windows machine in this environment)."""

from __future__ import annotations

import gzip
import os
import sys
import time
from pathlib import Path

import pytest

from agent.actions import (
    KINDS,
    POWERSHELL,
    ActionContext,
    ActionError,
    clear_spooler_argv,
    perform,
    restart_service_argv,
    script_argv,
)
from agent.boundedrun import BoundedRun


def _old(path: Path, days: float, size: int = 1000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    when = time.time() - days * 86400
    os.utime(path, (when, when))
    return path


def test_clean_temp_removes_only_old_files_and_never_follows_links(tmp_path: Path) -> None:
    folder = tmp_path / "temp"
    outside = _old(tmp_path / "keep" / "precious.doc", 30)
    _old(folder / "a.tmp", 10)
    _old(folder / "sub" / "b.tmp", 10, 2000)
    _old(folder / "new.tmp", 0.1)
    _old(folder / "old.log", 10)
    (folder / "link").symlink_to(tmp_path / "keep")
    (folder / "filelink.tmp").symlink_to(outside)
    result = perform(
        "clean-temp",
        {"path": str(folder), "older_than_days": 7, "pattern": "*.tmp"},
        ActionContext(),
    )
    assert result.exit_code == 0
    assert result.facts == {"files_removed": 2, "bytes_removed": 3000, "errors": 0}
    assert outside.exists() and (folder / "new.tmp").exists() and (folder / "old.log").exists()
    assert (folder / "sub").is_dir()  # folders stay
    change = result.measured["disk_free_bytes"]
    assert change["labels"] == {"path": str(folder)}
    # Measured on the folder's file system, before and after. Other writers share it (the
    # suite's parallel workers): its free space moves by more than the 3,000 bytes freed here,
    # so only that both figures are this file system's is asserted.
    stat = os.statvfs(folder)
    free_now = stat.f_bavail * stat.f_frsize
    for figure in (change["before"], change["after"]):
        assert abs(figure - free_now) < 256 * 2**20, (figure, free_now)


@pytest.mark.parametrize(
    "params",
    [
        {"path": "relative/dir"},
        {"path": "/"},
        {"path": "/tmp/../etc"},
        {"path": "/tmp", "older_than_days": -1},
        {"path": "/tmp", "older_than_days": "7"},
        {},
    ],
)
def test_clean_temp_refuses_bad_parameters(params: dict) -> None:
    with pytest.raises(ActionError):
        perform("clean-temp", params, ActionContext())


def test_rotate_logs_compresses_and_deletes_old_archives(tmp_path: Path) -> None:
    _old(tmp_path / "app.log", 3, 5000)
    _old(tmp_path / "today.log", 0.1)
    _old(tmp_path / "ancient.log.gz", 60)
    result = perform(
        "rotate-logs",
        {"path": str(tmp_path), "older_than_days": 1, "delete_after_days": 30},
        ActionContext(),
    )
    assert result.exit_code == 0
    assert result.facts == {"files_compressed": 1, "files_deleted": 1, "errors": 0}
    assert gzip.decompress((tmp_path / "app.log.gz").read_bytes()) == b"x" * 5000
    assert not (tmp_path / "app.log").exists() and (tmp_path / "today.log").exists()


def test_run_script_only_by_name_inside_the_scripts_folder(tmp_path: Path) -> None:
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    script = scripts / "hello.sh"
    script.write_text('#!/bin/sh\necho hello "$1"\n')
    script.chmod(0o755)
    (tmp_path / "evil.sh").write_text("#!/bin/sh\necho evil\n")
    ctx = ActionContext(scripts_dir=scripts, timeout=30)
    result = perform("run-script", {"script": "hello.sh", "args": ["a b; rm -rf /"]}, ctx)
    assert (result.exit_code, result.output) == (
        0,
        "hello a b; rm -rf /\n",
    )  # one argument, no shell
    for bad in ("../evil.sh", "/bin/sh", "missing.sh", ".hidden"):
        with pytest.raises(ActionError):
            perform("run-script", {"script": bad}, ctx)
    with pytest.raises(ActionError, match="no actions.scripts_dir"):
        perform("run-script", {"script": "hello.sh"}, ActionContext())


def test_a_hung_command_is_killed_and_reported(tmp_path: Path) -> None:
    scripts = tmp_path / "s"
    scripts.mkdir()
    (scripts / "hang.sh").write_text("#!/bin/sh\nsleep 300\n")
    (scripts / "hang.sh").chmod(0o755)
    start = time.monotonic()
    result = perform(
        "run-script", {"script": "hang.sh"}, ActionContext(scripts_dir=scripts, timeout=1)
    )
    assert time.monotonic() - start < 10
    assert result.exit_code == 124 and result.output.startswith("timed out after 1s")


def test_unknown_kind_and_bad_service_names() -> None:
    with pytest.raises(ActionError, match="unknown action kind"):
        perform("format-disk", {}, ActionContext())
    for name in ("nginx; reboot", "-x", "a b", "x'y", ""):
        with pytest.raises(ActionError):
            restart_service_argv(name, "linux")


# ------------------------------------------------------------------ generated commands


def test_linux_commands() -> None:
    assert restart_service_argv("postgresql@15-main", "linux") == [
        "systemctl",
        "restart",
        "--",
        "postgresql@15-main",
    ]
    assert clear_spooler_argv("linux") == ["cancel", "-a", "-x"]


def test_windows_commands_are_powershell_argv() -> None:
    """Not run here: checked as the argv the agent would start on Windows."""
    assert POWERSHELL == [
        "powershell.exe",
        "-NoProfile",
        "-NonInteractive",
        "-ExecutionPolicy",
        "Bypass",
    ]
    assert restart_service_argv("Spooler", "win32") == [
        *POWERSHELL,
        "-Command",
        "Restart-Service -Name 'Spooler' -Force -ErrorAction Stop",
    ]
    assert clear_spooler_argv("win32") == [
        *POWERSHELL,
        "-Command",
        "Stop-Service -Name Spooler -Force -ErrorAction Stop; "
        'Remove-Item -Path "$env:SystemRoot\\System32\\spool\\PRINTERS\\*" -Force '
        "-ErrorAction SilentlyContinue; Start-Service -Name Spooler -ErrorAction Stop",
    ]
    path = Path("C:/Upkeep/scripts/fix.ps1")
    assert script_argv(path, ["-Force"], "win32") == [*POWERSHELL, "-File", str(path), "-Force"]
    assert script_argv(Path("C:/Upkeep/scripts/fix.cmd"), [], "win32") == [
        str(Path("C:/Upkeep/scripts/fix.cmd"))
    ]


def test_windows_restart_runs_the_generated_argv() -> None:
    calls = []

    def fake_run(argv, timeout, max_output):
        calls.append(argv)
        return BoundedRun(0, "", "", 0.1)

    ctx = ActionContext(platform="win32", run=fake_run)
    assert perform("restart-service", {"service": "wuauserv"}, ctx).exit_code == 0
    assert calls == [restart_service_argv("wuauserv", "win32")]


def test_the_agent_kinds_are_the_collectors() -> None:
    from collector.remediation.actions import KINDS as COLLECTOR_KINDS
    from collector.remediation.actions import load_library

    assert set(KINDS) == set(COLLECTOR_KINDS)
    assert {a.kind for a in load_library().actions.values()} <= set(KINDS)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX")
def test_clean_temp_counts_what_it_cannot_remove(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root removes everything")
    folder = tmp_path / "t"
    _old(folder / "locked" / "a.tmp", 10)
    (folder / "locked").chmod(0o500)
    try:
        result = perform("clean-temp", {"path": str(folder), "older_than_days": 1}, ActionContext())
    finally:
        (folder / "locked").chmod(0o700)
    assert result.exit_code == 1 and result.facts["errors"] == 1
