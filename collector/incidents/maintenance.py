"""Maintenance windows: when they are open and what they cover. Pure: plain values, no I/O.

A window is one-off (``start``/``end``) or recurring (``cron`` or ``rrule``, each occurrence
lasting ``duration``). Recurrences are written in the client's wall-clock time: "Tuesdays
22:00" stays 22:00 in Berlin across DST changes, while the duration is real elapsed time.
A wall-clock start that does not exist (inside a spring-forward gap) is read with the offset
before the change, i.e. it happens one hour later on the clock; an ambiguous one (the
repeated autumn hour) is its first occurrence. Everything returned is UTC epoch seconds.

A window covers an alert when the client matches and every selector list that is given
(``sites``, ``assets``, ``tags``, ``rules``) has a match; lists are OR inside, AND across.
The I/O shell (YAML file, table, pipeline stage) is :mod:`collector.incidents.noise`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from dateutil.rrule import rrule, rruleset, rrulestr
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from agent.durations import Duration

Name = Annotated[str, StringConstraints(min_length=1, max_length=253)]
#: The longest occurrence: bounds how far back evaluation looks for a covering start.
MAX_DURATION = 31 * 86400.0
#: DTSTART of an RRULE that gives none: only its time of day (midnight) matters, with BYHOUR.
_RRULE_DEFAULT_START = datetime(2024, 1, 1)
_ZONED_DTSTART = re.compile(r"DTSTART;TZID|DTSTART:\d{8}T\d{6}Z", re.IGNORECASE)


def _window_duration(seconds: float) -> float:
    if not 0 < seconds <= MAX_DURATION:
        raise ValueError(f"must be more than 0 and at most 31 days ({MAX_DURATION:.0f} s)")
    return seconds


#: A window's length, as documented: pydantic cannot put ``gt``/``le`` of a field whose type
#: has its own validator into the JSON schema (it left raw ``gt``/``le`` keys), so the bounds
#: are checked and said here. (A string's value, "0s" or "99w", is checked but not
#: expressible as a pattern.)
WindowDuration = Annotated[
    Duration,
    AfterValidator(_window_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_DURATION},
                {"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|s|m|h|d|w))+$"},
            ],
            "description": "Seconds (more than 0, at most 31 days), or a duration like 2h",
        }
    ),
]


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; ValueError naming it if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe" is a folder
        raise ValueError(
            f"unknown time zone {name!r} (use an IANA name like 'Europe/Berlin')"
        ) from None


class MaintenanceWindow(BaseModel):
    """One maintenance window as an admin writes it (YAML ``windows:`` item or API body)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    client: Name
    #: IANA zone; default: the client's (``timezones:`` in the maintenance file), else UTC.
    timezone: str | None = None
    start: datetime | None = None  # one-off; a naive time is in the window's zone
    end: datetime | None = None
    cron: str | None = None  # recurring: 5-field cron in the window's zone
    rrule: str | None = None  # recurring: RFC 5545 RRULE (with DTSTART for the time of day)
    duration: WindowDuration | None = None
    sites: list[Name] = []
    assets: list[Name] = []
    tags: list[Name] = []
    rules: list[Name] = []
    comment: str = ""

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            zone(value)
        return value

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        if value is not None and not croniter.is_valid(value):
            raise ValueError(
                f"{value!r} is not a valid cron expression (5 fields: min hour day month weekday)"
            )
        return value

    @field_validator("rrule")
    @classmethod
    def _valid_rrule(cls, value: str | None) -> str | None:
        if value is not None:
            if _ZONED_DTSTART.search(value):
                raise ValueError(
                    "write the RRULE's DTSTART as local time without a zone; "
                    "the window's timezone applies"
                )
            try:
                _rrule(value)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{value!r} is not a valid RRULE: {exc}") from None
        return value

    @model_validator(mode="after")
    def _one_schedule(self) -> MaintenanceWindow:
        kinds = [k for k in ("cron", "rrule") if getattr(self, k) is not None]
        one_off = self.start is not None or self.end is not None
        if len(kinds) + one_off != 1:
            raise ValueError(
                "give exactly one schedule: start + end (one-off), cron + duration, or rrule + duration"
            )
        if one_off:
            if self.start is None or self.end is None:
                raise ValueError("a one-off window needs both start and end")
            if self.duration is not None:
                raise ValueError("a one-off window has start and end, not a duration")
        elif self.duration is None:
            raise ValueError(f"a {kinds[0]} window needs a duration (e.g. '2h')")
        return self


