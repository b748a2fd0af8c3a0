"""SNMP at site scale, counted where the simulator sees it (a UDP proxy in front of snmpsim):
a first poll as cheap as later ones, a group deadline that keeps what was collected, and
``upkeep-agent once`` asking each device once and failing when a device gave nothing."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import make_poller

from tests.servers.udp_proxy import CountingUdpProxy

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def proxy(snmpsim) -> Iterator[CountingUdpProxy]:
    with CountingUdpProxy(snmpsim.port) as counting:
        yield counting


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A UDP port where requests arrive and nothing ever answers."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


def target(name: str, port: int, community: str, profile: str, **extra) -> dict:
    return {
        "name": name,
        "address": "127.0.0.1",
        "port": port,
        "profile": profile,
        "community": community,
        **extra,
    }


def up(result, asset: str) -> list[float]:
    return [s.value for s in result.samples if s.asset == asset and s.metric == "snmp_up"]


@pytest.mark.parametrize(
    ("community", "profile", "cold", "warm"),
    [
        ("printer-mono", "printer", 2, 1),
        ("printer-color", "printer", 3, 2),
        ("ups-onbattery", "ups", 2, 1),
    ],
)
def test_first_poll_costs_about_what_later_ones_do(proxy, profiles, community, profile, cold, warm):
    """One row-count probe, then the sized walks of a warm poll — not one walk per table at
    max-repetitions (a printer's 9 tables were 9 GETBULKs cold)."""
    poller = make_poller([target("d", proxy.port, community, profile)], profiles)
    try:
        first = poller.poll(["d"], 20)
        cold_requests = proxy.requests
        proxy.reset()
        poller.poll(["d"], 20)
        warm_requests = proxy.requests
    finally:
        poller.close()
    assert up(first, "d") == [1.0]
    assert (cold_requests, warm_requests) == (cold, warm)
    assert proxy.answers == warm_requests  # no retries: every request answered once


def test_deadline_keeps_what_was_collected_and_marks_the_rest_down(proxy, blackhole, profiles):
    """One device polled at a time; the first answers, the others do not. At the deadline the
    poll returns with the answering device's samples and ``snmp_up 0`` for every other —
    it used to wait out 0.1 s per queued device and then lose everything."""
    dead = [f"dead{i}" for i in range(60)]
    targets = [target("good", proxy.port, "printer-mono", "printer")]
    targets += [target(n, blackhole, "public", "printer", timeout=5) for n in dead]
    poller = make_poller(targets, profiles, concurrency=1)
    try:
        started = time.monotonic()
        result = poller.poll(["good", *dead], deadline=1.5)
        took = time.monotonic() - started
    finally:
        poller.close()
    assert took < 4
    assert up(result, "good") == [1.0]
    assert any(s.metric == "printer_supply_level_percent" for s in result.samples)
    assert all(up(result, n) == [0.0] for n in dead)
    down = {e.asset for e in result.events if e.type == "snmp_device_down"}
    assert down == set(dead)


def run_once(tmp_path: Path, targets: list[dict], **snmp) -> subprocess.CompletedProcess:
    config = tmp_path / "agent.yaml"
    config.write_text(
        json.dumps(
            {
                "state_dir": str(tmp_path / "state"),
                "checks": {},
                "snmp": {"targets": targets, "timeout": 1, "retries": 0, **snmp},
            }
        )
    )
    return subprocess.run(
        [sys.executable, "-m", "agent", "once", "--print", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )


def test_once_asks_each_device_once(tmp_path, proxy):
    targets = [
        target("mono", proxy.port, "printer-mono", "printer"),
        target("color", proxy.port, "printer-color", "printer"),
    ]
    proc = run_once(tmp_path, targets)
    assert proc.returncode == 0, proc.stderr
    samples = [json.loads(line) for line in proc.stdout.splitlines()]
    assert {(s["asset"], s["value"]) for s in samples if s["metric"] == "snmp_up"} == {
        ("mono", 1.0),
        ("color", 1.0),
    }
    # One cold poll each (2 + 3 requests): no priming poll before it.
    assert proxy.requests == 5


def test_once_fails_naming_a_device_that_gave_nothing(tmp_path, proxy, blackhole):
    targets = [
        target("mono", proxy.port, "printer-mono", "printer"),
        target("gone", blackhole, "public", "printer"),
    ]
    proc = run_once(tmp_path, targets)
    assert proc.returncode == 1
    assert "snmp target gone (127.0.0.1:" in proc.stderr and "nothing collected" in proc.stderr
    assert "1 of 2 SNMP devices gave nothing" in proc.stderr
    samples = [json.loads(line) for line in proc.stdout.splitlines()]
    assert {(s["asset"], s["value"]) for s in samples if s["metric"] == "snmp_up"} == {
        ("mono", 1.0),
        ("gone", 0.0),
    }
