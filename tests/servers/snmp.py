"""Real SNMP agents on loopback for the poller tests: Debian's ``snmpd`` and ``snmpsim``.

``SnmpdProcess`` runs net-snmp's snmpd on 127.0.0.1:<free UDP port> with its own config
(community ``upkeep-ro`` for v2c, user ``upkeep-v3`` with SHA-256/AES-128 authPriv), no
system MIB files and a private persistent dir. ``SnmpsimProcess`` runs
``snmpsim-command-responder`` over a data dir of ``.snmprec`` recordings (the community
is the recording's file name). Both wait until the agent answers a GET.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

V2C_COMMUNITY = "upkeep-ro"
V3_USER = "upkeep-v3"
V3_AUTH_KEY = "auth-secret-1"
V3_PRIV_KEY = "priv-secret-1"


def free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _probe(port: int, community: str) -> bool:
    """A hand-built SNMPv2c GET of sysUpTime.0: True if anything answers."""
    oid = bytes([0x06, 0x08, 0x2B, 6, 1, 2, 1, 1, 3, 0])
    varbind = bytes([0x30, len(oid) + 2]) + oid + b"\x05\x00"
    varbinds = bytes([0x30, len(varbind)]) + varbind
    pdu_body = b"\x02\x01\x01\x02\x01\x00\x02\x01\x00" + varbinds
    pdu = bytes([0xA0, len(pdu_body)]) + pdu_body
    c = community.encode()
    body = b"\x02\x01\x01" + bytes([0x04, len(c)]) + c + pdu
    message = bytes([0x30, len(body)]) + body
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.3)
        sock.sendto(message, ("127.0.0.1", port))
        try:
            sock.recvfrom(4096)
            return True
        except OSError:
            return False


class _Process:
    port: int
    proc: subprocess.Popen | None = None

    def _wait(self, community: str, log: Path, timeout: float = 20.0) -> None:
        try:
            self._wait_answer(community, log, timeout)
        except BaseException:
            self.stop()  # a server that never answered is not left behind
            raise

    def _wait_answer(self, community: str, log: Path, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"SNMP agent exited: {log.read_text(errors='replace')[-2000:]}")
            if _probe(self.port, community):
                return
            time.sleep(0.1)
        raise RuntimeError(
            f"SNMP agent did not answer on port {self.port}: {log.read_text(errors='replace')[-2000:]}"
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class SnmpdProcess(_Process):
    """net-snmp's snmpd with a config of our own; see the module docstring."""

    def __init__(
        self, workdir: Path, sys_name: str = "upkeep-test-snmpd", extra_config: str = ""
    ) -> None:
        """``extra_config``: more snmpd.conf lines, e.g. ``override OID TYPE VALUE`` to serve
        objects net-snmp does not implement (UPS-MIB values a real UPS firmware sends)."""
        self.workdir = workdir
        self.port = free_udp_port()
        workdir.mkdir(parents=True, exist_ok=True)
        self.config = workdir / "snmpd.conf"
        self.config.write_text(
            f"rocommunity {V2C_COMMUNITY} 127.0.0.1\n"
            f'createUser {V3_USER} SHA-256 "{V3_AUTH_KEY}" AES "{V3_PRIV_KEY}"\n'
            f"rouser {V3_USER} authpriv\n"
            f"sysName {sys_name}\nsysLocation test-rack\nsysContact ops@example.net\n"
            + extra_config
        )
        self.log = workdir / "snmpd.log"

    def start(self) -> SnmpdProcess:
        binary = shutil.which("snmpd") or "/usr/sbin/snmpd"
        env = {**os.environ, "MIBS": "", "MIBDIRS": str(self.workdir)}
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [
                    binary,
                    "-f",
                    "-Lo",
                    "-C",
                    "-c",
                    str(self.config),
                    "-r",
                    f"--persistentDir={self.workdir / 'persist'}",
                    f"udp:127.0.0.1:{self.port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        self._wait(V2C_COMMUNITY, self.log)
        return self

    def __enter__(self) -> SnmpdProcess:
        return self.start()


class SnmpsimProcess(_Process):
    """snmpsim over ``data_dir`` (``<community>.snmprec`` files); see the module docstring."""

    def __init__(self, data_dir: Path, workdir: Path) -> None:
        self.data_dir = data_dir
        self.workdir = workdir
        self.port = free_udp_port()
        self.log = workdir / "snmpsim.log"
        self._public: Path | None = None

    def stop(self) -> None:
        super().stop()
        if self._public is not None:
            shutil.rmtree(self._public, ignore_errors=True)
            self._public = None

    def start(self, probe_community: str) -> SnmpsimProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        cache = self.workdir / "cache"
        cache.mkdir(exist_ok=True)
        # As root snmpsim drops to nobody, who may not be able to read this Python's files
        # (e.g. under /root): import what it loads lazily (its index's dbm) before that.
        argv = [
            sys.executable,
            "-c",
            "import sys, dbm, dbm.dumb, encodings.idna, encodings.latin_1, encodings.ascii, encodings.hex_codec; "
            "from snmpsim.commands.responder import main; sys.argv[0] = 'snmpsim'; sys.exit(main())",
            f"--data-dir={self.data_dir}",
            f"--cache-dir={cache}",
            f"--agent-udpv4-endpoint=127.0.0.1:{self.port}",
            "--log-level=error",
        ]
        if os.geteuid() == 0:
            # snmpsim refuses to run as root and drops to nobody, who cannot enter pytest's
            # private tmp dirs: serve a world-readable copy of the recordings instead.
            self._public = Path(tempfile.mkdtemp(prefix="upkeep-snmpsim-"))
            os.chmod(self._public, 0o755)
            data = shutil.copytree(self.data_dir, self._public / "data")
            cache = self._public / "cache"
            cache.mkdir()
            os.chmod(cache, 0o777)
            argv = [
                a.replace(f"--data-dir={self.data_dir}", f"--data-dir={data}").replace(
                    f"--cache-dir={self.workdir / 'cache'}", f"--cache-dir={cache}"
                )
                for a in argv
            ]
            argv += ["--process-user=nobody", "--process-group=nogroup"]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        self._wait(probe_community, self.log)
        return self
