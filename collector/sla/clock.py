"""SLA clocks of one incident as a pure function of its facts. No I/O, no wall clock.

The clocks start at detection (the incident's ``opened_at``). The **response** clock stops
at the first human acknowledgement; the **resolution** clock at resolution. Both stand
still during pauses (stays in a waiting state, and the time between a resolution and a
reopen). Each target counts on its own clock (business or calendar, see
:func:`collector.sla.calendar.clock_of`).

A pause still open is counted up to ``now``; the due time shown while paused is therefore
the one that would hold if the clock resumed right now (it moves later on every sweep until
the clock resumes). A priority change is simply a new call with the new priority's targets:
everything is recomputed from detection, and the pauses (kept in ``sla_pauses``) still count.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from collector.contracts.model import Calendar, PriorityTargets, Target
from collector.sla.calendar import BusinessCalendar, Clock, clock_of

TargetName = Literal["response", "resolution"]
ClockState = Literal["running", "paused", "stopped"]
TARGETS: tuple[TargetName, ...] = ("response", "resolution")


@dataclass(frozen=True, slots=True)
class Pause:
    """A stay in a waiting state (``ended_at`` None: still waiting)."""

    started_at: float
    ended_at: float | None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class TargetStatus:
    """One target's clock as of ``now`` (or as of its stop)."""

    target: TargetName
    within: float  # seconds allowed, on ``clock``
    clock: Clock
    warn_at: float  # fraction of ``within`` at which a warning is due
    stopped_at: float | None
    due_at: float | None  # None: never (a calendar without open hours)
    warn_due_at: float | None
    elapsed: float  # seconds counted on ``clock``, pauses excluded
    breached: bool
    state: ClockState

    @property
    def warning_due(self) -> bool:
        return (
            self.state == "running"
            and not self.breached
            and self.elapsed >= self.within * self.warn_at
        )

    @property
    def percent(self) -> float:
        return 100.0 * self.elapsed / self.within


@dataclass(frozen=True, slots=True)
class SlaStatus:
    """Both clocks of an incident, the pauses as counted, and the overall state."""

    priority: str
    response: TargetStatus | None
    resolution: TargetStatus | None
    paused_seconds: float  # calendar seconds spent paused (up to resolution or now)
    state: ClockState

    def targets(self) -> list[TargetStatus]:
        return [t for t in (self.response, self.resolution) if t is not None]


def normalize(pauses: Iterable[Pause], start: float, end: float) -> list[tuple[float, float]]:
    """Pauses clipped to [start, end] (an open pause ends at ``end``), sorted and merged."""
    spans = sorted(
        (max(p.started_at, start), min(end if p.ended_at is None else p.ended_at, end))
        for p in pauses
    )
    merged: list[tuple[float, float]] = []
    for a, b in spans:
        if b <= a:
            continue
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def counted(
    cal: BusinessCalendar, clock: Clock, start: float, end: float, spans: list[tuple[float, float]]
) -> float:
    """Time on ``clock`` between ``start`` and ``end`` outside the (normalized) pause spans."""
    total = cal.measure(clock, start, end)
    return max(0.0, total - sum(cal.measure(clock, a, b) for a, b in spans))


def reach(
    cal: BusinessCalendar,
    clock: Clock,
    start: float,
    seconds: float,
    spans: list[tuple[float, float]],
) -> float | None:
    """When ``seconds`` on ``clock`` outside the pause spans have passed since ``start``."""
    remaining, cursor = seconds, start
    for a, b in spans:
        available = cal.measure(clock, cursor, a)
        if remaining <= available:
            break
        remaining -= available
        cursor = max(cursor, b)
    due = cal.advance(clock, cursor, remaining)
    return None if math.isinf(due) else due


def target_status(
    name: TargetName,
    target: Target,
    warn_at: float,
    clock: Clock,
    cal: BusinessCalendar,
    *,
    opened_at: float,
    stopped_at: float | None,
    pauses: list[Pause],
    now: float,
) -> TargetStatus:
    end = stopped_at if stopped_at is not None else max(now, opened_at)
    spans = normalize(pauses, opened_at, end)
    elapsed = counted(cal, clock, opened_at, end, spans)
    waiting = any(p.ended_at is None for p in pauses)
    state: ClockState = "stopped" if stopped_at is not None else "paused" if waiting else "running"
    return TargetStatus(
        target=name,
        within=target.within,
        clock=clock,
        warn_at=warn_at,
        stopped_at=stopped_at,
        due_at=reach(cal, clock, opened_at, target.within, spans),
        warn_due_at=reach(cal, clock, opened_at, target.within * warn_at, spans),
        elapsed=elapsed,
        breached=elapsed > target.within,
        state=state,
    )


def compute(
    *,
    priority: str,
    targets: PriorityTargets,
    calendar: Calendar | BusinessCalendar,
    opened_at: float,
    responded_at: float | None,
    resolved_at: float | None,
    pauses: Iterable[Pause],
    now: float,
) -> SlaStatus:
    """The incident's SLA status at ``now`` for the targets of its (current) ``priority``.

    ``responded_at``: the first acknowledgement (or the resolution when there was none);
    ``resolved_at``: None while unresolved.
    """
    cal = calendar if isinstance(calendar, BusinessCalendar) else BusinessCalendar(calendar)
    pauses = list(pauses)
    stops = {"response": responded_at, "resolution": resolved_at}
    found: dict[str, TargetStatus | None] = {}
    for name in TARGETS:
        target = getattr(targets, name)
        found[name] = (
            None
            if target is None
            else target_status(
                name,
                target,
                targets.warn_at,
                clock_of(cal.calendar, priority, target),
                cal,
                opened_at=opened_at,
                stopped_at=stops[name],
                pauses=pauses,
                now=now,
            )
        )
    paused = sum(
        b - a
        for a, b in normalize(
            pauses, opened_at, resolved_at if resolved_at is not None else max(now, opened_at)
        )
    )
    states = {t.state for t in found.values() if t is not None}
    state: ClockState = (
        "running" if "running" in states else "paused" if "paused" in states else "stopped"
    )
    return SlaStatus(
        priority=priority,
        response=found["response"],
        resolution=found["resolution"],
        paused_seconds=paused,
        state=state,
    )


def notices_due(status: SlaStatus, notified: Iterable[str]) -> list[tuple[TargetName, str]]:
    """The notices not sent yet: ``(target, "warning" | "breach")``, each at most once per target.

    A breach is due once a target is breached (also when its clock stopped late); a warning
    once a running target passed ``warn_at`` of its time. A target that breached before its
    warning went out gets only the breach.
    """
    sent = set(notified)
    due: list[tuple[TargetName, str]] = []
    for t in status.targets():
        if t.breached and f"{t.target}:breach" not in sent:
            due.append((t.target, "breach"))
        elif (
            t.warning_due and f"{t.target}:warning" not in sent and f"{t.target}:breach" not in sent
        ):
            due.append((t.target, "warning"))
    return due
