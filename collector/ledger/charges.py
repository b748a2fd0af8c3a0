"""Ledger arithmetic as pure functions: plain values in, integer centipoints out. No I/O.

- :func:`price` turns time entries into a charge: each entry's time is rounded **up** to a
  multiple of the policy's ``rounding``, charged at its work type's rate (centipoints per
  hour), and the charge as a whole is at least ``minimum_charge`` of time (the shortfall is
  charged at the first entry's rate). The exact total rounds half up to a centipoint once.
  A charge with no time entries costs nothing (no work, no minimum).
- :func:`close_period` says what happens to a period's remaining balance: how much rolls
  over and how much expires (an overdraft — a negative balance — carries over untouched).
- :func:`thresholds_crossed` names the low-balance thresholds at or below which a balance is.
- :func:`build_statement` folds a period's ledger entries into the :class:`Statement`
  (:class:`Figures`: the totals, the same fold for grouped sums).

Amounts are integer centipoints everywhere (``format_points`` shows them); charges are
*costs* here (positive) and become negative ledger entries in :mod:`collector.ledger.service`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from typing import Any

from collector.contracts.model import PointsPolicy, parse_period

#: Ledger entry kinds (the ``kind`` column).
KINDS = ("allotment", "rollover", "charge", "topup", "adjustment", "expiry")
#: The implicit last low-balance notice: the points are used up.
ZERO = "zero"


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One time entry to be charged."""

    minutes: int
    work_type: str | None = None
    id: int | None = None
    actor: str = ""
    note: str = ""


@dataclass(frozen=True, slots=True)
class ChargeLine:
    """One priced time entry (``entry_id`` None: the minimum-charge top-up line)."""

    entry_id: int | None
    work_type: str | None
    minutes: int  # as logged
    billed_seconds: int  # after rounding up (or the minimum shortfall)
    rate: int  # centipoints per hour
    centipoints: int
    actor: str = ""
    note: str = ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Priced:
    """A priced set of time entries: the lines and their total cost (positive centipoints)."""

    lines: tuple[ChargeLine, ...] = ()
    total: int = 0
    minutes: int = 0
    billed_seconds: int = 0

    def capped(self, cap: int | None) -> int:
        """The total, at most ``cap`` (an approved estimate); None: no cap."""
        return self.total if cap is None else min(self.total, cap)


def _half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


def cost(seconds: int | float, rate: int) -> int:
    """Centipoints for ``seconds`` of work at ``rate`` centipoints per hour (half up)."""
    return _half_up(Fraction(rate) * Fraction(seconds) / 3600)


def rounded_seconds(minutes: int, rounding: float) -> int:
    """``minutes`` in seconds, rounded up to a multiple of ``rounding`` seconds (0: exact)."""
    seconds = minutes * 60
    if rounding <= 0:
        return seconds
    step = Fraction(rounding)
    return int(math.ceil(Fraction(seconds) / step) * step)


def price(items: Iterable[WorkItem], policy: PointsPolicy) -> Priced:
    """What ``items`` cost under ``policy`` (see the module docstring).

    The total is the exact sum rounded once; each line gets the difference of the rounded
    running sums, so the lines add up to the total exactly (30 minutes cost the same as
    one line or as two lines of 15).
    """
    raw: list[
        tuple[WorkItem | None, str | None, int, int]
    ] = []  # item, work type, billed seconds, rate
    for item in items:
        if item.minutes > 0:
            raw.append(
                (
                    item,
                    item.work_type,
                    rounded_seconds(item.minutes, policy.rounding),
                    policy.rate_for(item.work_type),
                )
            )
    if not raw:
        return Priced()
    shortfall = int(math.ceil(policy.minimum_charge)) - sum(seconds for _, _, seconds, _ in raw)
    if shortfall > 0:
        raw.append((None, raw[0][1], shortfall, raw[0][3]))
    lines: list[ChargeLine] = []
    exact, charged = Fraction(0), 0
    for work, work_type, seconds, rate in raw:
        exact += Fraction(rate) * seconds / 3600
        centipoints = _half_up(exact) - charged
        charged += centipoints
        if work is None:
            lines.append(
                ChargeLine(None, work_type, 0, seconds, rate, centipoints, note="minimum charge")
            )
        else:
            lines.append(
                ChargeLine(
                    work.id,
                    work_type,
                    work.minutes,
                    seconds,
                    rate,
                    centipoints,
                    work.actor,
                    work.note,
                )
            )
    return Priced(
        tuple(lines),
        charged,
        sum(line.minutes for line in lines),
        sum(line.billed_seconds for line in lines),
    )


def estimate(minutes: int, work_type: str | None, policy: PointsPolicy) -> int:
    """The points estimate of ``minutes`` of ``work_type`` work (priced like the actual time)."""
    return price([WorkItem(minutes, work_type)], policy).total


# ---------------------------------------------------------------------- periods


def next_period(label: str) -> str:
    year, month = parse_period(label)
    year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return f"{year:04d}-{month:02d}"


def previous_period(label: str) -> str:
    year, month = parse_period(label)
    year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return f"{year:04d}-{month:02d}"


def close_period(balance: int, policy: PointsPolicy) -> tuple[int, int]:
    """``(rolled_over, expired)`` of a period ending with ``balance``, both ≥ 0.

    Nothing of an overdraft expires or rolls: a negative balance carries into the next
    period as it is (flagged on the statement until it is settled by a top-up).
    """
    if balance <= 0:
        return 0, 0
    if policy.rollover.policy == "all":
        return balance, 0
    if policy.rollover.policy == "up_to":
        kept = min(balance, policy.rollover.max or 0)
        return kept, balance - kept
    return 0, balance


