"""Fleet simulator: many agents posting realistic batches to one or more collector URLs.

Each simulated agent has its own token and agent id and posts a gzip JSON batch every
``interval`` seconds (divided by ``speed``: time compression — rules with compressed
durations see the same sequence sooner), round-robin across the collector URLs over
keep-alive HTTP connections (one per sender thread and URL), optionally under a fleet-wide
rate limit, as agents behind a load balancer would. A URL that refuses (a replica
restarting) is skipped for the next one, as a balancer's health check would; a batch is
retried until some replica accepts it, like the agent's spool, so no sample is lost.
Batches have the real agent's shape and encoding (compact JSON, gzip level 5):

* a **host** agent: what the Linux default checks emit. ``host_source="once"`` (the
  command's default) takes the (metric, labels) of ``upkeep-agent once --print`` run on this
  machine — the real checks' output, about 80 samples; ``"catalog"`` (the library default,
  the same on every machine) builds them from the checks' metric catalogs with coherent
  label values, plus ``upkeep_check_up`` / ``upkeep_check_duration_seconds`` per check;
* a **site** agent: its host plus the SNMP profiles' metrics of a 48-port switch, a printer
  and a UPS — about 500 samples.

Values sit in healthy ranges (no shipped rule fires). Scripted :class:`Fault` s change a
metric of one asset between two times (e.g. cpu at 99 % for asset X from t1 to t2), or
silence an agent. The :class:`Report` has accepted samples/s, batch latency p50/p99 and,
with a :class:`CpuMeter`, the CPU seconds (process time, not wall time) of the collector
and of PostgreSQL per million samples and per batch.

Importable (``from benchmarks.fleet import Fleet``; the fleet e2e test uses it) and a
command. ``--serve`` starts a real ``upkeep serve`` itself (``make bench-fleet`` runs both)::

    python benchmarks/fleet.py --serve sqlite --serve postgresql --agents 400 --speed 20 \\
        --duration 30 --warmup
    python benchmarks/fleet.py --url http://127.0.0.1:8427 --database-url postgresql+psycopg://... \\
        --clients 10 --agents 100 --sites 10 --duration 60 --speed 10

``--database-url`` provisions clients and tokens directly in the store (a throw-away one).
Numbers: benchmarks/README.md, "Fleet simulator".
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import gzip
import heapq
import http.client
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# ---------------------------------------------------------------------- batch shapes

#: Label values per label set of the agent's catalogs (coherent combinations).
_LABEL_SETS: dict[tuple[str, ...], list[dict[str, str]]] = {
    ("mode",): [{"mode": m} for m in ("user", "system", "idle", "iowait")],
    ("cpu",): [{"cpu": str(i)} for i in range(4)],
    ("period",): [{"period": p} for p in ("1m", "5m", "15m")],
    ("mountpoint", "device", "fstype"): [
        {"mountpoint": "/", "device": "/dev/sda1", "fstype": "ext4"},
        {"mountpoint": "/var", "device": "/dev/sda2", "fstype": "ext4"},
    ],
    ("device",): [{"device": d} for d in ("sda", "sdb")],
    ("interface",): [{"interface": "eth0"}],
    ("chip", "sensor"): [
        {"chip": "coretemp", "sensor": "Package id 0"},
        {"chip": "coretemp", "sensor": "Core 0"},
    ],
    ("interface", "alias"): [{"interface": f"Gi1/0/{i}", "alias": ""} for i in range(1, 49)],
    ("supply", "supply_type", "color"): [
        {"supply": str(i), "supply_type": "toner", "color": c}
        for i, c in enumerate(("black", "cyan", "magenta", "yellow"), 1)
    ],
    ("supply", "supply_type", "color", "state"): [
        {"supply": str(i), "supply_type": "toner", "color": c, "state": s}
        for i, c in enumerate(("black", "cyan", "magenta", "yellow"), 1)
        for s in ("ok", "empty")
    ],
    ("marker",): [{"marker": "1"}],
    ("flag",): [
        {"flag": f}
        for f in ("lowPaper", "noPaper", "lowToner", "noToner", "doorOpen", "jammed", "offline")
    ],
    ("cover",): [{"cover": "1"}],
    ("tray",): [{"tray": str(i)} for i in (1, 2)],
    ("tray", "state"): [{"tray": str(i), "state": s} for i in (1, 2) for s in ("ok", "empty")],
    ("severity",): [{"severity": s} for s in ("critical", "warning", "other")],
}


def _healthy(metric: str, labels: dict[str, str]) -> float:
    """A value in a healthy range for ``metric`` (no shipped rule fires on it)."""
    if metric.endswith("_state") or metric == "printer_input_state":
        return 1.0 if labels.get("state") == "ok" else 0.0
    if any(w in metric for w in ("error", "drops", "discards", "alarm", "on_battery", "cover")):
        return 0.0
    if metric in ("upkeep_check_up", "netio_link_up", "snmp_up", "if_oper_status"):
        return 1.0
    if metric in ("if_admin_status", "device_status"):
        return 1.0 if metric == "if_admin_status" else 2.0
    if metric == "printer_status":
        return 3.0
    if metric == "ups_battery_status":
        return 2.0
    if metric in ("uptime_seconds",):
        return 864000.0 + time.time() % 86400
    if metric == "boot_time_seconds":
        return time.time() - 864000.0
    if metric.startswith("temperature") or metric.endswith("temperature_celsius"):
        return {"temperature_high_celsius": 80.0, "temperature_critical_celsius": 95.0}.get(
            metric, 45.0
        )
    if metric.startswith("load_average"):
        return 0.4
    if metric.endswith("_percent"):
        return {"printer_supply_level_percent": 70.0, "ups_battery_charge_percent": 100.0}.get(
            metric, 30.0
        )
    if metric.endswith("_bytes"):
        return 8e9
    if metric.endswith("_seconds"):
        return 3600.0 if "duration" not in metric else 0.01
    return 1.0


_ONCE: list[tuple[str, dict[str, str]]] | None = None


def host_series_once() -> list[tuple[str, dict[str, str]]]:
    """(metric, labels) of what the real agent's default checks emit on this machine: the
    output of ``upkeep-agent once --print`` (run once per process and kept)."""
    global _ONCE
    if _ONCE is None:
        out = subprocess.run(
            [sys.executable, "-m", "agent.cli", "once", "--print", "--wait", "0.5"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        seen: dict[tuple[str, tuple[tuple[str, str], ...]], None] = {}
        for line in out.stdout.splitlines():
            sample = json.loads(line)
            seen[(sample["metric"], tuple(sorted(sample["labels"].items())))] = None
        if not seen:
            raise RuntimeError(f"upkeep-agent once printed no sample: {out.stderr[-2000:]}")
        _ONCE = [(metric, dict(labels)) for metric, labels in seen]
    return list(_ONCE)


def host_series(source: str = "catalog") -> list[tuple[str, dict[str, str]]]:
    """(metric, labels) of a Linux host agent's default checks: ``source="once"`` what the
    real checks emit on this machine (:func:`host_series_once`), ``"catalog"`` the agent's
    metric catalogs with coherent label values (the same on every machine)."""
    if source == "once":
        return host_series_once()
    from agent.checks.base import BASE_CATALOG
    from agent.checks.registry import check_class, default_checks

    out: list[tuple[str, dict[str, str]]] = []
    for name in default_checks("linux"):
        for spec in check_class(name).catalog:
            for labels in _LABEL_SETS.get(spec.labels, [{}]) if spec.labels else [{}]:
                out.append((spec.name, dict(labels)))
        for spec in BASE_CATALOG:
            out.append((spec.name, {"check": name}))
    return out


#: Cpu modes a minimal host keeps when trimmed (:func:`trim_host`): the simulator's catalog set.
_CORE_MODES = ("user", "system", "idle", "iowait")


def trim_host(
    series: list[tuple[str, dict[str, str]]], size: int
) -> list[tuple[str, dict[str, str]]]:
    """A smaller real host: ``series`` with whole devices taken away, in this order, while
    there are more than ``size`` series: network interfaces beyond the first, disk devices
    (and their mountpoints) beyond the first, then the cpu modes beyond user/system/idle/
    iowait (a kernel reporting fewer modes). Never a cut through a device's series: the label
    sets stay what the real checks emit, so the result may stay above ``size`` (79 series on
    this machine trim to 55: one disk, one interface, four cpu modes)."""
    out = list(series)

    def keep_first(label: str, metrics: tuple[str, ...]) -> None:
        nonlocal out
        values = list(
            dict.fromkeys(lb[label] for m, lb in out if m.startswith(metrics) and label in lb)
        )
        for value in values[1:]:
            if len(out) <= size:
                return
            out = [
                (m, lb) for m, lb in out if not (m.startswith(metrics) and lb.get(label) == value)
            ]

    keep_first("interface", ("netio_",))
    keep_first("device", ("disk_",))
    keep_first("device", ("diskio_",))
    keep_first("mountpoint", ("disk_",))
    for m, lb in list(series):
        if len(out) <= size:
            break
        if m == "cpu_mode_percent" and lb.get("mode") not in _CORE_MODES:
            out = [s for s in out if s != (m, lb)]
    return out


def snmp_series(profile: str) -> list[tuple[str, dict[str, str]]]:
    """(metric, labels) of one SNMP device profile shipped with the agent."""
    path = ROOT / "agent" / "snmp" / "profiles" / f"{profile}.yaml"
    doc = yaml.safe_load(path.read_text())
    out: list[tuple[str, dict[str, str]]] = [("snmp_up", {})]
    for metric in doc.get("metrics", []):
        labels = tuple(metric.get("labels") or ())
        for combo in _LABEL_SETS.get(labels, [{}]) if labels else [{}]:
            out.append((metric["name"], dict(combo)))
    return out


# ---------------------------------------------------------------------- the fleet

#: Breach mode (``--breach-chance``): the sample a breaching host sends, and the rule added
#: to the default packs for it (no ``for``: an incident opens at the first breaching sample).
BREACH_METRIC = "disk_used_percent"
BREACH_VALUE = 99.5
BREACH_RULE = """
rules:
  - id: fleet-breach
    metric: disk_used_percent
    warning: "> 99"
    priority: minor
    kind: capacity
    summary: "{asset}: disk {mountpoint} is {value:.0f}% full"
