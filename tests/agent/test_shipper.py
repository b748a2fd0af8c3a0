"""Shipper settles each answer: 200 deletes, 400/413/422 drops and counts, the rest is kept.

The collector itself is exercised end to end in tests/e2e; here a small loopback HTTP
server plays answers the real one gives rarely (500, 429, a slow answer) and records the
exact requests.
"""

from __future__ import annotations

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agent.checks.base import Sample
from agent.shipper import Backoff, Outcome, Shipper
from agent.spool import Spool
from agent.wire import Batch

AGENT = {
    "id": "7f2c1f9e-8a57-4a4e-9f39-1f0c2a7e6b11",
    "version": "0.1.0",
    "hostname": "srv1",
    "site": "a",
}


class Scripted(ThreadingHTTPServer):
    """Answers POSTs with the next scripted status; records decoded bodies and headers."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: list[int] = []
        self.requests: list[tuple[dict, dict]] = []


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        assert self.headers["Content-Encoding"] == "gzip"
        self.server.requests.append((dict(self.headers), json.loads(gzip.decompress(raw))))
        status = self.server.script.pop(0) if self.server.script else 200
        body = json.dumps({"error": "x", "detail": f"scripted {status}"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = Scripted()
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()


@pytest.fixture
def spool(tmp_path):
    s = Spool(tmp_path / "spool.db")
    s.set_assets([{"name": "srv1", "kind": "host"}])
    yield s
    s.close()


def shipper_for(spool, server, **kw) -> Shipper:
    return Shipper(spool, f"http://127.0.0.1:{server.server_port}", "upk_secret", AGENT, **kw)


def fill(spool, n, start=0):
    spool.add(
        [Sample("m", float(i), {}, "srv1", 1_790_000_000.0 + i) for i in range(start, start + n)]
    )


def test_accepted_batch_is_deleted_and_request_is_exact(server, spool):
    fill(spool, 3)
    sh = shipper_for(spool, server)
    assert sh.ship_one() is Outcome.ACCEPTED
    ((headers, body),) = server.requests
    assert headers["Authorization"] == "Bearer upk_secret"
    assert headers["Content-Type"] == "application/json"
    batch = Batch.model_validate(body)
    assert [s.value for s in batch.samples] == [0.0, 1.0, 2.0] and batch.seq == 1
    assert sh.ship_one() is Outcome.EMPTY and not spool.has_data()


@pytest.mark.parametrize("status", [500, 502, 503, 429, 401, 403, 404])
def test_transient_and_auth_failures_keep_the_batch(server, spool, status):
    fill(spool, 2)
    server.script = [status]
    sh = shipper_for(spool, server)
    assert sh.ship_one() is Outcome.KEPT
    assert str(status) in sh.last_error
    assert sh.ship_one() is Outcome.ACCEPTED
    first, second = (body for _, body in server.requests)
    assert first["batch_id"] == second["batch_id"] and first["seq"] == second["seq"]
    assert spool.stats().rejected_samples == 0


@pytest.mark.parametrize("status", [400, 413, 422])
def test_invalid_batch_is_dropped_and_counted(server, spool, status):
    fill(spool, 4)
    server.script = [status]
    sh = shipper_for(spool, server)
    assert sh.ship_one() is Outcome.REJECTED
    assert spool.stats().rejected_samples == 4
    assert not spool.has_data()


def test_unreachable_collector_keeps_everything(spool):
    fill(spool, 5)
    sh = Shipper(spool, "http://127.0.0.1:9", "t", AGENT, timeout=1)  # discard port: refused
    assert sh.ship_one() is Outcome.KEPT
    assert "unreachable" in sh.last_error
    assert spool.stats().outgoing_samples == 5


def test_drain_sends_backlog_oldest_first_in_order(server, spool):
    fill(spool, 25)
    sh = shipper_for(spool, server, batch_max_samples=10)
    stop = threading.Event()
    assert sh.drain(stop) is Outcome.EMPTY
    seqs = [body["seq"] for _, body in server.requests]
    values = [s["value"] for _, body in server.requests for s in body["samples"]]
    assert seqs == [1, 2, 3] and values == [float(i) for i in range(25)]


def test_backoff_grows_to_cap_and_resets():
    b = Backoff(base=1, cap=60)
    delays = [b.next_delay() for _ in range(12)]
    assert all(1 <= d <= 60 for d in delays)
    assert max(delays[6:]) > 8  # grows (jitter is uniform up to the exponential bound)
    b.reset()
    assert b.next_delay() <= 2
