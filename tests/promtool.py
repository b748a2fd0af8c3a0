"""``promtool`` (Debian's ``prometheus`` package, installed by scripts/test-system-deps)."""

from __future__ import annotations

import shutil
import subprocess

import pytest


def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.skip(
            "promtool not installed (Debian package 'prometheus'; run scripts/test-system-deps)"
        )
    return path


def check_metrics(exposition: str | bytes) -> None:
    """``promtool check metrics`` must accept the exposition without a single lint problem."""
    data = exposition.encode() if isinstance(exposition, str) else exposition
    proc = subprocess.run(
        [promtool(), "check", "metrics"], input=data, capture_output=True, timeout=30
    )
    out = (proc.stdout + proc.stderr).decode(errors="replace")
    assert proc.returncode == 0 and not out.strip(), f"promtool check metrics:\n{out}"


def run(*args: str, cwd: str | None = None) -> str:
    """``promtool ARGS…``; fails the test with its output when it exits non-zero."""
    proc = subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=60, cwd=cwd)
    assert proc.returncode == 0, f"promtool {' '.join(args)}:\n{proc.stdout}{proc.stderr}"
    return proc.stdout