"""


@dataclass
class FleetAgent:
    """One simulated agent: its identity, token, and the assets it reports."""

    client: str
    token: str
    hostname: str
    site: str
    devices: list[tuple[str, str, str]] = field(default_factory=list)  # (asset, kind, profile)
    agent_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    seq: int = 0

    @property
    def assets(self) -> list[str]:
        return [self.hostname] + [d[0] for d in self.devices]


@dataclass(frozen=True)
class Fault:
    """``metric`` of ``asset`` is ``value`` from ``start`` to ``end`` (seconds since the run
    started); ``metric=None``: the asset's agent sends nothing then (a silent agent)."""

    asset: str
    start: float
    end: float
    metric: str | None = None
    value: float = 0.0
    labels: dict[str, str] | None = None  # None: every series of the metric


@dataclass
class Report:
    """What a run measured."""

    seconds: float
    batches: int
    samples: int
    latencies: list[float]
    errors: Counter
    retries: int
    per_url: Counter
    #: CPU seconds per process group over the run (``collector``, ``postgresql``), if measured
    cpu: dict[str, float] = field(default_factory=dict)
    #: CPU seconds per second of each group with no batch arriving (its periodic jobs),
    #: measured before the run; subtracted in the "net" figures
    idle: dict[str, float] = field(default_factory=dict)
    #: Resident memory (bytes) of each metered group at the end of the run
    rss: dict[str, int] = field(default_factory=dict)
    #: Breach mode: seconds from sending a breaching sample to its incident's ``open``
    #: webhook arriving at the local receiver, and how many breaches never arrived
    breach_latencies: list[float] = field(default_factory=list)
    breaches_missing: int = 0

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        if len(self.latencies) == 1:
            return self.latencies[0]
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[int(q) - 1]

    def net_cpu(self, group: str) -> float:
        """CPU seconds of ``group`` for the batches: less what it uses idle in as long."""
        return self.cpu[group] - self.idle.get(group, 0.0) * self.seconds

    def cpu_per_million(self, group: str) -> float:
        """Net CPU seconds of ``group`` per million accepted samples."""
        return self.net_cpu(group) / self.samples * 1e6 if self.samples else float("nan")

    def cpu_per_batch(self, group: str) -> float:
        """Net CPU seconds of ``group`` per accepted batch."""
        return self.net_cpu(group) / self.batches if self.batches else float("nan")

    def summary(self) -> str:
        text = (
            f"{self.batches} batches, {self.samples} samples in {self.seconds:.1f}s: "
            f"{self.samples_per_second:,.0f} samples/s accepted; batch latency "
            f"p50 {self.percentile(50) * 1000:.0f} ms, p99 {self.percentile(99) * 1000:.0f} ms; "
            f"retries {self.retries}, errors {dict(self.errors) or 0}"
        )
        for group in self.cpu:
            text += (
                f"; {group} CPU {self.cpu[group]:.1f} s (idle {self.idle.get(group, 0):.2f}/s) "
                f"= net {self.cpu_per_million(group):.1f} s per million samples, "
                f"{self.cpu_per_batch(group) * 1000:.2f} ms per batch"
            )
            if group in self.rss:
                text += f", RSS {self.rss[group] / 2**20:,.0f} MiB"
        if self.breach_latencies or self.breaches_missing:
            got = sorted(self.breach_latencies)
            cut = statistics.quantiles(got, n=100, method="inclusive") if len(got) > 1 else got * 99
            text += (
                f"; breach -> webhook: {len(got)} arrived, {self.breaches_missing} missing, "
                f"p50 {cut[49] * 1000:.0f} ms, p99 {cut[98] * 1000:.0f} ms, "
                f"max {got[-1] * 1000:.0f} ms"
                if got
                else f"; breach -> webhook: none of {self.breaches_missing} arrived"
            )
        return text