@dataclass(frozen=True, slots=True)
class Scope:
    """What a window may cover: the alert's client, site, asset, tags and rule."""

    client: str
    site: str | None = None
    asset: str | None = None
    tags: frozenset[str] = frozenset()
    rule: str | None = None


def covers(window: MaintenanceWindow, scope: Scope) -> bool:
    """Does ``window`` select this alert (client, then every selector list given)?"""
    if window.client != scope.client:
        return False
    if window.sites and scope.site not in window.sites:
        return False
    if window.assets and scope.asset not in window.assets:
        return False
    if window.tags and not scope.tags.intersection(window.tags):
        return False
    return not (window.rules and scope.rule not in window.rules)


@lru_cache(maxsize=256)
def _rrule(text: str) -> rrule | rruleset:
    """Parsed once per text (with dateutil's cache, so ``before``/``after`` stay cheap)."""
    return rrulestr(text, dtstart=_RRULE_DEFAULT_START, cache=True)


def _utc(local: datetime, tz: ZoneInfo) -> float:
    """A wall-clock time in ``tz`` (naive) as epoch seconds (fold=0: see the module docstring)."""
    return local.replace(tzinfo=tz, fold=0).timestamp()


def _local_naive(ts: float, tz: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ts, tz).replace(tzinfo=None)


def _recurring_starts(window: MaintenanceWindow, tz: ZoneInfo, before: float) -> Iterable[float]:
    """Occurrence starts (epoch), newest first, from a little after ``before`` backwards."""
    # Two hours of slack: the wall clock may be an hour behind or ahead around a DST change.
    anchor = _local_naive(before, tz) + timedelta(hours=2)
    if window.cron is not None:
        it = croniter(window.cron, anchor)
        while True:
            yield _utc(it.get_prev(datetime), tz)
    else:
        rule = _rrule(window.rrule or "")
        cursor = anchor
        while True:
            local = rule.before(cursor)
            if local is None:
                return
            yield _utc(local.replace(tzinfo=None), tz)
            cursor = local


def occurrence(window: MaintenanceWindow, tz: ZoneInfo, now: float) -> tuple[float, float] | None:
    """The ``(start, end)`` of the occurrence of ``window`` open at ``now``, or None.

    With overlapping occurrences (a duration longer than the period) the one that ends
    last is returned. ``end`` is exclusive.
    """
    if window.start is not None and window.end is not None:
        start = _aware(window.start, tz).timestamp()
        end = _aware(window.end, tz).timestamp()
        return (start, end) if start <= now < end else None
    duration = window.duration or 0.0
    for start in _recurring_starts(window, tz, now):
        if start > now:
            continue  # the slack: a start still ahead of us
        return (start, start + duration) if now < start + duration else None
    return None


def _aware(value: datetime, tz: ZoneInfo) -> datetime:
    return value.replace(tzinfo=tz, fold=0) if value.tzinfo is None else value


def window_zone(window: MaintenanceWindow, client_zones: dict[str, str] | None = None) -> ZoneInfo:
    """The zone a window is written in: its own, else the client's, else UTC."""
    name = window.timezone or (client_zones or {}).get(window.client) or "UTC"
    return zone(name)


def open_until(
    windows: Iterable[MaintenanceWindow],
    scope: Scope,
    now: float,
    client_zones: dict[str, str] | None = None,
) -> tuple[float, str] | None:
    """If a window covering ``scope`` is open at ``now``: the latest end and that window's name."""
    best: tuple[float, str] | None = None
    for window in windows:
        if not covers(window, scope):
            continue
        span = occurrence(window, window_zone(window, client_zones), now)
        if span is not None and (best is None or span[1] > best[0]):
            best = (span[1], window.name)
    return best


def next_occurrence(
    window: MaintenanceWindow, tz: ZoneInfo, now: float
) -> tuple[float, float] | None:
    """The open occurrence at ``now`` or else the next one (for listings); None if none is left."""
    current = occurrence(window, tz, now)
    if current is not None:
        return current
    if window.start is not None and window.end is not None:
        start, end = _aware(window.start, tz).timestamp(), _aware(window.end, tz).timestamp()
        return (start, end) if start > now else None
    local = _local_naive(now, tz)
    if window.cron is not None:
        start_local = croniter(window.cron, local).get_next(datetime)
    else:
        rule = _rrule(window.rrule or "")
        after = rule.after(local)
        if after is None:
            return None
        start_local = after.replace(tzinfo=None)
    start = _utc(start_local, tz)
    return (start, start + (window.duration or 0.0))


def isoformat(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()
