"""The contract between the service company and one client, as an admin writes it (YAML).

A contract says what is covered (scope), when the clock runs (coverage calendar), how fast
the provider responds and resolves per priority (SLA targets), what the monthly points
allotment is and how work is charged (points), who hears about what (contacts), and which
maintenance tasks are done on a schedule. It is pure data: validated here, stored as JSON
in ``contracts.definition``, read by the SLA clocks (:mod:`collector.sla`), the ledger
(:mod:`collector.ledger`), the preventive-work record and the reports.

Points are written as decimals (``20``, ``1.5``) and kept as integer hundredths
(*centipoints*) wherever they are added up, so a balance is exact.
"""

from __future__ import annotations

import difflib
import re
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from fnmatch import fnmatchcase
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    ValidationInfo,
    field_validator,
    model_validator,
)

from agent.durations import Duration
from collector.incidents.maintenance import zone

PRIORITIES = ("critical", "major", "minor", "technical")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Cause = Literal[
    "wear", "hardware", "software", "client_error", "third_party", "provider", "unknown"
]
NotifyKind = Literal["reports", "low_balance", "approvals", "sla", "closing"]
CAUSES: tuple[Cause, ...] = get_args(Cause)
NOTIFY_KINDS: tuple[NotifyKind, ...] = get_args(NotifyKind)
_DEFAULT_BILLABLE: tuple[Cause, ...] = ("client_error", "third_party")

Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------------- points as decimals


def to_centipoints(value: Any) -> int:
    """``1.25`` / ``"1.25"`` points → ``125``; more than two decimals is an error."""
    if isinstance(value, bool):
        raise ValueError("points must be a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number of points") from None
    if not number.is_finite():
        raise ValueError("points must be a finite number")
    scaled = number * 100
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} has more than two decimals (points are kept to 0.01)")
    return int(scaled)


def format_points(centipoints: int) -> str:
    """``125`` → ``"1.25"``, ``-300`` → ``"-3.00"``."""
    return str((Decimal(centipoints) / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


#: A points amount in YAML (a decimal), held as integer centipoints; dumped as ``"1.50"``.
Points = Annotated[
    int, BeforeValidator(to_centipoints), PlainSerializer(format_points, return_type=str)
]


# ---------------------------------------------------------------------- plan and period


class Plan(_Strict):
    """What the client buys: shown in reports (and used for time-vs-fee views)."""

    name: Name
    monthly_fee: Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)] = Decimal(0)
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "EUR"


class Period(_Strict):
    """Contract periods: monthly, each starting on ``start_day`` (1–28) at 00:00 in the calendar's zone."""

    kind: Literal["monthly"] = "monthly"
    start_day: int = Field(default=1, ge=1, le=28)


# ---------------------------------------------------------------------- scope


class Selector(_Strict):
    """Matches assets (and services): every field given must match. ``name`` is a glob."""

    kind: str | None = None  # host, printer, switch, ups, …
    tag: str | None = None  # an asset tag
    site: str | None = None
    name: str | None = None  # glob: "printer-*"
    service: str | None = None  # a named service (rule kind / check target), e.g. "website"

    @model_validator(mode="after")
    def _not_empty(self) -> Selector:
        if not any((self.kind, self.tag, self.site, self.name, self.service)):
            raise ValueError("a selector needs at least one of kind, tag, site, name, service")
        return self

    def matches(
        self,
        *,
        kind: str | None = None,
        tags: list[str] | tuple[str, ...] = (),
        site: str | None = None,
        name: str | None = None,
        service: str | None = None,
    ) -> bool:
        if self.kind is not None and self.kind != kind:
            return False
        if self.tag is not None and self.tag not in tags:
            return False
        if self.site is not None and self.site != site:
            return False
        if self.name is not None and (name is None or not fnmatchcase(name, self.name)):
            return False
        return not (self.service is not None and self.service != service)


