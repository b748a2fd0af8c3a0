"""Who is on call at a moment: rotations, follow-the-sun layers and overrides. Pure: no I/O,
no clock (every function takes the moment it answers for).

A **layer** hands the phone from one person to the next every ``every`` days (1: daily, 7:
weekly) at a wall-clock time in its time zone, starting on ``start`` with its first person.
Hand-overs are wall-clock times, so a weekly hand-over at 09:00 Europe/Berlin stays at 09:00
across the DST changes (the week it spans is 167 or 169 hours long). A hand-over that falls
on a closed day of the layer's calendar (a holiday of the contract it follows) moves to the
next open day at the same time; hand-overs that land on the same moment are one hand-over
(a daily rotation does not skip a person over a long weekend: the one holding the phone
keeps it until the next working day).

A layer may cover only part of the day (``hours``, e.g. ``08:00-20:00`` in its own time
zone): a **rotation** of several layers is follow-the-sun, and the first layer whose window
holds the moment answers. An **override** puts a person on call in a rotation for an
interval (a swap, a vacation cover); with ``replaces`` only while that person would be on
call. Later overrides win over earlier ones.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

#: A calendar's "is this local date closed" (holidays); None: every day is open.
ClosedDay = Callable[[date], bool]

#: How far ahead :func:`next_change` looks for a change of person.
HORIZON = 62 * 86400.0


@dataclass(frozen=True)
class Layer:
    """One hand-over cycle (see the module docstring). ``hours``: the daily window it covers
    as minutes since local midnight (``(480, 1200)`` for 08:00-20:00; ``end <= start`` wraps
    past midnight); None: all day."""

    people: tuple[str, ...]
    start: date
    timezone: str
    handover_at: time = time(9, 0)
    every_days: int = 7
    hours: tuple[int, int] | None = None
    name: str = ""
    closed: ClosedDay | None = field(default=None, compare=False, hash=False)

    def __post_init__(self) -> None:
        if not self.people:
            raise ValueError("a layer needs at least one person")
        if self.every_days < 1:
            raise ValueError("every_days must be at least 1")

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class Override:
    """``person`` is on call in ``rotation`` from ``start`` to ``end`` (UTC epoch seconds)."""

    rotation: str
    person: str
    start: float
    end: float
    replaces: str | None = None
    reason: str = ""
    created_by: str = ""
    id: str = ""


@dataclass(frozen=True)
class Rotation:
    name: str
    layers: tuple[Layer, ...]


@dataclass(frozen=True)
class OnCall:
    """The answer for one moment: who, by which layer, and the override that put them there."""

    rotation: str
    person: str | None
    layer: str = ""
    override: Override | None = None


# --------------------------------------------------------------------------- hand-overs


def _wall(day: date, at: time, tz: ZoneInfo) -> float:
    # fold=0: a time in the skipped spring hour maps past the change, a repeated autumn hour
    # to its first occurrence (the same rule as the SLA calendar).
    return datetime.combine(day, at, tz).timestamp()


class _Handovers:
    """The effective hand-over moments of one layer, computed lazily and cached."""

    def __init__(self, layer: Layer) -> None:
        self.layer = layer
        self.moments: list[float] = []
        self._slot = 0  # next nominal slot to place

    def _place(self, slot: int) -> float:
        layer = self.layer
        day = layer.start + timedelta(days=slot * layer.every_days)
        if layer.closed is not None:
            for _ in range(60):  # a run of closed days longer than two months: hand over anyway
                if not layer.closed(day):
                    break
                day += timedelta(days=1)
        return _wall(day, layer.handover_at, layer.tz)

    def extend_to(self, ts: float) -> None:
        """Place hand-overs until one lies beyond ``ts``."""
        while not self.moments or self.moments[-1] <= ts:
            moment = self._place(self._slot)
            self._slot += 1
            if not self.moments or moment > self.moments[-1]:
                self.moments.append(moment)

    def index_at(self, ts: float) -> int:
        """How many hand-overs have happened at ``ts`` minus one (-1: before the first)."""
        self.extend_to(ts)
        return bisect.bisect_right(self.moments, ts) - 1

    def after(self, ts: float) -> float:
        self.extend_to(ts)
        return self.moments[bisect.bisect_right(self.moments, ts)]


_CACHE: dict[Layer, _Handovers] = {}


def _handovers(layer: Layer) -> _Handovers:
    found = _CACHE.get(layer)
    if found is None or found.layer.closed is not layer.closed:
        if len(_CACHE) > 512:
            _CACHE.clear()
        found = _CACHE[layer] = _Handovers(layer)
    return found


def layer_person(layer: Layer, ts: float) -> str | None:
    """The layer's person at ``ts`` by its cycle alone (its window not considered)."""
    index = _handovers(layer).index_at(ts)
    return None if index < 0 else layer.people[index % len(layer.people)]


