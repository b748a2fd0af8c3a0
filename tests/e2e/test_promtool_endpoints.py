"""``promtool check metrics`` accepts both /metrics endpoints without a single line of output.

Three expositions, each checked by the real promtool (Debian's ``prometheus`` package):

* a real agent process (``upkeep-agent run``) with every host check it can run here and
  the network checks against loopback targets, serving its local ``/metrics``;
* the agent's endpoint code serving one sample of *every* metric the agent's catalogs can
  emit (every registered check, the self-check, the base catalog, every shipped SNMP
  profile) — a real host cannot emit them all (no SMART disks, no switch here);
* a real collector that ingested the real agent's batches and the same all-catalog batch.

A name promtool lints (``…_count`` on a gauge, ``bits`` instead of bytes, a counter
without ``_total``) fails here, whatever check or profile it comes from.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import httpx
import pytest
from servers.collector import CollectorProcess, free_port, provision

from agent.checks.base import Sample
from agent.metrics_endpoint import MetricsEndpoint
from agent.shipper import Outcome, Shipper
from agent.spool import Spool
from collector.rules.catalog import metric_labels
from tests.promtool import check_metrics, promtool

pytestmark = pytest.mark.slow


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read().decode()


def _catalog_samples(asset: str, ts: float) -> list[Sample]:
    """One sample per catalogued metric, every catalogued label set."""
    return [
        Sample(name, 1.0, {label: "x" for label in sorted(labels)}, asset, ts)
        for name, labels in sorted(metric_labels().items())
    ]


def _wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def _agent_config(tmp_path: Path, url: str, token: str, metrics_port: int) -> Path:
    backups = tmp_path / "backups"
    backups.mkdir()
    (backups / "mon.tar").write_bytes(b"x")
    collector_port = url.rsplit(":", 1)[1]
    path = tmp_path / "agent.yaml"
    path.write_text(
        json.dumps(
            {
                "collector": {"url": url, "token": token},
                "site": "office-a",
                "asset_name": "promtool-host",
                "state_dir": str(tmp_path / "agent-state"),
                "spool": {"flush_interval": "1s"},
                "metrics": {"enabled": True, "listen": f"127.0.0.1:{metrics_port}"},
                "checks": {
                    "cpu": {"interval": "1s"},
                    "load": {"interval": "1s"},
                    "memory": {"interval": "1s"},
                    "disk": {"interval": "1s"},
                    "diskio": {"interval": "1s"},
                    "netio": {"interval": "1s"},
                    "uptime": {"interval": "1s"},
                    "temperature": {"interval": "1s"},
                    "process": {"interval": "1s", "names": [{"name": "python3"}]},
                    # Where the tool or service manager is missing these say so once
                    # (check_unsupported) and stay quiet; where present they report. A
                    # short timeout bounds how long a clean stop waits for them.
                    "service": {"interval": "60s", "timeout": "10s", "services": ["cron"]},
                    "updates": {"interval": "60s", "timeout": "10s"},
                    "smart": {"interval": "60s", "timeout": "10s"},
                    "ping": {
                        "interval": "1s",
                        "targets": [{"name": "loopback", "address": "127.0.0.1"}],
                    },
                    "dns": {"interval": "1s", "targets": ["localhost"]},
                    "file_age": {"interval": "1s", "paths": [str(backups)]},
                    "tcp": {"interval": "1s", "targets": [f"127.0.0.1:{collector_port}"]},
                    "http": {
                        "interval": "1s",
                        "targets": [{"name": "collector", "url": url + "/healthz"}],
                    },
                },
            }
        )
    )
    return path


def test_promtool_accepts_the_agent_and_collector_endpoints(tmp_path):
    promtool()  # skip early (with the reason) where promtool is not installed
    with CollectorProcess(tmp_path / "collector") as collector:
        creds = provision(collector, "acme")
        metrics_port = free_port()
        agent = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agent",
                "run",
                "--config",
                str(_agent_config(tmp_path, collector.url, creds.agent_token, metrics_port)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            agent_url = f"http://127.0.0.1:{metrics_port}/metrics"

            def agent_exposition() -> str | None:
                try:
                    text = _get(agent_url)
                except OSError:
                    return None
                wanted = ("upkeep_cpu_logical_cores", "upkeep_files", "upkeep_tcp_up")
                return text if all(name in text for name in wanted) else None

            real_agent = _wait_for(agent_exposition, 60, "the agent's checks on its /metrics")
            check_metrics(real_agent)
            _wait_for(
                lambda: 'asset="promtool-host"' in httpx.get(f"{collector.url}/metrics").text,
                60,
                "the agent's batches at the collector",
            )
        finally:
            agent.send_signal(signal.SIGTERM)
            _, err = agent.communicate(timeout=60)
        assert agent.returncode == 0, err.decode(errors="replace")

        # The agent's endpoint with everything its catalogs can emit.
        now = time.time()
        endpoint = MetricsEndpoint("127.0.0.1", 0, "office-a")
        endpoint.latest.update(_catalog_samples("srv1", now), 3600, "srv1")
        endpoint.start()
        try:
            everything = _get(f"http://127.0.0.1:{endpoint.port}/metrics")
        finally:
            endpoint.stop()
        assert len(metric_labels()) > 100
        for name in metric_labels():
            assert name in everything, name
        check_metrics(everything)

        # The collector: the real agent's batches plus one of every catalogued metric.
        batch = {
            "batch_id": str(uuid.uuid4()),
            "seq": 1,
            "sent_at": now,
            "agent": {"id": str(uuid.uuid4()), "version": "9.9.9", "hostname": "srv1"},
            "assets": [{"name": "srv1", "kind": "host"}],
            "samples": [s.to_wire() for s in _catalog_samples("srv1", now)],
            "events": [],
        }
        resp = httpx.post(
            f"{collector.url}/api/v1/batches",
            json=batch,
            headers={"Authorization": f"Bearer {creds.agent_token}"},
            timeout=30,
        )
        assert resp.status_code == 200, resp.text
        exposition = httpx.get(f"{collector.url}/metrics", timeout=30).text
        for name in ("upkeep_cpu_logical_cores", "upkeep_if_in_bytes_per_second"):
            assert re.search(rf'^{name}{{.*client="acme".*}} 1.0$', exposition, re.M), name
        assert 'asset="promtool-host"' in exposition  # the real agent's series too
        check_metrics(exposition)

        # Both ends of the clock-offset contract: the real collector's answers carry a Date
        # the agent measures its clock by (same machine here: no offset, no skew event).
        spool = Spool(tmp_path / "clock-spool.db")
        spool.set_assets([{"name": "srv1", "kind": "host"}])
        spool.add([Sample("memory_used_bytes", 1.0, {}, "srv1", time.time())])
        shipper = Shipper(
            spool,
            collector.url,
            creds.agent_token,
            {"id": str(uuid.uuid4()), "version": "9.9.9", "hostname": "srv1"},
        )
        assert shipper.ship_one() is Outcome.ACCEPTED
        assert shipper.clock_offset is not None and abs(shipper.clock_offset) < 1.5
        assert not shipper.clock_skewed and not spool.has_data()
        spool.close()
