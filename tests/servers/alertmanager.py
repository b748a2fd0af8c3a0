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
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.servers.process import ServerProcess


def alertmanager_binary() -> str | None:
    return shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")


class AlertmanagerServer(ServerProcess):
    """An Alertmanager process on ``http://127.0.0.1:<port>``; see the module docstring."""

    name = "alertmanager"

    def __init__(
        self,
        workdir: str | Path,
        webhook_url: str,
        bearer_token: str,
        *,
        group_wait: str = "0s",
        group_interval: str = "1s",
        repeat_interval: str = "4h",
        group_by: list[str] | None = None,
        startup_timeout: float = 30.0,
    ) -> None:
        binary = alertmanager_binary()
        if binary is None:
            raise RuntimeError(
                "alertmanager not installed (Debian package 'prometheus-alertmanager')"
            )
        super().__init__(workdir, startup_timeout=startup_timeout)
        self.binary = binary
        self.config_path = self.workdir / "alertmanager.yml"
        token_file = self.workdir / "receiver-token"
        token_file.write_text(bearer_token)
        token_file.chmod(0o600)
        config = {
            "route": {
                "receiver": "upkeep",
                # Default: every alert its own notification; e.g. ["alertname"] to group.
                "group_by": group_by or ["..."],
                "group_wait": group_wait,
                "group_interval": group_interval,
                "repeat_interval": repeat_interval,
            },
            "receivers": [
                {
                    "name": "upkeep",
                    "webhook_configs": [
                        {
                            "url": webhook_url,
                            "send_resolved": True,
                            "max_alerts": 0,
                            "http_config": {
                                "authorization": {
                                    "type": "Bearer",
                                    "credentials_file": str(token_file),
                                }
                            },
                        }
                    ],
                }
            ],
        }
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    def args(self) -> list[str]:
        return [
            self.binary,
            f"--config.file={self.config_path}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
            "--log.level=debug",
        ]

    def post_alerts(self, alerts: list[dict[str, Any]]) -> None:
        """``POST /api/v2/alerts`` (``startsAt``/``endsAt`` as RFC 3339 strings, when given)."""
        request = urllib.request.Request(
            self.url + "/api/v2/alerts",
            data=json.dumps(alerts).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as resp:
            if resp.status != 200:
                raise RuntimeError(f"alertmanager refused alerts: {resp.status}")
