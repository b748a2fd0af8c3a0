"""What the incident lifecycle receives, and the stages a signal passes on its way there.

Every source of alerts turns what it has into one :class:`AlertSignal`: the rule engine
(a :class:`~collector.rules.engine.Transition`, origin ``proactive``), the Alertmanager
receiver (origin ``external``) and a person (origin ``user_reported``). The signal then
runs through :data:`STAGES` in order, each with ONE signature (Alertmanager's notify
``Stage``)::

    def stage(conn: Connection, signal: AlertSignal, now: float) -> Decision

- ``conn`` is the open write transaction the incident change and its outbox rows will be
  written in (a stage may read, and may write its own bookkeeping, e.g. "suppressed while in
  maintenance window W"; it must not commit or call the network);
- ``now`` is UTC epoch seconds;
- the answer is :data:`PASS` (go on to the next stage), :func:`annotate` (go on, and open the
  incident with these labels and events, e.g. contract scope's ``scope=out-of-scope``),
  :func:`suppress` (drop the signal;
  ``reason`` is recorded, ``parent`` names the incident key it is folded into, e.g. the site
  incident of a dependency) or :func:`defer` (hold it until ``until``; the owner of the stage
  re-emits it through :func:`run` when the time comes, e.g. at a maintenance window's end).

The first non-pass decision wins; the remaining stages are not called. A stage that raises
fails the whole transaction (ingest keeps the samples; the rule state is rolled back with
it), so stages must be cheap and total.

Register a stage by adding it to :data:`STAGES` in :mod:`collector.incidents.stages` (one
registry table, imported lazily, CONVENTIONS 1 and 6). The order is the order of that tuple:
maintenance → dependency → (the lifecycle itself dedupes by fingerprint; re-notification
back-off is applied by the incident service, because a stage cannot turn a repeat into an
update — see :mod:`collector.incidents.renotify`).

Signals applied together in one transaction (a rule batch, a sweep: after a fleet-wide
silence, one ``agent-silent`` per host) run inside :func:`batch`: a stage may then keep in
:func:`memo` what the other signals of the batch cannot change — a site's assets and firing
alerts are written before the first signal is applied and no stage writes them — instead of
reading it again per signal (which made 30,000 silent hosts a sweep of minutes).
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

SignalStatus = Literal["firing", "resolved"]
SignalOrigin = Literal["proactive", "external", "user_reported"]


@dataclass(frozen=True, slots=True)
class AlertSignal:
    """One alert event on its way to the incident lifecycle.

    ``fingerprint`` identifies the alert (rule + asset + identifying labels); the lifecycle
    keeps one open incident per fingerprint. ``severity`` is ``warning|critical`` (or None);
    ``priority`` is the incident priority the rule assigns to this severity
    (``critical|major|minor|technical``). ``value`` and ``ts`` (UTC epoch seconds) are the
    sample that caused the event. ``escalated``: the severity rose while firing.
    """

    fingerprint: str
    name: str  # rule id or Alertmanager alertname
    client_id: int
    client: str
    status: SignalStatus
    ts: float
    origin: SignalOrigin = "proactive"
    site: str | None = None
    asset_id: int | None = None
    asset: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    severity: str | None = None
    priority: str = "minor"
    kind: str = "problem"
    summary: str = ""
    description: str = ""
    value: float | None = None
    flapping: bool = False
    escalated: bool = False
    #: Tags of the asset (maintenance / dependency scopes match on them).
    tags: frozenset[str] = frozenset()
    #: The source event's own name (e.g. the rule engine's ``firing``/``escalated``/``flapping``).
    event: str = ""
    #: What ``summary`` was rendered from (a rule's; collector.rules.engine.title_source), so
    #: the title can be said in the client's language (collector.incidents.titles).
    title_source: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class AddedEvent:
    """An incident event a stage adds to the incident the signal opens (e.g. ``out_of_scope``)."""

    type: str
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Decision:
    """A stage's answer. Build with :data:`PASS`, :func:`annotate`, :func:`suppress` or
    :func:`defer`.

    A passing decision may carry ``labels`` and ``events`` for the incident the signal opens:
    the incident is written once, complete (its first ticket shows them), instead of being
    patched afterwards by a listener. They apply only when the signal opens a new incident."""

    action: Literal["pass", "suppress", "defer"]
    reason: str = ""
    parent: str | None = None  # incident key the suppressed signal is folded into
    until: float | None = None  # defer: UTC epoch seconds
    labels: Mapping[str, str] = field(default_factory=dict)
    events: tuple[AddedEvent, ...] = ()

    @property
    def passes(self) -> bool:
        return self.action == "pass"


PASS = Decision("pass")


def annotate(labels: Mapping[str, str], events: Sequence[AddedEvent] = ()) -> Decision:
    """Pass, and open the incident (if the signal opens one) with these labels and events."""
    return Decision("pass", labels=dict(labels), events=tuple(events))


def suppress(reason: str, parent: str | None = None) -> Decision:
    return Decision("suppress", reason=reason, parent=parent)


def defer(until: float, reason: str = "") -> Decision:
    return Decision("defer", reason=reason, until=until)


Stage = Callable[["Connection", AlertSignal, float], Decision]


@cache
def stages(people: bool = False) -> tuple[Stage, ...]:
    """The registered stages, in order (imported once from :mod:`collector.incidents.stages`);
    ``people``: those a problem reported by a person goes through (``PEOPLE_STAGES``)."""
    from collector.incidents.stages import PEOPLE_STAGES, STAGES

    out: list[Stage] = []
    for entry in PEOPLE_STAGES if people else STAGES:
        if isinstance(entry, str):
            module_name, _, attr = entry.partition(":")
            out.append(getattr(importlib.import_module(module_name), attr))
        else:
            out.append(entry)
    return tuple(out)


class _Batch:
    __slots__ = ("memos", "pending")

    def __init__(self) -> None:
        self.memos: dict[str, dict[Any, Any]] = {}
        #: Rows to insert, in order: (connection, table, row).
        self.pending: list[tuple[Connection, Any, dict[str, Any]]] = []


_batch: contextvars.ContextVar[_Batch | None] = contextvars.ContextVar(
    "incident_pipeline_batch", default=None
)


@contextlib.contextmanager
def batch() -> Iterator[None]:
    """Apply the signals of one transaction together: :func:`memo` keeps values until the
    end, where the rows of :func:`insert_later` are written. Inside a batch, a nested
    ``batch()`` is part of it."""
    if _batch.get() is not None:
        yield
        return
    token = _batch.set(_Batch())
    try:
        yield
        flush()
    finally:
        _batch.reset(token)


#: The memo of active incident keys by fingerprint (read by stages, e.g. the site incident's
#: key; the incident service drops a fingerprint's entry whenever it writes its incident).
ACTIVE_KEYS = "active-incident-key"


def memo(name: str) -> dict[Any, Any] | None:
    """The batch's memo ``name`` (a dict the caller fills), or None outside :func:`batch`."""
    current = _batch.get()
    return None if current is None else current.memos.setdefault(name, {})