class Exclusion(Selector):
    """Something explicitly not covered, with the reason the client reads in reports."""

    description: Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class Scope(_Strict):
    """What is covered. No ``include``: every monitored asset; ``exclude`` wins over ``include``."""

    include: list[Selector] = Field(default_factory=list)
    exclude: list[Exclusion] = Field(default_factory=list)
    #: An incident on something out of scope: ticket tagged ``out-of-scope`` (free unless the
    #: technician charges it), ``billable`` (charged like client-caused work), or ``ignore``
    #: (no incident at all).
    out_of_scope: Literal["tag", "billable", "ignore"] = "tag"

    def exclusion_for(self, **facts: Any) -> Exclusion | None:
        """The exclusion that matches, if any (``facts`` as :meth:`Selector.matches` takes)."""
        return next((e for e in self.exclude if e.matches(**facts)), None)

    def covers(self, **facts: Any) -> bool:
        if self.exclusion_for(**facts) is not None:
            return False
        return not self.include or any(s.matches(**facts) for s in self.include)


# ---------------------------------------------------------------------- coverage calendar


def _parse_ranges(value: Any) -> Any:
    if value is None or value == "closed" or value is False:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ValueError("business hours are 'HH:MM-HH:MM', a list of them, or 'closed'")
    out = []
    for item in value:
        if (
            isinstance(item, list | tuple)
            and len(item) == 2
            and all(isinstance(i, int) for i in item)
        ):
            out.append((item[0], item[1]))  # already parsed (a stored contract)
            continue
        match = _RANGE.match(str(item))
        if not match:
            raise ValueError(f"{item!r} is not a time range like '08:00-17:30'")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
            raise ValueError(f"{item!r}: not a time of day")
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if end <= start:
            raise ValueError(
                f"{item!r}: the end must be after the start (overnight: split it at 24:00)"
            )
        out.append((start, end))
    out.sort()
    for (_, e1), (s2, _) in zip(out, out[1:], strict=False):
        if s2 < e1:
            raise ValueError(f"ranges overlap: {value!r}")
    return out


def _format_ranges(value: list[tuple[int, int]]) -> list[str]:
    return [f"{s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}" for s, e in value]


#: A day's business hours as minutes after midnight: [(480, 1020)] for 08:00–17:00.
DayHours = Annotated[
    list[tuple[int, int]],
    BeforeValidator(_parse_ranges),
    PlainSerializer(_format_ranges, return_type=list[str]),
]


class Holidays(_Strict):
    """Public holidays from the ``holidays`` library, plus and minus extra dates."""

    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")] | None = None
    subdivision: str | None = None  # e.g. "BY" (Bavaria); as the holidays library names it
    extra: list[date] = Field(default_factory=list)  # also closed (company holidays)
    working: list[date] = Field(default_factory=list)  # open although a public holiday

    @model_validator(mode="after")
    def _known_country(self) -> Holidays:
        if self.country is None:
            if self.subdivision is not None:
                raise ValueError("subdivision needs country")
            return self
        import holidays as lib

        supported = lib.list_supported_countries()
        if self.country not in supported:
            raise ValueError(f"country {self.country!r} is not known to the holidays library")
        if self.subdivision is not None and self.subdivision not in supported[self.country]:
            raise ValueError(
                f"subdivision {self.subdivision!r} is not one of {self.country}'s: "
                f"{', '.join(supported[self.country]) or 'none'}"
            )
        return self


def _default_hours() -> dict[str, list[tuple[int, int]]]:
    week = {d: [(9 * 60, 17 * 60)] for d in WEEKDAYS[:5]}
    return {**week, "sat": [], "sun": []}


class Calendar(_Strict):
    """When business time runs: a time zone, hours per weekday, holidays; ``always_on``
    priorities run 24x7 (their calendar-basis targets ignore business hours)."""

    timezone: str = "UTC"
    business_hours: dict[str, DayHours] = Field(default_factory=_default_hours)
    holidays: Holidays = Field(default_factory=Holidays)
    always_on: list[Literal["critical", "major", "minor", "technical"]] = Field(
        default_factory=list
    )

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        zone(value)
        return value

    @field_validator("business_hours")
    @classmethod
    def _weekdays(cls, value: dict[str, list[tuple[int, int]]]) -> dict[str, list[tuple[int, int]]]:
        unknown = sorted(set(value) - set(WEEKDAYS))
        if unknown:
            raise ValueError(f"unknown weekday {unknown[0]!r}; use {', '.join(WEEKDAYS)}")
        return {d: value.get(d, []) for d in WEEKDAYS}  # a day not listed is closed


# ---------------------------------------------------------------------- SLA targets


