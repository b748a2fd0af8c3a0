"""One registry of the collector's periodic work, and the one runner that runs it.

Every background task of a collector is either a :class:`PeriodicJob` (a function called every
``interval`` seconds: retention, the rule sweep, the SLA sweep, …) or a :class:`Worker` (a
service with its own threads that is only started and stopped here: the outbox and the
notification delivery workers). :func:`collector.api.create_app` lists them in one place and
hands them to a :class:`JobRunner`; ``upkeep serve --no-background`` (setting
``background: false``) registers none of them, for a replica that should only serve.

**Singletons.** A job with ``singleton=True`` runs on one replica at a time. On PostgreSQL the
replica that runs it holds a *lease*: a session advisory lock keyed on
``hashtext(current_schema() || ':' || 'job:' || name)`` (so two deployments, or two test
schemas, in one database never contend), held on one dedicated connection per replica
(:class:`Leases`). The holder keeps the lease between turns and runs the job once per
interval; the other replicas try at each of their turns and count a *skip*. When the holder
stops or dies its session ends, PostgreSQL releases the lock, and the next replica whose turn
comes takes over (within one interval). A lease connection that broke is noticed at the next
turn (its lock is gone with it) and the job is skipped until a new one gets the lock. On
SQLite (one process) a singleton simply runs.

Per-row work (outbox rows, notifications, deferred signals) needs no lease: its rows are
claimed one by one (``FOR UPDATE SKIP LOCKED`` / conditional UPDATE / claim-by-delete), so it
runs on every replica.

A job that raises is logged and counted (``upkeep_job_failures_total``) and runs again at its
next turn; it never ends the runner. Each job has its own thread, so a slow report render does
not hold up the SQLite checkpoint.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

log = logging.getLogger(__name__)

#: Prefix of the advisory-lock names of jobs (other leases, e.g. shards, use their own).
LEASE_PREFIX = "job:"

Outcome = Literal["ran", "skipped", "failed"]


@dataclass(frozen=True, slots=True)
class PeriodicJob:
    """``run()`` every ``interval`` seconds (first at start when ``run_at_start``, else after
    one interval); ``singleton``: on one replica of a cluster at a time (see the module doc)."""

    name: str
    interval: float
    run: Callable[[], object]
    singleton: bool = False
    run_at_start: bool = False


@dataclass(frozen=True, slots=True)
class Worker:
    """A service with its own threads (delivery workers): started and stopped with the runner."""

    name: str
    start: Callable[[], object]
    stop: Callable[[], object]


class JobMetrics:
    """``upkeep_job_*``: runs, skips (lease held by another replica), failures, last duration."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.runs = Counter(
            "upkeep_job_runs", "Turns of a periodic job run here.", ["job"], registry=r
        )
        self.skips = Counter(
            "upkeep_job_skips",
            "Turns of a singleton job skipped here: another replica holds its lease.",
            ["job"],
            registry=r,
        )
        self.failures = Counter(
            "upkeep_job_failures", "Turns of a periodic job that raised.", ["job"], registry=r
        )
        self.duration = Gauge(
            "upkeep_job_last_duration_seconds",
            "How long the last turn of a periodic job took here.",
            ["job"],
            registry=r,
        )
        self.leader = Gauge(
            "upkeep_job_lease_held",
            "1 while this replica holds the lease of a singleton job.",
            ["job"],
            registry=r,
        )


def lease_key_sql(param: str = "name") -> str:
    """The SQL expression of a lease's advisory-lock key (schema-qualified, see the module doc)."""
    # coalesce: with no existing schema on the search_path current_schema() is NULL, and a
    # NULL key would make every try "not acquired".
    return f"hashtext(coalesce(current_schema(), '') || ':' || :{param})"