class Fleet:
    """Runs agents against ``urls`` until :meth:`stop` (or for :meth:`run`'s duration)."""

    def __init__(
        self,
        urls: list[str],
        agents: list[FleetAgent],
        *,
        interval: float = 30.0,
        speed: float = 1.0,
        faults: list[Fault] | tuple[Fault, ...] = (),
        rate_limit: float | None = None,
        workers: int = 8,
        seed: int = 0,
        timeout: float = 10.0,
        meter: CpuMeter | None = None,
        host_source: str = "catalog",
        breach_chance: float = 0.0,
        host_size: int | None = None,
    ) -> None:
        self.urls = list(urls)
        #: Breach mode: each host batch has this chance of carrying one breaching sample
        #: (:data:`BREACH_METRIC` at :data:`BREACH_VALUE`), at most once per host; the time
        #: it was sent is kept by host name in :attr:`breaches` (``time.perf_counter``).
        self.breach_chance = breach_chance
        self.breaches: dict[str, float] = {}
        self.agents = agents
        self.period = interval / speed
        self.faults = list(faults)
        self.rate_limit = rate_limit  # batches per second for the whole fleet
        self.workers = workers
        self.timeout = timeout
        self.random = random.Random(seed)
        self.started = 0.0
        self._stop = threading.Event()
        self._jobs: list[tuple[float, int, FleetAgent]] = []
        self._cv = threading.Condition()
        self._lock = threading.Lock()
        self._latencies: list[float] = []
        self._samples = 0
        self._batches = 0
        self._retries = 0
        self._errors: Counter = Counter()
        self._per_url: Counter = Counter()
        self._rr = itertools.count()
        self._threads: list[threading.Thread] = []
        self.meter = meter
        hosts = host_series(host_source)
        #: Kept for :func:`run_split` (each process builds its own Fleet with them)
        self.options: dict[str, Any] = {
            "interval": interval,
            "speed": speed,
            "faults": list(faults),
            "rate_limit": rate_limit,
            "workers": workers,
            "seed": seed,
            "timeout": timeout,
            "host_source": host_source,
            "breach_chance": breach_chance,
            "host_size": host_size,
        }
        #: Prebuilt gzip bodies per agent index (:meth:`prepare`), sent in order; True with a
        #: body that carries the host's breaching sample (its send time goes to ``breaches``)
        self._prebuilt: list[collections.deque[tuple[bytes, bool]]] | None = None
        #: While :meth:`prepare` builds: hosts whose breach is in a prebuilt body, and whether
        #: the last :meth:`batch` built carried one
        self._building = False
        self._planned: set[str] = set()
        self._breached = False
        self._t0 = 0.0
        self._series = {
            "host": trim_host(hosts, host_size) if host_size else hosts,
            **{p: snmp_series(p) for p in ("switch", "printer", "ups")},
        }

    # ------------------------------------------------------------------ batches

    def elapsed(self) -> float:
        return time.time() - self.started

    def batch(self, agent: FleetAgent, now: float) -> dict[str, Any] | None:
        """The next batch of ``agent`` at ``now`` (None: a fault silences the agent)."""
        t = now - self.started
        active = [f for f in self.faults if f.start <= t < f.end and f.asset in agent.assets]
        if any(f.metric is None and f.asset == agent.hostname for f in active):
            return None
        silent = {f.asset for f in active if f.metric is None}
        samples = []
        shapes = [(agent.hostname, self._series["host"])] + [
            (asset, self._series[profile])
            for asset, _, profile in agent.devices
            if asset not in silent
        ]
        breach = (
            self.breach_chance > 0
            and agent.hostname not in self.breaches
            and agent.hostname not in self._planned
            and self.random.random() < self.breach_chance
        )
        self._breached = False
        for asset, series in shapes:
            for metric, labels in series:
                value = _healthy(metric, labels) * (1 + self.random.uniform(-0.02, 0.02))
                if breach and asset == agent.hostname and metric == BREACH_METRIC:
                    value, breach, self._breached = BREACH_VALUE, False, True
                    if self._building:  # sent later: timed when it is (_worker)
                        self._planned.add(agent.hostname)
                    else:
                        self.breaches[agent.hostname] = time.perf_counter()
                for f in active:
                    if (
                        f.asset == asset
                        and f.metric == metric
                        and (
                            f.labels is None or all(labels.get(k) == v for k, v in f.labels.items())
                        )
                    ):
                        value = f.value
                samples.append(
                    {"asset": asset, "metric": metric, "labels": labels, "value": value, "ts": now}
                )
        agent.seq += 1
        return {
            "agent": {
                "id": agent.agent_id,
                "hostname": agent.hostname,
                "version": "0.1.0",
                "site": agent.site,
                "os": "linux",
            },
            "batch_id": str(uuid.uuid4()),
            "seq": agent.seq,
            "sent_at": now,
            "assets": [{"name": agent.hostname, "kind": "host"}]
            + [{"name": asset, "kind": kind} for asset, kind, _ in agent.devices],
            "samples": samples,
        }

    @staticmethod
    def encode(body: dict[str, Any]) -> bytes:
        """The agent's own encoding: compact JSON, gzip level 5 (agent/shipper.py)."""
        return gzip.compress(json.dumps(body, separators=(",", ":")).encode(), compresslevel=5)

    def prepare(self, duration: float) -> None:
        """Build every batch of a run of ``duration`` seconds ahead (JSON and gzip), so that
        sending costs the simulator only the HTTP exchange. Agent ``i``'s ``k``-th batch
        carries the time it is due at (``t0 + period * (i / n + k)``, as :meth:`start`
        schedules it), its ``seq`` and a fresh ``batch_id``: the same bytes a real agent sends
        then. ``t0`` is set ahead by the measured build rate; :meth:`start` waits for it, or
        if the build ran late the batches go out that much after their timestamps (a
        constant shipping lag). A batch still due once the prebuilt ones are sent is built
        live. Breach mode: which batch breaches is drawn as it is built; its send time is
        taken just before its POST. Not with faults (they depend on the send time)."""
        if self.faults:
            raise ValueError("prepare(): not with faults")
        n = max(1, len(self.agents))
        count = int(duration / self.period) + 2

        def build(i: int, agent: FleetAgent, t0: float) -> collections.deque[tuple[bytes, bool]]:
            out: collections.deque[tuple[bytes, bool]] = collections.deque()
            for k in range(count):
                body = self.batch(agent, t0 + self.period * (i / n + k))
                if body is not None:
                    out.append((self.encode(body), self._breached))
            return out

        self._building = True
        try:
            began = time.perf_counter()
            seq = self.agents[0].seq if self.agents else 0
            if self.agents:  # the build rate, on a throw-away copy of the first agent's batches
                build(0, self.agents[0], time.time())
                self.agents[0].seq = seq
                self._planned.clear()
            per_agent = time.perf_counter() - began
            self._t0 = time.time() + per_agent * n * 1.2 + 0.5
            self._prebuilt = [build(i, agent, self._t0) for i, agent in enumerate(self.agents)]
        finally:
            self._building = False

    # ------------------------------------------------------------------ running

    def start(self) -> Fleet:
        if self._prebuilt is not None and (wait := self._t0 - time.time()) > 0:
            time.sleep(wait)
        if self.meter is not None:
            self.meter.start()
        self.started = self._t0 if self._prebuilt is not None else time.time()
        self.started = max(self.started, time.time())
        # Spread the agents over one period, as real agents started at different times are.
        for i, agent in enumerate(self.agents):
            due = self.started + self.period * i / max(1, len(self.agents))
            heapq.heappush(self._jobs, (due, i, agent))
        self._threads = [
            threading.Thread(target=self._worker, name=f"fleet-{n}", daemon=True)
            for n in range(self.workers)
        ]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> Report:
        self._stop.set()
        with self._cv:
            self._cv.notify_all()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 5)
        report = self.report()
        if self.meter is not None:
            report.cpu = self.meter.stop()
            report.rss = dict(self.meter.rss)
        return report

    def run(self, duration: float) -> Report:
        self.start()
        self._stop.wait(duration)
        return self.stop()

    def report(self) -> Report:
        with self._lock:
            return Report(
                time.time() - self.started,
                self._batches,
                self._samples,
                list(self._latencies),
                Counter(self._errors),
                self._retries,
                Counter(self._per_url),
            )

    def _next(self) -> tuple[float, int, FleetAgent] | None:
        with self._cv:
            while not self._stop.is_set():
                if self._jobs:
                    due = self._jobs[0][0]
                    wait = due - time.time()
                    if wait <= 0:
                        return heapq.heappop(self._jobs)
                    self._cv.wait(min(wait, 0.5))
                else:
                    self._cv.wait(0.5)
        return None

    def _schedule(self, due: float, i: int, agent: FleetAgent) -> None:
        with self._cv:
            heapq.heappush(self._jobs, (due, i, agent))
            self._cv.notify()

    def _worker(self) -> None:
        connections: dict[str, http.client.HTTPConnection] = {}
        last_send = 0.0
        while True:
            job = self._next()
            if job is None:
                break
            due, i, agent = job
            if self.rate_limit:
                gap = self.workers / self.rate_limit  # each worker's share of the rate
                sleep = last_send + gap - time.time()
                if sleep > 0:
                    time.sleep(sleep)
                last_send = time.time()
            pending = self._prebuilt[i] if self._prebuilt is not None else None
            if pending:
                data, breach = pending.popleft()
                if breach:
                    with self._lock:
                        self.breaches[agent.hostname] = time.perf_counter()
                self._send(connections, agent, data)
            elif (body := self.batch(agent, time.time())) is not None:
                self._send(connections, agent, self.encode(body))
            self._schedule(max(due + self.period, time.time()), i, agent)
        for conn in connections.values():
            conn.close()

    def _connection(
        self, connections: dict[str, http.client.HTTPConnection], url: str
    ) -> http.client.HTTPConnection:
        conn = connections.get(url)
        if conn is None:
            parts = urlsplit(url)
            cls = (
                http.client.HTTPSConnection
                if parts.scheme == "https"
                else http.client.HTTPConnection
            )
            conn = connections[url] = cls(parts.netloc, timeout=self.timeout)
        return conn

    def _send(
        self, connections: dict[str, http.client.HTTPConnection], agent: FleetAgent, data: bytes
    ) -> None:
        headers = {
            "Authorization": f"Bearer {agent.token}",
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
        }
        first = next(self._rr)
        deadline = time.time() + 60
        attempt = 0
        while not self._stop.is_set() or attempt == 0:
            url = self.urls[(first + attempt) % len(self.urls)]
            conn = self._connection(connections, url)
            started = time.perf_counter()
            try:
                # One keep-alive connection per worker and URL, as an agent's session keeps.
                conn.request(
                    "POST", urlsplit(url).path.rstrip("/") + "/api/v1/batches", data, headers
                )
                resp = conn.getresponse()
                payload = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                # A replica restarting or killed: the next URL, as a balancer would.
                with self._lock:
                    self._errors[_error_name(exc)] += 1
                    self._retries += 1
                conn.close()
                connections.pop(url, None)
                attempt += 1
                if time.time() > deadline:
                    return
                if attempt % len(self.urls) == 0:
                    time.sleep(0.2)
                continue
            latency = time.perf_counter() - started
            if resp.will_close:
                conn.close()
                connections.pop(url, None)
            with self._lock:
                if resp.status == 200:
                    self._batches += 1
                    self._samples += json.loads(payload)["samples"]
                    self._latencies.append(latency)
                    self._per_url[url] += 1
                    return
                self._errors[f"http {resp.status}"] += 1
            if resp.status < 500:
                return  # refused for good (a wrong token, a bad batch): never retried
            attempt += 1
            self._retries += 1
            if time.time() > deadline:
                return