#: ``10 business_days``, ``16 business_hours``, ``3 calendar_days``, ``4 calendar_hours``.
_UNIT_WITHIN = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*(business|calendar)[_ ](days?|hours?)\s*$", re.IGNORECASE
)
_DAY_SHORT_FORM = re.compile(r"\d(?:\.\d+)?\s*[dw](?![a-z])")
#: What a "day" of the business_days clock is worth in the stored seconds (one open day).
BUSINESS_DAY = 86400.0


class Target(_Strict):
    """One SLA target: within this much time, counted on one clock.

    Clocks: ``calendar`` (24x7 seconds), ``business`` (business hours), ``business_days``
    (open days of the calendar: each open day counts 1, a part of it the part of its hours
    that passed; stored as days × 86400). Write ``within: 10 business_days`` (or
    ``business_hours``, ``calendar_days``, ``calendar_hours``), or a duration (``4h``) with
    an optional ``clock``. A day or week short form (``10d``, ``3d``, ``1w``) is refused unless
    ``clock: calendar`` says which days are meant: on the business clock "10d" would be 240
    business hours, which nobody means.
    """

    within: Duration = Field(gt=0)
    clock: Literal["business", "calendar", "business_days"] | None = (
        None  # None: calendar if the priority is always_on, else business
    )

    @model_validator(mode="before")
    @classmethod
    def _units(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, dict) or not isinstance(value.get("within"), str):
            return value
        text = value["within"]
        match = _UNIT_WITHIN.match(text)
        if match:
            number, kind, unit = float(match.group(1)), match.group(2).lower(), match.group(3)
            days = unit.lower().startswith("day")
            clock = "business_days" if kind == "business" and days else kind
            given = value.get("clock")
            if given is not None and given != clock:
                raise ValueError(
                    f"within {text!r} counts on the {clock} clock, but clock says {given!r}; "
                    "drop clock"
                )
            if kind == "business" and days:
                seconds = number * BUSINESS_DAY
            else:
                seconds = number * (86400 if days else 3600)
            return {**value, "within": seconds, "clock": clock}
        stored = bool(info.context and info.context.get("stored"))
        if (
            _DAY_SHORT_FORM.search(text)
            and value.get("clock") not in ("calendar", "business_days")
            and not stored
        ):
            leading = re.match(r"\s*(\d+(?:\.\d+)?)", text)
            n = leading.group(1) if leading else "10"
            raise ValueError(
                f"within {text!r} is ambiguous: write '{n} business_days' (open days of the "
                f"calendar), '{n} calendar_days' (24x7), or a duration in hours ('16h') with "
                "clock: business"
            )
        return value


def _target(value: Any) -> Any:
    return (
        {"within": value}
        if isinstance(value, str | int | float) and not isinstance(value, bool)
        else value
    )


class PriorityTargets(_Strict):
    """Response (first human acknowledgement) and resolution targets of one priority."""

    response: Annotated[Target, BeforeValidator(_target)] | None = None
    resolution: Annotated[Target, BeforeValidator(_target)] | None = None
    #: Warn this far into a target (0.75: at 75 % of the time allowed).
    warn_at: float = Field(default=0.75, gt=0, lt=1)


class Sla(_Strict):
    critical: PriorityTargets | None = None
    major: PriorityTargets | None = None
    minor: PriorityTargets | None = None
    technical: PriorityTargets | None = None

    def for_priority(self, priority: str) -> PriorityTargets | None:
        return getattr(self, priority, None) if priority in PRIORITIES else None


# ---------------------------------------------------------------------- points


class Rollover(_Strict):
    """What is left of a period's points at its end: lost (none), kept up to ``max``, or all kept."""

    policy: Literal["none", "up_to", "all"] = "none"
    max: Points | None = None

    @model_validator(mode="after")
    def _max_for_up_to(self) -> Rollover:
        if (self.policy == "up_to") != (self.max is not None):
            raise ValueError("max goes with policy: up_to (and only with it)")
        return self


def _threshold(value: Any) -> Any:
    if isinstance(value, str) and value.strip().endswith("%"):
        return {"percent": value.strip()[:-1]}
    if isinstance(value, int | float) and not isinstance(value, bool):
        return {"points": value}
    return value


