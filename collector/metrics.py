"""The collector's Prometheus metrics (``GET /metrics``).

Each app gets its own :class:`CollectorMetrics` (one ``CollectorRegistry``), so tests and
the demo can build several apps in one process. It holds three kinds of metrics:

* **in-process instruments** owned by a component: the ingest counters and histograms here;
  other components (rule engine, outbox workers, …) add theirs with
  :meth:`CollectorMetrics.register` (a custom collector) or by creating
  ``Counter``/``Gauge`` objects with ``registry=metrics.registry``;
* **store collectors** that read the database at scrape time, one small class per concern,
  listed in the one table :data:`STORE_COLLECTORS` (name → ``"module:Class"``, imported
  lazily, built with ``(store, settings)``). They never hold one Python object per series:
  :class:`SeriesCollector` turns the ``latest`` table into metric families on every scrape.
  Each runs guarded: a failing one is logged and reported as
  ``upkeep_metrics_scrape_collector_success{collector} 0``; the others still answer;
* the process and Python runtime collectors of prometheus-client.

Naming of the agents' series is shared with the agent's local endpoint
(:mod:`agent.exposition`).
"""

from __future__ import annotations

import hmac
import importlib
import json
import logging
import time
from collections.abc import Iterable, Iterator
from typing import Any, Protocol

import sqlalchemy as sa
from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from agent import __version__ as AGENT_VERSION
from agent.exposition import exposed_labels, family_help, family_name, family_type
from agent.yamlsource import ConfigError
from collector.errors import Unauthenticated
from collector.schema import agents, assets, clients, latest, series, sites
from collector.settings import Settings
from collector.store import Store

__all__ = ["CONTENT_TYPE_LATEST", "STORE_COLLECTORS", "CollectorMetrics", "SeriesCollector"]

log = logging.getLogger(__name__)

#: Store collectors: name → "module:Class"; the class is built with (store, settings) and
#: may take ``metrics=`` (the app's CollectorMetrics) to count what it does. Later issues
#: add incidents, SLA, ledger and outbox collectors here.
STORE_COLLECTORS: dict[str, str] = {
    "agents": "collector.metrics:AgentCollector",
    "series": "collector.metrics:SeriesCollector",
    "incidents": "collector.incidents.metrics:IncidentCollector",
    "sla": "collector.sla.metrics:SlaCollector",
    "ledger": "collector.ledger.metrics:BalanceCollector",
    "notifications": "collector.notify:NotificationBacklog",
    "deliveries": "collector.management.metrics:DeliveryCollector",
    "closing": "collector.closing.metrics:ClosingCollector",
}

_SIZE_BUCKETS = (1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 8388608, 33554432)
_COUNT_BUCKETS = (1, 10, 50, 100, 500, 1000, 2000, 5000, 10000, 20000)


class MetricSource(Protocol):
    """What prometheus-client calls a collector: something with ``collect()``."""

    def collect(self) -> Iterable[Metric]: ...


