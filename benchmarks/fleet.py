"""Fleet simulator: many agents posting realistic batches to one or more collector URLs.

Each simulated agent has its own token and agent id and posts a gzip JSON batch every
``interval`` seconds (divided by ``speed``: time compression — rules with compressed
durations see the same sequence sooner), round-robin across the collector URLs over
keep-alive connections, as agents behind a load balancer would. A URL that refuses (a
replica restarting) is skipped for the next one, as a balancer's health check would; a
batch is retried until some replica accepts it, like the agent's spool, so no sample is
lost. Batches have the real agent's shape, taken from the agent's own metric catalogs:

* a **host** agent: the Linux default checks (cpu, load, memory, disk, diskio, netio,
  uptime, temperature) with their label sets, plus ``upkeep_check_up`` /
  ``upkeep_check_duration_seconds`` per check — about 80 samples;
* a **site** agent: its host plus the SNMP profiles' metrics of a 48-port switch, a printer
  and a UPS — about 500 samples.

Values sit in healthy ranges (no shipped rule fires). Scripted :class:`Fault` s change a
metric of one asset between two times (e.g. cpu at 99 % for asset X from t1 to t2), or
silence an agent. The :class:`Report` has accepted samples/s and batch latency p50/p99.

Importable (``from benchmarks.fleet import Fleet``; the fleet e2e test uses it) and a
command::

    python benchmarks/fleet.py --url http://127.0.0.1:8427 --database-url postgresql+psycopg://... \\
        --clients 10 --agents 100 --sites 10 --duration 60 --speed 10

``--database-url`` provisions clients and tokens directly in the store (a throw-away one).
"""

from __future__ import annotations

import argparse
import gzip
import heapq
import itertools
import json
import random
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
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


def host_series() -> list[tuple[str, dict[str, str]]]:
    """(metric, labels) of a Linux host agent's default checks, from the agent's catalogs."""
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

    @property
    def samples_per_second(self) -> float:
        return self.samples / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        if len(self.latencies) == 1:
            return self.latencies[0]
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[int(q) - 1]

    def summary(self) -> str:
        return (
            f"{self.batches} batches, {self.samples} samples in {self.seconds:.1f}s: "
            f"{self.samples_per_second:,.0f} samples/s accepted; batch latency "
            f"p50 {self.percentile(50) * 1000:.0f} ms, p99 {self.percentile(99) * 1000:.0f} ms; "
            f"retries {self.retries}, errors {dict(self.errors) or 0}"
        )


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
    ) -> None:
        self.urls = list(urls)
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
        self._series = {
            "host": host_series(),
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
        for asset, series in shapes:
            for metric, labels in series:
                value = _healthy(metric, labels) * (1 + self.random.uniform(-0.02, 0.02))
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

    # ------------------------------------------------------------------ running

    def start(self) -> Fleet:
        self.started = time.time()
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
        return self.report()

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
        sessions: dict[str, requests.Session] = {}
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
            body = self.batch(agent, time.time())
            if body is not None:
                self._send(sessions, agent, body)
            self._schedule(max(due + self.period, time.time()), i, agent)
        for session in sessions.values():
            session.close()

    def _send(self, sessions: dict[str, requests.Session], agent: FleetAgent, body: dict) -> None:
        data = gzip.compress(json.dumps(body).encode(), compresslevel=5)
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
            session = sessions.setdefault(url, requests.Session())
            started = time.perf_counter()
            try:
                resp = session.post(
                    url + "/api/v1/batches", data=data, headers=headers, timeout=self.timeout
                )
            except requests.RequestException as exc:
                # A replica restarting or killed: the next URL, as a balancer would.
                with self._lock:
                    self._errors[type(exc).__name__] += 1
                    self._retries += 1
                session.close()
                sessions.pop(url, None)
                attempt += 1
                if time.time() > deadline:
                    return
                if attempt % len(self.urls) == 0:
                    time.sleep(0.2)
                continue
            latency = time.perf_counter() - started
            with self._lock:
                if resp.status_code == 200:
                    self._batches += 1
                    self._samples += resp.json()["samples"]
                    self._latencies.append(latency)
                    self._per_url[url] += 1
                    return
                self._errors[f"http {resp.status_code}"] += 1
            if resp.status_code < 500:
                return  # refused for good (a wrong token, a bad batch): never retried
            attempt += 1
            self._retries += 1
            if time.time() > deadline:
                return


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", action="append", required=True, help="collector URL (repeat)")
    parser.add_argument("--database-url", required=True, help="store to provision tokens in")
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--agents", type=int, default=100)
    parser.add_argument("--sites", type=int, default=10, help="how many agents are site agents")
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--interval", type=float, default=30.0)
    parser.add_argument("--speed", type=float, default=1.0, help="time compression factor")
    parser.add_argument("--rate-limit", type=float, default=None, help="batches/s for the fleet")
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args(argv)
    agents = provision(args.database_url, args.clients, args.agents, args.sites)
    fleet = Fleet(
        args.url,
        agents,
        interval=args.interval,
        speed=args.speed,
        rate_limit=args.rate_limit,
        workers=args.workers,
    )
    report = fleet.run(args.duration)
    print(report.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