class Threshold(_Strict):
    """A low-balance threshold: a percentage of the period's allotment, or an absolute amount."""

    percent: float | None = Field(default=None, gt=0, lt=100)
    points: Points | None = None

    @model_validator(mode="after")
    def _one(self) -> Threshold:
        if (self.percent is None) == (self.points is None):
            raise ValueError("a threshold is a percentage ('25%') or a number of points")
        return self

    @property
    def label(self) -> str:
        return (
            f"{self.percent:g}%"
            if self.percent is not None
            else f"{format_points(self.points or 0)}pt"
        )

    def centipoints(self, allotment: int) -> int:
        if self.points is not None:
            return self.points
        return int(Decimal(allotment) * Decimal(str(self.percent)) / 100)


class PointsPolicy(_Strict):
    """The prepaid points: allotment per period, rollover, rates, notices, and what happens at zero."""

    allotment: Points = Field(ge=0)
    rollover: Rollover = Field(default_factory=Rollover)
    #: Points per hour, per work type; ``default`` for a work type not listed.
    rates: dict[str, Points] = Field(default_factory=lambda: {"default": 100})
    minimum_charge: Duration = Field(default=0.0, ge=0)  # time charged at least, per charge
    rounding: Duration = Field(default=0.0, ge=0)  # round time up to a multiple of this
    #: Causes whose incidents cost points (time entries × rate); the rest are the provider's.
    billable_causes: list[Cause] = Field(default_factory=lambda: list(_DEFAULT_BILLABLE))
    low_balance: list[Annotated[Threshold, BeforeValidator(_threshold)]] = Field(
        default_factory=lambda: [Threshold(percent=25), Threshold(percent=10)]
    )
    #: At zero: go negative and flag the overdraft for invoicing, or hold new billable work
    #: until the client approves it.
    at_zero: Literal["allow_negative", "require_approval"] = "allow_negative"

    @field_validator("rates")
    @classmethod
    def _rates(cls, value: dict[str, int]) -> dict[str, int]:
        if "default" not in value:
            raise ValueError("rates need a 'default' (points per hour for any other work type)")
        if any(v < 0 for v in value.values()):
            raise ValueError("rates cannot be negative")
        return value

    def rate_for(self, work_type: str | None) -> int:
        """Centipoints per hour of ``work_type``."""
        return self.rates.get(work_type or "default", self.rates["default"])


# ---------------------------------------------------------------------- contacts and tasks


class Contact(_Strict):
    name: Name
    email: str
    #: What this contact receives; default all of them.
    receives: list[NotifyKind] = Field(default_factory=lambda: list(NOTIFY_KINDS))

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not _EMAIL.match(value):
            raise ValueError(f"{value!r} is not an e-mail address")
        return value


class Evidence(_Strict):
    """Where a task's evidence comes from: a metric of an asset (value before and after)."""

    metric: Name
    asset: Name | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class MaintenanceTask(_Strict):
    """A scheduled preventive task ("verify backups — monthly"), recorded when done."""

    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,99}$")]
    title: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    every: Literal["daily", "weekly", "monthly", "quarterly", "yearly"]
    expected_minutes: int | None = Field(default=None, gt=0)
    assets: list[Selector] = Field(default_factory=list)  # what it applies to (for the report)
    evidence: Evidence | None = None

    @property
    def interval(self) -> timedelta:
        days = {"daily": 1, "weekly": 7, "monthly": 31, "quarterly": 92, "yearly": 366}[self.every]
        return timedelta(days=days)


class Closing(_Strict):
    """Closing communication (:mod:`collector.closing`): what the client's ``closing`` contacts
    are told when an incident they can see is resolved, and when it closes without an answer."""

    #: No answer to the closing message this long after it was sent: the incident closes.
    auto_close_after: Duration = Field(default=7 * 86400.0, gt=0)
    #: Proactive fixes the client never noticed: a message for ``each``, one ``daily`` digest
    #: (after the client's day ended), or only in the ``monthly`` report.
    announce_proactive: Literal["each", "daily", "monthly"] = "daily"


