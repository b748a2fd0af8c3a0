"""The agent measures its clock against the collector's ``Date`` and says loudly when it is off.

A real loopback HTTP server answers like the collector, with its ``Date`` header set as
far in the future (or past) as the test says; a real agent process is run against it too.
"""

from __future__ import annotations

import email.utils
import gzip
import json
import logging
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from agent.checks.base import Sample
from agent.host import Host
from agent.selfcheck import AgentSelfCheck
from agent.shipper import Outcome, Shipper, clock_offset
from agent.spool import Spool

AGENT = {"id": "7f2c1f9e-8a57-4a4e-9f39-1f0c2a7e6b11", "version": "0.1.0", "hostname": "srv1"}


class SkewedCollector(ThreadingHTTPServer):
    """Answers every batch 200 with ``Date`` = now + ``skew``; records the batches."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.skew = 0.0
        self.batches: list[dict] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def samples(self, metric: str) -> list[dict]:
        return [s for b in self.batches for s in b["samples"] if s["metric"] == metric]

    def events(self, kind: str) -> list[dict]:
        return [e for b in self.batches for e in b["events"] if e["type"] == kind]


class _Handler(BaseHTTPRequestHandler):
    server: SkewedCollector

    def date_time_string(self, timestamp: float | None = None) -> str:
        # send_response() puts this in the Date header.
        return email.utils.formatdate(time.time() + self.server.skew, usegmt=True)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.batches.append(json.loads(gzip.decompress(raw)))
        body = b'{"status":"stored"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[SkewedCollector]:
    server = SkewedCollector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_offset_from_date_and_the_round_trip_midpoint() -> None:
    sent, received = 1_790_000_000.2, 1_790_000_000.8  # midpoint .5
    date = email.utils.formatdate(1_790_000_000.0, usegmt=True)  # written at .0–.99
    assert clock_offset(date, sent, received) == pytest.approx(0.0)
    ahead = email.utils.formatdate(1_790_000_000.0 - 600, usegmt=True)
    assert clock_offset(ahead, sent, received) == pytest.approx(600.0)
    minus_zero = "Sat, 12 Sep 2026 12:00:00 -0000"
    expected = 1_789_214_400.0 + 0.5
    assert clock_offset(minus_zero, expected, expected) == pytest.approx(0.0)
    for bad in (None, "", "yesterday", "Mon, 99 Foo 2026 12:00:00 GMT"):
        assert clock_offset(bad, sent, received) is None


def test_skewed_collector_date_gives_offset_warning_event_and_sample(
    tmp_path, collector: SkewedCollector, caplog
) -> None:
    spool = Spool(tmp_path / "spool.db")
    spool.set_assets([{"name": "srv1", "kind": "host"}])
    shipper = Shipper(spool, collector.url, "upk_t", AGENT)
    collector.skew = 600.0  # the collector's clock is 10 min ahead: ours is behind

    def send(n: int = 1) -> None:
        spool.add([Sample("m", 1.0, {}, "srv1", time.time()) for _ in range(n)])
        while spool.has_data():
            assert shipper.ship_one() is Outcome.ACCEPTED

    with caplog.at_level(logging.INFO, logger="agent.shipper"):
        send()
        send()
        send()
    assert shipper.clock_offset == pytest.approx(-600.0, abs=1.5)
    warnings = [r for r in caplog.records if "CLOCK SKEW" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING  # once, not per send
    assert "600 s behind the collector's" in warnings[0].getMessage()
    (event,) = collector.events("clock_skew")
    assert event["asset"] == "srv1" and event["data"]["offset_seconds"] == pytest.approx(
        -600, abs=1.5
    )
    (first,) = collector.samples("upkeep_agent_clock_offset_seconds")  # spooled at once
    assert first["value"] == pytest.approx(-600.0, abs=1.5)
    # the self-check reports it on every round
    result = AgentSelfCheck(spool, shipper, Host("srv1")).run()
    values = {s.metric: s.value for s in result.samples}
    assert values["upkeep_agent_clock_offset_seconds"] == pytest.approx(-600.0, abs=1.5)

    # Fixed (NTP caught up): one "in sync" event, no new warning.
    caplog.clear()
    collector.skew = 0.0
    with caplog.at_level(logging.INFO, logger="agent.shipper"):
        send()
        send()
    assert abs(shipper.clock_offset) < 1.5 and not shipper.clock_skewed
    assert not [r for r in caplog.records if "CLOCK SKEW" in r.getMessage()]
    assert len([r for r in caplog.records if "back in sync" in r.getMessage()]) == 1
    (back,) = collector.events("clock_in_sync")
    assert abs(back["data"]["offset_seconds"]) < 1.5
    assert len(collector.events("clock_skew")) == 1

    # An agent ahead of the collector (its samples would be refused as from the future).
    collector.skew = -400.0
    send()
    assert shipper.clock_offset == pytest.approx(400.0, abs=1.5)
    assert "400 s ahead of the collector's" in collector.events("clock_skew")[-1]["message"]
    spool.close()


def test_a_small_offset_is_measured_but_not_alarming(tmp_path, collector, caplog) -> None:
    spool = Spool(tmp_path / "spool.db")
    spool.set_assets([{"name": "srv1", "kind": "host"}])
    shipper = Shipper(spool, collector.url, "upk_t", AGENT)
    collector.skew = 30.0
    spool.add([Sample("m", 1.0, {}, "srv1", time.time())])
    with caplog.at_level(logging.INFO, logger="agent.shipper"):
        while spool.has_data():
            shipper.ship_one()
    assert shipper.clock_offset == pytest.approx(-30.0, abs=1.5)
    assert not collector.events("clock_skew") and not collector.events("clock_in_sync")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    spool.close()


def test_agent_process_says_once_that_its_clock_is_off(tmp_path, collector) -> None:
    collector.skew = 3600.0
    config = tmp_path / "agent.yaml"
    config.write_text(
        json.dumps(
            {
                "collector": {"url": collector.url, "token": "upk_t"},
                "asset_name": "skewed-host",
                "state_dir": str(tmp_path / "state"),
                "spool": {"flush_interval": "0.5s"},
                "checks": {"memory": {"interval": "0.5s"}},
            }
        )
    )
    agent = subprocess.Popen(
        [sys.executable, "-m", "agent", "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while len(collector.batches) < 6 or not collector.events("clock_skew"):
            assert agent.poll() is None, "the agent exited"
            assert time.monotonic() < deadline, f"{len(collector.batches)} batches"
            time.sleep(0.2)
    finally:
        agent.send_signal(signal.SIGTERM)
        _, err = agent.communicate(timeout=30)
    log = err.decode(errors="replace")
    assert agent.returncode == 0, log
    assert log.count("CLOCK SKEW") == 1, log  # once for the state change, not per batch
    assert "3600 s behind the collector's" in log
    (event,) = collector.events("clock_skew")
    assert event["asset"] == "skewed-host"
    # with the event, and from the self-check if its round came after the first send
    offsets = [s["value"] for s in collector.samples("upkeep_agent_clock_offset_seconds")]
    assert offsets and offsets == pytest.approx([-3600.0] * len(offsets), abs=1.5)