def _split_child(
    fleet: Fleet, duration: float, prebuild: bool, go: Any, out: Any
) -> None:  # pragma: no cover - runs in a forked process
    try:
        if prebuild:
            fleet.prepare(duration)
        out.put(("ready", None))
        go.wait()
        report = fleet.run(duration)
        out.put(("report", (report, dict(fleet.breaches))))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        out.put(("error", repr(exc)))


def run_split(fleet: Fleet, duration: float, procs: int, *, prebuild: bool = False) -> Report:
    """Run ``fleet`` from ``procs`` forked processes, each sending for its share of the
    agents (every ``procs``-th agent) with its own threads, keep-alive connections and, with
    ``prebuild``, bodies built ahead (:meth:`Fleet.prepare`); the rate limit is shared out.
    The parent meters CPU (``fleet.meter``) from the common start to the last report and
    merges the reports (samples, batches, latencies, errors; seconds: the longest); breach
    times go back to ``fleet.breaches``. ``procs=1`` without a fork: ``fleet`` itself."""
    if procs <= 1:
        if prebuild:
            fleet.prepare(duration)
        return fleet.run(duration)
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    go, out = ctx.Event(), ctx.Queue()
    options = dict(fleet.options)
    if options["rate_limit"]:
        options["rate_limit"] = options["rate_limit"] / procs
    options["workers"] = max(1, -(-fleet.workers // procs))
    children = []
    for n in range(procs):
        share = Fleet(fleet.urls, fleet.agents[n::procs], **{**options, "seed": n})
        child = ctx.Process(
            target=_split_child, args=(share, duration, prebuild, go, out), daemon=True
        )
        child.start()
        children.append(child)
    try:
        ready = 0
        while ready < procs:
            kind, value = out.get(timeout=900)
            if kind == "error":
                raise RuntimeError(f"fleet process failed: {value}")
            ready += 1
        if fleet.meter is not None:
            fleet.meter.start()
        go.set()
        reports = []
        while len(reports) < procs:
            kind, value = out.get(timeout=duration + fleet.timeout + 120)
            if kind == "error":
                raise RuntimeError(f"fleet process failed: {value}")
            reports.append(value)
        merged = Report(
            max(r.seconds for r, _ in reports),
            sum(r.batches for r, _ in reports),
            sum(r.samples for r, _ in reports),
            [x for r, _ in reports for x in r.latencies],
            sum((r.errors for r, _ in reports), Counter()),
            sum(r.retries for r, _ in reports),
            sum((r.per_url for r, _ in reports), Counter()),
        )
        if fleet.meter is not None:
            merged.cpu = fleet.meter.stop()
            merged.rss = dict(fleet.meter.rss)
        for _, breaches in reports:
            fleet.breaches.update(breaches)
        return merged
    finally:
        for child in children:
            child.join(timeout=10)
            if child.is_alive():
                child.kill()


def _error_name(exc: BaseException) -> str:
    """``ConnectionError`` for every refused/reset/aborted connection (as requests named it)."""
    if isinstance(exc, ConnectionError | http.client.RemoteDisconnected):
        return "ConnectionError"
    if isinstance(exc, TimeoutError):
        return "Timeout"
    return type(exc).__name__


# ---------------------------------------------------------------------- CPU accounting


class CpuMeter:
    """CPU seconds (user + system) used by named groups of processes between :meth:`start`
    and :meth:`stop`: the collector process(es), and PostgreSQL's postmaster with all its
    backends (see :func:`postgres_backends`). Process CPU time, not wall time: meaningful on a machine shared with other work.

    A process that exits between the two readings is not counted (PostgreSQL backends of a
    pooled collector live for the whole run)."""

    def __init__(self, groups: dict[str, list[int]], *, children: set[str] = frozenset()) -> None:
        self.groups = groups
        self.children = set(children)  # groups whose processes' descendants count too
        self._before: dict[str, dict[int, float]] = {}
        self.seconds: dict[str, float] = {}
        self.rss: dict[str, int] = {}

    def _read(self) -> dict[str, dict[int, float]]:
        import psutil

        self.rss = {}
        out: dict[str, dict[int, float]] = {}
        for name, pids in self.groups.items():
            found: dict[int, float] = {}
            for pid in pids:
                try:
                    proc = psutil.Process(pid)
                    procs = [proc] + (
                        proc.children(recursive=True) if name in self.children else []
                    )
                except psutil.NoSuchProcess:
                    continue
                for p in procs:
                    try:
                        t = p.cpu_times()
                        self.rss[name] = self.rss.get(name, 0) + p.memory_info().rss
                    except psutil.NoSuchProcess:
                        continue
                    found[p.pid] = t.user + t.system
            out[name] = found
        return out

    def start(self) -> CpuMeter:
        self._before = self._read()
        return self

    def stop(self) -> dict[str, float]:
        after = self._read()
        self.seconds = {
            name: sum(t - self._before.get(name, {}).get(pid, 0.0) for pid, t in now.items())
            for name, now in after.items()
        }
        return self.seconds


def postgres_backends(database_url: str, application_name: str) -> list[int]:
    """The pids of the PostgreSQL backends serving connections named ``application_name``
    (the collector's pool; the server is on this machine). Other sessions of the same
    server (other tests, other benchmarks) are not counted, nor are PostgreSQL's own
    background processes (WAL writer, checkpointer)."""
    import sqlalchemy as sa

    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    sa.text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
                    {"name": application_name},
                ).scalars()
            )
    finally:
        engine.dispose()


