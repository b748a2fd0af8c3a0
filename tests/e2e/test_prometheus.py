"""A real Prometheus scrapes a running collector (with a metrics token) and answers queries."""

from __future__ import annotations

import time
import urllib.error
import uuid
from pathlib import Path

import httpx
import pytest
from servers.collector import CollectorProcess, provision
from servers.prometheus import PrometheusServer, ScrapeJob, prometheus_binary

from tests.deploy.test_deploy_files import dashboard_expressions
from tests.promtool import check_metrics

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules" / "upkeep.rules.yml"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        prometheus_binary() is None,
        reason="prometheus not installed (Debian package; scripts/test-system-deps)",
    ),
]


def _batch(now: float) -> dict:
    return {
        "batch_id": str(uuid.uuid4()),
        "seq": 1,
        "sent_at": now,
        "agent": {
            "id": str(uuid.uuid4()),
            "version": "9.9.9",
            "hostname": "srv1",
            "site": "office-a",
        },
        "assets": [{"name": "srv1", "kind": "host"}],
        "samples": [
            {
                "asset": "srv1",
                "metric": "disk_used_percent",
                "labels": {"mountpoint": "/", "fstype": "ext4"},
                "value": 81.5,
                "ts": now,
            },
            {
                "asset": "srv1",
                "metric": "netio_receive_errors_total",
                "labels": {"interface": "eth0"},
                "value": 4.0,
                "ts": now,
            },
        ],
        "events": [],
    }


def test_prometheus_scrapes_the_collector_with_client_site_asset_labels(tmp_path):
    token_file = tmp_path / "metrics.token"
    token_file.write_text("metrics-secret\n")
    env = {"UPKEEP_METRICS_TOKEN_FILE": str(token_file)}
    with CollectorProcess(tmp_path / "collector", env=env) as collector:
        creds = provision(collector, "acme")
        resp = httpx.post(
            f"{collector.url}/api/v1/batches",
            json=_batch(time.time()),
            headers={"Authorization": f"Bearer {creds.agent_token}"},
        )
        assert resp.status_code == 200, resp.text
        assert httpx.get(f"{collector.url}/metrics").status_code == 401
        exposition = httpx.get(
            f"{collector.url}/metrics", headers={"Authorization": "Bearer metrics-secret"}
        )
        check_metrics(exposition.text)

        job = ScrapeJob(
            "upkeep-collector", [f"127.0.0.1:{collector.port}"], bearer_token_file=token_file
        )
        with PrometheusServer(tmp_path / "prometheus", [job], rule_files=[RULES]) as prom:
            (disk,) = prom.wait_for("upkeep_disk_used_percent")
            assert disk["metric"] == {
                "__name__": "upkeep_disk_used_percent",
                "job": "upkeep-collector",
                "instance": f"127.0.0.1:{collector.port}",
                "client": "acme",
                "site": "office-a",
                "asset": "srv1",
                "mountpoint": "/",
                "fstype": "ext4",
            }
            assert float(disk["value"][1]) == 81.5
            (errors,) = prom.wait_for(
                'upkeep_netio_receive_errors_total{client="acme",interface="eth0"}'
            )
            assert float(errors["value"][1]) == 4.0
            (seen,) = prom.wait_for('upkeep_agent_info{version="9.9.9"}')
            assert seen["metric"]["hostname"] == "srv1"
            (up,) = prom.wait_for('up{job="upkeep-collector"}')
            assert up["value"][1] == "1"
            (ingested,) = prom.wait_for("upkeep_ingest_samples_total")
            assert float(ingested["value"][1]) == 2.0
            # the shipped alerting rules load and evaluate against real data
            deadline = time.monotonic() + 10
            while True:
                groups = prom.api("rules")["groups"]
                rules = [r for g in groups for r in g["rules"]]
                if rules and all(r.get("lastEvaluation", "").startswith("20") for r in rules):
                    break
                assert time.monotonic() < deadline, groups
                time.sleep(0.25)
            assert {r["health"] for r in rules} == {"ok"}, [
                (r["name"], r.get("lastError")) for r in rules
            ]
            (count,) = prom.wait_for("upkeep:agents:count")
            assert count["metric"]["client"] == "acme" and count["value"][1] == "1"
            # every Grafana dashboard query is valid PromQL for this Prometheus
            for expr in dashboard_expressions():
                try:
                    prom.query(expr)
                except urllib.error.HTTPError as exc:
                    raise AssertionError(
                        f"dashboard query {expr!r}: {exc.read().decode()}"
                    ) from None