def remember(name: str, key: Any, compute: Callable[[], Any]) -> Any:
    """``compute()``, kept in the batch's memo ``name`` under ``key`` (None included);
    outside a batch, computed each time."""
    current = memo(name)
    if current is None:
        return compute()
    if key not in current:
        current[key] = compute()
    return current[key]


def insert_later(conn: Connection, table: Any, row: dict[str, Any]) -> None:
    """Insert ``row`` into ``table``: at once outside a batch; in a batch with the batch's
    other rows of the table, in one statement at :func:`flush` (the end of the batch, or
    earlier: before a write those rows must precede)."""
    current = _batch.get()
    if current is None:
        conn.execute(table.insert(), row)
    else:
        current.pending.append((conn, table, row))


def flush() -> None:
    """Write the batch's pending rows now, in their order (consecutive rows of one table and
    connection in one ``executemany``)."""
    current = _batch.get()
    if current is None or not current.pending:
        return
    pending, current.pending = current.pending, []
    start = 0
    for i in range(1, len(pending) + 1):
        if i == len(pending) or pending[i][:2] != pending[start][:2]:
            conn, table, _ = pending[start]
            conn.execute(table.insert(), [row for _, _, row in pending[start:i]])
            start = i


def run(
    conn: Connection, signal: AlertSignal, now: float, pipeline: Sequence[Stage] | None = None
) -> Decision:
    """Run ``signal`` through the stages; the first non-pass decision wins. Otherwise the
    labels and events of the passing decisions are merged (a later stage's label wins).
    A user-reported signal goes through the people's stages by default."""
    if pipeline is None:
        pipeline = stages(people=signal.origin == "user_reported")
    labels: dict[str, str] = {}
    events: list[AddedEvent] = []
    for stage in pipeline:
        decision = stage(conn, signal, now)
        if not decision.passes:
            return decision
        labels.update(decision.labels)
        events.extend(decision.events)
    return annotate(labels, events) if labels or events else PASS


def describe(decision: Decision) -> dict[str, Any]:
    """The decision as event data (recorded when a signal is suppressed or deferred)."""
    return {
        "action": decision.action,
        "reason": decision.reason,
        "parent": decision.parent,
        "until": decision.until,
    }
