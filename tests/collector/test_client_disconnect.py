"""A client that goes away mid-upload (issue 12 item 12), against a real collector process:
no ``Exception in ASGI application`` and no traceback in its log, one quiet line per
disconnect, counted in ``upkeep_http_client_disconnects_total``; the collector keeps
serving and the agent's retry of the same batch is stored."""

from __future__ import annotations

import gzip
import json
import socket
import time
import uuid
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.servers.collector import CollectorProcess, provision

pytestmark = pytest.mark.slow


def _batch() -> dict:
    now = time.time()
    return {
        "agent": {"id": str(uuid.uuid4()), "hostname": "srv1", "version": "1"},
        "batch_id": str(uuid.uuid4()),
        "seq": 1,
        "sent_at": now,
        "assets": [{"name": "srv1", "kind": "host"}],
        "samples": [
            {"asset": "srv1", "metric": "m", "labels": {"i": str(i)}, "value": i, "ts": now}
            for i in range(500)
        ],
    }


def _cut_short(
    collector: CollectorProcess, path: str, headers: dict[str, str], body: bytes
) -> None:
    """Announce the whole body, send half of it, then close the connection."""
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    with socket.create_connection((collector.host, collector.port), timeout=5) as sock:
        sock.sendall(head.encode() + body[: len(body) // 2])
        time.sleep(0.3)  # the collector is reading the body now


def _disconnects(collector: CollectorProcess) -> float:
    text = httpx.get(f"{collector.url}/metrics").text
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "upkeep_http_client_disconnects_total":
                return s.value
    raise AssertionError("upkeep_http_client_disconnects_total not exposed")


def test_a_client_disconnecting_mid_upload_is_one_quiet_counted_line(tmp_path: Path) -> None:
    with CollectorProcess(tmp_path / "c") as collector:
        creds = provision(collector)
        agent = {"Authorization": f"Bearer {creds.agent_token}", "Content-Type": "application/json"}
        batch = _batch()
        raw = json.dumps(batch).encode()
        _cut_short(collector, "/api/v1/batches", agent, raw)
        _cut_short(
            collector, "/api/v1/batches", {**agent, "Content-Encoding": "gzip"}, gzip.compress(raw)
        )
        admin = {"Authorization": f"Bearer {creds.admin_token}", "Content-Type": "application/json"}
        comment = json.dumps({"body": "x" * 20000, "by": "anna"}).encode()
        _cut_short(collector, "/api/v1/incidents/ACME-1/comments", admin, comment)

        deadline = time.monotonic() + 20
        while _disconnects(collector) < 3:
            assert time.monotonic() < deadline, collector.log_tail()
            time.sleep(0.1)
        assert _disconnects(collector) == 3

        # The agent's retry of the cut batch is stored: nothing was half-written.
        resp = httpx.post(f"{collector.url}/api/v1/batches", content=raw, headers=agent)
        assert resp.status_code == 200 and resp.json()["samples"] == 500

    log = collector.log_path.read_text()
    assert "Exception in ASGI application" not in log
    assert "Traceback" not in log
    lines = [line for line in log.splitlines() if "client disconnected" in line]
    assert len(lines) == 3, log
    assert all(" INFO " in line for line in lines), lines
    assert "/api/v1/batches: client disconnected after" in lines[0]
