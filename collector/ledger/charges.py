"""Ledger arithmetic as pure functions: plain values in, integer centipoints out. No I/O.

- :func:`price` turns time entries into a charge: each entry's time is rounded **up** to a
  multiple of the policy's ``rounding``, charged at its work type's rate (centipoints per
  hour), and the charge as a whole is at least ``minimum_charge`` of time (the shortfall is
  charged at the first entry's rate). The exact total rounds half up to a centipoint once.
  A charge with no time entries costs nothing (no work, no minimum).
- :func:`close_period` says what happens to a period's remaining balance: how much rolls
  over and how much expires (an overdraft — a negative balance — carries over untouched).
- :func:`thresholds_crossed` names the low-balance thresholds at or below which a balance is.
- :func:`build_statement` folds a period's ledger entries into the statement.

Amounts are integer centipoints everywhere (``format_points`` shows them); charges are
*costs* here (positive) and become negative ledger entries in :mod:`collector.ledger.service`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
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
    """A ledger entry as the statement shows it."""

    id: int
    kind: str
    centipoints: int
    ts: float
    actor: str
    reason: str
    incident: str | None = None  # the incident's key
    request: str | None = None  # the service request's key
    data: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["data"] = dict(self.data)
        return out


def build_statement(
    *,
    client: str,
    period: str,
    opening: int,
    entries: Sequence[EntryView],
    start: float | None = None,
    end: float | None = None,
) -> dict[str, Any]:
    """The statement of ``period``: see docs/ledger.md for the shape. ``opening``: the sum
    of every entry before the period."""
    by_kind: dict[str, list[EntryView]] = {kind: [] for kind in KINDS}
    for entry in entries:
        by_kind[entry.kind].append(entry)

    def total(kind: str, sign: int = 0) -> int:
        return sum(
            e.centipoints for e in by_kind[kind] if sign == 0 or (e.centipoints > 0) == (sign > 0)
        )

    closing = opening + sum(e.centipoints for e in entries)
    return {
        "client": client,
        "period": period,
        "start": start,
        "end": end,
        "opening_balance": opening,
        "allotment": total("allotment"),
        "rollover_in": total("rollover", +1),
        "rollover_out": total("rollover", -1),
        "charged": total("charge"),
        "topped_up": total("topup"),
        "adjusted": total("adjustment"),
        "expired": total("expiry"),
        "closing_balance": closing,
        "overdraft": closing < 0,
        "overdraft_centipoints": max(0, -closing),
        "charges": [e.as_json() for e in by_kind["charge"]],
        "topups": [e.as_json() for e in by_kind["topup"]],
        "adjustments": [e.as_json() for e in by_kind["adjustment"]],
        "entries": [e.as_json() for e in entries],
    }
