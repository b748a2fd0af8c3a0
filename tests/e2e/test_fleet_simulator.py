"""The fleet simulator (benchmarks/fleet.py) against a real collector on SQLite.

Its batches are the real agent's: the host shape is what ``upkeep-agent once`` emits here,
every metric of it is in the agent's catalogs, and the collector stores every sample the
simulator counts as accepted. Its CPU meter reads the collector's process time.
"""

from __future__ import annotations

import gzip
import json
import time

import sqlalchemy as sa
from servers.collector import CollectorProcess

from benchmarks.fleet import (
    BREACH_METRIC,
    BREACH_VALUE,
    CpuMeter,
    Fleet,
    breach_settings,
    host_series,
    provision,
    run_split,
    trim_host,
    webhook_receiver,
)
from collector.schema import samples, series
from collector.store import Store


def test_host_shape_is_what_the_real_checks_emit():
    once = host_series("once")
    catalog = host_series("catalog")
    assert 40 <= len(once) <= 120
    assert {m for m, _ in once} <= {m for m, _ in catalog}
    # Label names of each metric as the catalogs declare them.
    names = {m: set(labels) for m, labels in catalog}
    for metric, labels in once:
        assert set(labels) == names[metric], (metric, labels)


def test_fleet_batches_are_accepted_stored_and_metered(tmp_path):
    url = f"sqlite:///{tmp_path / 'upkeep.db'}"
    with CollectorProcess(tmp_path, database_url=url, log_level="warning") as collector:
        agents = provision(url, clients=2, agents=6, sites=1)
        assert collector.process is not None
        meter = CpuMeter({"collector": [collector.process.pid]})
        fleet = Fleet(
            [collector.url],
            agents,
            interval=1.0,
            workers=2,
            host_source="once",
            meter=meter,
            rate_limit=20,
        )
        fleet.start()
        deadline = time.monotonic() + 60
        while fleet.report().batches < 18 and time.monotonic() < deadline:
            time.sleep(0.2)
        report = fleet.stop()
        assert report.errors == {} and report.batches >= 18, report.summary()
        store = Store.from_url(url)
        try:
            with store.read() as conn:
                stored = conn.execute(sa.select(sa.func.count()).select_from(samples)).scalar()
                n_series = conn.execute(sa.select(sa.func.count()).select_from(series)).scalar()
        finally:
            store.dispose()
    assert stored == report.samples
    host = len(host_series("once"))
    # 6 hosts, one of them a site agent with a switch, a printer and a UPS.
    assert n_series > 6 * host
    assert report.cpu["collector"] > 0
    assert report.cpu_per_million("collector") > 0
    assert len(report.latencies) == report.batches


def test_trimmed_host_drops_whole_devices_only():
    once = host_series("once")
    small = trim_host(once, 50)
    assert all(s in once for s in small) and len(small) < len(once)
    # What is left of a device is all of it: every metric of a kept interface / disk.
    for label, prefix in (("interface", "netio_"), ("device", "diskio_")):
        kept = {lb[label] for m, lb in small if m.startswith(prefix)}
        for value in kept:
            full = [s for s in once if s[0].startswith(prefix) and s[1].get(label) == value]
            assert all(s in small for s in full)
    assert trim_host(once, 1000) == once


def test_split_prebuilt_fleet_sends_what_an_agent_sends(tmp_path):
    """Two processes, bodies built ahead: every batch accepted, every sample it counts
    stored (none refused or deduplicated as re-sent: each batch's timestamps are new), and
    every series written by several batches."""
    url = f"sqlite:///{tmp_path / 'upkeep.db'}"
    with CollectorProcess(tmp_path, database_url=url, log_level="warning") as collector:
        agents = provision(url, clients=2, agents=6, sites=1)
        assert collector.process is not None
        fleet = Fleet(
            [collector.url],
            agents,
            interval=1.0,
            workers=4,
            host_source="once",
            meter=CpuMeter({"collector": [collector.process.pid]}),
        )
        report = run_split(fleet, 3.0, 2, prebuild=True)
        assert report.errors == {} and report.batches >= 12, report.summary()
        assert report.cpu["collector"] > 0 and len(report.latencies) == report.batches
        store = Store.from_url(url)
        try:
            with store.read() as conn:
                stored = conn.execute(sa.select(sa.func.count()).select_from(samples)).scalar()
                per_series = conn.execute(
                    sa.select(
                        samples.c.series_id, sa.func.count(), sa.func.count(samples.c.ts.distinct())
                    ).group_by(samples.c.series_id)
                ).all()
        finally:
            store.dispose()
    assert stored == report.samples
    assert per_series and all(n == distinct >= 2 for _, n, distinct in per_series)


def test_prebuilt_breaches_are_timed_at_their_send_and_each_reaches_the_webhook(tmp_path):
    """Breach mode with bodies built ahead (the load the p99 target is measured at): the
    breaching batch is drawn as it is built (at most one a host), its send time is taken when
    it is sent, and each one opens an incident whose ``open`` webhook reaches the receiver."""
    url = f"sqlite:///{tmp_path / 'upkeep.db'}"
    with webhook_receiver() as receiver:
        config = breach_settings(tmp_path / "conf", receiver.server_address[1])
        with CollectorProcess(tmp_path, database_url=url, config=config) as collector:
            agents = provision(url, clients=2, agents=6, sites=0)
            options = {"interval": 1.0, "workers": 4, "host_source": "once"}
            built = Fleet([collector.url], agents, breach_chance=1.0, **options)
            built.prepare(3.0)
            assert built._prebuilt is not None
            flags = [[breach for _, breach in bodies] for bodies in built._prebuilt]
            assert all(f[0] and not any(f[1:]) for f in flags), flags  # once, the first
            assert built.breaches == {}  # nothing timed before it is sent
            body = gzip.decompress(built._prebuilt[0][0][0])
            sent = [s for s in json.loads(body)["samples"] if s["metric"] == BREACH_METRIC]
            assert [s["value"] for s in sent] == [BREACH_VALUE]
            for agent in agents:
                agent.seq = 0  # the bodies above were never sent

            fleet = Fleet([collector.url], agents, breach_chance=1.0, **options)
            started = time.perf_counter()
            report = run_split(fleet, 3.0, 2, prebuild=True)
            latencies, missing = receiver.latencies(fleet.breaches, wait=15.0)
    assert report.errors == {}, report.summary()
    assert sorted(fleet.breaches) == sorted(a.hostname for a in agents)
    assert all(t > started for t in fleet.breaches.values())  # sent in this run
    assert missing == 0 and len(latencies) == len(agents)
    assert all(0 < latency < 10 for latency in latencies), latencies
