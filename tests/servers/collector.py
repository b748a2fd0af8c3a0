"""Run a real collector (``upkeep serve``) as a subprocess, for integration and e2e tests.

The collector runs as ``sys.executable -m collector.cli serve`` on a free loopback port,
with its own data dir (SQLite ``upkeep.db`` there by default) or a given database URL.
``start()`` returns once ``GET /healthz`` answers 200; ``stop()`` sends SIGTERM and waits;
``start()`` again reuses the same port and store, so outage tests can take the collector
away and bring it back at the same URL. ``kill()`` simulates a crash (SIGKILL).

Usage::

    from tests.servers.collector import CollectorProcess, provision

    with CollectorProcess(tmp_path / "collector") as collector:     # started
        creds = provision(collector, "acme")   # client + agent token + admin token, via the CLI
        httpx.post(f"{collector.url}/api/v1/batches", content=body,
                   headers={"Authorization": f"Bearer {creds.agent_token}"})
        collector.stop()        # outage: connections are refused now
        collector.start()       # back on the same port with the same data
    # stopped on exit; the server's output is in collector.log_path

Admin commands run against the same store: ``collector.cli("client", "list")`` or the
functions ``create_client`` / ``create_agent_token`` / ``create_admin_token``, which read
the token from the last line of stdout as any script would. Every CLI call and the server
get the same environment (``collector.env``): ``UPKEEP_DATA_DIR``, ``UPKEEP_DATABASE_URL``
when given, and no other ``UPKEEP_*`` variable from the caller.

Importable as ``tests.servers.collector`` (tests/conftest.py puts the repository root on
``sys.path``) and, inside pytest, also as ``servers.collector``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO


def _die_with_parent() -> None:
    """Linux: the collector gets SIGKILL when the test process dies (a test killed by
    pytest-timeout, or Ctrl-C) instead of running on against a dropped schema. (The signal
    follows the thread that started it: start collectors from a thread that outlives them.)"""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class CollectorProcess:
    """A collector subprocess on ``http://127.0.0.1:<port>``; see the module docstring.

    ``data_dir``: where the collector keeps its SQLite store (and this helper its log,
    ``collector.log``). ``database_url``: use this store instead (e.g. PostgreSQL).
    ``env``: extra environment variables (e.g. ``{"UPKEEP_RAW_RETENTION": "1h"}``).
    ``config``: a settings YAML file passed as ``--config``.
    """

    def __init__(
        self,
        data_dir: str | Path,
        *,
        database_url: str | None = None,
        port: int | None = None,
        host: str = "127.0.0.1",
        env: dict[str, str] | None = None,
        config: str | Path | None = None,
        log_level: str = "info",
        startup_timeout: float = 120.0,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.database_url = database_url
        self.host = host
        self.port = port or free_port(host)
        self.config = Path(config) if config else None
        self.startup_timeout = startup_timeout
        self.log_path = self.data_dir / "collector.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("UPKEEP_")}
        self.env.update(
            {
                "UPKEEP_DATA_DIR": str(self.data_dir),
                "UPKEEP_LOG_LEVEL": log_level,
                "PYTHONUNBUFFERED": "1",
            }
        )
        if database_url:
            self.env["UPKEEP_DATABASE_URL"] = database_url
        self.env.update(env or {})
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> CollectorProcess:
        """Start the server and wait until /healthz answers 200 (raises with the log if not)."""
        if self.running:
            return self
        args = [
            sys.executable,
            "-m",
            "collector.cli",
            "serve",
            "--host",
            self.host,
            "--port",
            str(self.port),
        ]
        if self.config:
            args += ["--config", str(self.config)]
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log.write(f"--- starting: {' '.join(args)}\n".encode())
        self._log.flush()
        self.process = subprocess.Popen(
            args,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - only a prctl, no locks taken
        )
        self.wait_healthy(self.startup_timeout)
        return self

    def wait_healthy(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"collector exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"collector not healthy after {timeout}s:\n{self.log_tail()}")
            time.sleep(0.05)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM and wait (SIGKILL after ``timeout``); returns the exit code.

        A graceful shutdown returns -15: uvicorn re-raises SIGTERM once it has finished.
        """
        code = None
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            code = self.process.returncode
            self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def kill(self) -> None:
        """SIGKILL: a crash, no graceful shutdown."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.stop()

    def restart(self) -> CollectorProcess:
        self.stop()
        return self.start()

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def cli(
        self, *args: str, check: bool = True, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Run ``upkeep ARGS…`` against this collector's store; raises on failure if ``check``."""
        return run_cli(*args, env=self.env, check=check, timeout=timeout)

    def __enter__(self) -> CollectorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def run_cli(
    *args: str, env: dict[str, str], check: bool = True, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m collector.cli ARGS…`` with ``env``; on failure with ``check`` raise with output."""
    proc = subprocess.run(
        [sys.executable, "-m", "collector.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    if check and proc.returncode != 0:
        raise RuntimeError(
            f"upkeep {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
        )
    return proc


def last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise RuntimeError("no output")
    return lines[-1].strip()


def create_client(collector: CollectorProcess, name: str) -> None:
    collector.cli("client", "add", name)


def create_agent_token(collector: CollectorProcess, client: str, name: str = "") -> str:
    """A new agent token for ``client`` (which must exist), read from the CLI's last line."""
    return last_line(collector.cli("token", "create", "--client", client, "--name", name).stdout)


def create_admin_token(collector: CollectorProcess) -> str:
    return last_line(collector.cli("token", "create", "--admin").stdout)


@dataclass(frozen=True)
class Credentials:
    """What :func:`provision` created."""

    client: str
    agent_token: str
    admin_token: str


def provision(
    collector: CollectorProcess, client: str = "acme", token_name: str = ""
) -> Credentials:
    """Create ``client``, an agent token for it and an admin token."""
    create_client(collector, client)
    return Credentials(
        client, create_agent_token(collector, client, token_name), create_admin_token(collector)
    )
