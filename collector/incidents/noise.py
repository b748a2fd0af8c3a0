"""Noise control's I/O shell: the maintenance file, the maintenance table, the pipeline stages
(maintenance, dependency) and the sweep that releases deferred signals.

The pure decisions live in :mod:`~collector.incidents.maintenance` and
:mod:`~collector.incidents.dependencies`. Both stages have the pipeline's one signature
``(conn, signal, now) -> Decision`` and are registered in :mod:`collector.incidents.stages`.

A deferred signal is kept in ``deferred_signals`` (the newest per fingerprint). A resolve
for a held-back fingerprint is folded into its row and suppressed: an alert that resolves
inside a maintenance window opens nothing. :func:`release_due` (run by the server every
few seconds) takes each row whose ``until`` has passed, re-checks the alert — a rule
alert must still be firing in ``rule_alerts`` — and hands the signal to the emitter (the
incident lifecycle), which runs the pipeline again.

Configuration comes from ``maintenance_file`` (settings): ``timezones`` (client → IANA
zone), ``windows`` and ``dependencies``; :func:`configure` installs it, :meth:`NoiseControl.reload`
re-reads the file (a broken file is refused whole; the previous one keeps running).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, overload

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, field_validator
from sqlalchemy.engine import Connection

from agent.yamlsource import ConfigError, YamlDocument, validate
from collector import timeutil
from collector.errors import AlreadyExists, NotFound
from collector.incidents import dependencies as deps
from collector.incidents import pipeline
from collector.incidents.maintenance import (
    MaintenanceWindow,
    Scope,
    next_occurrence,
    occurrence,
    open_until,
    window_zone,
    zone,
)
from collector.incidents.pipeline import PASS, AlertSignal, Decision, defer, suppress
from collector.schema import (
    assets,
    clients,
    deferred_signals,
    incidents,
    maintenance_windows,
    rule_alerts,
    sites,
)
from collector.store import Store, inserted_id

log = logging.getLogger(__name__)

#: ``emit(conn, signal, now)``: hand a released or synthetic signal to the incident lifecycle
#: (which runs the pipeline). Installed by the lifecycle with :func:`set_emitter`.
Emitter = Callable[[Connection, AlertSignal, float], Any]
#: ``incident_key(conn, fingerprint)``: the key of the active incident of a fingerprint, if any.
KeyLookup = Callable[[Connection, str], str | None]


class NoiseConfig(BaseModel):
    """The maintenance file: client time zones, maintenance windows, dependencies."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timezones: dict[str, str] = {}
    windows: list[MaintenanceWindow] = []
    dependencies: deps.DependencyConfig = deps.DependencyConfig()

    @field_validator("timezones")
    @classmethod
    def _zones(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value.values():
            zone(name)
        return value


def load_config(path: str | Path | None) -> NoiseConfig:
    """Read and validate the maintenance file (ConfigError with ``file:line: key: problem``)."""
    if path is None:
        return NoiseConfig()
    doc = YamlDocument.from_file(path)
    config: NoiseConfig = validate(NoiseConfig, doc.data, doc)
    names = [(w.client, w.name) for w in config.windows]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(
            [
                f"{doc.where(['windows'])}: windows: duplicate name {n!r} for client {c!r}"
                for c, n in dupes
            ]
        )
    return config


class NoiseControl:
    """The running noise configuration (reloadable) and the hooks into the lifecycle."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path else None
        self.config = load_config(self.path)
        self._lock = threading.Lock()
        self.emit: Emitter | None = None
        self.incident_key: KeyLookup | None = None
        self.errors: list[str] = []

    def reload(self) -> bool:
        """Re-read the file; on an error keep the running config and remember the problems."""
        try:
            config = load_config(self.path)
        except ConfigError as exc:
            self.errors = exc.problems
            for problem in exc.problems:
                log.error("maintenance file refused: %s", problem)
            return False
        with self._lock:
            self.config, self.errors = config, []
        log.info("maintenance file loaded: %d window(s)", len(config.windows))
        return True

    def key_of(self, conn: Connection, fingerprint: str) -> str | None:
        lookup = self.incident_key
        if lookup is None:
            return None
        key: str | None = pipeline.remember(
            pipeline.ACTIVE_KEYS, fingerprint, lambda: lookup(conn, fingerprint)
        )
        return key


_control = NoiseControl()


def configure(control: NoiseControl) -> NoiseControl:
    """Install the control the registered stages use (the app does this at startup)."""
    global _control
    _control = control
    return control


def control() -> NoiseControl:
    return _control


def set_emitter(emit: Emitter, incident_key: KeyLookup | None = None) -> None:
    """The lifecycle's entry point for released and synthetic (site) signals."""
    _control.emit = emit
    _control.incident_key = incident_key


def active_incident_key(conn: Connection, fingerprint: str) -> str | None:
    """The key of the open (or acknowledged, waiting) incident of ``fingerprint``, if any."""
    return conn.execute(
        sa.select(incidents.c.key)
        .where(
            incidents.c.fingerprint == fingerprint, incidents.c.state.notin_(("resolved", "closed"))
        )
        .order_by(incidents.c.id.desc())
        .limit(1)
    ).scalar()


def release_once(store: Store, now: float | None = None) -> int:
    """The ``noise-release`` periodic job: release the deferred signals that are due."""
    now = timeutil.now() if now is None else now
    with store.read() as conn:  # the common case, nothing due, takes no write lock
        if (
            conn.execute(
                sa.select(deferred_signals.c.fingerprint)
                .where(deferred_signals.c.until <= now)
                .limit(1)
            ).first()
            is None
        ):
            return 0
    total, deadline = 0, time.monotonic() + RELEASE_BUDGET
    while True:  # in slices: ingest's writes go on between them (thousands due at once)
        with store.write() as conn:
            released, more = release_due(conn, now, limit=RELEASE_SLICE)
        total += len(released)
        if not more or time.monotonic() > deadline:
            break  # what is left is due at the job's next run
        # Let a waiting writer in (ingest): the store's write lock is not fair, and this
        # thread would take it again before a waiter woke up.
        time.sleep(0.01)
    if total:
        log.info("released %d held-back signal(s)", total)
    return total


# ---------------------------------------------------------------------- maintenance table


def stored_windows(
    conn: Connection, client: str | None = None
) -> list[tuple[int, MaintenanceWindow]]:
    query = sa.select(maintenance_windows.c.id, maintenance_windows.c.definition).order_by(
        maintenance_windows.c.id
    )
    if client is not None:
        query = query.join(clients, clients.c.id == maintenance_windows.c.client_id).where(
            clients.c.name == client
        )
    out = []
    for row in conn.execute(query):
        data = row.definition if isinstance(row.definition, dict) else json.loads(row.definition)
        out.append((row.id, MaintenanceWindow.model_validate(data)))
    return out


@dataclass(frozen=True, slots=True)
class ListedWindow:
    """A window as the API and CLI list it: where it is defined, and its current/next occurrence."""

    id: int | None  # None: from the maintenance file (edit the file to change it)
    source: str  # "api" | "file"
    window: MaintenanceWindow
    current: tuple[float, float] | None
    next: tuple[float, float] | None


def list_windows(conn: Connection, now: float, client: str | None = None) -> list[ListedWindow]:
    """The file's windows and the table's, with the occurrence open at ``now`` and the next one."""
    from_file = [
        (None, "file", w) for w in _control.config.windows if client is None or w.client == client
    ]
    from_table = [(i, "api", w) for i, w in stored_windows(conn, client)]
    out = []
    for window_id, source, window in from_file + from_table:
        tz = window_zone(window, _control.config.timezones)
        out.append(
            ListedWindow(
                window_id,
                source,
                window,
                occurrence(window, tz, now),
                next_occurrence(window, tz, now),
            )
        )
    return out


def add_window(conn: Connection, window: MaintenanceWindow, now: float) -> int:
    """Store ``window`` (NotFound: unknown client; AlreadyExists: the client has one of that name)."""
    client_id = conn.execute(
        sa.select(clients.c.id).where(clients.c.name == window.client)
    ).scalar()
    if client_id is None:
        raise NotFound(f"no client named {window.client!r}")
    taken = (
        any(w.client == window.client and w.name == window.name for w in _control.config.windows)
        or conn.execute(
            sa.select(maintenance_windows.c.id).where(
                maintenance_windows.c.client_id == client_id,
                maintenance_windows.c.name == window.name,
            )
        ).first()
    )
    if taken:
        raise AlreadyExists(
            f"client {window.client!r} already has a maintenance window named {window.name!r}"
        )
    result = conn.execute(
        maintenance_windows.insert().values(
            client_id=client_id,
            name=window.name,
            definition=window.model_dump(mode="json", exclude_defaults=True),
            created_at=now,
        )
    )
    return inserted_id(result)


def delete_window(conn: Connection, window_id: int) -> None:
    """Delete a window defined through the API (NotFound otherwise). Held signals are released
    at their recorded time; an alert still firing then opens its incident."""
    if (
        conn.execute(
            maintenance_windows.delete().where(maintenance_windows.c.id == window_id)
        ).rowcount
        == 0
    ):
        raise NotFound(
            f"no maintenance window with id {window_id} (windows from the maintenance file "
            f"are changed in the file)"
        )


def windows_for(conn: Connection, client: str) -> list[MaintenanceWindow]:
    """The file's windows and the table's windows of ``client``."""
    from_file = [w for w in _control.config.windows if w.client == client]
    return from_file + [w for _, w in stored_windows(conn, client)]


# ---------------------------------------------------------------------- deferred signals


def signal_to_json(signal: AlertSignal) -> dict[str, Any]:
    data = asdict(signal)
    data["labels"] = dict(signal.labels)
    data["tags"] = sorted(signal.tags)
    return data


def signal_from_json(data: dict[str, Any]) -> AlertSignal:
    return AlertSignal(
        **{
            **data,
            "labels": dict(data.get("labels") or {}),
            "tags": frozenset(data.get("tags") or ()),
        }
    )


def _deferred(conn: Connection, fingerprint: str) -> Any:
    return conn.execute(
        sa.select(deferred_signals).where(deferred_signals.c.fingerprint == fingerprint)
    ).first()


def hold(
    conn: Connection, signal: AlertSignal, stage: str, until: float, reason: str, now: float
) -> Decision:
    """Keep ``signal`` (the newest per fingerprint) until ``until``; the answer is defer."""
    values = {
        "stage": stage,
        "reason": reason[:300],
        "until": until,
        "status": signal.status,
        "signal": signal_to_json(signal),
        "updated_at": now,
    }
    updated = conn.execute(
        deferred_signals.update()
        .where(deferred_signals.c.fingerprint == signal.fingerprint)
        .values(**values)
    )
    if updated.rowcount == 0:
        conn.execute(
            deferred_signals.insert().values(
                fingerprint=signal.fingerprint, deferred_at=now, **values
            )
        )
    return defer(until, reason=reason)


#: Deferred signals released in one transaction by :func:`release_once` (each may open an
#: incident: ~10 ms on SQLite; a slice holds the write lock for about half a second).
RELEASE_SLICE = 50
#: Seconds one run of the job may release for; the rest waits for its next run.
RELEASE_BUDGET = 30.0


@overload
def release_due(conn: Connection, now: float, emit: Emitter | None = None) -> list[AlertSignal]: ...


@overload
def release_due(
    conn: Connection, now: float, emit: Emitter | None = None, *, limit: int
) -> tuple[list[AlertSignal], bool]: ...


def release_due(
    conn: Connection, now: float, emit: Emitter | None = None, *, limit: int | None = None
) -> list[AlertSignal] | tuple[list[AlertSignal], bool]:
    """Release every deferred signal whose time has come; returns those handed to ``emit``.
    With ``limit``: at most that many rows (the earliest due), and whether more are due.

    A row is claimed by deleting it (the row count says who won, so two collectors on one
    PostgreSQL never release a signal twice). Dropped: a resolve (it resolved while held),
    and a rule alert that no longer fires.
    """
    query = (
        sa.select(deferred_signals)
        .where(deferred_signals.c.until <= now)
        .order_by(deferred_signals.c.until, deferred_signals.c.fingerprint)
    )
    rows = conn.execute(query if limit is None else query.limit(limit + 1)).all()
    more = limit is not None and len(rows) > limit
    with pipeline.batch():  # released together: each site read once (a silent fleet's wave)
        released = _release_rows(conn, now, emit or _control.emit, rows[:limit])
    return released if limit is None else (released, more)


def _release_rows(
    conn: Connection, now: float, emit: Emitter | None, rows: Sequence[Any]
) -> list[AlertSignal]:
    released = []
    for row in rows:
        claimed = conn.execute(
            deferred_signals.delete().where(
                deferred_signals.c.fingerprint == row.fingerprint,
                deferred_signals.c.until == row.until,
            )
        ).rowcount
        if claimed != 1:
            continue
        data = row.signal if isinstance(row.signal, dict) else json.loads(row.signal)
        signal = signal_from_json(data)
        if row.status != "firing":
            log.info(
                "deferred %s %s resolved while held (%s): nothing to open",
                signal.name,
                signal.fingerprint,
                row.reason,
            )
            continue
        if signal.origin == "proactive" and not _still_firing(conn, signal):
            log.info(
                "deferred %s %s no longer fires: nothing to open", signal.name, signal.fingerprint
            )
            continue
        if emit is None:
            log.warning(
                "deferred %s %s due but no incident lifecycle is installed",
                signal.name,
                signal.fingerprint,
            )
            continue
        emit(conn, signal, now)
        released.append(signal)
    return released


def _still_firing(conn: Connection, signal: AlertSignal) -> bool:
    if signal.name == deps.SITE_UNREACHABLE:
        return True  # synthetic: a resolve while held has already marked the row resolved
    status = conn.execute(
        sa.select(rule_alerts.c.status).where(rule_alerts.c.fingerprint == signal.fingerprint)
    ).scalar()
    return status == "firing"


# ---------------------------------------------------------------------- stages


def maintenance_stage(conn: Connection, signal: AlertSignal, now: float) -> Decision:
    """Hold back a firing signal inside a window covering it; fold a resolve into its held signal."""
    if signal.origin == "user_reported":
        return PASS  # the client called: a person is never held back by a window
    if signal.status == "resolved":
        row = _deferred(conn, signal.fingerprint)
        if row is None:
            return PASS
        conn.execute(
            deferred_signals.update()
            .where(deferred_signals.c.fingerprint == signal.fingerprint)
            .values(status="resolved", updated_at=now)
        )
        return suppress(f"resolved while held back ({row.reason})")
    scope = Scope(signal.client, signal.site, signal.asset, frozenset(signal.tags), signal.name)
    windows = pipeline.remember(  # no stage writes windows
        "maintenance-windows", signal.client, lambda: windows_for(conn, signal.client)
    )
    hit = open_until(windows, scope, now, _control.config.timezones)
    if hit is None:
        return PASS
    until, name = hit
    return hold(conn, signal, "maintenance", until, f"maintenance window {name}", now)


def _site_state(
    conn: Connection, signal: AlertSignal, config: deps.DependencyConfig, now: float
) -> deps.SiteState:
    count, silent, down = pipeline.remember(
        "dependency-site",
        (signal.client_id, signal.site or ""),
        lambda: _site_snapshot(conn, signal, config),
    )
    if not count:
        return deps.SiteState(assets=0)
    return deps.SiteState(
        assets=count,
        silent=silent,
        uplinks_down=down,
        site_incident=_control.key_of(
            conn, deps.site_fingerprint(signal.client_id, signal.site or "")
        ),
        uplink_incidents={fp: key for fp in down.values() if (key := _control.key_of(conn, fp))},
    )


def _site_snapshot(
    conn: Connection, signal: AlertSignal, config: deps.DependencyConfig
) -> tuple[int, frozenset[str], dict[str, str]]:
    """The site's asset count, its silent assets and its down uplinks (name → fingerprint):
    what a batch of signals cannot change (the rule alerts are written before they run)."""
    site_id = conn.execute(
        sa.select(sites.c.id).where(
            sites.c.client_id == signal.client_id, sites.c.name == signal.site
        )
    ).scalar()
    if site_id is None:
        return 0, frozenset(), {}
    site_assets = conn.execute(
        sa.select(assets.c.id, assets.c.name, assets.c.tags).where(assets.c.site_id == site_id)
    ).all()
    names = {r.id: r.name for r in site_assets}
    declared = set(config.uplinks.get(signal.client, {}).get(signal.site or "", []))
    uplink_ids = {
        r.id
        for r in site_assets
        if r.name in declared or set(r.tags or ()).intersection(config.uplink_tags)
    }
    firing = conn.execute(
        sa.select(rule_alerts.c.fingerprint, rule_alerts.c.rule_id, rule_alerts.c.asset_id)
        .join(assets, assets.c.id == rule_alerts.c.asset_id)
        .where(assets.c.site_id == site_id, rule_alerts.c.status == "firing")
    ).all()
    silent = frozenset(names[r.asset_id] for r in firing if r.rule_id in config.silent_rules)
    down = {
        names[r.asset_id]: r.fingerprint
        for r in firing
        if r.asset_id in uplink_ids and r.rule_id in config.outage_rules
    }
    return len(names), silent, down


def dependency_stage(conn: Connection, signal: AlertSignal, now: float) -> Decision:
    """Suppress signals behind a down uplink or from an unreachable site (one site incident)."""
    if signal.site is None or signal.name == deps.SITE_UNREACHABLE:
        return PASS
    config = _control.config.dependencies
    state = _site_state(conn, signal, config, now)
    verdict = deps.decide(signal, state, config, now)
    if verdict.site_signal is not None:
        if _control.emit is not None:
            # The site's other signals of this batch see the same site: its signal once.
            fingerprint = deps.site_fingerprint(signal.client_id, signal.site)
            emitted = pipeline.memo("dependency-site-signal")
            if emitted is None or emitted.get(fingerprint) != verdict.site_signal:
                site_signal = deps.site_signal(signal, state, verdict.site_signal, now)
                _control.emit(conn, site_signal, now)
                if emitted is not None:
                    emitted[fingerprint] = verdict.site_signal
            if verdict.decision.action == "suppress" and verdict.decision.parent is None:
                key = _control.key_of(conn, fingerprint)
                verdict = deps.Verdict(
                    suppress(verdict.decision.reason, parent=key), verdict.site_signal
                )
        else:
            log.warning(
                "site %s of %s: no incident lifecycle installed for the site signal",
                signal.site,
                signal.client,
            )
    decision = verdict.decision
    if decision.action == "defer" and decision.until is not None:
        return hold(conn, signal, "dependency", decision.until, decision.reason, now)
    return decision
