"""A real collector (``upkeep serve`` under uvicorn) on a free loopback port, driven over HTTP."""

from __future__ import annotations

import gzip
import json

import httpx
import pytest

from tests.servers.collector import CollectorProcess, create_agent_token, provision

pytestmark = pytest.mark.slow


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_ingest_read_restart_and_tenant_isolation_over_http(tmp_path, db_url, kit):
    collector = CollectorProcess(
        tmp_path / "collector", database_url=db_url, env={"UPKEEP_MAX_BODY_BYTES": "200000"}
    )
    with collector:
        acme = provision(collector, "acme", "srv1")
        globex = provision(collector, "globex")
        t = kit.HOUR0 + 42
        batch = kit.make_batch(
            [
                kit.sample("srv1", "cpu_percent", 12.5, t),
                kit.sample("srv1", "disk_used_percent", 81.0, t, mount="/"),
            ]
        )
        with httpx.Client(base_url=collector.url, timeout=30) as http:
            body = gzip.compress(json.dumps(batch).encode())
            headers = {
                **_auth(acme.agent_token),
                "Content-Encoding": "gzip",
                "Content-Type": "application/json",
            }
            first = http.post("/api/v1/batches", content=body, headers=headers)
            assert first.status_code == 200, first.text
            assert first.json()["samples"] == 2 and not first.json()["duplicate"]
            assert (
                http.post("/api/v1/batches", content=body, headers=headers).json()["duplicate"]
                is True
            )

            other = kit.make_batch([kit.sample("srv1", "cpu_percent", 99.0, t)])
            assert (
                http.post(
                    "/api/v1/batches", json=other, headers=_auth(globex.agent_token)
                ).status_code
                == 200
            )

            too_big = http.post(
                "/api/v1/batches",
                content=b"{" + b" " * 300_000 + b"}",
                headers=_auth(acme.agent_token),
            )
            assert too_big.status_code == 413 and too_big.json()["error"] == "body_too_large"

            def latest_of(client: str) -> list[tuple[str, float]]:
                (asset,) = http.get(
                    "/api/v1/assets", params={"client": client}, headers=_auth(acme.admin_token)
                ).json()
                values = http.get(
                    f"/api/v1/assets/{asset['id']}/latest", headers=_auth(acme.admin_token)
                ).json()
                return [(v["metric"], v["value"]) for v in values]

            assert latest_of("acme") == [("cpu_percent", 12.5), ("disk_used_percent", 81.0)]
            assert latest_of("globex") == [("cpu_percent", 99.0)]
            assert http.get("/api/v1/assets", headers=_auth(acme.agent_token)).status_code == 403

        port = collector.port
        # SIGTERM: a graceful shutdown (uvicorn re-raises the signal afterwards, hence -15).
        assert collector.stop() in (0, -15)
        assert "Finished server process" in collector.log_tail()
        with pytest.raises(httpx.ConnectError):
            httpx.get(collector.url + "/healthz", timeout=2)
        # A token created while the collector is down works once it is back.
        late_token = create_agent_token(collector, "acme", "late")
        collector.start()
        assert collector.port == port
        with httpx.Client(base_url=collector.url, timeout=30) as http:
            again = http.post("/api/v1/batches", content=body, headers=headers)
            assert again.status_code == 200 and again.json()["duplicate"] is True
            assert latest_of("acme")[0] == ("cpu_percent", 12.5)
            newer = kit.make_batch([kit.sample("srv1", "cpu_percent", 1.0, t + 60)])
            assert (
                http.post("/api/v1/batches", json=newer, headers=_auth(late_token)).status_code
                == 200
            )
            assert latest_of("acme")[0] == ("cpu_percent", 1.0)
            metrics = http.get("/metrics").text
            assert "upkeep_ingest_duplicate_batches_total 1.0" in metrics


def test_a_collector_that_cannot_reach_its_database_does_not_start(tmp_path):
    collector = CollectorProcess(
        tmp_path / "c",
        database_url="postgresql+psycopg://u:pw@127.0.0.1:1/x?connect_timeout=1",
        startup_timeout=20,
    )
    with pytest.raises(RuntimeError, match="collector exited with"):
        collector.start()
    assert "pw@" not in collector.log_tail()
