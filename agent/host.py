"""The machine the agent runs on, behind a small interface.

Checks call ``self.host.<method>()`` instead of psutil/subprocess directly, so tests can
replace the host with recorded inputs (``tests/agent/cases/<case>/input.yaml``).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time

import psutil


class Host:
    """The real machine. Every method is a thin pass-through to psutil or the OS."""

    def __init__(self, asset_name: str | None = None) -> None:
        self.asset_name = asset_name or socket.gethostname()
        self.platform = sys.platform

    # -- clock -------------------------------------------------------------------------
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    # -- psutil ------------------------------------------------------------------------
    def boot_time(self) -> float:
        return psutil.boot_time()

    # -- tools -------------------------------------------------------------------------
    def which(self, tool: str) -> str | None:
        return shutil.which(tool)

    def run(self, argv: list[str], timeout: float = 60.0) -> subprocess.CompletedProcess:
        """Run a tool and return its output; never through a shell."""
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
