"""The rule engine inside the collector: loading, evaluation on arrival and by sweep,
persistence, hot reload. This is the I/O shell around the pure :mod:`collector.rules.engine`.

* :meth:`RuleService.on_ingest` is an ingest listener: it runs after the batch's commit,
  in the same request, so an alert is pending or firing before the agent gets its 200. In a
  cluster (PostgreSQL) the owner of the batch's shard evaluates it inside the ingest
  transaction instead (:meth:`RuleService._evaluate_in_transaction`, fenced), and any other
  replica queues it for the owner (collector/cluster.py).
* :meth:`RuleService.sweep` runs every ``rules_sweep_interval`` (absent, forecast, ``for``
  expiry, ``keep_firing_for``, flapping ends).
* Every state change is written to ``rule_alerts`` (one row per non-idle alert) and every
  transition appended to ``alert_transitions``, in one transaction per evaluation; a
  restart restores the alerts, so ``for`` and ``keep_firing_for`` clocks keep running.
* :meth:`RuleService.reload` loads the rule paths again; a change that fails validation
  is refused whole (the old rules keep running) and reported by :meth:`status` and
  ``upkeep_rules_last_reload_success 0``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from collector import timeutil
from collector.cluster import Cluster, LeaseLost
from collector.ingest import SeriesRef
from collector.rollups import hourly as hourly_rollups
from collector.rules.engine import Alert, AssetInfo, Core, RuleEngine, Transition
from collector.rules.loader import Problem, load, rule_files
from collector.rules.ruleset import RuleSet
from collector.schema import (
    alert_transitions,
    assets,
    clients,
    events,
    latest,
    rule_alerts,
    samples,
    series,
    sites,
)
from collector.settings import Settings
from collector.store import Store, after_commit, after_rollback

log = logging.getLogger(__name__)

#: Called with each evaluation's transitions inside the transaction that stores them
#: (the incident lifecycle writes incidents and outbox rows atomically with the alert state).
TransitionListener = Callable[[Connection, list[Transition], float], None]

_ASSET_TTL = 300.0  # asset context (site, tags) is re-read at most this often
#: Cluster: how long a batch's ingest transaction waits for its busy shard before it queues
#: the batch for the shard's evaluation instead (:meth:`RuleService._evaluate_in_transaction`).
_LOCAL_WAIT = 1.0


class RuleMetrics:
    """The rule engine's own series for ``/metrics`` (its own registry, hooked into the app's)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.reload_success = Gauge(
            "upkeep_rules_last_reload_success",
            "1 if the last rule (re)load succeeded, 0 if it was refused.",
            registry=self.registry,
        )
        self.reload_time = Gauge(
            "upkeep_rules_last_reload_success_timestamp_seconds",
            "When rules were last loaded successfully.",
            registry=self.registry,
        )
        self.rules = Gauge("upkeep_rules_loaded", "Rules loaded.", registry=self.registry)
        self.alerts = Gauge(
            "upkeep_alerts", "Alerts by status.", ["status"], registry=self.registry
        )
        self.transitions = Counter(
            "upkeep_alert_transitions",
            "Alert transitions by event.",
            ["event"],
            registry=self.registry,
        )
        self.seconds = Histogram(
            "upkeep_rules_evaluation_seconds",
            "Time to evaluate rules and store their state, per batch or sweep.",
            ["trigger"],
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1),
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


@dataclass(slots=True)
class RulesStatus:
    """What ``GET /api/v1/rules/status`` answers."""

    ok: bool = False
    paths: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    rules: int = 0
    loaded_at: float | None = None
    last_attempt_at: float | None = None
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def default_rules_paths() -> list[Path]:
    """The shipped packs: ``rules/`` next to the source tree, else ``<prefix>/share/upkeep/rules``."""
    import sys

    here = Path(__file__).resolve().parents[2] / "rules"
    if here.is_dir():
        return [here]
    return [Path(sys.prefix) / "share" / "upkeep" / "rules"]


@dataclass(slots=True)
class _Shard:
    """The engine of one shard this replica owns (cluster mode), with its own lock."""

    engine: RuleEngine
    lock: threading.RLock = field(default_factory=threading.RLock)