# ---------------------------------------------------------------------- provisioning


def provision(
    database_url: str, clients: int, agents: int, sites: int = 0, prefix: str = "fleet"
) -> list[FleetAgent]:
    """Create ``clients`` clients and one token per agent in the store; ``sites`` of the
    agents are site agents (switch, printer, UPS). Agents are dealt to clients in turn."""
    from collector import admin
    from collector.store import Store

    store = Store.from_url(database_url)
    try:
        store.upgrade()
        names = [f"{prefix}-c{c:03d}" for c in range(clients)]
        for name in names:
            admin.create_client(store, name)
        out = []
        for a in range(agents):
            client = names[a % clients]
            _, token = admin.create_token(store, client=client, name=f"agent-{a}")
            site = f"site{(a // clients) % max(1, sites or 1)}"
            hostname = f"{client}-h{a:04d}"
            devices = []
            if a < sites:
                devices = [
                    (f"{hostname}-sw", "switch", "switch"),
                    (f"{hostname}-prn", "printer", "printer"),
                    (f"{hostname}-ups", "ups", "ups"),
                ]
            out.append(FleetAgent(client, token, hostname, site, devices))
        return out
    finally:
        store.dispose()


@contextlib.contextmanager
def fresh_schema(base_url: str) -> Iterator[str]:
    """A URL whose search_path is a new, empty PostgreSQL schema, dropped afterwards."""
    import psycopg
    from sqlalchemy.engine import make_url

    schema = f"fleet_{uuid.uuid4().hex[:10]}"
    url = make_url(base_url)
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False
        )
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def load() -> str:
    """The machine's load average, to print next to every figure."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} CPUs"


def warm_up(
    url: str,
    agents: list[FleetAgent],
    workers: int,
    host_source: str,
    host_size: int | None = None,
    label: str = "warm-up",
) -> None:
    """Every agent's first batch, which creates its series: not the steady state measured
    (or, ``label``led, one more batch of every agent)."""
    fleet = Fleet(
        [url],
        agents,
        interval=3600.0,
        workers=workers,
        host_source=host_source,
        host_size=host_size,
    )
    fleet.period = 1.0  # spread the first batches over a second ...
    fleet.start()
    fleet.period = 3600.0  # ... and send no second one
    began = time.monotonic()
    # Series creation is the costly part (~80 rows an agent): 10 minutes, or 20 ms an agent.
    deadline = began + max(600.0, 0.02 * len(agents))
    while fleet.report().batches < len(agents) and time.monotonic() < deadline:
        time.sleep(0.2)
    report = fleet.stop()
    # Said, so that a run whose warm-up did not finish is not read as the steady state.
    print(
        f"{label}: {report.batches} of {len(agents)} batches accepted in "
        f"{time.monotonic() - began:.0f} s (errors {dict(report.errors) or 0})",
        file=sys.stderr,
        flush=True,
    )


def serve_and_run(args: argparse.Namespace, store: str) -> Report:
    """Start a real ``upkeep serve`` on ``store`` (sqlite: a temp dir; postgresql: a fresh
    schema of ``--postgres-url``), provision the fleet, run it, measure CPU."""
    import tempfile

    from tests.servers.collector import CollectorProcess

    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="upkeep-fleet-")))
        if store == "sqlite":
            database_url = f"sqlite:///{tmp / 'upkeep.db'}"
        else:
            database_url = stack.enter_context(fresh_schema(args.postgres_url))
            # Names the collector's connections, to meter only their backends.
            app_name = f"upkeep-fleet-{uuid.uuid4().hex[:8]}"
            database_url += f"&application_name={app_name}"
        env = {"UPKEEP_RULES_WATCH_INTERVAL": "0s"}
        config = None
        receiver = None
        if args.breach_chance:
            receiver = stack.enter_context(webhook_receiver())
            config = breach_settings(tmp / "conf", receiver.server_address[1])
        collector = CollectorProcess(
            tmp,
            database_url=database_url,
            env=env,
            log_level="warning",
            startup_timeout=120,
            config=config,
        )
        stack.callback(collector.stop)
        collector.start()
        agents = provision(database_url, args.clients, args.agents, args.sites)
        assert collector.process is not None
        groups = {"collector": [collector.process.pid]}
        fleet = Fleet(
            [collector.url],
            agents,
            interval=args.interval,
            speed=args.speed,
            rate_limit=args.rate_limit,
            workers=args.workers,
            host_source=args.host_source,
            meter=CpuMeter(groups),
            breach_chance=args.breach_chance,
            host_size=args.host_size,
        )
        if args.warmup:
            warm_up(collector.url, agents, args.workers, args.host_source, args.host_size)
        if store == "postgresql":  # after the warm-up: the collector's pool is open
            groups["postgresql"] = postgres_backends(args.postgres_url, app_name)
        if args.pause:
            # A round of every agent's next batch first: a fleet that ran goes silent at
            # once (an outage), not in the order its first batches were accepted.
            warm_up(
                collector.url,
                agents,
                args.workers,
                args.host_source,
                args.host_size,
                label="the round before the pause",
            )
            time.sleep(args.pause)
        idle = CpuMeter(groups).start()
        time.sleep(args.idle)
        idle_rate = {k: v / args.idle for k, v in idle.stop().items()}
        if args.py_spy:
            spy = subprocess.Popen(
                [
                    str(Path(sys.executable).with_name("py-spy")),
                    "record",
                    "--pid",
                    str(collector.process.pid),
                    "--duration",
                    str(int(args.duration)),
                    "--rate",
                    "50",
                    "--format",
                    "raw",
                    "--output",
                    f"{args.py_spy}.{store}.txt",
                    "--nonblocking",
                    *(["--gil"] if args.py_spy_gil else []),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            stack.callback(spy.wait)
        report = run_split(fleet, args.duration, args.procs, prebuild=args.prebuild)
        report.idle = idle_rate
        if receiver is not None:
            report.breach_latencies, report.breaches_missing = receiver.latencies(
                fleet.breaches, wait=10.0
            )
        return report


class WebhookReceiver(ThreadingHTTPServer):
    """A real HTTP server for the collector's webhook connector: the arrival time
    (``time.perf_counter``) of the first ``open`` request per asset."""

    daemon_threads = True

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                arrived = time.perf_counter()
                doc = json.loads(body)
                if doc.get("action") == "open":
                    with owner.lock:
                        owner.arrivals.setdefault(doc["incident"]["asset"], arrived)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)

    def latencies(self, sent: dict[str, float], *, wait: float) -> tuple[list[float], int]:
        """Seconds from sent to arrived per breaching asset; waits up to ``wait`` s for all."""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with self.lock:
                if all(asset in self.arrivals for asset in sent):
                    break
            time.sleep(0.2)
        with self.lock:
            got = [self.arrivals[a] - t for a, t in sent.items() if a in self.arrivals]
        return got, len(sent) - len(got)


@contextlib.contextmanager
def webhook_receiver() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.shutdown()
        receiver.server_close()


def breach_settings(folder: Path, port: int) -> Path:
    """Collector settings for breach mode: the default packs plus :data:`BREACH_RULE`, and a
    webhook connector to the local receiver."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rules").mkdir(exist_ok=True)
    (folder / "rules" / "fleet-breach.yaml").write_text(BREACH_RULE)
    settings = {
        "rules_paths": [str(ROOT / "rules"), str(folder / "rules")],
        "connectors": {
            "connectors": {
                "fleet": {"type": "webhook", "url": f"http://127.0.0.1:{port}/", "secret": "fleet"}
            }
        },
        "rules_watch_interval": 0,
    }
    path = folder / "settings.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", action="append", help="collector URL (repeat)")
    parser.add_argument("--database-url", help="store to provision tokens in (with --url)")
    parser.add_argument(
        "--serve",
        action="append",
        choices=["sqlite", "postgresql"],
        help="start a real collector on this store instead of --url (repeat: one run each)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "UPKEEP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
        ),
        help="PostgreSQL server for --serve postgresql (a fresh schema is used and dropped)",
    )
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--sites", type=int, default=10, help="how many agents are site agents")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=30.0)
    parser.add_argument("--speed", type=float, default=1.0, help="time compression factor")
    parser.add_argument("--rate-limit", type=float, default=None, help="batches/s for the fleet")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument(
        "--host-source",
        choices=["once", "catalog"],
        default="once",
        help="host batch shape: the real agent's `once` output here, or its catalogs",
    )
    parser.add_argument(
        "--warmup",
        action="store_true",
        help="first let every agent send one batch (series creation), then measure",
    )
    parser.add_argument(
        "--idle", type=float, default=5.0, help="seconds to measure the idle CPU before the run"
    )
    parser.add_argument(
        "--pause",
        type=float,
        default=0.0,
        metavar="S",
        help="with --warmup: one more batch of every agent, then the whole fleet silent for S "
        "seconds before the run (an outage: over 300, agent-silent fires for every host and "
        "the run is the return wave)",
    )
    parser.add_argument("--py-spy", metavar="PREFIX", help="record the collector with py-spy")
    parser.add_argument(
        "--py-spy-gil", action="store_true", help="py-spy: only the thread holding the GIL"
    )
    parser.add_argument(
        "--breach-chance",
        type=float,
        default=0.0,
        help="breach mode (--serve): chance per host batch of one breaching sample (once per "
        "host); reports breach -> webhook latency p50/p99",
    )
    parser.add_argument(
        "--procs",
        type=int,
        default=1,
        help="send from this many processes, each with its share of the agents and of "
        "--workers (the simulator's CPU off one GIL)",
    )
    parser.add_argument(
        "--prebuild",
        action="store_true",
        help="build every batch of the run ahead (JSON + gzip, timestamps as each agent "
        "would send them), so sending costs only HTTP (with --breach-chance too: the "
        "breaching batch is timed at its send)",
    )
    parser.add_argument(
        "--host-size",
        type=int,
        default=None,
        metavar="N",
        help="a smaller host: drop extra interfaces, disks, then cpu modes while above N "
        "series (whole devices only; 55 is the least from this machine's 79)",
    )
    args = parser.parse_args(argv)
    if args.serve:
        for store in args.serve:
            report = serve_and_run(args, store)
            print(f"{store}: {report.summary()} ({load()})", flush=True)
        return 0
    if not args.url or not args.database_url:
        parser.error("give --serve, or --url and --database-url")
    agents = provision(args.database_url, args.clients, args.agents, args.sites)
    fleet = Fleet(
        args.url,
        agents,
        interval=args.interval,
        speed=args.speed,
        rate_limit=args.rate_limit,
        workers=args.workers,
        host_source=args.host_source,
        host_size=args.host_size,
    )
    report = run_split(fleet, args.duration, args.procs, prebuild=args.prebuild)
    print(f"{report.summary()} ({load()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
