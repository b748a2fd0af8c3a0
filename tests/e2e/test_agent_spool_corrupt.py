"""A real agent process started on a corrupt spool keeps running and ships to a real collector.

On main it exited with a traceback (and systemd's ``Restart=on-failure`` restarted it every
5 s, collecting nothing). Now the bad file is moved aside, the agent says so loudly, and
the collector receives the samples, a ``spool_corrupt`` event and
``upkeep_agent_spool_corruptions_total 1``.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers.collector import CollectorProcess, provision

from tests.agent.test_spool_disk import CORRUPTIONS, MOVED

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def collector(tmp_path_factory) -> Iterator[tuple[CollectorProcess, str]]:
    with CollectorProcess(tmp_path_factory.mktemp("collector")) as proc:
        yield proc, provision(proc, "acme").agent_token


def query(collector: CollectorProcess, sql: str, *args: object) -> list[tuple]:
    with sqlite3.connect(collector.data_dir / "upkeep.db", timeout=10) as conn:
        return conn.execute(sql, args).fetchall()


def wait_for(predicate, timeout: float, what: str, process: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the agent exited with {process.returncode} ({what})")
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@pytest.mark.parametrize("kind", ["random bytes", "truncated", "corrupt page", "foreign schema"])
def test_agent_process_on_a_corrupt_spool_keeps_running_and_ships(tmp_path, collector, kind):
    proc, token = collector
    state = tmp_path / "state"
    state.mkdir()
    spool = state / "spool.db"
    CORRUPTIONS[kind](spool)
    asset = "corrupt-" + kind.replace(" ", "-")
    config = tmp_path / "agent.yaml"
    config.write_text(
        json.dumps(
            {
                "collector": {"url": proc.url, "token": token},
                "asset_name": asset,
                "state_dir": str(state),
                "spool": {"path": str(spool), "flush_interval": "1s"},
                "checks": {"memory": {"interval": "1s"}},
            }
        )
    )
    agent = subprocess.Popen(
        [sys.executable, "-m", "agent", "run", "--config", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(
            lambda: (
                query(
                    proc,
                    "SELECT count(*) FROM samples s JOIN series r ON r.id = s.series_id"
                    " JOIN assets a ON a.id = r.asset_id"
                    " WHERE a.name = ? AND r.metric = 'memory_used_bytes'",
                    asset,
                )[0][0]
                >= 3
            ),
            60,
            "samples from the agent",
            agent,
        )
        events = wait_for(
            lambda: query(
                proc,
                "SELECT e.message, e.data FROM events e JOIN assets a ON a.id = e.asset_id"
                " WHERE a.name = ? AND e.type = 'spool_corrupt'",
                asset,
            ),
            60,
            "the spool_corrupt event",
            agent,
        )
        counter = query(
            proc,
            "SELECT l.value FROM latest l JOIN series r ON r.id = l.series_id"
            " JOIN assets a ON a.id = r.asset_id"
            " WHERE a.name = ? AND r.metric = 'upkeep_agent_spool_corruptions_total'",
            asset,
        )
        assert agent.poll() is None, "the agent is still running"
    finally:
        agent.send_signal(signal.SIGTERM)
        _, err = agent.communicate(timeout=30)
    log = err.decode(errors="replace")
    assert agent.returncode == 0, log
    assert "Traceback" not in log, log
    assert "SPOOL CORRUPT" in log, log
    (moved,) = [p for p in state.iterdir() if MOVED.match(p.name)]
    assert str(moved) in log
    ((message, data),) = events
    assert json.loads(data)["moved_to"] == str(moved) and "moved aside" in message
    assert counter == [(1.0,)]
    assert Path(spool).exists()  # the fresh spool