class RemediationTerms(_Strict):
    """What the fee includes of the fixes the agents run (:mod:`collector.remediation`).

    An action listed in ``standard`` is included: a fix with policy ``client`` still waits
    for the client's approval, but is a standard request (no points quoted or charged). Any
    other action is a non-standard request: quoted in points at the contract's rate, charged
    through the ledger once when it succeeds. A contract without ``points`` includes every
    action."""

    standard: list[
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")]
    ] = Field(default_factory=list)

    @field_validator("standard")
    @classmethod
    def _known_once(cls, value: list[str], info: ValidationInfo) -> list[str]:
        # The collector and ``upkeep contract check`` pass the action library's names.
        known = info.context.get("actions") if info.context else None
        seen: set[str] = set()
        for name in value:
            if known is not None and name not in known:
                close = difflib.get_close_matches(name, sorted(known), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ValueError(f"action {name!r} is not in the action library{hint}")
            if name in seen:
                raise ValueError(f"action {name!r} is listed twice")
            seen.add(name)
        return value

    def included(self, action: str) -> bool:
        return action in self.standard


# ---------------------------------------------------------------------- the contract


class Contract(_Strict):
    """One client's contract. ``client`` names the Upkeep client it belongs to."""

    client: Name
    plan: Plan
    language: Literal["en", "ru"] = "en"
    #: How dates and numbers are written (``en-GB``, ``de-DE``, ``ru-RU``); None: the language
    #: in the calendar's country (holidays country, else the time zone's): ``en_DE`` for an
    #: English contract on a Europe/Berlin calendar. Its language must be the contract's.
    locale: str | None = None
    period: Period = Field(default_factory=Period)
    scope: Scope = Field(default_factory=Scope)
    calendar: Calendar = Field(default_factory=Calendar)
    sla: Sla = Field(default_factory=Sla)
    points: PointsPolicy | None = None  # None: no points (everything included)
    contacts: list[Contact] = Field(default_factory=list)
    closing: Closing = Field(default_factory=Closing)
    remediation: RemediationTerms = Field(default_factory=RemediationTerms)
    maintenance_tasks: list[MaintenanceTask] = Field(default_factory=list)

    @model_validator(mode="after")
    def _locale_of_language(self) -> Contract:
        if self.locale is not None:
            from collector.notices.human import parse_locale

            parsed = parse_locale(self.locale)
            if parsed.language != self.language:
                raise ValueError(
                    f"locale {self.locale!r} is for language {parsed.language!r}, "
                    f"but the contract's language is {self.language!r}"
                )
            object.__setattr__(self, "locale", str(parsed))
        return self

    @property
    def effective_locale(self) -> str:
        """:attr:`locale`, or the default from the language and the calendar's country."""
        from collector.notices.human import default_locale

        return self.locale or default_locale(
            self.language, self.calendar.holidays.country, self.calendar.timezone
        )

    @field_validator("maintenance_tasks")
    @classmethod
    def _unique_tasks(cls, value: list[MaintenanceTask]) -> list[MaintenanceTask]:
        seen: set[str] = set()
        for task in value:
            if task.id in seen:
                raise ValueError(f"task id {task.id!r} is used twice")
            seen.add(task.id)
        return value

    def fix_is_standard(self, action: str) -> bool:
        """Whether fix ``action`` is included in the fee (no points: none, or listed)."""
        return self.points is None or self.remediation.included(action)

    def contacts_for(self, kind: str) -> list[str]:
        """E-mail addresses of the contacts that receive ``kind`` (reports, low_balance, …)."""
        return [c.email for c in self.contacts if kind in c.receives]

    def period_of(self, when: datetime) -> str:
        """The label (``YYYY-MM``) of the period containing aware datetime ``when``."""
        local = when.astimezone(zone(self.calendar.timezone))
        year, month = local.year, local.month
        if local.day < self.period.start_day:
            year, month = (year - 1, 12) if month == 1 else (year, month - 1)
        return f"{year:04d}-{month:02d}"

    def period_bounds(self, label: str) -> tuple[datetime, datetime]:
        """Aware local start (inclusive) and end (exclusive) of period ``label`` (``YYYY-MM``)."""
        year, month = parse_period(label)
        tz = zone(self.calendar.timezone)
        start = datetime.combine(date(year, month, self.period.start_day), time(), tz)
        ny, nm = (year + 1, 1) if month == 12 else (year, month + 1)
        end = datetime.combine(date(ny, nm, self.period.start_day), time(), tz)
        return start, end


def parse_period(label: str) -> tuple[int, int]:
    """``"2026-10"`` → ``(2026, 10)``; ValueError naming the label otherwise."""
    match = re.fullmatch(r"(\d{4})-(\d{2})", label or "")
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise ValueError(f"{label!r} is not a period; write it YYYY-MM, e.g. 2026-10")
    return int(match.group(1)), int(match.group(2))