class Leases:
    """The session advisory locks of one replica, on one dedicated PostgreSQL connection.

    The connection is outside the store's pool (a pooled connection goes back to the pool and
    its session locks with it) and in autocommit (no transaction stays open between turns).
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = sa.create_engine(engine.url, poolclass=NullPool)
        self._conn: Connection | None = None
        self._held: set[str] = set()
        self._lock = threading.Lock()

    def acquire(self, name: str) -> bool:
        """True when this replica holds the lease ``name`` (now or already)."""
        with self._lock:
            try:
                conn = self._connection()
                if name in self._held:
                    # The session lives, so its lock does; a dead session raises here.
                    conn.exec_driver_sql("SELECT 1")
                    return True
                got = conn.execute(
                    sa.text(f"SELECT pg_try_advisory_lock({lease_key_sql()})"),
                    {"name": LEASE_PREFIX + name},
                ).scalar()
            except sa.exc.DBAPIError as exc:
                log.warning("lease connection lost (%s); leases %s released", exc, self._held)
                self._reset()
                return False
            if got:
                self._held.add(name)
            return bool(got)

    def holds(self, name: str) -> bool:
        return name in self._held

    def release(self, name: str) -> None:
        with self._lock:
            if name not in self._held or self._conn is None:
                return
            self._held.discard(name)
            try:
                self._conn.execute(
                    sa.text(f"SELECT pg_advisory_unlock({lease_key_sql()})"),
                    {"name": LEASE_PREFIX + name},
                )
            except sa.exc.DBAPIError:
                self._reset()

    def close(self) -> None:
        """Give every lease back (closing the session releases its locks)."""
        with self._lock:
            self._reset()
        self._engine.dispose()

    def _connection(self) -> Connection:
        if self._conn is None:
            self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        return self._conn

    def _reset(self) -> None:
        self._held.clear()
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # a broken connection may fail to close; it is gone either way
                log.debug("closing the lease connection failed", exc_info=True)
            self._conn = None


class JobRunner:
    """Runs ``jobs`` (one thread each) and starts/stops ``workers``, for one replica.

    ``engine``: the store's engine; on PostgreSQL singleton jobs take leases through it.
    :meth:`run_turn` is one turn of one job (the threads call it; tests call it directly).
    """

    def __init__(
        self,
        jobs: Iterable[PeriodicJob],
        workers: Iterable[Worker] = (),
        *,
        engine: Engine | None = None,
        metrics: JobMetrics | None = None,
        replica: str | None = None,
    ) -> None:
        self.jobs: list[PeriodicJob] = list(jobs)
        names = [j.name for j in self.jobs]
        if len(set(names)) != len(names):
            raise ValueError(f"job names must be unique: {sorted(names)}")
        self.workers: list[Worker] = list(workers)
        self.metrics = metrics or JobMetrics()
        self.replica = replica or f"{socket.gethostname()}:{os.getpid()}"
        clustered = engine is not None and engine.dialect.name == "postgresql"
        self.leases = Leases(engine) if clustered and engine is not None else None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._started: list[Worker] = []

    @property
    def names(self) -> Sequence[str]:
        return [j.name for j in self.jobs]

    def job(self, name: str) -> PeriodicJob:
        for job in self.jobs:
            if job.name == name:
                return job
        raise KeyError(name)

    # ------------------------------------------------------------------ control

    def start(self) -> None:
        if self._threads or self._started:
            return
        self._stop.clear()
        for worker in self.workers:
            try:
                worker.start()
            except (
                Exception
            ):  # one broken worker must not keep the others (or serving) from starting
                log.exception("starting %s failed", worker.name)
                continue
            self._started.append(worker)
        for job in self.jobs:
            if job.interval <= 0:
                continue
            thread = threading.Thread(
                target=self._loop, args=(job,), name=f"job-{job.name}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        if self.jobs or self.workers:
            log.info(
                "background: jobs %s; workers %s",
                ", ".join(j.name + ("*" if j.singleton else "") for j in self.jobs) or "-",
                ", ".join(w.name for w in self.workers) or "-",
            )

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.1, deadline - time.monotonic()))
        self._threads = []
        for worker in reversed(self._started):
            try:
                worker.stop()
            except Exception:
                log.exception("stopping %s failed", worker.name)
        self._started = []
        if self.leases is not None:
            self.leases.close()
            for job in self.jobs:
                if job.singleton:
                    self.metrics.leader.labels(job.name).set(0)

    @property
    def running(self) -> bool:
        return bool(self._threads or self._started)

    # ------------------------------------------------------------------ turns

    def _loop(self, job: PeriodicJob) -> None:
        if not job.run_at_start and self._stop.wait(job.interval):
            return
        while not self._stop.is_set():
            self.run_turn(job)
            if self._stop.wait(job.interval):
                return

    def run_turn(self, job: PeriodicJob) -> Outcome:
        """One turn of ``job``: take (or keep) its lease when it is a singleton, then run it."""
        if job.singleton and self.leases is not None:
            try:
                held = self.leases.acquire(job.name)
            except Exception:  # the database is down: try again next turn
                log.exception("taking the lease of job %s failed", job.name)
                held = False
            self.metrics.leader.labels(job.name).set(1 if held else 0)
            if not held:
                self.metrics.skips.labels(job.name).inc()
                return "skipped"
        started = time.perf_counter()
        try:
            job.run()
        except Exception:
            log.exception("job %s failed; it runs again in %ss", job.name, job.interval)
            self.metrics.failures.labels(job.name).inc()
            return "failed"
        finally:
            self.metrics.duration.labels(job.name).set(time.perf_counter() - started)
            self.metrics.runs.labels(job.name).inc()
        return "ran"
