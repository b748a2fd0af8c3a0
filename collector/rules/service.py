"""The rule engine inside the collector: loading, evaluation on arrival and by sweep,
persistence, hot reload. This is the I/O shell around the pure :mod:`collector.rules.engine`.

* :meth:`RuleService.on_ingest` is an ingest listener: it runs after the batch's commit,
  in the same request, so an alert is pending or firing before the agent gets its 200.
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

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from collector import timeutil
from collector.rules.engine import Alert, AssetInfo, Core, RuleEngine, Transition
from collector.rules.loader import Problem, load, rule_files
from collector.rules.ruleset import RuleSet
from collector.schema import (
    alert_transitions,
    assets,
    clients,
    latest,
    rule_alerts,
    samples,
    series,
    sites,
)
from collector.settings import Settings
from collector.store import Store

log = logging.getLogger(__name__)

#: Called with each evaluation's transitions inside the transaction that stores them
#: (the incident lifecycle writes incidents and outbox rows atomically with the alert state).
TransitionListener = Callable[[Connection, list[Transition], float], None]

_ASSET_TTL = 300.0  # asset context (site, tags) is re-read at most this often


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


class RuleService:
    """One collector's rule engine over one store. Thread-safe (one lock around the engine)."""

    def __init__(
        self, store: Store, settings: Settings, *, paths: Iterable[Path] | None = None
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
        self.engine = RuleEngine(
            RuleSet(),
            self.asset_info,
            started_at=timeutil.now(),
            stale_after=settings.rules_stale_after,
            reorder_window=settings.rules_reorder_window,
            series_gone_after=settings.rules_series_gone_after,
            max_clock_skew=settings.max_clock_skew,
        )

    # ------------------------------------------------------------------ start

    def start(self) -> None:
        """Load the rules, restore persisted alerts, and seed absent clocks from the store."""
        with self._lock:
            self.reload(initial=True)
            try:
                rows, seen = self._saved_state()
            except (
                sa.exc.SQLAlchemyError
            ) as exc:  # an unmigrated store (migrate=False): start empty
                log.warning("rule state not restored: %s", type(exc).__name__)
                rows, seen = [], []
            for row in rows:
                if row.rule_id not in self.engine.ruleset.rules:
                    continue
                core = Core.from_json(
                    row.state if isinstance(row.state, dict) else json.loads(row.state)
                )
                self.engine.restore_alert(
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
                self.engine.seen(asset_id, client_id, ts)
            self._update_gauges()

    def _saved_state(self) -> tuple[Sequence[Any], Sequence[Any]]:
        with self.store.read() as conn:
            rows = conn.execute(sa.select(rule_alerts)).all()
            seen = conn.execute(
                sa.select(series.c.asset_id, assets.c.client_id, sa.func.max(latest.c.ts))
                .join(latest, latest.c.series_id == series.c.id)
                .join(assets, assets.c.id == series.c.asset_id)
                .group_by(series.c.asset_id, assets.c.client_id)
            ).all()
        return rows, seen

    # ------------------------------------------------------------------ asset context

    def asset_info(self, asset_id: int) -> AssetInfo:
        cached = self._assets.get(asset_id)
        now = time.monotonic()
        if cached is not None and now - cached[0] < _ASSET_TTL:
            return cached[1]
        with self.store.read() as conn:
            row = conn.execute(
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
            ).first()
        if row is None:
            info = AssetInfo(asset_id, 0, "", None, f"asset-{asset_id}")
        else:
            info = AssetInfo(
                row.id, row.client_id, row.client, row.site, row.name, frozenset(row.tags or ())
            )
        self._assets[asset_id] = (now, info)
        return info

    # ------------------------------------------------------------------ evaluation

    def on_ingest(self, result: Any) -> None:
        """Ingest listener: evaluate a stored batch's samples now."""
        if not result.rows:
            return
        started = time.perf_counter()
        stored = result.stored
        now = timeutil.now()
        with self._lock:
            needs = self.engine.windows_needed(result.series.values())
            if needs:
                self._preload(needs)
            transitions = self.engine.observe(stored, now)
            self._persist(transitions, now)
        self.metrics.seconds.labels("ingest").observe(time.perf_counter() - started)

    def sweep(self, now: float | None = None) -> list[Transition]:
        started = time.perf_counter()
        now = timeutil.now() if now is None else now
        with self._lock:
            transitions = self.engine.sweep(now)
            self._persist(transitions, now)
            self._update_gauges()
        self.metrics.seconds.labels("sweep").observe(time.perf_counter() - started)
        return transitions

    def _preload(self, needs: list[tuple[Any, float]]) -> None:
        with self.store.read() as conn:
            for ref, window in needs:
                rows = conn.execute(
                    sa.select(samples.c.ts, samples.c.value).where(
                        samples.c.series_id == ref.id, samples.c.ts > timeutil.now() - window - 60
                    )
                ).all()
                self.engine.preload(ref, [(ts, v) for ts, v in rows])

    def _persist(self, transitions: list[Transition], now: float) -> None:
        dirty, gone = self.engine.take_dirty()
        if not transitions and not dirty and not gone:
            return
        keep = [a for a in dirty if not _idle(a.core)]
        drop = [a.fingerprint for a in dirty if _idle(a.core)] + gone
        with self.store.write() as conn:
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
        for t in transitions:
            self.metrics.transitions.labels(t.event).inc()
            if t.event in ("firing", "resolved", "escalated"):
                log.info(
                    "alert %s %s: %s (%s)", t.rule_id, t.event, t.summary or t.asset, t.fingerprint
                )

    def _update_gauges(self) -> None:
        counts = {"pending": 0, "firing": 0}
        for alert in self.engine.active():
            counts[alert.core.status] = counts.get(alert.core.status, 0) + 1
        for status, count in counts.items():
            self.metrics.alerts.labels(status).set(count)

    # ------------------------------------------------------------------ reload

    def reload(self, *, initial: bool = False) -> RulesStatus:
        """Load the rule paths again; refuse the whole change if any file has an error."""
        with self._lock:
            now = timeutil.now()
            self.state.last_attempt_at = now
            self._signature = self._files_signature()
            result = load(self.paths)
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


def _idle(core: Core) -> bool:
    return (
        core.status == "inactive"
        and core.raw == "inactive"
        and not core.flapping
        and not core.changes
    )
