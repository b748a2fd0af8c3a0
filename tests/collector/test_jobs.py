"""The registry of periodic work (collector.jobs, collector.background): singleton leases on
PostgreSQL across replicas, failures that do not end the runner, ``--no-background``."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from collector.api import create_app
from collector.jobs import JobMetrics, JobRunner, PeriodicJob
from collector.settings import Settings
from collector.store import Store
from tests.conftest import _postgres_schema_url, postgres_unavailable

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pg_url():
    reason = postgres_unavailable()
    if reason:
        pytest.skip(reason)
    yield from _postgres_schema_url()


def _replicas(url: str, job: PeriodicJob, n: int = 3) -> tuple[list[Store], list[JobRunner]]:
    stores = [Store.from_url(url) for _ in range(n)]
    runners = [
        JobRunner([job], engine=s.engine, metrics=JobMetrics(), replica=f"r{i}")
        for i, s in enumerate(stores)
    ]
    return stores, runners


def _close(stores: list[Store], runners: list[JobRunner]) -> None:
    for runner in runners:
        runner.stop()
    for store in stores:
        store.dispose()


@pytest.mark.postgres
def test_a_singleton_runs_once_per_turn_across_three_replicas_on_postgresql(pg_url):
    ran: list[str] = []
    current = threading.local()
    job = PeriodicJob("count", 60.0, lambda: ran.append(current.replica), singleton=True)
    stores, runners = _replicas(pg_url, job)
    try:
        # Ten intervals; in each, every replica's turn comes once (in a different order each time).
        for turn in range(10):
            order = runners[turn % 3 :] + runners[: turn % 3]
            outcomes = []
            for runner in order:
                current.replica = runner.replica
                outcomes.append(runner.run_turn(job))
            assert sorted(outcomes) == ["ran", "skipped", "skipped"]
        assert len(ran) == 10
        assert len(set(ran)) == 1  # the lease stays with its holder between turns
        leader = next(r for r in runners if r.replica == ran[0])
        assert leader.metrics.runs.labels("count")._value.get() == 10
        for other in runners:
            if other is not leader:
                assert other.metrics.skips.labels("count")._value.get() == 10
                assert other.metrics.runs.labels("count")._value.get() == 0

        # The holder stops (a deploy, or a crash: its session ends): another takes over at once.
        leader.stop()
        ran.clear()
        rest = [r for r in runners if r is not leader]
        for _ in range(3):
            for runner in rest:
                current.replica = runner.replica
                runner.run_turn(job)
        assert len(ran) == 3 and len(set(ran)) == 1 and ran[0] != leader.replica
    finally:
        _close(stores, runners)


@pytest.mark.postgres
def test_a_lease_is_per_schema_so_two_deployments_in_one_database_both_run(pg_url):
    second = _postgres_schema_url()
    other = next(second)  # a second schema (deployment) in the same database
    ran: list[str] = []
    job = PeriodicJob("count", 60.0, lambda: ran.append("x"), singleton=True)
    stores = [Store.from_url(pg_url), Store.from_url(other)]
    runners = [JobRunner([job], engine=s.engine, metrics=JobMetrics()) for s in stores]
    try:
        assert [r.run_turn(job) for r in runners] == ["ran", "ran"]
    finally:
        _close(stores, runners)
        second.close()  # drops the second schema


@pytest.mark.postgres
def test_a_lease_whose_connection_died_is_given_up_and_taken_again(pg_url):
    job = PeriodicJob("count", 60.0, lambda: None, singleton=True)
    stores, runners = _replicas(pg_url, job, 2)
    a, b = runners
    try:
        assert a.run_turn(job) == "ran"
        assert b.run_turn(job) == "skipped"
        # The database drops the holder's session (failover, idle timeout, network).
        pid = a.leases._conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        with stores[1].engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert a.run_turn(job) == "skipped"  # noticed at its next turn, not run blind
        assert b.run_turn(job) == "ran"
        assert a.run_turn(job) == "skipped"
    finally:
        _close(stores, runners)


def test_on_sqlite_a_singleton_simply_runs(tmp_path):
    store = Store.from_url(f"sqlite:///{tmp_path / 'upkeep.db'}")
    ran: list[int] = []
    job = PeriodicJob("count", 60.0, lambda: ran.append(1), singleton=True)
    runner = JobRunner([job], engine=store.engine)
    try:
        assert runner.leases is None
        assert [runner.run_turn(job) for _ in range(3)] == ["ran"] * 3
    finally:
        runner.stop()
        store.dispose()


def test_a_job_that_raises_is_counted_and_runs_again_and_the_others_go_on():
    calls = Counter()
    second_turn = threading.Event()
    others = threading.Event()

    def broken() -> None:
        calls["broken"] += 1
        if calls["broken"] >= 2:
            second_turn.set()
        raise RuntimeError("boom")

    def fine() -> None:
        calls["fine"] += 1
        others.set()

    jobs = [
        PeriodicJob("broken", 0.01, broken, run_at_start=True),
        PeriodicJob("fine", 0.01, fine, run_at_start=True),
    ]
    runner = JobRunner(jobs)
    runner.start()
    try:
        assert second_turn.wait(10), "the failing job did not run a second time"
        assert others.wait(10)
    finally:
        runner.stop()
    assert runner.metrics.failures.labels("broken")._value.get() >= 2
    assert runner.metrics.failures.labels("fine")._value.get() == 0
    assert runner.run_turn(jobs[0]) == "failed"
    assert runner.run_turn(jobs[1]) == "ran"


def test_job_names_are_unique():
    job = PeriodicJob("x", 1.0, lambda: None)
    with pytest.raises(ValueError, match="unique"):
        JobRunner([job, job])


_REPLICA = textwrap.dedent(
    """
    import sys, time
    import sqlalchemy as sa
    from collector.jobs import JobRunner, PeriodicJob
    from collector.store import Store

    url, name = sys.argv[1], sys.argv[2]
    store = Store.from_url(url)
    print("ready", flush=True)
    start_at, end_at = map(float, sys.stdin.readline().split())

    def record():
        started = time.time()
        if started >= end_at:
            return  # the replicas stop one after the other from here on: not counted
        time.sleep(0.02)  # a run takes a moment: an overlap would show
        with store.write() as conn:
            conn.execute(
                sa.text("INSERT INTO job_log (replica, started, ended) VALUES (:r, :s, :e)"),
                {"r": name, "s": started, "e": time.time()},
            )

    runner = JobRunner(
        [PeriodicJob("record", 0.1, record, singleton=True, run_at_start=True)],
        engine=store.engine, replica=name,
    )
    time.sleep(max(0.0, start_at - time.time()))
    runner.start()
    time.sleep(max(0.0, end_at + 0.3 - time.time()))
    runner.stop()
    store.dispose()
    """
)


@pytest.mark.postgres
def test_three_processes_run_a_singleton_once_per_interval_on_one_schema(pg_url, tmp_path):
    store = Store.from_url(pg_url)
    with store.write() as conn:
        conn.execute(sa.text("CREATE TABLE job_log (replica TEXT, started FLOAT, ended FLOAT)"))
    script = tmp_path / "replica.py"
    script.write_text(_REPLICA)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), pg_url, f"p{i}"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    for proc in procs:  # all three imported and connected: start them together
        assert proc.stdout.readline().strip() == "ready"
    start_at = time.time() + 0.2
    for proc in procs:
        proc.stdin.write(f"{start_at} {start_at + 2.0}\n")
        proc.stdin.flush()
    for proc in procs:
        assert proc.wait(60) == 0
    with store.read() as conn:
        rows = conn.execute(
            sa.text("SELECT replica, started, ended FROM job_log ORDER BY started")
        ).all()
    store.dispose()
    assert len(rows) >= 3
    assert len({r.replica for r in rows}) == 1  # one holder while all three run
    for before, after in zip(rows, rows[1:], strict=False):
        # Never two at once, and the next turn only one interval after the last one ended.
        assert after.started >= before.ended + 0.1 - 0.01


def test_no_background_starts_no_job_and_no_worker(tmp_path):
    settings = Settings.for_data_dir(tmp_path, background=False)
    before = {t.name for t in threading.enumerate()}
    app = create_app(settings)
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        assert app.state.jobs.jobs == [] and app.state.jobs.workers == []
        assert not app.state.jobs.running
        started = {t.name for t in threading.enumerate()} - before
    assert not [n for n in started if n.startswith(("job-", "outbox-", "notify-"))]


def test_the_collector_registers_its_jobs_and_runs_them(tmp_path):
    settings = Settings.for_data_dir(tmp_path, notify_workers=1)
    app = create_app(settings)
    runner: JobRunner = app.state.jobs
    assert runner.names == [
        "retention",
        "rollups",
        "rules-sweep",
        "rules-watch",
        "noise-release",
        "sla-sweep",
        "ledger-periods",
        "closing",
        "report-schedule",
        "remediation-sync",
        "sqlite-checkpoint",
    ]
    singletons = {j.name for j in runner.jobs if j.singleton}
    assert singletons == {
        "retention",
        "rollups",
        "sla-sweep",
        "ledger-periods",
        "closing",
        "report-schedule",
        "remediation-sync",
    }
    with TestClient(app) as client:
        assert runner.running
        names = {t.name for t in threading.enumerate()}
        assert {f"job-{n}" for n in runner.names} <= names
        deadline = time.monotonic() + 10
        while runner.metrics.runs.labels("retention")._value.get() < 1:  # runs at start
            assert time.monotonic() < deadline
            time.sleep(0.02)
        text = client.get("/metrics").text
        assert 'upkeep_job_runs_total{job="retention"} 1.0' in text
        assert 'upkeep_job_last_duration_seconds{job="retention"}' in text
    assert not runner.running


def test_serve_no_background_turns_the_setting_off(monkeypatch, tmp_path):
    from collector import cli, server

    seen: list[Any] = []
    monkeypatch.setattr(server, "serve", lambda settings, **_: seen.append(settings))
    monkeypatch.setenv("UPKEEP_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(cli.app, ["serve", "--no-background"])
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(cli.app, ["serve"])
    assert result.exit_code == 0, result.output
    assert [s.background for s in seen] == [False, True]


@pytest.mark.postgres
def test_each_singleton_job_of_three_collector_apps_runs_once_per_interval(pg_url, tmp_path):
    """The real registry of three collectors on one schema: per interval (every replica's turn
    comes once), each singleton job runs on one of them; the per-replica jobs run on all."""
    stores = [Store.from_url(pg_url) for _ in range(3)]
    stores[0].upgrade()
    apps = [
        create_app(Settings.for_data_dir(tmp_path / f"r{i}", database_url=pg_url), store=s)
        for i, s in enumerate(stores)
    ]
    runners: list[JobRunner] = [app.state.jobs for app in apps]
    try:
        singletons = [j.name for j in runners[0].jobs if j.singleton]
        assert set(singletons) == {
            "retention",
            "partitions",
            "rollups",
            "sla-sweep",
            "ledger-periods",
            "closing",
            "report-schedule",
            "remediation-sync",
        }
        rounds = 3
        for _ in range(rounds):
            for runner in runners:
                for job in runner.jobs:
                    if job.name != "rules-sweep":  # needs the rules loaded (the lifespan does)
                        runner.run_turn(job)
        for name in singletons:
            runs = [r.metrics.runs.labels(name)._value.get() for r in runners]
            skips = [r.metrics.skips.labels(name)._value.get() for r in runners]
            assert sorted(runs) == [0, 0, rounds], (name, runs)
            assert sorted(skips) == [0, rounds, rounds], (name, skips)
            assert sum(r.metrics.failures.labels(name)._value.get() for r in runners) == 0
        for name in ("noise-release", "rules-watch"):
            assert [r.metrics.runs.labels(name)._value.get() for r in runners] == [rounds] * 3
    finally:
        for runner in runners:
            runner.stop()
        for store in stores:
            store.dispose()
