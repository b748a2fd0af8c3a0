"""A real collector process: alerts on arrival through HTTP ingest, `for` clocks across a
restart, reload by SIGHUP and by the API, a refused change visible in status and /metrics."""

from __future__ import annotations

import signal
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.servers.collector import CollectorProcess, provision

pytestmark = pytest.mark.slow

RULES = """
rules:
  - id: svc
    metric: service_up
    state: {in: [0]}
    for: 2m
    severity: critical
    priority: major
    summary: "{asset}: {service} down"
"""


def post(
    collector: CollectorProcess, token: str, samples: list[tuple[str, dict, float, float]]
) -> None:
    body = {
        "agent": {
            "id": str(uuid.UUID(int=7)),
            "hostname": "srv1",
            "version": "1",
            "site": "office",
        },
        "batch_id": str(uuid.uuid4()),
        "seq": 1,
        "sent_at": time.time(),
        "assets": [{"name": "srv1", "kind": "host"}],
        "samples": [
            {"asset": "srv1", "metric": m, "labels": labels, "value": v, "ts": ts}
            for m, labels, v, ts in samples
        ],
    }
    r = httpx.post(
        f"{collector.url}/api/v1/batches", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 200, r.text


def alerts(collector: CollectorProcess, token: str) -> list[dict]:
    r = httpx.get(f"{collector.url}/api/v1/alerts", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return r.json()


def test_collector_rules_end_to_end(db_url: str, tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.yaml").write_text(RULES)
    env = {"UPKEEP_RULES_PATHS": str(rules), "UPKEEP_RULES_WATCH_INTERVAL": "0s"}
    with CollectorProcess(tmp_path / "c", database_url=db_url, env=env) as collector:
        creds = provision(collector)
        auth = {"Authorization": f"Bearer {creds.admin_token}"}
        # Down since 100 s ago: pending, and the sweep would fire it only 20 s from now (the
        # clock counts from the sample's time; at 150 s ago a slow GET met the sweep's firing).
        t0 = time.time() - 100
        post(collector, creds.agent_token, [("service_up", {"service": "nginx"}, 0.0, t0)])
        # Evaluated within the request: pending before the 200 came back.
        [pending] = alerts(collector, creds.admin_token)
        assert (pending["rule"], pending["status"]) == ("svc", "pending")

        collector.restart()
        # 125 s after the first (ahead of this clock by ~25 s, within max_clock_skew): firing
        # on arrival only if the 2-min clock started at t0 survived the restart.
        post(collector, creds.agent_token, [("service_up", {"service": "nginx"}, 0.0, t0 + 125)])
        [firing] = alerts(collector, creds.admin_token)  # the clock ran across the restart
        assert (firing["status"], firing["severity"], firing["summary"]) == (
            "firing",
            "critical",
            "srv1: nginx down",
        )

        # A broken change by SIGHUP is refused; the alert keeps firing.
        (rules / "r.yaml").write_text(RULES.replace("state:", "stat:"))
        collector.process.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while time.time() < deadline:
            status = httpx.get(f"{collector.url}/api/v1/rules/status", headers=auth).json()
            if not status["last_reload_success"]:
                break
            time.sleep(0.1)
        assert not status["last_reload_success"]
        assert "unknown key 'stat'; did you mean 'state'?" in status["errors"][0]
        assert "upkeep_rules_last_reload_success 0.0" in httpx.get(f"{collector.url}/metrics").text
        assert httpx.post(f"{collector.url}/api/v1/rules/reload", headers=auth).status_code == 422
        assert [a["status"] for a in alerts(collector, creds.admin_token)] == ["firing"]

        (rules / "r.yaml").write_text(RULES)
        r = httpx.post(f"{collector.url}/api/v1/rules/reload", headers=auth)
        assert r.status_code == 200 and r.json()["rules"] == 1
        assert "upkeep_rules_last_reload_success 1.0" in httpx.get(f"{collector.url}/metrics").text
        assert [a["status"] for a in alerts(collector, creds.admin_token)] == ["firing"]
        assert httpx.get(f"{collector.url}/api/v1/alerts").status_code == 401
