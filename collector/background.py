"""The registry table of a collector's background work: every periodic job and worker, in one
list (see :mod:`collector.jobs` for the runner, the singleton leases and the metrics).

======================  ===========  ==========================================================
job                     singleton    what
======================  ===========  ==========================================================
retention               yes          purge old samples, rollups, events, batches (at start too);
                                     on PostgreSQL drops whole expired partitions
partitions              yes          PostgreSQL: create the day/month partitions of samples and
                                     rollups ahead (at start too; collector/partitions.py)
rollups                 yes          build the closed hours' rollups from the raw samples,
                                     catching up after downtime (at start too; collector/rollups.py)
rules-sweep             no           time-based rules (no data, ``for`` expiry) of this engine
rules-watch             no           reload this replica's rule files when they changed
noise-release           no           release held-back signals (rows claimed by delete)
sla-sweep               yes          recompute running SLA clocks, send warnings/breaches
oncall-escalate         yes          page the escalation steps that are due (collector.oncall)
ledger-periods          yes          allotments, rollovers, expiries of new periods (at start)
closing                 yes          compose and queue due closing messages and daily digests,
                                     close incidents whose closing message got no answer
ticket-poll-closed      yes          close incidents whose ticket was closed in the ticket system
ticket-time-entries     yes          mirror time entries logged in the ticket systems
report-schedule         yes          render, archive and mail the reports that are due (at start)
sqlite-checkpoint       no           SQLite only: copy the WAL into the database
cluster-leases          no           PostgreSQL: heartbeat, renew this replica's shard leases,
                                     take or give back shards toward an even share
cluster-queue-poll      no           PostgreSQL: evaluate queued batches of shards held here
                                     (the fallback when no NOTIFY arrived)
remote-write            yes          send queued samples to the remote-write receiver
                                     (when ``remote_write`` is configured; at start too)
======================  ===========  ==========================================================

Workers (started and stopped, never leased; their rows are claimed one by one): ``outbox`` (the
ticket connectors), ``notify`` (client e-mails) and, on PostgreSQL, ``cluster-listen`` (LISTEN
for hand-off wake-ups; see :mod:`collector.cluster`).

The rule sweep is per replica: each replica sweeps the alerts its own engine evaluates (the
shard leases decide which those are, where a cluster has them).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from collector.jobs import PeriodicJob, Worker

if TYPE_CHECKING:
    from collector.incidents.runtime import Incidents
    from collector.remote_write.exporter import RemoteWriteExporter
    from collector.rules.service import RuleService
    from collector.settings import Settings
    from collector.store import Store

#: How often the SQLite WAL is checkpointed (Store.checkpoint).
CHECKPOINT_INTERVAL = 1.0


def collector_jobs(
    store: Store,
    settings: Settings,
    rules: RuleService,
    incidents: Incidents,
    *,
    retention: bool = True,
    reports: bool = True,
    remote_write: RemoteWriteExporter | None = None,
    remediation: Any = None,
) -> tuple[list[PeriodicJob], list[Worker]]:
    """The jobs and workers of one collector replica (none with ``settings.background`` off).

    ``retention`` / ``reports``: leave those jobs out (tests that set the clock themselves).
    ``remote_write``: the exporter whose sender runs as the ``remote-write`` job."""
    if not settings.background:
        return [], []
    from collector import retention as retention_module
    from collector.incidents import noise
    from collector.ledger.entries import ensure_all_periods

    jobs: list[PeriodicJob] = []

    def add(
        name: str,
        interval: float,
        run: Callable[[], object],
        *,
        singleton: bool = False,
        at_start: bool = False,
    ) -> None:
        if interval > 0:
            jobs.append(PeriodicJob(name, interval, run, singleton, at_start))

    if retention:
        add(
            "retention",
            settings.retention_interval,
            lambda: retention_module.purge(store, settings),
            singleton=True,
            at_start=True,
        )
    if not store.is_sqlite:
        from collector import partitions

        add(
            "partitions",
            settings.partition_interval,
            lambda: partitions.ensure(store, settings),
            singleton=True,
            at_start=True,
        )
    from collector import rollups

    add(
        "rollups",
        settings.rollup_interval,
        lambda: rollups.build(store),
        singleton=True,
        at_start=True,
    )
    add("rules-sweep", settings.rules_sweep_interval, rules.sweep)
    add("rules-watch", settings.rules_watch_interval, rules.reload_if_changed)
    add("noise-release", settings.noise_release_interval, lambda: noise.release_once(store))
    add(
        "sla-sweep",
        settings.sla_sweep_interval,
        lambda: incidents.sla.sweep(store),
        singleton=True,
    )
    if not incidents.oncall.config.empty:
        # Once per cluster (the climb's conditional UPDATE keeps even two turns from paging twice).
        add(
            "oncall-escalate",
            settings.oncall_interval,
            incidents.oncall.sweep,
            singleton=True,
            at_start=True,
        )
    add(
        "ledger-periods",
        settings.ledger_period_interval,
        lambda: ensure_all_periods(store),
        singleton=True,
        at_start=True,
    )
    add(
        "closing",
        settings.closing_interval,
        incidents.closing.run_once,
        singleton=True,
    )
    outbox = incidents.workers
    if any(c.supports_poll for c in outbox.connectors.values()):
        # Once per cluster: every replica asking every ticket system would multiply the
        # requests and race to close the same incidents.
        add(
            "ticket-poll-closed",
            settings.outbox_poll_closed_interval,
            outbox.poll_closed,
            singleton=True,
        )
        add(
            "ticket-time-entries",
            settings.outbox_poll_closed_interval,
            outbox.poll_time_entries,
            singleton=True,
        )
    if reports:
        from collector.reports.schedule import run_once

        add(
            "report-schedule",
            settings.report_schedule_interval,
            lambda: run_once(store, settings),
            singleton=True,
            at_start=True,
        )
    if remote_write is not None:
        # Once per cluster: one sender keeps each series' samples in timestamp order.
        add(
            "remote-write",
            remote_write.config.send_interval,
            remote_write.send_pending,
            singleton=True,
            at_start=True,
        )
    if remediation is not None:
        # Approved fixes are queued, rejected ones cancelled, tasks past their deadline expired.
        add("remediation-sync", settings.task_sync_interval, remediation.sync, singleton=True)
    if store.checkpoints:
        add("sqlite-checkpoint", CHECKPOINT_INTERVAL, store.checkpoint)
    cluster = rules.cluster
    if cluster is not None:
        # Per replica: each renews its own shard leases and evaluates its own shards' queues.
        add("cluster-leases", settings.cluster_lease_ttl / 5, cluster.renew)
        add("cluster-queue-poll", settings.cluster_poll_interval, cluster.poll)
    workers = [
        Worker("outbox", outbox.start, outbox.stop),
        Worker("notify", incidents.notify_workers.start, incidents.notify_workers.stop),
    ]
    if remote_write is not None:
        workers.append(Worker("remote-write-http", remote_write.open, remote_write.close))
    if cluster is not None:
        workers.append(Worker("cluster-listen", cluster.start_listening, cluster.stop_listening))
    return jobs, workers
