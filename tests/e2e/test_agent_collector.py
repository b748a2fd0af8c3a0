"""End to end: real agent run loops and processes push to a real collector (uvicorn, SQLite).

Outage tests count every sample: nothing is lost while the collector is away or the agent
restarts, and nothing is stored twice.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from servers.collector import CollectorProcess, provision

from agent.checks.base import Check, CheckConfig, Sample
from agent.config import AgentConfig, CollectorConfig, LoadedConfig, SpoolConfig
from agent.host import Host
from agent.runner import AgentService

pytestmark = pytest.mark.slow


def wait_for(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def db(collector: CollectorProcess) -> sqlite3.Connection:
    return sqlite3.connect(collector.data_dir / "upkeep.db", timeout=10)


def _rollups_sql(metric: str) -> str:
    import sqlalchemy as sa
    from sqlalchemy.dialects import sqlite

    from collector.rollups import hourly
    from collector.schema import series

    h = hourly()
    query = (
        sa.select(h.c.hour, h.c.min, h.c.max, h.c.sum, h.c.count, h.c.last)
        .join(series, series.c.id == h.c.series_id)
        .where(series.c.metric == metric)
        .order_by(h.c.hour)
    )
    return str(query.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))


def series_values(
    collector: CollectorProcess, asset: str, metric: str
) -> list[tuple[float, float]]:
    with db(collector) as conn:
        return conn.execute(
            "SELECT s.ts, s.value FROM samples s JOIN series r ON r.id = s.series_id"
            " JOIN assets a ON a.id = r.asset_id WHERE a.name = ? AND r.metric = ? ORDER BY s.ts",
            (asset, metric),
        ).fetchall()


def batch_ledger(collector: CollectorProcess) -> tuple[list[int], int, int]:
    """(seqs received, samples the batches claimed, sample rows stored)."""
    with db(collector) as conn:
        seqs = [r[0] for r in conn.execute("SELECT seq FROM batches ORDER BY seq")]
        claimed = conn.execute("SELECT coalesce(sum(samples), 0) FROM batches").fetchone()[0]
        stored = conn.execute("SELECT count(*) FROM samples").fetchone()[0]
    return seqs, claimed, stored


# --------------------------------------------------------------------------------------
# A real agent process with real host checks
# --------------------------------------------------------------------------------------


@pytest.fixture
def backup_dir(tmp_path) -> Path:
    """A folder with three files of known age: the newest is 2 hours old."""
    folder = tmp_path / "backup"
    folder.mkdir()
    now = time.time()
    for name, age in (("mon.tar", 3 * 86400), ("tue.tar", 86400), ("wed.tar", 7200)):
        path = folder / name
        path.write_bytes(b"x" * 1000)
        os.utime(path, (now - age, now - age))
    return folder


def agent_process_config(
    tmp_path: Path, url: str, token: str, backup_dir: Path, name: str = "e2e-host"
) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(
        json.dumps(
            {
                "collector": {"url": url, "token": token},
                "site": "office-a",
                "asset_name": name,
                "state_dir": str(tmp_path / "agent-state"),
                "spool": {"flush_interval": "1s"},
                "checks": {
                    "memory": {"interval": "1s"},
                    "file_age": {"interval": "1s", "paths": [str(backup_dir)]},
                },
            }
        )
    )
    return path


def start_agent(config: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "agent", "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def stop_agent(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err.decode(errors="replace")
    return err.decode(errors="replace")


def test_agent_process_to_collector(tmp_path, backup_dir):
    with CollectorProcess(tmp_path / "collector") as collector:
        creds = provision(collector, "acme")
        agent = start_agent(
            agent_process_config(tmp_path, collector.url, creds.agent_token, backup_dir)
        )
        try:
            wait_for(
                lambda: len(series_values(collector, "e2e-host", "files")) >= 3,
                what="3 cycles",
            )
        finally:
            stop_agent(agent)

        admin = {"Authorization": f"Bearer {creds.admin_token}"}
        assets = httpx.get(f"{collector.url}/api/v1/assets", headers=admin).json()
        assets = assets["assets"] if isinstance(assets, dict) else assets
        (host,) = [a for a in assets if a["name"] == "e2e-host"]
        assert host["kind"] == "host" and host["client"] == "acme" and host["site"] == "office-a"
        latest = httpx.get(
            f"{collector.url}/api/v1/assets/{host['id']}/latest", headers=admin
        ).json()
        latest = latest["series"] if isinstance(latest, dict) else latest
        by_metric = {(s["metric"], json.dumps(s["labels"], sort_keys=True)): s for s in latest}
        path_labels = json.dumps({"path": str(backup_dir)}, sort_keys=True)
        assert by_metric[("files", path_labels)]["value"] == 3
        age = by_metric[("file_age_seconds", path_labels)]
        assert 7200 <= age["value"] < 7200 + 120  # the newest file was 2 h old when the test began
        assert by_metric[("memory_total_bytes", "{}")]["value"] == psutil.virtual_memory().total
        assert by_metric[("upkeep_check_up", json.dumps({"check": "file_age"}))]["value"] == 1

        # rollups agree with the raw samples they summarise (as readers see them: the hours
        # the rollups job has not built yet are computed from the raw samples)
        raw = series_values(collector, "e2e-host", "memory_used_bytes")
        with db(collector) as conn:
            rows = conn.execute(_rollups_sql("memory_used_bytes")).fetchall()
        assert sum(r[4] for r in rows) == len(raw)
        for hour, lo, hi, total, count, last in rows:
            values = [v for ts, v in raw if hour <= ts < hour + 3600]
            assert (lo, hi, count, last) == (min(values), max(values), len(values), values[-1])
            assert total == pytest.approx(sum(values))


def test_agent_process_outage_and_restart_lose_nothing(tmp_path, backup_dir):
    """Collector stopped; agent keeps collecting, is restarted mid-outage; all arrives once."""
    with CollectorProcess(tmp_path / "collector") as collector:
        creds = provision(collector, "acme")
        config = agent_process_config(tmp_path, collector.url, creds.agent_token, backup_dir)
        agent = start_agent(config)
        try:
            wait_for(
                lambda: len(series_values(collector, "e2e-host", "files")) >= 2,
                what="first batches",
            )
            collector.stop()
            outage_start = time.time()
            time.sleep(3)
            stop_agent(agent)  # SIGTERM mid-outage: the spool keeps the backlog
            agent = start_agent(config)
            time.sleep(3)
            outage_end = time.time()
            collector.start()
            wait_for(
                lambda: any(
                    ts > outage_end + 2 for ts, _ in series_values(collector, "e2e-host", "files")
                ),
                timeout=60,
                what="backlog drained",
            )
        finally:
            stop_agent(agent)
        time.sleep(0.5)
    stamps = [t for t, _ in series_values(collector, "e2e-host", "files")]
    inside = [t for t in stamps if outage_start < t < outage_end]
    assert len(inside) >= 4, "samples collected during the outage arrived"
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    assert max(gaps) < 6, f"a hole in the data: {max(gaps):.1f}s (restart takes ~1-2s)"
    assert len(set(stamps)) == len(stamps)
    seqs, claimed, stored = batch_ledger(collector)
    assert seqs == list(range(1, len(seqs) + 1)), "every batch arrived, in order, once"
    assert claimed == stored, "no sample stored twice or dropped on the way"


# --------------------------------------------------------------------------------------
# The agent's run loop in-process, with a counting check: exact accounting
# --------------------------------------------------------------------------------------


class Counting(Check):
    """Emits 1, 2, 3, … — one value per run, shared across agent restarts."""

    name = "counting"
    lock = threading.Lock()
    next_value = 1

    def collect(self) -> Iterator[Sample]:
        with Counting.lock:
            value = Counting.next_value
            Counting.next_value += 1
        yield Sample("test_sequence", float(value))


def counting_agent(tmp_path: Path, url: str, token: str) -> AgentService:
    cfg = LoadedConfig(
        AgentConfig(
            collector=CollectorConfig(url=url, token=token, timeout=5),
            site="office-a",
            asset_name="counter-host",
            state_dir=tmp_path / "state",
            spool=SpoolConfig(flush_interval=0.3, batch_max_samples=50),
        ),
        {},
        "<test>",
    )
    host = Host("counter-host")
    return AgentService(
        cfg, host=host, checks={"counting": Counting(CheckConfig(interval=0.1), host)}
    )


def test_outage_with_agent_restart_every_value_exactly_once(tmp_path):
    Counting.next_value = 1
    with CollectorProcess(tmp_path / "collector") as collector:
        creds = provision(collector, "acme")
        agent = counting_agent(tmp_path, collector.url, creds.agent_token)
        agent.start()
        try:
            wait_for(
                lambda: len(series_values(collector, "counter-host", "test_sequence")) >= 10,
                what="first values",
            )
            collector.kill()  # a crash: no graceful goodbye
            time.sleep(2)
            agent.stop()  # agent restarted while the collector is away
            agent = counting_agent(tmp_path, collector.url, creds.agent_token)
            agent.start()
            time.sleep(2)
            collector.start()
            time.sleep(2)
        finally:
            agent.stop()
        produced = Counting.next_value - 1
        # drain what the last agent left in its spool with one more short run
        agent = counting_agent(tmp_path, collector.url, creds.agent_token)
        agent.checks.clear()
        agent.runner.checks.pop("counting")
        agent.start()
        try:
            wait_for(
                lambda: len(series_values(collector, "counter-host", "test_sequence")) >= produced,
                what=f"{produced} values",
            )
        finally:
            agent.stop()
        values = [v for _, v in series_values(collector, "counter-host", "test_sequence")]
        seqs, claimed, stored = batch_ledger(collector)
    assert produced > 40
    assert sorted(values) == [float(v) for v in range(1, produced + 1)]
    assert seqs == list(range(1, len(seqs) + 1))
    assert claimed == stored


def test_same_batch_twice_is_stored_once(tmp_path):
    with CollectorProcess(tmp_path / "collector") as collector:
        creds = provision(collector, "acme")
        body = {
            "batch_id": "0b6c1a52-4a8e-4d6e-8a1c-2f5d3c9e7b10",
            "seq": 1,
            "sent_at": "2026-11-22T10:00:00Z",
            "agent": {
                "id": "5d0e2b7c-1f7a-4c3e-9b8d-6a2f4e1c0d93",
                "version": "0.1.0",
                "hostname": "srv1",
                "site": "office-a",
            },
            "assets": [{"name": "srv1", "kind": "host"}],
            "samples": [
                {
                    "asset": "srv1",
                    "metric": "cpu_usage_percent",
                    "labels": {"mode": "user"},
                    "value": 12.5,
                    "ts": 1763805600.0,
                }
            ],
            "events": [{"asset": "srv1", "type": "reboot", "ts": 1763805500.0, "message": "boot"}],
        }
        auth = {"Authorization": f"Bearer {creds.agent_token}"}
        first = httpx.post(f"{collector.url}/api/v1/batches", json=body, headers=auth)
        second = httpx.post(f"{collector.url}/api/v1/batches", json=body, headers=auth)
        assert first.status_code == second.status_code == 200
        assert first.json()["duplicate"] is False and second.json()["duplicate"] is True
        with db(collector) as conn:
            assert conn.execute("SELECT count(*) FROM samples").fetchone()[0] == 1
            assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 1
            assert conn.execute("SELECT count(*) FROM batches").fetchone()[0] == 1
