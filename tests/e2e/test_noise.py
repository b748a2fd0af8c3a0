"""Noise control through a real collector: a maintenance window (nothing inside, nothing for
alerts that resolved inside, one incident for an alert still firing after), a site whose
10 agents all go silent (one site-unreachable incident), a flapping series (one incident,
marked flapping). Short rule durations and sweep intervals keep it to seconds."""

from __future__ import annotations

import signal
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from servers.collector import CollectorProcess, provision

pytestmark = pytest.mark.slow

DISK_RULE = """
rules:
  - id: e2e-disk
    metric: disk_used_percent
    warning: "> 85"
    priority: minor
    summary: "{asset}: disk is {value:.0f}% full"
    flapping: {max_changes: 3, window: 1h}
"""
SILENCE_RULE = """
rules:
  - id: agent-silent
    metric: any
    absent: {for: 2s}
    severity: critical
    priority: major
    kind: outage
    summary: "{asset} has not reported"
"""


def start(
    tmp_path: Path, rules: str, maintenance: dict[str, Any] | None = None
) -> tuple[CollectorProcess, Any]:
    folder = tmp_path / "config"
    (folder / "rules").mkdir(parents=True)
    (folder / "rules" / "e2e.yaml").write_text(rules)
    settings: dict[str, Any] = {
        "rules_paths": [str(folder / "rules")],
        "rules_sweep_interval": 0.3,
        "rules_watch_interval": 0,
        "noise_release_interval": 0.3,
    }
    if maintenance is not None:
        (folder / "maintenance.yaml").write_text(yaml.safe_dump(maintenance))
        settings["maintenance_file"] = str(folder / "maintenance.yaml")
    (folder / "settings.yaml").write_text(yaml.safe_dump(settings))
    collector = CollectorProcess(tmp_path / "collector", config=folder / "settings.yaml").start()
    return collector, provision(collector, "acme")


def post(
    collector: CollectorProcess, token: str, site: str, samples: dict[str, float | None]
) -> None:
    """One batch per asset (its own agent): ``disk_used_percent`` or, for None, a heartbeat."""
    now = time.time()
    for asset, value in samples.items():
        metric = "disk_used_percent" if value is not None else "upkeep_check_up"
        batch = {
            "batch_id": str(uuid.uuid4()),
            "seq": int(now * 1000),
            "sent_at": now,
            "agent": {
                "id": str(uuid.uuid5(uuid.NAMESPACE_DNS, asset)),
                "version": "0.1.0",
                "hostname": asset,
                "site": site,
            },
            "assets": [{"name": asset, "kind": "host"}],
            "samples": [
                {
                    "asset": asset,
                    "metric": metric,
                    "labels": {},
                    "value": value if value is not None else 1.0,
                    "ts": now,
                }
            ],
            "events": [],
        }
        httpx.post(
            f"{collector.url}/api/v1/batches",
            json=batch,
            timeout=10,
            headers={"Authorization": f"Bearer {token}"},
        ).raise_for_status()


def incidents(collector: CollectorProcess, admin_token: str) -> list[dict[str, Any]]:
    resp = httpx.get(
        f"{collector.url}/api/v1/incidents", headers={"Authorization": f"Bearer {admin_token}"}
    )
    resp.raise_for_status()
    return resp.json()


def firing(collector: CollectorProcess, admin_token: str, rule: str) -> list[dict[str, Any]]:
    resp = httpx.get(
        f"{collector.url}/api/v1/alerts",
        params={"status": "firing"},
        headers={"Authorization": f"Bearer {admin_token}"},
    )
    resp.raise_for_status()
    return [a for a in resp.json() if a["rule"] == rule]


def wait_until(check: Any, timeout: float = 20.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.2)
    return value


