"""Soak: half an hour of a small site compressed into about two minutes, then the counts.

Three real agent processes (tests/soak/soak_agent.py: the agent's scheduler, spool and
shipper) push to a real collector (``upkeep serve``, SQLite) whose webhook connector talks to
a flaky ticket system: a quarter of the requests answer 503, one in ten is applied and then
answered too late (the collector's deadline passes, so it retries a request the ticket
system already took). Each agent has four disk faults, each of which opens an incident and
then resolves it. Mid-run the collector is stopped with SIGTERM and restarted; later it is
killed with SIGKILL and restarted. The agents keep collecting meanwhile.

Time is compressed through settings: ``for: 1s``, outbox retries 0.2–1 s, a 1 s connector
timeout, 3 s outbox claims (a SIGKILL can land mid-delivery), a 0.2–2 s agent backoff.

Asserted at the end: every value each agent produced is stored exactly once (samples stored
= samples sent, no duplicates); every incident is resolved; the ticket system applied
exactly one ``open`` and one ``resolve`` per incident (tickets delivered = incidents × 2,
no duplicates) and nothing else.
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.e2e.incident_kit import api, wait_for
from tests.servers.collector import CollectorProcess, provision
from tests.servers.fake_http import FakeHttpServer, RecordedRequest, Reply

pytestmark = [pytest.mark.soak, pytest.mark.slow]

AGENTS = 3
FAULTS_PER_AGENT = 4  # soak_agent.CYCLES
ACTIONS = ("open", "resolve")
CONNECTOR_TIMEOUT = 1.0
RULES = """
rules:
  - id: soak-disk
    metric: disk_used_percent
    critical: "> 90"
    for: 1s
    priority: {critical: major}
    kind: capacity
    flapping: {enabled: false}
    summary: "{asset}: disk {mountpoint} is {value:.0f}% full"
"""


class FlakyTicketSystem:
    """A webhook receiver that fails a fraction of requests, deterministically by request
    number: 503 for a quarter; for one in ten it applies the request and then answers after
    the sender's deadline. Effects are applied once per ``Idempotency-Key``."""

    def __init__(self, seed: int = 12) -> None:
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.applied: dict[str, tuple[str, str]] = {}  # idempotency key → (incident, action)
        self.requests = 0
        self.failed = 0
        self.late = 0
        self.server = FakeHttpServer(self.handle)

    def handle(self, request: RecordedRequest) -> Reply:
        body = request.json
        with self.lock:
            self.requests += 1
            roll = self.random.random()
            if roll < 0.25:
                self.failed += 1
                return Reply(503, {"error": "maintenance, try later"})
            key = request.headers["idempotency-key"]
            self.applied.setdefault(key, (body["key"], body["action"]))
            late = roll < 0.35
            if late:
                self.late += 1
        if late:
            time.sleep(CONNECTOR_TIMEOUT + 0.5)
        return Reply(200, {"id": f"T-{body['key']}"})

    def effects(self) -> Counter[tuple[str, str]]:
        with self.lock:
            return Counter(self.applied.values())


def settings_file(folder: Path, receiver: FlakyTicketSystem) -> Path:
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rules").mkdir(exist_ok=True)
    (folder / "rules" / "soak.yaml").write_text(RULES)
    settings = {
        "rules_paths": [str(folder / "rules")],
        "rules_watch_interval": 0,
        "rules_sweep_interval": 1.0,
        "incidents_reopen_window": 0,  # every fault is its own incident
        "connectors": {
            "connectors": {
                "tickets": {
                    "type": "webhook",
                    "url": receiver.server.url + "/hook",
                    "secret": "soak-secret",
                    "timeout": CONNECTOR_TIMEOUT,
                }
            }
        },
        "outbox_retry_base": 0.2,
        "outbox_retry_max": 1.0,
        "outbox_claim_timeout": 3.0,
    }
    path = folder / "settings.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