class RuleService:
    """One collector's rule engine over one store. Thread-safe (one lock around the engine).

    With a :class:`~collector.cluster.Cluster` (PostgreSQL, several replicas) there is one
    engine per owned shard instead, fed from the hand-off queue; ``self.engine`` then only
    holds the loaded rules. Without one (SQLite, tests) everything runs in ``self.engine``.
    """

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        paths: Iterable[Path] | None = None,
        cluster: Cluster | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        configured = paths if paths is not None else (settings.rules_paths or default_rules_paths())
        self.paths = [Path(p) for p in configured]
        self.metrics = RuleMetrics()
        self.state = RulesStatus(paths=[str(p) for p in self.paths])
        self._lock = threading.RLock()
        self._assets: dict[int, tuple[float, AssetInfo]] = {}
        self._signature: tuple = ()
        self._insert = sqlite.insert if store.is_sqlite else postgresql.insert
        #: Run inside ``_persist``'s write transaction; an exception rolls the whole change back.
        self.transition_listeners: list[TransitionListener] = []
        self._started_at = timeutil.now()
        self.engine = self._new_engine(RuleSet(), self._started_at)
        self.cluster = cluster
        self._shards: dict[int, _Shard] = {}
        self._refs: dict[int, SeriesRef] = {}
        #: The ingest result this thread just evaluated in its transaction (cluster mode).
        self._local = threading.local()
        if cluster is not None:
            cluster.on_gain = self._gain
            cluster.on_lose = self._lose
            cluster.on_drain = self.drain
            cluster.on_local = self._evaluate_in_transaction

    def _new_engine(self, ruleset: RuleSet, started_at: float) -> RuleEngine:
        return RuleEngine(
            ruleset,
            self.asset_info,
            started_at=started_at,
            stale_after=self.settings.rules_stale_after,
            reorder_window=self.settings.rules_reorder_window,
            series_gone_after=self.settings.rules_series_gone_after,
            max_clock_skew=self.settings.max_clock_skew,
            texts=self.plugin_text,
        )

    # ------------------------------------------------------------------ start

    def start(self) -> None:
        """Load the rules, restore persisted alerts, and seed absent clocks from the store.

        In cluster mode: join the cluster instead; each shard this replica takes is restored
        from the store when it is taken (:meth:`_gain`)."""
        with self._lock:
            self.reload(initial=True)
            if self.cluster is not None:
                # A replica without background work (--no-background) renews no leases, so
                # it takes none: it stores and queues batches, the others evaluate them.
                self.cluster.start(take_shards=self.settings.background)
                self._update_gauges()
                return
            try:
                rows, seen = self._saved_state()
            except (
                sa.exc.SQLAlchemyError
            ) as exc:  # an unmigrated store (migrate=False): start empty
                log.warning("rule state not restored: %s", type(exc).__name__)
                rows, seen = [], []
            self._restore(self.engine, rows, seen)
            self._update_gauges()

    def stop(self) -> None:
        """Leave the cluster (its leases go back at once); nothing to do on one process."""
        if self.cluster is not None:
            self.cluster.stop()

    def _restore(self, engine: RuleEngine, rows: Sequence[Any], seen: Sequence[Any]) -> None:
        for row in rows:
            if row.rule_id not in engine.ruleset.rules:
                continue
            core = Core.from_json(
                row.state if isinstance(row.state, dict) else json.loads(row.state)
            )
            engine.restore_alert(
                Alert(
                    row.rule_id,
                    row.fingerprint,
                    row.client_id,
                    row.asset_id,
                    row.series_id,
                    dict(row.labels),
                    core,
                )
            )
        for asset_id, client_id, ts in seen:
            engine.seen(asset_id, client_id, ts)

    def _saved_state(
        self, client_ids: list[int] | None = None
    ) -> tuple[Sequence[Any], Sequence[Any]]:
        """Persisted alerts and each asset's newest sample time (of ``client_ids``, or all)."""
        alerts_q = sa.select(rule_alerts)
        seen_q = (
            sa.select(series.c.asset_id, assets.c.client_id, sa.func.max(latest.c.ts))
            .join(latest, latest.c.series_id == series.c.id)
            .join(assets, assets.c.id == series.c.asset_id)
            .group_by(series.c.asset_id, assets.c.client_id)
        )
        if client_ids is not None:
            alerts_q = alerts_q.where(rule_alerts.c.client_id.in_(client_ids))
            seen_q = seen_q.where(assets.c.client_id.in_(client_ids))
        with self.store.read() as conn:
            rows = conn.execute(alerts_q).all()
            seen = conn.execute(seen_q).all()
        return rows, seen

    # ------------------------------------------------------------------ shards (cluster mode)

    def _gain(self, shard: int, generation: int) -> None:
        """A shard's lease was taken: rebuild its engine from the store (persisted alert state,
        and each asset's newest sample for absent clocks; windows load on their next sample)."""
        assert self.cluster is not None
        # A replica that joined a running cluster needs no start-up grace for absent rules:
        # the other replicas kept storing every batch, so "last seen" in the store is true.
        started_at = self._started_at if not self.cluster.joined_running_cluster else 0.0
        engine = self._new_engine(self.engine.ruleset, started_at)
        with self.store.read() as conn:
            ids = [
                cid
                for cid in conn.execute(sa.select(clients.c.id)).scalars()
                if self.cluster.shard_of(cid) == shard
            ]
        rows, seen = self._saved_state(ids) if ids else ([], [])
        self._restore(engine, rows, seen)
        self._shards[shard] = _Shard(engine)
        log.debug("shard %d (generation %d): %d alert(s) restored", shard, generation, len(rows))

    def _lose(self, shard: int) -> None:
        state = self._shards.pop(shard, None)
        if state is not None:
            with state.lock:  # wait for an evaluation in flight (its write is fenced anyway)
                pass

    def _refs_of(self, client_id: int, payload: dict[str, Any]) -> dict[int, SeriesRef]:
        out = {}
        for key, (asset_id, asset, metric, labels) in payload["series"].items():
            sid = int(key)
            ref = self._refs.get(sid)
            if ref is None:
                ref = SeriesRef(sid, client_id, asset_id, asset, metric, dict(labels))
                self._refs[sid] = ref
            out[sid] = ref
        return out

    def drain(self, shard: int, limit: int = 50) -> int:
        """Evaluate the queued batches of an owned shard; returns how many were claimed."""
        assert self.cluster is not None
        state = self._shards.get(shard)
        if state is None:
            return 0
        claimed = 0
        with state.lock:
            while self._shards.get(shard) is state:
                started = time.perf_counter()
                now = timeutil.now()
                engine = state.engine
                try:
                    with self.store.write() as conn:
                        self.cluster.fence(conn, shard)
                        rows = self.cluster.claim(conn, shard, limit)
                        if not rows:
                            return claimed
                        stored: list[tuple[Any, float, float]] = []
                        refs: dict[int, Any] = {}  # SeriesRef (read-only) for SeriesLike
                        for row in rows:
                            payload = (
                                row.payload
                                if isinstance(row.payload, dict)
                                else json.loads(row.payload)
                            )
                            these = self._refs_of(row.client_id, payload)
                            refs.update(these)
                            stored += [(these[sid], v, ts) for sid, ts, v in payload["rows"]]
                        needs = engine.windows_needed(refs.values())
                        if needs:
                            self._preload(needs, conn, engine, _first_ts(stored))
                        transitions = engine.observe(stored, now)
                        self._write(conn, engine, transitions, now)
                        self.cluster.done(conn, [row.id for row in rows])
                except LeaseLost:
                    self._shards.pop(shard, None)
                    return claimed
                except Exception:
                    # The engine ran ahead of a write that rolled back: start the shard over
                    # from the store (the queue rows are still there).
                    self._rebuild(shard, state)
                    raise
                claimed += len(rows)
                self.cluster.metrics.handed.inc(len(rows))
                self._logged(transitions)
                self.metrics.seconds.labels("ingest").observe(time.perf_counter() - started)
                if len(rows) < limit:
                    break
        return claimed

    def _evaluate_in_transaction(self, conn: Connection, shard: int, result: Any) -> bool:
        """The cluster's ingest hook for a shard this replica owns: fence the lease in the
        batch's own transaction, evaluate, and write the alert state there, so the samples and
        their evaluation commit together (no queue row, no second transaction). False: not
        evaluated (no engine for the shard yet, lease lost, the shard busy beyond
        :data:`_LOCAL_WAIT`, or the evaluation failed): the caller queues the batch instead,
        and the owner evaluates it from the queue as before."""
        assert self.cluster is not None
        state = self._shards.get(shard)
        if state is None:
            return False
        # The ingest transaction already holds row locks (latest, agents, ...); waiting for
        # the shard without a bound could close a cycle with a holder of the shard's lock
        # that waits for one of those rows. Past the bound the queue is always correct.
        if not state.lock.acquire(timeout=_LOCAL_WAIT):
            return False
        try:
            if self._shards.get(shard) is not state:
                return False
            try:
                self.cluster.fence(conn, shard)
            except LeaseLost:
                self._shards.pop(shard, None)
                return False
            started = time.perf_counter()
            now = timeutil.now()
            engine = state.engine
            stored = result.stored
            try:
                needs = engine.windows_needed(result.series.values())
                if needs:
                    with conn.begin_nested():  # a failed read must not abort the batch
                        self._preload(needs, conn, engine, _first_ts(stored))
                # The batch's new assets are not committed yet: resolve them through its
                # own transaction (asset_info), not a separate connection that cannot see them.
                self._local.conn = conn
                try:
                    transitions = engine.observe(stored, now)
                finally:
                    self._local.conn = None
                # From here the engine is ahead of the store until the commit: if the batch's
                # transaction rolls back, start the shard over from the store.
                after_rollback(conn, lambda: self._rebuild_locked(shard, state))
                if transitions or engine.has_changes():
                    with conn.begin_nested():  # a failed write rolls back to here only
                        self._write(conn, engine, transitions, now)
            except Exception:
                log.exception(
                    "shard %d: evaluating a batch in its transaction failed; queued", shard
                )
                self._rebuild(shard, state)
                return False
            if transitions:
                after_commit(conn, lambda: self._logged(transitions))
            self._local.result = result
            self.metrics.seconds.labels("ingest").observe(time.perf_counter() - started)
            return True
        finally:
            state.lock.release()

    def _rebuild_locked(self, shard: int, state: _Shard) -> None:
        with state.lock:
            self._rebuild(shard, state)

    def _rebuild(self, shard: int, state: _Shard) -> None:
        generation = self.cluster.generation(shard) if self.cluster is not None else None
        if generation is None or self._shards.get(shard) is not state:
            return
        try:
            self._gain(shard, generation)
        except Exception:
            log.exception("shard %d: rebuilding from the store failed", shard)
            self._shards.pop(shard, None)

    def _fenced(
        self, shard: int, step: Callable[[RuleEngine], list[Transition]], now: float
    ) -> list[Transition]:
        """``step(engine)`` for an owned shard; its changes are written in a fenced
        transaction. Nothing changed: no transaction at all (a sweep of a quiet shard is
        free). Fenced out: the changes are dropped with the shard's engine."""
        assert self.cluster is not None
        state = self._shards.get(shard)
        if state is None:
            return []
        with state.lock:
            if self._shards.get(shard) is not state:
                return []
            engine = state.engine
            try:
                transitions = step(engine)
                if transitions or engine.has_changes():
                    with self.store.write() as conn:
                        self.cluster.fence(conn, shard)
                        self._write(conn, engine, transitions, now)
            except LeaseLost:
                self._shards.pop(shard, None)
                return []
            except Exception:
                self._rebuild(shard, state)
                raise
        self._logged(transitions)
        return transitions

    def engines(self) -> list[RuleEngine]:
        """The engines of this replica (one; one per owned shard in a cluster)."""
        if self.cluster is None:
            return [self.engine]
        return [state.engine for state in list(self._shards.values())] or [self.engine]

    def active_alerts(self) -> list[Alert]:
        """Every pending or firing alert this replica evaluates."""
        if self.cluster is None:
            return self.engine.active()
        return [a for state in list(self._shards.values()) for a in state.engine.active()]

    # ------------------------------------------------------------------ asset context

    @contextlib.contextmanager
    def _reader(self) -> Iterator[Connection]:
        """A connection for the engine's lookups (asset context, plugin text): inside an
        ingest transaction (:meth:`_evaluate_in_transaction`) that transaction, which sees the
        batch's own new assets and events (a savepoint: a failed read cannot abort the
        batch); else a read transaction of its own."""
        batch_conn = getattr(self._local, "conn", None)
        if batch_conn is not None:
            with batch_conn.begin_nested():
                yield batch_conn
        else:
            with self.store.read() as conn:
                yield conn

    def asset_info(self, asset_id: int) -> AssetInfo:
        cached = self._assets.get(asset_id)
        now = time.monotonic()
        if cached is not None and now - cached[0] < _ASSET_TTL:
            return cached[1]
        query = (
            sa.select(
                assets.c.id,
                assets.c.client_id,
                clients.c.name.label("client"),
                sites.c.name.label("site"),
                assets.c.name,
                assets.c.tags,
            )
            .join(clients, clients.c.id == assets.c.client_id)
            .outerjoin(sites, sites.c.id == assets.c.site_id)
            .where(assets.c.id == asset_id)
        )
        with self._reader() as conn:
            row = conn.execute(query).first()
        if row is None:  # not cached: it may be an asset created by a batch not committed yet
            return AssetInfo(asset_id, 0, "", None, f"asset-{asset_id}")
        info = AssetInfo(
            row.id, row.client_id, row.client, row.site, row.name, frozenset(row.tags or ())
        )
        self._assets[asset_id] = (now, info)
        return info

    def plugin_text(self, asset_id: int, labels: dict[str, str]) -> str | None:
        """The latest ``plugin_output`` event text of the asset's plugin ``labels["name"]``
        (the agent sends one on every run that is not OK), for templates' ``{output}``."""
        name = labels.get("name")
        if name is None:
            return None
        with self._reader() as conn:
            rows = conn.execute(
                sa.select(events.c.data)
                .where(events.c.asset_id == asset_id, events.c.type == "plugin_output")
                .order_by(events.c.ts.desc())
                .limit(50)
            ).all()
        for row in rows:
            data = row.data or {}
            if data.get("name") == name:
                return str(data.get("text") or "")[:1000]
        return None

    # ------------------------------------------------------------------ evaluation

    def on_ingest(self, result: Any) -> None:
        """Ingest listener: evaluate a stored batch's samples now."""
        if not result.rows:
            return
        if self.cluster is not None:
            if getattr(self._local, "result", None) is result:
                self._local.result = None  # evaluated in its own transaction already
                return
            # The batch went to its shard's queue in the ingest transaction; the owner
            # evaluates it. Owning it here, do it now (sub-second, within this request).
            shard = self.cluster.shard_of(next(iter(result.series.values())).client_id)
            if self.cluster.owns(shard):
                self.drain(shard)
            return
        started = time.perf_counter()
        stored = result.stored
        now = timeutil.now()
        with self._lock:
            needs = self.engine.windows_needed(result.series.values())
            if needs:
                self._preload(needs, first=_first_ts(stored))
            transitions = self.engine.observe(stored, now)
            self._persist(transitions, now)
        self.metrics.seconds.labels("ingest").observe(time.perf_counter() - started)

    def sweep(self, now: float | None = None) -> list[Transition]:
        started = time.perf_counter()
        now = timeutil.now() if now is None else now
        if self.cluster is not None:
            transitions = []
            for shard in sorted(self._shards):
                transitions += self._fenced(shard, lambda engine: engine.sweep(now), now)
            self._update_gauges()
            self.metrics.seconds.labels("sweep").observe(time.perf_counter() - started)
            return transitions
        with self._lock:
            transitions = self.engine.sweep(now)
            self._persist(transitions, now)
            self._update_gauges()
        self.metrics.seconds.labels("sweep").observe(time.perf_counter() - started)
        return transitions

    def _preload(
        self,
        needs: list[tuple[Any, float]],
        conn: Connection | None = None,
        engine: RuleEngine | None = None,
        first: dict[int, float] | None = None,
    ) -> None:
        """Raw samples (and, for a long forecast, hourly rollups) a new series' window and
        forecasts need, so a new owner's windows and fits are full at once. ``first``: per
        series, the earliest sample about to be observed (forecasts get what is older)."""
        engine = engine or self.engine
        with contextlib.ExitStack() as stack:
            if conn is None:
                conn = stack.enter_context(self.store.read())
            for ref, window in needs:
                since = timeutil.now() - window - 60
                rows = conn.execute(
                    sa.select(samples.c.ts, samples.c.value).where(
                        samples.c.series_id == ref.id, samples.c.ts > since
                    )
                ).all()
                hourly: list[tuple[float, float, int]] = []
                if engine.needs_rollups(ref) and (
                    not rows or min(r.ts for r in rows) > since + 3600
                ):
                    # A fit longer than the raw samples kept: hourly means beyond them.
                    HOURLY = hourly_rollups(int(since // 3600) * 3600 - 3600)
                    hourly = [
                        (hour + 1800.0, total / count, int(count))
                        for hour, total, count in conn.execute(
                            sa.select(HOURLY.c.hour, HOURLY.c.sum, HOURLY.c.count).where(
                                HOURLY.c.series_id == ref.id,
                                HOURLY.c.hour >= since - 3600,
                                HOURLY.c.count > 0,
                            )
                        )
                    ]
                engine.preload(
                    ref,
                    [(ts, v) for ts, v in rows],
                    before=(first or {}).get(ref.id, math.inf),
                    hourly=hourly,
                )

    def _persist(self, transitions: list[Transition], now: float) -> None:
        if not transitions and not self.engine.has_changes():
            return  # nothing to store: no write transaction (on SQLite it takes the write lock)
        with self.store.write() as conn:
            written = self._write(conn, self.engine, transitions, now)
        if written:
            self._logged(transitions)

    def _write(
        self, conn: Connection, engine: RuleEngine, transitions: list[Transition], now: float
    ) -> bool:
        """Store ``engine``'s changed alert state and ``transitions`` on ``conn``."""
        dirty, gone = engine.take_dirty()
        if not transitions and not dirty and not gone:
            return False
        keep = [a for a in dirty if not _idle(a.core)]
        drop = [a.fingerprint for a in dirty if _idle(a.core)] + gone
        if drop:
            conn.execute(rule_alerts.delete().where(rule_alerts.c.fingerprint.in_(drop)))
        if keep:
            stmt = self._insert(rule_alerts)
            stmt = stmt.on_conflict_do_update(
                index_elements=[rule_alerts.c.fingerprint],
                set_={
                    c: getattr(stmt.excluded, c)
                    for c in (
                        "series_id",
                        "status",
                        "severity",
                        "state",
                        "summary",
                        "updated_at",
                        "labels",
                    )
                },
            )
            summaries = {t.fingerprint: t.summary for t in transitions}
            conn.execute(
                stmt,
                [
                    {
                        "fingerprint": a.fingerprint,
                        "rule_id": a.rule_id,
                        "client_id": a.client_id,
                        "asset_id": a.asset_id,
                        "series_id": a.series_id,
                        "labels": a.labels,
                        "status": a.core.status,
                        "severity": a.core.severity,
                        "state": a.core.to_json(),
                        "summary": summaries.get(a.fingerprint, ""),
                        "updated_at": now,
                    }
                    for a in keep
                ],
            )
        if transitions:
            conn.execute(
                alert_transitions.insert(),
                [
                    {
                        "fingerprint": t.fingerprint,
                        "rule_id": t.rule_id,
                        "client_id": t.client_id,
                        "asset_id": t.asset_id,
                        "event": t.event,
                        "status": t.status,
                        "previous_status": t.previous_status,
                        "severity": t.severity,
                        "previous_severity": t.previous_severity,
                        "ts": t.ts,
                        "value": t.value if t.value is None or t.value == t.value else None,
                        "labels": t.labels,
                        "priority": t.priority,
                        "kind": t.kind,
                        "summary": t.summary,
                        "description": t.description,
                        "runbook": t.runbook,
                        "flapping": t.flapping,
                        "reason": t.reason,
                        "recorded_at": now,
                    }
                    for t in transitions
                ],
            )
            for listener in self.transition_listeners:
                listener(conn, transitions, now)
        return True

    def _logged(self, transitions: list[Transition]) -> None:
        for t in transitions:
            self.metrics.transitions.labels(t.event).inc()
            if t.event in ("firing", "resolved", "escalated"):
                log.info(
                    "alert %s %s: %s (%s)", t.rule_id, t.event, t.summary or t.asset, t.fingerprint
                )

    def _update_gauges(self) -> None:
        counts = {"pending": 0, "firing": 0}
        for alert in self.active_alerts():
            counts[alert.core.status] = counts.get(alert.core.status, 0) + 1
        for status, count in counts.items():
            self.metrics.alerts.labels(status).set(count)

    # ------------------------------------------------------------------ reload

    def _actions(self) -> dict[str, Any] | None:
        """The remediation action library the rules' ``remediate`` must name (None: a broken
        library, which the remediation service reports; the rules are not held up by it)."""
        from collector.remediation.actions import ActionsInvalid, load_library

        try:
            return dict(load_library(self.settings.actions_paths).actions)
        except ActionsInvalid:
            return None

    def reload(self, *, initial: bool = False) -> RulesStatus:
        """Load the rule paths again; refuse the whole change if any file has an error."""
        with self._lock:
            now = timeutil.now()
            self.state.last_attempt_at = now
            self._signature = self._files_signature()
            result = load(self.paths, actions=self._actions())
            self.state.warnings = [str(p) for p in result.warnings]
            missing = [p for p in self.paths if not p.exists()]
            errors: list[Problem] = list(result.errors)
            errors += [
                Problem(f"{p}:1:1", "no such file or folder")
                for p in missing
                if not any(str(p) in e.where for e in errors)
            ]
            if errors:
                self.state.ok = False
                self.state.errors = [str(p) for p in errors]
                self.metrics.reload_success.set(0)
                log.error(
                    "rules %s refused; %s",
                    "not loaded" if initial else "change",
                    "the previous rules keep running" if not initial else "running without rules",
                )
                for problem in errors:
                    log.error("%s", problem)
                return self.state
            transitions = self.engine.reload(result.ruleset, now)
            self._persist(transitions, now)
            for shard in sorted(self._shards):
                self._fenced(shard, lambda engine: engine.reload(result.ruleset, now), now)
            self.state.ok = True
            self.state.errors = []
            self.state.files = result.ruleset.files
            self.state.rules = len(result.ruleset.rules)
            self.state.loaded_at = now
            self.metrics.reload_success.set(1)
            self.metrics.reload_time.set(now)
            self.metrics.rules.set(len(result.ruleset.rules))
            log.info(
                "loaded %d rule(s) from %d file(s)",
                len(result.ruleset.rules),
                len(result.ruleset.files),
            )
            return self.state

    def _files_signature(self) -> tuple:
        out: list[tuple[str, int | None, int | None]] = []
        for path in rule_files(self.paths):
            try:
                st = os.stat(path)
                out.append((str(path), st.st_mtime_ns, st.st_size))
            except OSError:
                out.append((str(path), None, None))
        return tuple(out)

    def reload_if_changed(self) -> bool:
        """Poll: reload when a rule file was added, removed or modified. True if it reloaded."""
        if self._files_signature() == self._signature:
            return False
        self.reload()
        return True

    def status(self) -> RulesStatus:
        return self.state

    def silent_after(self) -> float | None:
        """When an asset counts as silent: the shortest ``absent.for`` of the loaded, enabled
        ``metric: any`` rules (the shipped ``agent-silent``), None when no such rule is loaded.

        The dashboard's "agents silent" reads this, so it says what the rule opens incidents on.
        """
        with self._lock:
            spans = [
                c.rule.absent.for_
                for c in self.engine.ruleset.any_rules
                if c.rule.enabled and c.rule.absent is not None
            ]
        return min(spans) if spans else None


def _idle(core: Core) -> bool:
    return (
        core.status == "inactive"
        and core.raw == "inactive"
        and not core.flapping
        and not core.changes
    )


def _first_ts(stored: Iterable[tuple[Any, float, float]]) -> dict[int, float]:
    """Per series id, the earliest ts among stored (ref, value, ts) rows."""
    first: dict[int, float] = {}
    for ref, _value, ts in stored:
        if ts < first.get(ref.id, math.inf):
            first[ref.id] = ts
    return first