def test_maintenance_window(tmp_path):
    collector, creds = start(tmp_path, DISK_RULE)
    try:
        now = datetime.now(UTC)
        window = {
            "name": "patch",
            "client": "acme",
            "start": (now - timedelta(minutes=1)).isoformat(),
            "end": (now + timedelta(seconds=6)).isoformat(),
            "rules": ["e2e-disk"],
        }
        resp = httpx.post(
            f"{collector.url}/api/v1/maintenance",
            json=window,
            headers={"Authorization": f"Bearer {creds.admin_token}"},
        )
        assert resp.status_code == 201, resp.text
        post(collector, creds.agent_token, "hq", {"srv1": 97, "srv2": 97})
        wait_until(
            lambda: len(firing(collector, creds.admin_token, "e2e-disk")) == 2, what="both firing"
        )
        post(collector, creds.agent_token, "hq", {"srv2": 40})  # resolves inside the window
        wait_until(
            lambda: len(firing(collector, creds.admin_token, "e2e-disk")) == 1, what="srv2 resolved"
        )
        assert incidents(collector, creds.admin_token) == []  # inside: nothing
        post(collector, creds.agent_token, "hq", {"srv1": 98})  # still firing
        assert incidents(collector, creds.admin_token) == []
        end = (now + timedelta(seconds=6)).timestamp()
        rows = wait_until(
            lambda: incidents(collector, creds.admin_token), timeout=20, what="srv1 released"
        )
        assert time.time() >= end
        time.sleep(1.0)  # another release round or two: nothing else appears
        rows = incidents(collector, creds.admin_token)
        assert [(r["asset"], r["rule"], r["state"]) for r in rows] == [("srv1", "e2e-disk", "open")]
    finally:
        collector.stop()


def test_site_with_ten_silent_agents_is_one_incident(tmp_path):
    deps = {"dependencies": {"site_unreachable": {"grace": "5s"}}}
    collector, creds = start(tmp_path, SILENCE_RULE, deps)
    try:
        assets = [f"pc{i:02d}" for i in range(10)]
        post(collector, creds.agent_token, "branch", dict.fromkeys(assets))
        # every agent stops: after 2 s each asset's agent-silent fires (within one sweep or two)
        wait_until(
            lambda: len(firing(collector, creds.admin_token, "agent-silent")) == 10,
            timeout=20,
            what="all ten silent",
        )
        rows = wait_until(
            lambda: incidents(collector, creds.admin_token), timeout=10, what="site incident"
        )
        time.sleep(6.0)  # past the grace: no asset incident shows up afterwards either
        rows = incidents(collector, creds.admin_token)
        assert [(r["rule"], r["state"]) for r in rows] == [("site-unreachable", "open")], rows
        # the assets behind it are listed on the site incident, each once
        detail = httpx.get(
            f"{collector.url}/api/v1/incidents/{rows[0]['key']}",
            headers={"Authorization": f"Bearer {creds.admin_token}"},
        ).json()
        listed = [e["data"]["asset"] for e in detail["events"] if e["type"] == "suppressed"]
        assert len(listed) == len(set(listed)) and set(listed) <= set(assets), listed
        assert len(listed) >= 8, listed  # those folded in after the site incident opened
    finally:
        collector.stop()


def test_flapping_series_is_one_incident(tmp_path):
    collector, creds = start(tmp_path, DISK_RULE)
    try:
        for value in (97, 40, 97, 40, 97, 40, 97, 40, 97):
            post(collector, creds.agent_token, "hq", {"srv1": value})
            time.sleep(0.05)
        rows = incidents(collector, creds.admin_token)
        disk = [r for r in rows if r["rule"] == "e2e-disk"]
        assert len(disk) == 1, rows
        detail = httpx.get(
            f"{collector.url}/api/v1/incidents/{disk[0]['key']}",
            headers={"Authorization": f"Bearer {creds.admin_token}"},
        ).json()
        assert detail["flapping"] is True and detail["state"] == "open"
    finally:
        collector.stop()


def test_sighup_reloads_the_maintenance_file(tmp_path):
    window = {"name": "patch", "client": "acme", "cron": "0 22 * * 2", "duration": "2h"}
    collector, creds = start(tmp_path, DISK_RULE, {"windows": [window]})
    headers = {"Authorization": f"Bearer {creds.admin_token}"}

    def names() -> list[str]:
        return [
            w["window"]["name"]
            for w in httpx.get(f"{collector.url}/api/v1/maintenance", headers=headers).json()
        ]

    try:
        assert names() == ["patch"]
        path = tmp_path / "config" / "maintenance.yaml"
        path.write_text(yaml.safe_dump({"windows": [window, {**window, "name": "backup"}]}))
        collector.process.send_signal(signal.SIGHUP)
        wait_until(lambda: names() == ["patch", "backup"], what="reloaded windows")
        path.write_text("windows: [{name: broken}]\n")  # refused whole: the running config stays
        collector.process.send_signal(signal.SIGHUP)
        wait_until(
            lambda: "maintenance file refused" in collector.log_path.read_text(),
            what="refusal logged",
        )
        assert names() == ["patch", "backup"] and collector.running
    finally:
        collector.stop()
