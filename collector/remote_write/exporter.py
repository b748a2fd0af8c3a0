"""The remote-write exporter: a durable queue filled by ingest, emptied by one sender.

**Queue.** :meth:`RemoteWriteExporter.enqueue` is an ingest transaction hook
(:data:`collector.ingest.TransactionHook`): the batch's stored ``(series_id, ts, value)`` rows
go into ``remote_write_queue`` in the same transaction as the samples, so a sample is queued
exactly when it is stored, whatever happens after the commit. The cost for ingest is one bulk
``INSERT`` per batch (``unnest`` arrays on PostgreSQL, ``executemany`` on SQLite) and, at most
once a second, a look at the queue's size (two index probes).

**Bound.** When the queue holds ``max_queue_samples`` (a dead receiver), a batch's samples are
not queued: counted in ``upkeep_remote_write_samples_dropped_total`` and logged, never an
error for the agent. What is already queued is kept and sent when the receiver is back.

**Sender.** :meth:`send_pending` is the ``remote-write`` periodic job, a singleton (on one
replica of a cluster at a time, under its advisory-lock lease). Each turn sends the oldest
queued rows in requests of ``max_samples_per_send``, grouped by series and in timestamp
order within each series, until the queue is empty, and deletes exactly the rows a request
carried once the receiver answered 2xx. There is no high-water mark: a row committed late by a
concurrent transaction (with a lower id than rows already sent) is simply still there at the
next read. Failures (connection error, timeout, 5xx, 429) keep the rows and back off
exponentially from ``min_backoff`` to ``max_backoff``; a 4xx other than 429 means the receiver
refused the samples for good (too old, out of order, bad labels): the rows are deleted and
counted in ``upkeep_remote_write_samples_rejected_total``, and the response is logged.

**Duplicates.** A request whose answer was lost (timeout after the receiver stored it) is sent
again; Prometheus-compatible receivers accept a sample identical to a stored one (same series,
timestamp and value) as a no-op, so no sample is stored twice.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import httpx
import sqlalchemy as sa
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy.engine import Connection

from collector.connectors.deadline import DeadlineTransport
from collector.connectors.deadline import deadline as request_deadline
from collector.remote_write import protocol
from collector.remote_write.labels import series_labels
from collector.schema import assets, clients, remote_write_queue, series, sites

if TYPE_CHECKING:
    from collector.ingest import IngestResult
    from collector.settings import RemoteWrite, Settings
    from collector.store import Store

log = logging.getLogger(__name__)

Q = remote_write_queue
#: Re-read the queue's size for the bound at most this often (seconds).
_SIZE_REFRESH = 1.0
#: One turn of the sender stops after this long (the next turn goes on).
_TURN_SECONDS = 10.0
#: Series labels are re-read this often (an asset moved to another site).
_LABELS_TTL = 600.0
#: "Queue full" is logged at most this often (the counter counts every sample).
_FULL_LOG_INTERVAL = 60.0

_PG_INSERT = (
    "INSERT INTO remote_write_queue (series_id, ts, value) "
    "SELECT * FROM unnest(%(s)s::bigint[], %(t)s::float8[], %(v)s::float8[])"
)
_SQLITE_INSERT = "INSERT INTO remote_write_queue (series_id, ts, value) VALUES (?, ?, ?)"


class RemoteWriteExporter:
    """Queue (ingest hook), sender (periodic job) and metrics (a collector for /metrics)."""

    def __init__(self, store: Store, config: RemoteWrite) -> None:
        self.store = store
        self.config = config
        self._lock = threading.Lock()
        self._size_estimate = 0
        self._size_read_at = float("-inf")
        self._full_logged_at = float("-inf")
        self._labels: dict[int, bytes] = {}  # series id -> its labels, serialised
        self._labels_read_at = time.monotonic()
        self._failures = 0
        self._next_try = 0.0
        self._client: httpx.Client | None = None
        self.queued = 0
        self.sent = 0
        self.rejected = 0
        self.dropped = 0
        self.failed_requests = 0
        self.requests = 0
        self.last_success: float | None = None

    @classmethod
    def from_settings(cls, store: Store, settings: Settings) -> RemoteWriteExporter | None:
        return cls(store, settings.remote_write) if settings.remote_write is not None else None

    # ------------------------------------------------------------------ the queue (ingest)

    def enqueue(self, conn: Connection, result: IngestResult) -> None:
        """Queue the batch's stored samples in the ingest transaction (bounded; see the module)."""
        rows = result.rows
        if not rows:
            return
        now = time.monotonic()
        with self._lock:
            if now - self._size_read_at >= _SIZE_REFRESH:
                lo, hi = conn.execute(sa.select(sa.func.min(Q.c.id), sa.func.max(Q.c.id))).one()
                self._size_estimate = 0 if lo is None else hi - lo + 1
                self._size_read_at = now
            full = self._size_estimate + len(rows) > self.config.max_queue_samples
            if full:
                self.dropped += len(rows)
            else:
                self._size_estimate += len(rows)
                self.queued += len(rows)
        if full:
            if now - self._full_logged_at >= _FULL_LOG_INTERVAL:  # not once per batch
                self._full_logged_at = now
                log.warning(
                    "remote write queue full (%d samples, max_queue_samples): new samples are "
                    "not queued (%d dropped so far; upkeep_remote_write_samples_dropped_total)",
                    self._size_estimate,
                    self.dropped,
                )
            return
        if conn.dialect.name == "postgresql":
            s, t, v = zip(*rows, strict=True)
            conn.exec_driver_sql(_PG_INSERT, {"s": list(s), "t": list(t), "v": list(v)})
        else:
            conn.exec_driver_sql(_SQLITE_INSERT, list(rows))

    def backlog(self) -> int:
        """Samples queued and not yet sent (or refused): an exact count."""
        with self.store.read() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(Q)).scalar() or 0)

    def backlog_estimate(self) -> int:
        """The queue's id span: two index probes however long the queue (for every scrape);
        equal to :meth:`backlog` unless rows in the middle were removed, never less."""
        with self.store.read() as conn:
            lo, hi = conn.execute(sa.select(sa.func.min(Q.c.id), sa.func.max(Q.c.id))).one()
        return 0 if lo is None else int(hi - lo + 1)

    # ------------------------------------------------------------------ the sender (job)

    def open(self) -> None:
        if self._client is None:
            headers = {**self.config.headers, **protocol.HEADERS}
            if self.config.bearer_token_file is not None:
                token = self.config.bearer_token_file.read_text().strip()
                headers["Authorization"] = f"Bearer {token}"
            verify: Any = str(self.config.ca_file) if self.config.ca_file else True
            # The deadline transport bounds a whole request (connect, send, the answer), which
            # per-read timeouts alone do not: a receiver trickling its answer is cut at timeout.
            self._client = httpx.Client(
                headers=headers,
                timeout=self.config.timeout,
                transport=DeadlineTransport(verify=verify),
            )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def send_pending(self) -> int:
        """One turn of the ``remote-write`` job: send until the queue is empty, a request fails
        (then back off) or the turn's time is up. Returns the samples delivered."""
        if time.monotonic() < self._next_try:
            return 0
        self.open()
        assert self._client is not None
        delivered = 0
        turn_ends = time.monotonic() + _TURN_SECONDS
        while time.monotonic() < turn_ends:
            with self.store.read() as conn:
                rows = conn.execute(
                    sa.select(Q.c.id, Q.c.series_id, Q.c.ts, Q.c.value)
                    .order_by(Q.c.id)
                    .limit(self.config.max_samples_per_send)
                ).all()
                if not rows:
                    break
                body = protocol.encode(self._series(conn, rows))
            self.requests += 1
            try:
                with request_deadline(self.config.timeout):
                    response = self._client.post(self.config.url, content=body)
            except httpx.HTTPError as exc:
                self._failed(f"{type(exc).__name__}: {exc}")
                break
            status = response.status_code
            if status == 429 or status >= 500:
                self._failed(f"HTTP {status}: {response.text[:300]}")
                break
            self._delete([r.id for r in rows])
            if 200 <= status < 300:
                self.sent += len(rows)
                delivered += len(rows)
                self.last_success = time.time()
            else:
                self.rejected += len(rows)
                log.warning(
                    "remote write: %s refused %d samples for good (HTTP %d): %s",
                    self.config.url,
                    len(rows),
                    status,
                    response.text[:300],
                )
            self._failures = 0
        return delivered

    def _failed(self, why: str) -> None:
        self.failed_requests += 1
        self._failures += 1
        delay = min(self.config.max_backoff, self.config.min_backoff * 2 ** (self._failures - 1))
        self._next_try = time.monotonic() + delay
        log.warning(
            "remote write to %s failed (%s); retrying in %.1f s", self.config.url, why, delay
        )

    def _delete(self, ids: list[int]) -> None:
        # Exactly the rows sent: an id range could take a row committed late, never sent.
        with self.store.write() as conn:
            conn.execute(Q.delete().where(Q.c.id.in_(ids)))

    def _series(self, conn: Connection, rows: Sequence[Any]) -> Iterator[protocol.Series]:
        """The rows grouped by series, each series' samples in timestamp order."""
        if time.monotonic() - self._labels_read_at > _LABELS_TTL:
            self._labels, self._labels_read_at = {}, time.monotonic()
        by_series: dict[int, list[tuple[int, float]]] = defaultdict(list)
        for r in rows:
            by_series[r.series_id].append((round(r.ts * 1000), r.value))
        missing = [sid for sid in by_series if sid not in self._labels]
        if missing:
            self._labels.update(self._load_labels(conn, missing))
        for sid, samples in by_series.items():
            labels = self._labels.get(sid)
            if labels is None:  # the series is gone (cannot happen while series are kept)
                continue
            samples.sort()
            yield labels, samples

    def _load_labels(self, conn: Connection, ids: list[int]) -> dict[int, bytes]:
        query = (
            sa.select(
                series.c.id,
                series.c.metric,
                series.c.labels,
                clients.c.name.label("client"),
                sites.c.name.label("site"),
                assets.c.name.label("asset"),
            )
            .join(assets, assets.c.id == series.c.asset_id)
            .join(clients, clients.c.id == assets.c.client_id)
            .outerjoin(sites, sites.c.id == assets.c.site_id)
            .where(series.c.id.in_(ids))
        )
        return {
            r.id: protocol.encode_labels(
                series_labels(
                    r.metric,
                    json.loads(r.labels) if r.labels else {},
                    client=r.client,
                    site=r.site,
                    asset=r.asset,
                    external=self.config.external_labels,
                )
            )
            for r in conn.execute(query)
        }

    # ------------------------------------------------------------------ /metrics

    def describe(self) -> list[Metric]:
        return list(self._families(backlog=0))

    def collect(self) -> Iterator[Metric]:
        try:
            backlog: float = self.backlog_estimate()
        except sa.exc.SQLAlchemyError:
            log.warning("remote write: reading the queue size failed", exc_info=True)
            backlog = float("nan")
        yield from self._families(backlog)

    def _families(self, backlog: float) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "upkeep_remote_write_queue_samples",
            "Samples queued for remote write and not yet sent, all replicas (the queue's id "
            "span: exact unless rows in between were removed).",
            value=backlog,
        )
        for name, help_text, value in (
            ("queued", "Samples queued for remote write by this replica's ingest.", self.queued),
            (
                "sent",
                "Samples this replica delivered to the remote-write receiver (2xx).",
                self.sent,
            ),
            (
                "rejected",
                "Samples in requests the receiver refused for good (4xx but 429; too old, out "
                "of order): removed from the queue.",
                self.rejected,
            ),
            (
                "dropped",
                "Samples not queued because the queue was full (max_queue_samples).",
                self.dropped,
            ),
        ):
            yield CounterMetricFamily(f"upkeep_remote_write_samples_{name}", help_text, value=value)
        yield CounterMetricFamily(
            "upkeep_remote_write_requests",
            "Remote-write requests this replica sent.",
            value=self.requests,
        )
        yield CounterMetricFamily(
            "upkeep_remote_write_requests_failed",
            "Remote-write requests that failed and will be retried (connection, timeout, 5xx, 429).",
            value=self.failed_requests,
        )
        yield GaugeMetricFamily(
            "upkeep_remote_write_last_success_timestamp_seconds",
            "When this replica's last remote-write request succeeded (0: never).",
            value=self.last_success or 0.0,
        )
