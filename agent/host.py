"""The machine the agent runs on, behind a small interface.

Checks call ``self.host.<method>()`` instead of psutil/subprocess directly, so tests can
replace the host with recorded inputs (``tests/agent/checks/cases/<case>/input.yaml``,
replayed by ``tests/agent/checks/recorded.py``). Every method here is a thin
pass-through: no filtering, no arithmetic — that belongs to the checks, where it is
tested. psutil results are returned as psutil returns them (namedtuples).
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any, NamedTuple

import psutil


class FileInfo(NamedTuple):
    """One regular file found under a folder the ``file_age`` check watches."""

    path: str
    mtime: float
    size: int


class HttpResponse(NamedTuple):
    """What the ``http`` check needs of one HTTP answer."""

    status: int
    seconds: float
    body: str


class Resolution(NamedTuple):
    """The addresses a name resolved to, and how long the resolver took."""

    addresses: list[str]
    seconds: float


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

    # -- psutil: cpu, memory -------------------------------------------------------------
    def cpu_times(self, percpu: bool = False) -> Any:
        """Raw CPU time counters. Checks compute percentages from their own previous
        reading: psutil's ``cpu_times_percent`` keeps its previous reading per *thread*,
        which gives wrong intervals when a scheduler runs a check on varying threads."""
        return psutil.cpu_times(percpu=True) if percpu else psutil.cpu_times()

    def cpu_count(self, logical: bool = True) -> int | None:
        return psutil.cpu_count(logical=logical)

    def getloadavg(self) -> tuple[float, float, float]:
        return psutil.getloadavg()

    def virtual_memory(self) -> Any:
        return psutil.virtual_memory()

    def swap_memory(self) -> Any:
        return psutil.swap_memory()

    # -- psutil: disks, network ----------------------------------------------------------
    def disk_partitions(self, all: bool = True) -> list[Any]:  # psutil's parameter name
        return psutil.disk_partitions(all=all)

    def disk_usage(self, path: str) -> Any:
        return psutil.disk_usage(path)

    def statvfs(self, path: str) -> Any:
        """``os.statvfs`` (POSIX only): the inode counts psutil's disk_usage leaves out."""
        return os.statvfs(path)

    def disk_io_counters(self) -> dict[str, Any]:
        """Per-disk counters; ``{}`` where the OS has none (psutil returns None then)."""
        return psutil.disk_io_counters(perdisk=True) or {}

    def net_io_counters(self) -> dict[str, Any]:
        return psutil.net_io_counters(pernic=True) or {}

    def net_if_stats(self) -> dict[str, Any]:
        return psutil.net_if_stats()

    # -- psutil: boot, sensors, processes, services --------------------------------------
    def boot_time(self) -> float:
        return psutil.boot_time()

    def sensors_temperatures(self) -> dict[str, list[Any]] | None:
        """Temperatures per chip; ``None`` where psutil has no sensor support on this OS."""
        if not hasattr(psutil, "sensors_temperatures"):
            return None
        return psutil.sensors_temperatures()

    def process_iter(self, attrs: list[str]) -> Iterator[dict[str, Any]]:
        """Each process's ``info`` dict with ``attrs``; unreadable values are None."""
        for proc in psutil.process_iter(attrs, ad_value=None):
            yield proc.info

    def win_service_get(self, name: str) -> dict[str, Any] | None:
        """A Windows service's ``as_dict()``, or None if no service has that name."""
        try:
            return psutil.win_service_get(name).as_dict()  # type: ignore[attr-defined]
        except psutil.NoSuchProcess:
            return None

    # -- files -----------------------------------------------------------------------------
    def path_exists(self, path: str) -> bool:
        return os.path.exists(path)

    def read_file(self, path: str) -> str:
        """A small text file (``/proc``, ``/sys``); raises OSError if it cannot be read."""
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()

    def iter_files(self, root: str, recursive: bool) -> Iterator[FileInfo]:
        """Regular files in ``root`` (or ``root`` itself if it is a file).

        Raises FileNotFoundError if ``root`` does not exist. Unreadable subfolders are
        skipped; symlinked folders are not followed, so a link loop cannot hang a check.
        """
        if not os.path.isdir(root):
            st = os.stat(root)  # raises FileNotFoundError for a missing path
            yield FileInfo(root, st.st_mtime, st.st_size)
            return
        pending = [root]
        while pending:
            folder = pending.pop()
            try:
                entries = os.scandir(folder)
            except OSError:
                if folder == root:
                    raise
                continue
            with entries:
                for entry in entries:
                    try:
                        if entry.is_file():
                            st = entry.stat()
                            yield FileInfo(entry.path, st.st_mtime, st.st_size)
                        elif recursive and entry.is_dir(follow_symlinks=False):
                            pending.append(entry.path)
                    except OSError:
                        continue  # vanished or unreadable between listing and stat

    # -- tools -------------------------------------------------------------------------
    def which(self, tool: str) -> str | None:
        return shutil.which(tool)

    def run(
        self, argv: list[str], timeout: float = 60.0, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        """Run a tool and return its output; never through a shell.

        ``env`` is added to the agent's environment (e.g. ``LC_ALL=C`` so output parsers
        do not meet translated text).
        """
        full_env = {**os.environ, **env} if env else None
        return subprocess.run(
            argv,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=timeout,
            check=False,
            env=full_env,
        )

    def run_bounded(
        self,
        argv: list[str],
        timeout: float,
        max_output: int = 16384,
        env: dict[str, str] | None = None,
    ) -> Any:
        """Run an untrusted program (a plugin): clean environment, bounded output, its
        process group killed on timeout (``agent.boundedrun``)."""
        from agent.boundedrun import run_bounded

        return run_bounded(argv, timeout, max_output, env)

    # -- network (the checks ping, tcp, http, tls, dns) ---------------------------------
    def ping(self, address: str, timeout: float, seq: int = 0) -> float | None:
        """One ICMP echo: the round trip in seconds, or None without a reply.

        Raises PermissionError when this process may open neither a raw ICMP socket
        (CAP_NET_RAW) nor an unprivileged one (``net.ipv4.ping_group_range``). ping3 is
        imported here, so only an agent with a ``ping`` check loads it.
        """
        import ping3

        rtt = ping3.ping(address, timeout=timeout, unit="s", seq=seq)
        return None if rtt is None or rtt is False else float(rtt)

    def tcp_connect(self, address: str, port: int, timeout: float) -> float:
        """Seconds to open a TCP connection (name resolution included), then close it.

        Raises OSError: refused, timed out, unreachable, unknown name.
        """
        start = time.perf_counter()
        with socket.create_connection((address, port), timeout=timeout):
            return time.perf_counter() - start

    def http_request(
        self,
        url: str,
        method: str,
        timeout: float,
        verify: bool | str,
        follow_redirects: bool,
        max_body: int,
    ) -> HttpResponse:
        """One HTTP request; ``body`` is at most ``max_body`` bytes, decoded leniently.

        ``verify``: True (system CAs), False, or a CA bundle path. Raises OSError
        (requests' exceptions are OSErrors) when no answer came.
        """
        import requests

        if verify is False:  # the admin chose it: no warning per request in the agent's log
            import urllib3

            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
        start = time.perf_counter()
        with requests.request(
            method,
            url,
            timeout=timeout,
            verify=verify,
            stream=True,
            allow_redirects=follow_redirects,
            headers={"User-Agent": "upkeep-agent"},
        ) as response:
            raw = b""
            if max_body > 0:
                for chunk in response.iter_content(chunk_size=min(max_body, 65536)):
                    raw += chunk
                    if len(raw) >= max_body:
                        break
            seconds = time.perf_counter() - start
            body = raw[:max_body].decode(response.encoding or "utf-8", errors="replace")
            return HttpResponse(response.status_code, seconds, body)

    def tls_certificate(self, address: str, port: int, server_name: str, timeout: float) -> bytes:
        """The DER certificate the server presents, read without verifying it: an expired
        or self-signed certificate is exactly what must still be read. Raises OSError."""
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with (
            socket.create_connection((address, port), timeout=timeout) as sock,
            context.wrap_socket(sock, server_hostname=server_name) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
        if not der:
            raise ssl.SSLError(f"{address}:{port} presented no certificate")
        return der

    def resolve(self, name: str, family: int) -> Resolution:
        """The system resolver's addresses for ``name`` (``socket.AF_*``; 0 = any).

        Raises OSError (``socket.gaierror``) when the name does not resolve.
        """
        start = time.perf_counter()
        infos = socket.getaddrinfo(name, None, family, socket.SOCK_STREAM)
        seconds = time.perf_counter() - start
        return Resolution(list(dict.fromkeys(str(info[4][0]) for info in infos)), seconds)