class AgentProcess:
    def __init__(self, root: Path, collector: CollectorProcess, token: str, asset: str) -> None:
        self.asset = asset
        self.dir = root / asset
        self.dir.mkdir(parents=True)
        self.stop_file = self.dir / "stop"
        self.result_file = self.dir / "produced"
        self.faults_done = self.dir / "faults-done"
        conf = {
            "url": collector.url,
            "token": token,
            "asset": asset,
            "state_dir": str(self.dir / "state"),
            "stop_file": str(self.stop_file),
            "result_file": str(self.result_file),
            "faults_done": str(self.faults_done),
        }
        (self.dir / "conf.json").write_text(json.dumps(conf))
        self.log = open(self.dir / "agent.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(Path(__file__).with_name("soak_agent.py")),
                str(self.dir / "conf.json"),
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def produced(self) -> int | None:
        return int(self.result_file.read_text()) if self.result_file.exists() else None

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        return self.process.returncode

    def log_tail(self) -> str:
        return "\n".join((self.dir / "agent.log").read_text(errors="replace").splitlines()[-30:])


def stored_values(collector: CollectorProcess) -> dict[str, list[float]]:
    """asset → every stored ``soak_sequence`` value (duplicates included)."""
    with sqlite3.connect(collector.data_dir / "upkeep.db", timeout=10) as conn:
        rows = conn.execute(
            "SELECT a.name, s.value FROM samples s JOIN series r ON r.id = s.series_id"
            " JOIN assets a ON a.id = r.asset_id WHERE r.metric = 'soak_sequence'"
        ).fetchall()
    out: dict[str, list[float]] = {}
    for asset, value in rows:
        out.setdefault(asset, []).append(value)
    return out


def test_soak_nothing_lost_nothing_doubled(tmp_path):
    receiver = FlakyTicketSystem()
    settings = settings_file(tmp_path / "conf", receiver)
    agents: list[AgentProcess] = []
    with receiver.server:
        # Generous startup: a loaded 2-core machine can take half a minute to import the app.
        collector = CollectorProcess(
            tmp_path / "collector", config=settings, startup_timeout=90
        ).start()
        try:
            creds = provision(collector, "acme")
            agents = [
                AgentProcess(tmp_path / "agents", collector, creds.agent_token, f"soak-{i}")
                for i in range(AGENTS)
            ]
            started = time.monotonic()

            def at(seconds: float) -> None:
                time.sleep(max(0.0, started + seconds - time.monotonic()))

            at(28)
            assert collector.stop() == -signal.SIGTERM  # graceful: uvicorn re-raises SIGTERM
            time.sleep(3)  # the agents spool meanwhile
            collector.start()
            at(58)
            collector.kill()  # a crash, possibly mid-delivery
            time.sleep(3)
            collector.start()
            # Four fault cycles of 20 s each; waited for by the agents' own count, not the
            # clock, so a slow machine only makes the run longer.
            for agent in agents:
                wait_for(agent.faults_done.exists, 120, f"{agent.asset} to finish its faults")
            for agent in agents:
                agent.stop_file.touch()
            produced = {
                a.asset: wait_for(a.produced, 20, f"{a.asset} to stop producing") for a in agents
            }
            # The spools drain: everything produced arrives.
            wait_for(
                lambda: all(
                    len(stored_values(collector).get(a, [])) >= n for a, n in produced.items()
                ),
                60,
                "every produced sample in the store",
            )
            stored = stored_values(collector)
            incidents = api(
                collector,
                creds.admin_token,
                "GET",
                "/api/v1/incidents",
                params={"client": "acme", "limit": 5000},
            )
            wait_for(
                lambda: sum(receiver.effects().values()) >= len(incidents) * len(ACTIONS),
                90,
                "every open and resolve at the ticket system",
            )
            time.sleep(3)  # anything sent twice would arrive now
            effects = receiver.effects()
            incidents = api(
                collector,
                creds.admin_token,
                "GET",
                "/api/v1/incidents",
                params={"client": "acme", "limit": 5000},
            )
        finally:
            codes = [agent.stop() for agent in agents]
            collector.stop()
    logs = "\n".join(a.log_tail() for a in agents) + "\n" + collector.log_tail()
    assert codes == [0] * AGENTS, logs

    # Samples stored = samples sent, none twice.
    for asset, n in produced.items():
        assert n > 100, f"{asset} produced only {n} values"
        assert len(stored[asset]) == n, (asset, n, len(stored[asset]))
        assert sorted(stored[asset]) == [float(v) for v in range(1, n + 1)], asset

    # Every fault was one incident, opened and resolved.
    assert len(incidents) == AGENTS * FAULTS_PER_AGENT, [
        (i["key"], i["asset"], i["state"]) for i in incidents
    ]
    assert {i["state"] for i in incidents} == {"resolved"}, incidents
    per_asset = Counter(i["asset"] for i in incidents)
    assert per_asset == {a.asset: FAULTS_PER_AGENT for a in agents}

    # Tickets delivered = incidents × actions, none twice, nothing else.
    expected = Counter({(i["key"], action): 1 for i in incidents for action in ACTIONS})
    assert effects == expected, (
        f"{receiver.requests} requests, {receiver.failed} failed, {receiver.late} late; "
        f"missing {expected - effects}, extra {effects - expected}"
    )
    assert receiver.failed > 0 and receiver.late > 0, "the ticket system was not flaky"
