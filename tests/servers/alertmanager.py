"""Run a real Alertmanager (Debian's ``prometheus-alertmanager``) for integration tests.

It listens on a free loopback port, with clustering off (``--cluster.listen-address=``) and
its state in a temporary directory, and sends every notification to one webhook receiver
(e.g. a collector's ``/api/v1/alertmanager``) with a bearer token. Grouping is by alert name
and label set with short waits, so a posted alert reaches the receiver within a few seconds
and its resolution soon after.

Usage::

    from tests.servers.alertmanager import AlertmanagerServer

    with AlertmanagerServer(tmp_path / "am", f"{collector.url}/api/v1/alertmanager", token) as am:
        am.post_alerts([{"labels": {"alertname": "DiskFull", "client": "acme"}}])
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

import yaml

from tests.servers.collector import free_port


def alertmanager_binary() -> str | None:
    return shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


class AlertmanagerServer:
    """An Alertmanager process on ``http://127.0.0.1:<port>``; see the module docstring."""

    def __init__(self, workdir: str | Path, webhook_url: str, bearer_token: str, *,
                 group_wait: str = "0s", group_interval: str = "1s", repeat_interval: str = "4h",
                 startup_timeout: float = 30.0) -> None:
        binary = alertmanager_binary()
        if binary is None:
            raise RuntimeError("alertmanager not installed (Debian package 'prometheus-alertmanager')")
        self.binary = binary
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.config_path = self.workdir / "alertmanager.yml"
        self.log_path = self.workdir / "alertmanager.log"
        self.startup_timeout = startup_timeout
        token_file = self.workdir / "receiver-token"
        token_file.write_text(bearer_token)
        token_file.chmod(0o600)
        config = {
            "route": {"receiver": "upkeep", "group_by": ["..."], "group_wait": group_wait,
                      "group_interval": group_interval, "repeat_interval": repeat_interval},
            "receivers": [{"name": "upkeep", "webhook_configs": [{
                "url": webhook_url, "send_resolved": True, "max_alerts": 0,
                "http_config": {"authorization": {"type": "Bearer", "credentials_file": str(token_file)}},
            }]}],
        }
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> AlertmanagerServer:
        args = [self.binary, f"--config.file={self.config_path}", f"--storage.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=",
                "--log.level=debug"]
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL, cwd=self.workdir)
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"alertmanager exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"alertmanager not ready after {self.startup_timeout}s:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(15)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            self.process = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """``POST /api/v2/alerts`` (``startsAt``/``endsAt`` as RFC 3339 strings, when given)."""
        request = urllib.request.Request(self.url + "/api/v2/alerts", data=json.dumps(alerts).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=10) as resp:
            if resp.status != 200:
                raise RuntimeError(f"alertmanager refused alerts: {resp.status}")

    def __enter__(self) -> AlertmanagerServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
