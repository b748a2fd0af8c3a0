"""Helpers for the incident end-to-end tests: a rule without ``for``, settings, batches."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.servers.collector import CollectorProcess

RULES = """
rules:
  - id: e2e-disk
    metric: disk_used_percent
    warning: "> 85"
    critical: "> 95"
    priority: {warning: minor, critical: critical}
    kind: capacity
    summary: "{asset}: disk {mountpoint} is {value:.0f}% full"
"""


def write_settings(folder: Path, connectors: dict[str, Any], **extra: Any) -> Path:
    """A settings YAML with the e2e rule and ``connectors`` (the ConnectorsConfig shape)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rules").mkdir(exist_ok=True)
    (folder / "rules" / "e2e.yaml").write_text(RULES)
    settings = {
        "rules_paths": [str(folder / "rules")],
        "connectors": connectors,
        "outbox_retry_base": 0.2,
        "outbox_retry_max": 1.0,
        # A SIGKILL can land while a row is claimed; the restarted collector takes it
        # over only when the claim expires (default 2 min), so keep claims short here.
        "outbox_claim_timeout": 3.0,
        "rules_watch_interval": 0,
        **extra,
    }
    path = folder / "settings.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


class Agent:
    """Posts batches for one asset as an agent would (one sequence, one agent id)."""

    def __init__(self, collector: CollectorProcess, token: str, asset: str = "srv1") -> None:
        self.collector = collector
        self.token = token
        self.asset = asset
        self.agent_id = str(uuid.uuid4())
        self.seq = 0

    def disk(self, value: float, mountpoint: str = "/") -> None:
        self.seq += 1
        now = time.time()
        batch = {
            "batch_id": str(uuid.uuid4()),
            "seq": self.seq,
            "sent_at": now,
            "agent": {
                "id": self.agent_id,
                "version": "0.1.0",
                "hostname": self.asset,
                "site": "hq",
            },
            "assets": [{"name": self.asset, "kind": "host"}],
            "samples": [
                {
                    "asset": self.asset,
                    "metric": "disk_used_percent",
                    "labels": {"mountpoint": mountpoint},
                    "value": value,
                    "ts": now,
                }
            ],
            "events": [],
        }
        response = httpx.post(
            f"{self.collector.url}/api/v1/batches",
            json=batch,
            timeout=10,
            headers={"Authorization": f"Bearer {self.token}"},
        )
        response.raise_for_status()


def wait_for(predicate, timeout: float = 30.0, what: str = "condition", *, log=None):
    """Poll ``predicate`` until truthy; on time-out fail naming ``what``, with the tail of the
    collector's log when ``log`` (a CollectorProcess) is given (what CI shows is all we get)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            tail = f"\ncollector log:\n{log.log_tail(120)}" if log is not None else ""
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{tail}")
        time.sleep(0.1)


def api(collector: CollectorProcess, admin_token: str, method: str, path: str, **kw: Any) -> Any:
    response = httpx.request(
        method,
        f"{collector.url}{path}",
        timeout=10,
        headers={"Authorization": f"Bearer {admin_token}"},
        **kw,
    )
    response.raise_for_status()
    return response.json()