def covers(layer: Layer, ts: float) -> bool:
    """Whether ``ts`` lies in the layer's daily window (local wall clock)."""
    if layer.hours is None:
        return True
    local = datetime.fromtimestamp(ts, layer.tz)
    minute = local.hour * 60 + local.minute
    start, end = layer.hours
    if start < end:
        return start <= minute < end
    return minute >= start or minute < end  # wraps past midnight (or covers all day)


# --------------------------------------------------------------------------- answers


def who_at(rotation: Rotation, overrides: Sequence[Override], ts: float) -> OnCall:
    """Who is on call in ``rotation`` at ``ts`` (None: nobody — before its start, or outside
    every layer's window)."""
    base = OnCall(rotation.name, None)
    for layer in rotation.layers:
        if covers(layer, ts):
            person = layer_person(layer, ts)
            if person is not None:
                base = OnCall(rotation.name, person, layer.name)
                break
    answer = base
    for override in overrides:
        if override.rotation != rotation.name or not (override.start <= ts < override.end):
            continue
        if override.replaces is not None and override.replaces != base.person:
            continue
        answer = OnCall(rotation.name, override.person, answer.layer, override)
    return answer


def _boundaries(rotation: Rotation, overrides: Sequence[Override], ts: float, until: float):
    moments: set[float] = set()
    for layer in rotation.layers:
        handovers = _handovers(layer)
        moment = ts
        while True:
            moment = handovers.after(moment)
            if moment > until:
                break
            moments.add(moment)
        if layer.hours is not None:
            tz = layer.tz
            day = datetime.fromtimestamp(ts, tz).date()
            last = datetime.fromtimestamp(until, tz).date()
            while day <= last:
                for minute in layer.hours:
                    at = time(minute // 60 % 24, minute % 60)
                    extra = timedelta(days=1) if minute >= 24 * 60 else timedelta()
                    moments.add(_wall(day + extra, at, tz))
                day += timedelta(days=1)
    for override in overrides:
        if override.rotation == rotation.name:
            moments.update((override.start, override.end))
    return sorted(m for m in moments if ts < m <= until)


def next_change(
    rotation: Rotation, overrides: Sequence[Override], ts: float, horizon: float = HORIZON
) -> tuple[float, OnCall] | None:
    """The first moment after ``ts`` at which someone else is on call, and who; None when
    nothing changes within ``horizon``."""
    now = who_at(rotation, overrides, ts)
    for moment in _boundaries(rotation, overrides, ts, ts + horizon):
        then = who_at(rotation, overrides, moment)
        if then.person != now.person:
            return moment, then
    return None


def shifts(
    rotation: Rotation, overrides: Sequence[Override], start: float, end: float
) -> list[tuple[float, float, OnCall]]:
    """The on-call shifts between ``start`` and ``end``: (from, to, who), consecutive."""
    out: list[tuple[float, float, OnCall]] = []
    current = who_at(rotation, overrides, start)
    since = start
    for moment in _boundaries(rotation, overrides, start, end):
        if moment >= end:
            break
        then = who_at(rotation, overrides, moment)
        if then.person != current.person or then.override != current.override:
            out.append((since, moment, current))
            current, since = then, moment
    out.append((since, end, current))
    return out


def nights(
    rotation: Rotation,
    overrides: Sequence[Override],
    days: Sequence[date],
    timezone: str,
    at: time = time(3, 0),
) -> dict[str, int]:
    """Per person, how many of the nights before ``days`` they carried the phone: who was on
    call at ``at`` (03:00 local by default) of each day."""
    tz = ZoneInfo(timezone)
    counts: dict[str, int] = {}
    for day in days:
        person = who_at(rotation, overrides, _wall(day, at, tz)).person
        if person is not None:
            counts[person] = counts.get(person, 0) + 1
    return counts
