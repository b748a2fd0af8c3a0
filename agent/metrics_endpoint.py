"""The agent's optional local ``/metrics`` endpoint (config ``metrics: {enabled: true}``).

For sites that already run Prometheus: it serves the newest sample of every series this
agent collected, named and labelled as the collector's ``/metrics`` names them
(:mod:`agent.exposition`; ``site`` and ``asset`` labels, no ``client`` — the agent does not
know its client's name). prometheus-client is imported only here, and this module only
when the endpoint is enabled: the agent's memory budget is 30 MiB PSS.

A series disappears when its check has not reported it for two intervals plus a minute
(a removed disk, a stopped process), so Prometheus sees it go stale instead of a frozen
value.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from agent.checks.base import Sample
from agent.exposition import exposed_labels, family_help, family_name, family_type

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

log = logging.getLogger(__name__)

_SeriesKey = tuple[str, str, tuple[tuple[str, str], ...]]  # (asset, metric, sorted labels)


class LatestSamples:
    """The newest value of each series the agent collected, with when it expires."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: dict[_SeriesKey, tuple[float, float]] = {}  # key → (value, expires_at)

    def update(
        self,
        samples: Iterable[Sample],
        interval: float,
        default_asset: str,
        now: float | None = None,
    ) -> None:
        now = time.time() if now is None else now
        expires = now + 2 * interval + 60
        with self._lock:
            for s in samples:
                key = (s.asset or default_asset, s.metric, tuple(sorted(s.labels.items())))
                self._values[key] = (float(s.value), expires)

    def snapshot(self, now: float | None = None) -> list[tuple[_SeriesKey, float]]:
        """Live series (expired ones are forgotten), sorted for a stable exposition."""
        now = time.time() if now is None else now
        with self._lock:
            for key in [k for k, (_, expires) in self._values.items() if expires < now]:
                del self._values[key]
            return sorted((key, value) for key, (value, _) in self._values.items())


class AgentSeriesCollector:
    """prometheus-client collector over :class:`LatestSamples`."""

    def __init__(self, latest: LatestSamples, site: str) -> None:
        self.latest = latest
        self.site = site

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        families: dict[str, Metric] = {}
        for (asset, metric, labels), value in self.latest.snapshot():
            name = family_name(metric)
            kind = family_type(metric)
            base = name.removesuffix("_total") if kind == "counter" else name
            family = families.get(base)
            if family is None:
                family = families[base] = (
                    CounterMetricFamily(name, family_help(metric))
                    if kind == "counter"
                    else GaugeMetricFamily(name, family_help(metric))
                )
            elif family.type != kind:
                continue
            family.add_sample(
                name, exposed_labels({"site": self.site, "asset": asset}, dict(labels)), value
            )
        yield from families.values()


class MetricsEndpoint:
    """The HTTP server (prometheus-client's, in a daemon thread)."""

    def __init__(
        self, host: str, port: int, site: str, latest: LatestSamples | None = None
    ) -> None:
        self.host, self.port = host, port
        self.latest = latest or LatestSamples()
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(AgentSeriesCollector(self.latest, site))
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        server, self._thread = start_http_server(self.port, addr=self.host, registry=self.registry)
        self._server = server
        self.port = server.server_address[1]  # when started on port 0 (tests)
        log.info("metrics endpoint on http://%s:%d/metrics", self.host, self.port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