def thresholds_crossed(balance: int, allotment: int, policy: PointsPolicy) -> list[tuple[str, int]]:
    """The thresholds (label, level in centipoints) that ``balance`` is at or below, highest
    level first; ``zero`` when the balance is at or below zero."""
    levels = [(t.label, t.centipoints(allotment)) for t in policy.low_balance]
    levels.append((ZERO, 0))
    crossed = [(label, level) for label, level in levels if balance <= level]
    return sorted(crossed, key=lambda pair: -pair[1])


# ---------------------------------------------------------------------- statement


@dataclass(frozen=True, slots=True)
class EntryView:
    """A ledger entry as the statement shows it (``balance``: the balance right after it)."""

    id: int
    kind: str
    centipoints: int
    ts: float
    actor: str
    reason: str
    incident: str | None = None  # the incident's key
    request: str | None = None  # the service request's key
    data: Mapping[str, Any] = field(default_factory=dict)
    subject: str | None = None  # the incident's or the request's title
    cause: str | None = None  # the incident's cause
    balance: int | None = None

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["data"] = dict(self.data)
        return out


@dataclass(frozen=True, slots=True)
class Figures:
    """A period's totals (centipoints, signed as in the ledger: ``charged`` is negative)."""

    opening_balance: int = 0
    allotment: int = 0
    rollover_in: int = 0
    rollover_out: int = 0
    charged: int = 0  # charge entries, reversals included
    topped_up: int = 0
    adjusted: int = 0
    expired: int = 0

    @classmethod
    def fold(cls, opening: int, moves: Iterable[tuple[str, int]]) -> Figures:
        """The totals of ``moves`` (kind, centipoints) after ``opening``; a rollover counts
        in or out by its sign. Sums of moves grouped by kind and sign fold the same."""
        sums = dict.fromkeys((*_FIGURE_OF.values(), "rollover_out"), 0)
        for kind, centipoints in moves:
            name = _FIGURE_OF[kind]
            if kind == "rollover":
                name = "rollover_in" if centipoints > 0 else "rollover_out"
            sums[name] += int(centipoints)
        return cls(opening_balance=int(opening), **sums)

    @property
    def net(self) -> int:
        """What the period's entries add up to."""
        return (
            self.allotment
            + self.rollover_in
            + self.rollover_out
            + self.charged
            + self.topped_up
            + self.adjusted
            + self.expired
        )

    @property
    def closing_balance(self) -> int:
        return self.opening_balance + self.net

    @property
    def overdraft_centipoints(self) -> int:
        return max(0, -self.closing_balance)

    def by_kind(self) -> dict[str, int]:
        """The period's net per entry kind (rollover in and out together), in :data:`KINDS` order."""
        return {
            "allotment": self.allotment,
            "rollover": self.rollover_in + self.rollover_out,
            "charge": self.charged,
            "topup": self.topped_up,
            "adjustment": self.adjusted,
            "expiry": self.expired,
        }


_FIGURE_OF = {
    "allotment": "allotment",
    "rollover": "rollover_in",
    "charge": "charged",
    "topup": "topped_up",
    "adjustment": "adjusted",
    "expiry": "expired",
}


@dataclass(frozen=True, slots=True)
class Statement:
    """A period's points statement (docs/ledger.md): its figures and its entries by time."""

    client: str
    period: str
    figures: Figures
    entries: tuple[EntryView, ...] = ()
    start: float | None = None  # epoch s, the period's bounds (None without a contract)
    end: float | None = None  # exclusive
    timezone: str = "UTC"  # the zone the bounds are days of (the contract's calendar)
    at_zero: str | None = None  # the contract's at_zero policy (None: no points)
    allotment_policy: int | None = None  # the contract's allotment per period (None: no points)

    @property
    def opening_balance(self) -> int:
        return self.figures.opening_balance

    @property
    def closing_balance(self) -> int:
        return self.figures.closing_balance

    def of_kind(self, kind: str) -> list[EntryView]:
        return [e for e in self.entries if e.kind == kind]

    def as_json(self) -> dict[str, Any]:
        f = self.figures
        return {
            "client": self.client,
            "period": self.period,
            "start": self.start,
            "end": self.end,
            "timezone": self.timezone,
            "opening_balance": f.opening_balance,
            "allotment": f.allotment,
            "rollover_in": f.rollover_in,
            "rollover_out": f.rollover_out,
            "charged": f.charged,
            "topped_up": f.topped_up,
            "adjusted": f.adjusted,
            "expired": f.expired,
            "closing_balance": f.closing_balance,
            "overdraft": f.closing_balance < 0,
            "overdraft_centipoints": f.overdraft_centipoints,
            "at_zero": self.at_zero,
            "charges": [e.as_json() for e in self.of_kind("charge")],
            "topups": [e.as_json() for e in self.of_kind("topup")],
            "adjustments": [e.as_json() for e in self.of_kind("adjustment")],
            "entries": [e.as_json() for e in self.entries],
        }


def build_statement(
    *, client: str, period: str, opening: int, entries: Sequence[EntryView], **extra: Any
) -> Statement:
    """The statement of ``period`` from its entries (by time) after ``opening`` (the sum of
    every entry before the period); each entry gets the balance right after it. ``extra``:
    the other :class:`Statement` fields."""
    running, shown = opening, []
    for entry in entries:
        running += entry.centipoints
        shown.append(replace(entry, balance=running))
    figures = Figures.fold(opening, ((e.kind, e.centipoints) for e in entries))
    return Statement(client=client, period=period, figures=figures, entries=tuple(shown), **extra)