class CollectorMetrics:
    """All metrics of one collector app; ``exposition()`` renders them for ``/metrics``."""

    def __init__(self, store: Store | None = None, settings: Settings | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.batches = Counter(
            "upkeep_ingest_batches", "Batches stored (not counting duplicates).", registry=r
        )
        self.samples = Counter("upkeep_ingest_samples", "Samples stored.", registry=r)
        self.events = Counter("upkeep_ingest_events", "Events stored.", registry=r)
        self.duplicates = Counter(
            "upkeep_ingest_duplicate_batches",
            "Batches answered as duplicates (already stored).",
            registry=r,
        )
        self.rejected = Counter(
            "upkeep_ingest_rejected_batches",
            "Batches refused, by error code.",
            ["reason"],
            registry=r,
        )
        self.samples_refused = Counter(
            "upkeep_ingest_samples_refused",
            "Samples of stored batches not stored, by reason (future_timestamp, expired, "
            "series_limit).",
            ["reason"],
            registry=r,
        )
        self.events_refused = Counter(
            "upkeep_ingest_events_refused",
            "Events of stored batches not stored, by reason (future_timestamp, expired).",
            ["reason"],
            registry=r,
        )
        self.client_disconnects = Counter(
            "upkeep_http_client_disconnects",
            "Requests whose client went away before its body was complete.",
            registry=r,
        )
        self.alertmanager_unknown = Counter(
            "upkeep_alertmanager_alerts_unknown_client",
            "Alertmanager alerts not applied: their client is unknown or not named.",
            registry=r,
        )
        for reason in ("future_timestamp", "expired", "series_limit"):  # 0 before the first
            self.samples_refused.labels(reason)
        for reason in ("future_timestamp", "expired"):
            self.events_refused.labels(reason)
        self.request_bytes = Histogram(
            "upkeep_ingest_request_bytes",
            "Batch request body size as sent.",
            buckets=_SIZE_BUCKETS,
            registry=r,
        )
        self.batch_samples = Histogram(
            "upkeep_ingest_batch_samples",
            "Samples per stored batch.",
            buckets=_COUNT_BUCKETS,
            registry=r,
        )
        self.seconds = Histogram(
            "upkeep_ingest_seconds", "Time to decode, validate and store a batch.", registry=r
        )
        Info("upkeep_collector", "The collector's version.", registry=r).info(
            {"version": AGENT_VERSION}
        )
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self._token = _read_token(settings)
        if store is not None and settings is not None:
            self.register(
                _StoreCollectors(
                    {
                        name: _load(target)(store, settings, metrics=self)
                        for name, target in STORE_COLLECTORS.items()
                    }
                )
            )

    def register(self, source: MetricSource) -> None:
        """Add a collector (the registration point for other components' metrics)."""
        self.registry.register(source)

    def observe_batch(
        self,
        samples: int,
        events: int,
        duplicate: bool,
        seconds: float,
        refused: Iterable[Any] = (),
    ) -> None:
        """Count one answered batch (``refused``: its :class:`agent.wire.Refused` entries)."""
        for entry in refused:
            counter = self.samples_refused if entry.what == "samples" else self.events_refused
            counter.labels(entry.reason).inc(entry.count)
        if duplicate:
            self.duplicates.inc()
        else:
            self.batches.inc()
            self.samples.inc(samples)
            self.events.inc(events)
            self.batch_samples.observe(samples)
        self.seconds.observe(seconds)

    def reserved_names(self) -> set[str]:
        """Family names owned by registered collectors (agents' series may not shadow them)."""
        names = getattr(self.registry, "_names_to_collectors", {})
        return set(names)

    def authorize(self, token: str | None) -> None:
        """Raise Unauthenticated unless ``metrics_token_file`` is unset or ``token`` matches it."""
        if self._token is None:
            return
        if token is None or not hmac.compare_digest(token.encode(), self._token.encode()):
            raise Unauthenticated(
                "/metrics needs 'Authorization: Bearer <metrics token>' (metrics_token_file)"
            )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def _read_token(settings: Settings | None) -> str | None:
    path = settings.metrics_token_file if settings is not None else None
    if path is None:
        return None
    try:
        token = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(
            [f"metrics_token_file: cannot read {path}: {exc.strerror or exc}"]
        ) from None
    if not token:
        raise ConfigError([f"metrics_token_file: {path} is empty"])
    return token


def _load(target: str) -> type:
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


class _StoreCollectors:
    """Runs the store collectors; a failing one costs its own families, not the scrape."""

    def __init__(self, sources: dict[str, MetricSource]) -> None:
        self.sources = sources

    def describe(self) -> list[Metric]:
        # Fixed names only (registration must not query the store). They are then
        # reserved, so no agent series can shadow them.
        out: list[Metric] = [
            GaugeMetricFamily("upkeep_metrics_scrape_collector_success", ""),
            GaugeMetricFamily("upkeep_metrics_scrape_collector_duration_seconds", ""),
        ]
        for source in self.sources.values():
            describe = getattr(source, "describe", None)
            out.extend(describe() if describe is not None else [])
        return out

    def collect(self) -> Iterator[Metric]:
        success = GaugeMetricFamily(
            "upkeep_metrics_scrape_collector_success",
            "1 if the store collector answered this scrape.",
            labels=["collector"],
        )
        duration = GaugeMetricFamily(
            "upkeep_metrics_scrape_collector_duration_seconds",
            "Time the store collector took this scrape.",
            labels=["collector"],
        )
        for name, source in self.sources.items():
            started = time.perf_counter()
            try:
                families = list(source.collect())
                ok = 1.0
            except Exception:
                log.exception("metrics collector %s failed", name)
                families, ok = [], 0.0
            yield from families
            success.add_metric([name], ok)
            duration.add_metric([name], time.perf_counter() - started)
        yield success
        yield duration


class AgentCollector:
    """Agents' last contact and version, from the ``agents`` table."""

    def __init__(
        self, store: Store, settings: Settings, *, metrics: CollectorMetrics | None = None
    ) -> None:
        self.store = store

    def describe(self) -> list[Metric]:
        return [
            GaugeMetricFamily("upkeep_agent_last_seen_timestamp_seconds", ""),
            GaugeMetricFamily("upkeep_agent_info", ""),
        ]

    def collect(self) -> Iterator[Metric]:
        query = (
            sa.select(
                agents.c.id,
                agents.c.hostname,
                agents.c.version,
                agents.c.os,
                agents.c.last_seen,
                clients.c.name.label("client"),
                sites.c.name.label("site"),
            )
            .join(clients, agents.c.client_id == clients.c.id)
            .join(sites, agents.c.site_id == sites.c.id)
            .order_by(agents.c.id)
        )
        with self.store.read() as conn:
            rows = conn.execute(query).all()
        seen = GaugeMetricFamily(
            "upkeep_agent_last_seen_timestamp_seconds",
            "When the collector last stored a batch from the agent (Unix time).",
            labels=["client", "site", "agent", "hostname"],
        )
        info = GaugeMetricFamily(
            "upkeep_agent_info",
            "The agent's version and OS (value 1).",
            labels=["client", "site", "agent", "hostname", "version", "os"],
        )
        for row in rows:
            seen.add_metric([row.client, row.site, row.id, row.hostname], row.last_seen)
            info.add_metric([row.client, row.site, row.id, row.hostname, row.version, row.os], 1.0)
        yield seen
        yield info


class SeriesCollector:
    """The latest value of every live series, with ``client``/``site``/``asset`` labels.

    A series is live while its asset was seen within ``metrics_stale_after`` and its own
    newest sample is within ``metrics_series_max_age`` (a removed disk disappears from
    Prometheus instead of repeating its last value). Values are exposed without
    timestamps, so Prometheus treats them like any exporter's. Per asset, at most
    ``metrics_max_series_per_asset`` series are exposed (the oldest series first, so the
    choice is stable); the rest are counted in ``upkeep_metrics_series_dropped_total``
    and, per asset, in ``upkeep_metrics_asset_series_dropped``.
    """

    def __init__(
        self, store: Store, settings: Settings, *, metrics: CollectorMetrics | None = None
    ) -> None:
        self.store = store
        self.settings = settings
        self.metrics = metrics
        self.dropped_total = 0

    def describe(self) -> list[Metric]:
        return [
            GaugeMetricFamily("upkeep_metrics_asset_series_dropped", ""),
            CounterMetricFamily("upkeep_metrics_series_dropped", ""),
        ]

    def collect(self) -> Iterator[Metric]:
        now = time.time()
        query = (
            sa.select(
                series.c.asset_id,
                series.c.metric,
                series.c.labels,
                latest.c.value,
                clients.c.name.label("client"),
                sites.c.name.label("site"),
                assets.c.name.label("asset"),
            )
            .join(latest, latest.c.series_id == series.c.id)
            .join(assets, series.c.asset_id == assets.c.id)
            .join(clients, assets.c.client_id == clients.c.id)
            .outerjoin(sites, assets.c.site_id == sites.c.id)
            .where(
                assets.c.last_seen >= now - self.settings.metrics_stale_after,
                latest.c.ts >= now - self.settings.metrics_series_max_age,
            )
            .order_by(series.c.asset_id, series.c.id)
        )
        reserved = self.metrics.reserved_names() if self.metrics is not None else set()
        limit = self.settings.metrics_max_series_per_asset
        families: dict[str, Metric] = {}
        dropped: dict[tuple[str, str, str], int] = {}
        current_asset, count = None, 0
        with self.store.read() as conn:
            for row in conn.execute(query):
                if row.asset_id != current_asset:
                    current_asset, count = row.asset_id, 0
                count += 1
                identity = {"client": row.client, "site": row.site or "", "asset": row.asset}
                if count > limit:
                    key = (row.client, row.site or "", row.asset)
                    dropped[key] = dropped.get(key, 0) + 1
                    continue
                name = family_name(row.metric)
                kind = family_type(row.metric)
                base = name.removesuffix("_total") if kind == "counter" else name
                family = families.get(base)
                if family is None:
                    if name in reserved or base in reserved:
                        continue
                    family = families[base] = _family(row.metric, name)
                elif family.type != kind:
                    continue  # a gauge "x" and a counter "x_total" cannot share one family
                labels = exposed_labels(identity, json.loads(row.labels))
                family.add_sample(name, labels, row.value)
        yield from families.values()
        over = GaugeMetricFamily(
            "upkeep_metrics_asset_series_dropped",
            "Series of the asset left out of this scrape by metrics_max_series_per_asset.",
            labels=["client", "site", "asset"],
        )
        for key, n in sorted(dropped.items()):
            over.add_metric(list(key), n)
        yield over
        self.dropped_total += sum(dropped.values())
        yield CounterMetricFamily(
            "upkeep_metrics_series_dropped",
            "Series left out of /metrics by metrics_max_series_per_asset, counted at every scrape.",
            value=self.dropped_total,
        )


def _family(metric: str, name: str) -> Metric:
    if family_type(metric) == "counter":
        return CounterMetricFamily(name, family_help(metric))  # strips _total; samples keep it
    return GaugeMetricFamily(name, family_help(metric))
