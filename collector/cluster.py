"""Several collector replicas on one PostgreSQL: shard leases, replica heartbeats, the
per-shard hand-off queue (docs/cluster.md).

* **Shards.** Rule evaluation is split by client: :func:`shard_of` (a stable hash, the same
  in every process) into ``cluster_shards`` shards. Each shard is owned by one live
  replica through a row in ``shard_leases`` (owner, ``generation``, ``expires_at``).
* **Why a lease table, not session advisory locks:** a lease row carries a *fencing token*
  (``generation``, +1 on every change of owner) that any transaction can check; an advisory
  lock only says who holds it *now*, through one session, and a replica whose session
  hangs would keep it. Every write of alert state runs :meth:`Cluster.fence` in its own
  transaction (``SELECT … FOR SHARE`` on the lease row with owner and generation): a
  replica that lost the lease — paused, partitioned, killed and restarted — gets
  :class:`LeaseLost` and writes nothing, and a takeover waits for an in-flight write.
* **Leases** are renewed every ``ttl / 5`` by a periodic job; all times are the
  database's clock, so replicas' clocks do not matter. A replica that stops renewing loses
  its shards when ``expires_at`` passes (``cluster_lease_ttl``, default 15 s). Each replica
  takes free shards up to ``ceil(shards / live replicas)`` (live: a heartbeat in
  ``replicas`` within the TTL) and gives back what it holds above that, so shards spread
  evenly after a start, a stop or a crash. A replica that stops cleanly releases its
  leases at once (a rolling restart hands over in about a second, not a TTL).
* **Hand-off.** Any replica stores any batch. A replica that owns the batch's shard
  evaluates it *inside the ingest transaction* (:attr:`Cluster.on_local`, the rule
  service): it fences the shard's lease in that transaction and writes the alert state with
  the samples, so the batch and its evaluation commit together or not at all, and the
  batch never touches the queue (no queue row, no ``NOTIFY``, no second transaction). Any
  other replica — or the owner, if its fence fails or the shard's engine is not ready —
  writes the samples the rules need into ``shard_queue`` for the batch's shard and sends
  ``NOTIFY`` (one statement; delivered on commit). The owner claims rows with
  ``FOR UPDATE SKIP LOCKED``, evaluates, and deletes them in the transaction that stores
  the alert state. Wake-ups come from ``LISTEN`` on a dedicated psycopg 3 connection (a
  worker); the queue is also polled every ``cluster_poll_interval`` (a periodic job), so a
  lost notification (or a broken listen connection) only delays work, never loses it. The
  jobs and the worker are registered in :mod:`collector.background` like every other.

On SQLite there is no :class:`Cluster`: the one process owns every shard and the rule
service evaluates each batch directly, as it always did.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import msgspec
import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy.engine import Connection

from collector.schema import replicas, shard_leases, shard_queue
from collector.settings import Settings
from collector.store import Store

log = logging.getLogger(__name__)

_DB_NOW = "CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)"


def shard_of(client_id: int, shards: int) -> int:
    """The shard of a client: stable across processes (not Python's randomized ``hash``)."""
    digest = hashlib.blake2b(str(client_id).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


class LeaseLost(Exception):
    """This replica no longer holds the shard's lease (expired, or another owner took it)."""

    def __init__(self, shard: int) -> None:
        super().__init__(f"shard {shard}: lease lost")
        self.shard = shard


@dataclass(slots=True)
class _Claimed:
    """A claimed queue row; ``payload`` decoded."""

    id: int
    client_id: int
    payload: dict[str, Any]


#: Queue payloads: standard JSON only (sample values are finite by the wire contract).
_json_encode = msgspec.json.Encoder().encode
_json_decode = msgspec.json.Decoder().decode


@dataclass(slots=True)
class Lease:
    shard: int
    generation: int
    acquired_at: float


class ClusterMetrics:
    """``upkeep_cluster_*`` series of this replica (queue depths are read at scrape time)."""

    def __init__(self, cluster: Cluster) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.owned = Gauge(
            "upkeep_cluster_owned_shards",
            "Rule shards this replica holds the lease of.",
            registry=self.registry,
        )
        self.shards = Gauge(
            "upkeep_cluster_shards", "Rule shards in the cluster.", registry=self.registry
        )
        self.renewals = Counter(
            "upkeep_cluster_lease_renewals",
            "Shard lease renewals by this replica.",
            registry=self.registry,
        )
        self.losses = Counter(
            "upkeep_cluster_lease_losses",
            "Shard leases this replica lost without giving them back (expired or taken over).",
            registry=self.registry,
        )
        self.acquired = Counter(
            "upkeep_cluster_lease_acquisitions",
            "Shard leases this replica took.",
            registry=self.registry,
        )
        self.released = Counter(
            "upkeep_cluster_lease_releases",
            "Shard leases this replica gave back (rebalancing, shutdown).",
            registry=self.registry,
        )
        self.handed = Counter(
            "upkeep_cluster_queue_claimed",
            "Queued batches this replica claimed and evaluated as a shard owner.",
            registry=self.registry,
        )
        self.fenced = Counter(
            "upkeep_cluster_fenced_writes",
            "Alert-state writes refused because the shard's lease was no longer this replica's.",
            registry=self.registry,
        )
        self.registry.register(_QueueDepth(cluster))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _QueueDepth:
    """Queue depth per shard and live replicas, read from the database at scrape time."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterable[Any]:
        depth = GaugeMetricFamily(
            "upkeep_cluster_queue_depth",
            "Batches waiting in the hand-off queue for their shard's owner.",
            labels=["shard"],
        )
        live = GaugeMetricFamily(
            "upkeep_cluster_replicas_live", "Replicas with a heartbeat within the lease TTL."
        )
        try:
            depths = self.cluster.queue_depths()
            live.add_metric([], len(self.cluster.live_replicas()))
        except sa.exc.SQLAlchemyError:
            return []
        for shard, count in sorted(depths.items()):
            depth.add_metric([str(shard)], count)
        return [depth, live]


GainHandler = Callable[[int, int], None]  # (shard, generation)
LoseHandler = Callable[[int], None]
DrainHandler = Callable[[int], object]
#: (ingest transaction, shard, ingest result) → True if evaluated there (fenced), False:
#: queue the batch instead.
LocalHandler = Callable[[Connection, int, Any], bool]

#: The hand-off statements as the driver's SQL (one execution each per batch: SQLAlchemy
#: Core's compile-cache and parameter machinery cost more than the statements).
_ENQUEUE = (
    "WITH q AS (INSERT INTO shard_queue (shard, client_id, created_at, payload) "
    "VALUES (%(shard)s, %(client)s, %(at)s, %(payload)s::json) RETURNING shard) "
    "SELECT pg_notify(%(ch)s, %(note)s) FROM q"
)
_CLAIM = (
    "SELECT id, client_id, payload::text AS payload FROM shard_queue WHERE shard = %(s)s "
    "ORDER BY id LIMIT %(n)s FOR UPDATE SKIP LOCKED"
)
_DONE = "DELETE FROM shard_queue WHERE id = ANY(%(ids)s::bigint[])"
_FENCE = (
    "SELECT 1 FROM shard_leases WHERE shard = %(s)s AND owner = %(me)s "
    f"AND generation = %(g)s AND expires_at > {_DB_NOW} FOR SHARE"
)


class Cluster:
    """This replica's membership: heartbeat, shard leases, queue wake-ups. PostgreSQL only.

    The rule service installs ``on_gain`` (build the shard's engine from the store),
    ``on_lose`` (drop it) and ``on_drain`` (evaluate the shard's queue). Thread-safe.
    """

    def __init__(self, store: Store, settings: Settings, *, replica_id: str | None = None) -> None:
        if store.is_sqlite:
            raise ValueError("a cluster needs PostgreSQL; on SQLite one process owns every shard")
        self.store = store
        self.shards = settings.cluster_shards
        self.ttl = settings.cluster_lease_ttl
        self.poll_interval = settings.cluster_poll_interval
        self.id = replica_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.started_at = time.time()
        #: None until start(): whether another replica was live when this one started (then
        #: the cluster has been watching all along and absent clocks need no start-up grace).
        self.joined_running_cluster: bool | None = None
        self.metrics = ClusterMetrics(self)
        self.metrics.shards.set(self.shards)
        self.on_gain: GainHandler = lambda shard, generation: None
        self.on_lose: LoseHandler = lambda shard: None
        self.on_drain: DrainHandler = lambda shard: None
        #: Set by the rule service: evaluate an owned shard's batch in its ingest transaction.
        self.on_local: LocalHandler | None = None
        self._leases: dict[int, Lease] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._tick_lock = threading.Lock()
        self._rebalance_due = False
        self.takes_shards = True
        self._pending: set[int] = set()
        self._drain_wake = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._channel = ""
        self._listen_conn: Any = None

    # ------------------------------------------------------------------ public

    def owns(self, shard: int) -> bool:
        with self._lock:
            return shard in self._leases

    def generation(self, shard: int) -> int | None:
        with self._lock:
            lease = self._leases.get(shard)
            return lease.generation if lease is not None else None

    def owned(self) -> list[int]:
        with self._lock:
            return sorted(self._leases)

    def shard_of(self, client_id: int) -> int:
        return shard_of(client_id, self.shards)

    def start(self, *, take_shards: bool = True) -> None:
        """Announce this replica and take its share of the shards now; the periodic jobs
        (:meth:`renew`, :meth:`poll`) and the listener (:meth:`start_listening`) keep them.

        ``take_shards=False`` (``upkeep serve --no-background``): this replica only stores
        batches and queues them; it never heartbeats, so it does not count as a live replica
        when the others share the shards out."""
        with self.store.read() as conn:
            schema = conn.execute(sa.text("SELECT current_schema()")).scalar() or "public"
        # One channel per schema: two deployments (or parallel test schemas) in one database
        # never wake each other.
        self._channel = "upkeep_q_" + hashlib.sha1(schema.encode()).hexdigest()[:16]
        self.takes_shards = take_shards
        if not take_shards:
            return
        with self.store.write() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO shard_leases (shard, owner, generation, expires_at) "
                    "SELECT s, NULL, 0, 0 FROM generate_series(0, :k - 1) AS s "
                    "ON CONFLICT (shard) DO NOTHING"
                ),
                {"k": self.shards},
            )
            others = conn.execute(
                sa.text(
                    "SELECT count(*) FROM replicas WHERE id != :me "
                    f"AND heartbeat_at > {_DB_NOW} - :ttl"
                ),
                {"me": self.id, "ttl": self.ttl},
            ).scalar()
        self.joined_running_cluster = bool(others)
        self.tick()
        log.info(
            "cluster replica %s: %d of %d shard(s) at start",
            self.id,
            len(self._leases),
            self.shards,
        )

    def stop(self) -> None:
        """Give every lease back and leave (a clean stop hands over without waiting a TTL)."""
        self.stop_listening()
        if not self.takes_shards:
            return
        with self._tick_lock:
            shards = self.owned()
            for shard in shards:
                self._drop(shard)
        try:
            with self.store.write() as conn:
                if shards:
                    self._release_rows(conn, shards)
                conn.execute(replicas.delete().where(replicas.c.id == self.id))
                conn.execute(sa.text("SELECT pg_notify(:ch, 'rebalance')"), {"ch": self._channel})
        except sa.exc.SQLAlchemyError:
            log.warning("could not release shard leases on stop; they expire in %ss", self.ttl)

    def renew(self) -> None:
        """The periodic lease job (every ``ttl / 5``): heartbeat, renew, rebalance."""
        self.tick()

    def poll(self) -> None:
        """The periodic queue job: evaluate whatever is queued for shards held here (the
        fallback for a NOTIFY that never arrived, e.g. while the listener reconnected)."""
        for shard in sorted(s for s in self.queue_depths() if self.owns(s)):
            try:
                self.on_drain(shard)
            except Exception:
                log.exception("shard %d: evaluating its queue failed; retrying", shard)

    def start_listening(self) -> None:
        """The listener worker: LISTEN on this schema's channel, drain shards on NOTIFY."""
        self._stop.clear()
        self._threads = [
            threading.Thread(target=self._listen_loop, name="upkeep-listen", daemon=True),
            threading.Thread(target=self._drain_loop, name="upkeep-drain", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop_listening(self) -> None:
        self._stop.set()
        with self._drain_wake:
            self._drain_wake.notify_all()
        listen = self._listen_conn
        if listen is not None:
            with contextlib.suppress(Exception):  # best effort on the way out
                listen.cancel_safe() if hasattr(listen, "cancel_safe") else listen.cancel()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []

    # ------------------------------------------------------------------ hand-off

    def enqueue(self, conn: Connection, result: Any) -> None:
        """Ingest hook (inside the batch's transaction): evaluate it here if this replica owns
        its shard (:attr:`on_local`, fenced in this transaction), else queue its samples for
        the shard's owner."""
        if not result.rows:
            return
        client_id = next(iter(result.series.values())).client_id
        shard = self.shard_of(client_id)
        local = self.on_local
        if local is not None and self.owns(shard) and local(conn, shard, result):
            return
        used = {sid for sid, _, _ in result.rows}
        payload = {
            "series": {
                str(sid): [ref.asset_id, ref.asset, ref.metric, ref.labels]
                for sid, ref in result.series.items()
                if sid in used
            },
            "rows": result.rows,
        }
        conn.exec_driver_sql(
            _ENQUEUE,
            {
                "shard": shard,
                "client": client_id,
                "at": time.time(),
                "payload": _json_encode(payload).decode(),
                "ch": self._channel,
                "note": str(shard),
            },
        )

    def claim(self, conn: Connection, shard: int, limit: int = 50) -> list[Any]:
        """The oldest queued batches of ``shard`` not claimed by another transaction, as
        ``(id, client_id, payload)`` with the payload decoded."""
        return [
            _Claimed(row.id, row.client_id, _json_decode(row.payload))
            for row in conn.exec_driver_sql(_CLAIM, {"s": shard, "n": limit})
        ]

    @staticmethod
    def done(conn: Connection, ids: list[int]) -> None:
        if ids:
            conn.exec_driver_sql(_DONE, {"ids": ids})

    def fence(self, conn: Connection, shard: int) -> None:
        """Raise :class:`LeaseLost` unless this replica holds ``shard``'s lease, unexpired, with
        the generation it acquired; the row stays share-locked until the transaction ends, so
        no takeover can commit in between."""
        generation = self.generation(shard)
        ok = (
            generation is not None
            and conn.exec_driver_sql(_FENCE, {"s": shard, "me": self.id, "g": generation}).first()
        )
        if not ok:
            self.metrics.fenced.inc()
            raise LeaseLost(shard)

    def wake(self, shard: int) -> None:
        with self._drain_wake:
            self._pending.add(shard)
            self._drain_wake.notify_all()

    # ------------------------------------------------------------------ leases

    def tick(self) -> None:
        """Heartbeat, renew, and take or give back shards toward an even share."""
        if not self.takes_shards:
            return
        with self._tick_lock:
            self._tick()

    def _tick(self) -> None:
        with self.store.write() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO replicas (id, host, pid, started_at, heartbeat_at) "
                    f"VALUES (:id, :host, :pid, :started, {_DB_NOW}) "
                    "ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at"
                ),
                {
                    "id": self.id,
                    "host": socket.gethostname()[:255],
                    "pid": os.getpid(),
                    "started": self.started_at,
                },
            )
            # A replica that died long ago is no longer worth listing (status shows the
            # recently silent ones, which is what an operator looks for after a crash).
            conn.execute(
                sa.text(f"DELETE FROM replicas WHERE heartbeat_at < {_DB_NOW} - :keep"),
                {"keep": max(20 * self.ttl, 600.0)},
            )
            with self._lock:
                mine = dict(self._leases)
            renewed = (
                set()
                if not mine
                else {
                    row.shard
                    for row in conn.execute(
                        sa.text(
                            f"UPDATE shard_leases SET expires_at = {_DB_NOW} + :ttl, "
                            f"renewed_at = {_DB_NOW} WHERE owner = :me "
                            f"AND expires_at > {_DB_NOW} AND shard = ANY(:shards) "
                            "AND generation = ANY(:gens) RETURNING shard, generation"
                        ),
                        {
                            "ttl": self.ttl,
                            "me": self.id,
                            "shards": list(mine),
                            "gens": [lease.generation for lease in mine.values()],
                        },
                    )
                    if mine.get(row.shard) is not None
                    and mine[row.shard].generation == row.generation
                }
            )
        lost = set(mine) - renewed
        self.metrics.renewals.inc(len(renewed))
        for shard in sorted(lost):
            log.warning("shard %d: lease lost (expired or taken over)", shard)
            self.metrics.losses.inc()
            self._drop(shard)
        self._rebalance()
        self.metrics.owned.set(len(self._leases))

    def _rebalance(self) -> None:
        live = max(1, len(self.live_replicas()))
        target = math.ceil(self.shards / live)
        with self._lock:
            held = sorted(self._leases)
        if len(held) > target:
            extra = held[target:]
            for shard in extra:
                self._drop(shard)
            with self.store.write() as conn:
                self._release_rows(conn, extra)
                conn.execute(sa.text("SELECT pg_notify(:ch, 'rebalance')"), {"ch": self._channel})
            self.metrics.released.inc(len(extra))
            log.info("gave back %d shard(s) to even out %d replica(s)", len(extra), live)
        elif len(held) < target:
            with self.store.write() as conn:
                rows = conn.execute(
                    sa.text(
                        "UPDATE shard_leases SET owner = :me, generation = generation + 1, "
                        f"expires_at = {_DB_NOW} + :ttl, acquired_at = {_DB_NOW}, "
                        f"renewed_at = {_DB_NOW} WHERE shard IN ("
                        f"SELECT shard FROM shard_leases WHERE expires_at <= {_DB_NOW} "
                        "ORDER BY shard LIMIT :n FOR UPDATE SKIP LOCKED) "
                        "RETURNING shard, generation, acquired_at"
                    ),
                    {"me": self.id, "ttl": self.ttl, "n": target - len(held)},
                ).all()
            for row in sorted(rows, key=lambda r: r.shard):
                with self._lock:
                    self._leases[row.shard] = Lease(row.shard, row.generation, row.acquired_at)
                self.metrics.acquired.inc()
                try:
                    self.on_gain(row.shard, row.generation)
                except Exception:
                    # Keep the lease but give the shard back: another replica (or the next
                    # tick) starts it from the store again.
                    log.exception("shard %d: starting it failed; giving it back", row.shard)
                    self._drop(row.shard)
                    with self.store.write() as conn:
                        self._release_rows(conn, [row.shard])
                    continue
                self.wake(row.shard)
            if rows:
                log.info(
                    "took %d shard(s) (generation %s); now %d of %d",
                    len(rows),
                    ",".join(str(r.generation) for r in rows[:5]),
                    len(self._leases),
                    self.shards,
                )

    def _drop(self, shard: int) -> None:
        """Stop evaluating ``shard`` here. ``on_lose`` waits for an evaluation in flight, which
        itself needs ``_lock`` (for its fencing token): so it is called without holding it."""
        with self._lock:
            lease = self._leases.pop(shard, None)
        if lease is not None:
            try:
                self.on_lose(shard)
            except Exception:
                log.exception("shard %d: dropping its state failed", shard)

    def _release_rows(self, conn: Connection, shards: list[int]) -> None:
        conn.execute(
            sa.text("UPDATE shard_leases SET expires_at = 0 WHERE owner = :me AND shard = ANY(:s)"),
            {"me": self.id, "s": shards},
        )

    def live_replicas(self) -> list[str]:
        with self.store.read() as conn:
            return list(
                conn.execute(
                    sa.text(f"SELECT id FROM replicas WHERE heartbeat_at > {_DB_NOW} - :ttl"),
                    {"ttl": self.ttl},
                ).scalars()
            )

    def queue_depths(self) -> dict[int, int]:
        with self.store.read() as conn:
            return {
                shard: count
                for shard, count in conn.execute(
                    sa.select(shard_queue.c.shard, sa.func.count()).group_by(shard_queue.c.shard)
                )
            }

    # ------------------------------------------------------------------ threads

    def _listen_loop(self) -> None:
        import psycopg

        url = self.store.engine.url.set(drivername="postgresql")
        while not self._stop.is_set():
            try:
                with psycopg.connect(
                    url.render_as_string(hide_password=False), autocommit=True
                ) as conn:
                    self._listen_conn = conn
                    conn.execute(f"LISTEN {self._channel}")
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=1.0):
                            self._notified(note.payload)
            except Exception:
                if self._stop.is_set():
                    return
                log.warning("LISTEN connection failed; polling until it is back", exc_info=True)
                self._stop.wait(self.poll_interval)
            finally:
                self._listen_conn = None

    def _notified(self, payload: str) -> None:
        if payload == "rebalance":  # a replica left or gave shards back: look now, not in 3 s
            with self._drain_wake:
                self._rebalance_due = True
                self._drain_wake.notify_all()
            return
        try:
            shard = int(payload)
        except ValueError:
            return
        if self.owns(shard):
            self.wake(shard)

    def _drain_loop(self) -> None:
        while not self._stop.is_set():
            with self._drain_wake:
                if not self._pending and not self._rebalance_due:
                    self._drain_wake.wait(1.0)
                pending, self._pending = self._pending, set()
                rebalance, self._rebalance_due = self._rebalance_due, False
            if self._stop.is_set():
                return
            if rebalance:
                try:
                    self.tick()
                except Exception:
                    log.exception("rebalancing shards failed; the lease job retries")
            for shard in sorted(pending):
                if not self.owns(shard):
                    continue
                try:
                    self.on_drain(shard)
                except Exception:
                    log.exception("shard %d: evaluating its queue failed; retrying", shard)


def status(store: Store) -> dict[str, Any]:
    """What ``upkeep cluster status`` shows: replicas, leases, queue depths (database clock)."""
    with store.read() as conn:
        now = conn.execute(sa.text(f"SELECT {_DB_NOW}")).scalar()
        reps = conn.execute(sa.select(replicas).order_by(replicas.c.started_at)).all()
        leases = conn.execute(sa.select(shard_leases).order_by(shard_leases.c.shard)).all()
        depths: dict[int, int] = dict(
            conn.execute(
                sa.select(shard_queue.c.shard, sa.func.count()).group_by(shard_queue.c.shard)
            ).all()
        )
        oldest = conn.execute(sa.select(sa.func.min(shard_queue.c.created_at))).scalar()
    return {
        "now": now,
        "replicas": [dict(r._mapping) for r in reps],
        "leases": [dict(r._mapping) for r in leases],
        "queue": depths,
        "oldest_queued_at": oldest,
    }
