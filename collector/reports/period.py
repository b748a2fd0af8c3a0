"""Report periods: the contract's (start day, time zone), or calendar months in UTC.

Pure: labels in, epoch bounds out. A period is ``YYYY-MM``; with a contract it starts on the
contract's ``period.start_day`` at 00:00 in its calendar's zone (``Contract.period_bounds``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from collector.contracts.model import Contract, parse_period


@dataclass(frozen=True, slots=True)
class ReportPeriod:
    """One period of one client: its label, epoch bounds [start, end) and display zone."""

    label: str
    start: float
    end: float
    timezone: str

    @property
    def hours(self) -> tuple[int, int]:
        """The first hour (epoch, inclusive) and the end hour (exclusive) of rollups inside it."""
        first = int(-(-self.start // 3600)) * 3600  # rollup hours starting at or after start
        last = int(-(-self.end // 3600)) * 3600
        return first, last


def shift(label: str, months: int) -> str:
    """``shift("2026-01", -1)`` → ``"2025-12"``."""
    year, month = parse_period(label)
    index = year * 12 + (month - 1) + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def resolve(label: str, contract: Contract | None) -> ReportPeriod:
    """The bounds of ``label`` for a client with ``contract`` (None: calendar month in UTC)."""
    if contract is None:
        year, month = parse_period(label)
        ny, nm = (year + 1, 1) if month == 12 else (year, month + 1)
        start = datetime(year, month, 1, tzinfo=UTC)
        end = datetime(ny, nm, 1, tzinfo=UTC)
        return ReportPeriod(label, start.timestamp(), end.timestamp(), "UTC")
    start, end = contract.period_bounds(label)
    return ReportPeriod(label, start.timestamp(), end.timestamp(), contract.calendar.timezone)


def current_label(contract: Contract | None, now: float) -> str:
    """The label of the period that contains ``now``."""
    when = datetime.fromtimestamp(now, UTC)
    if contract is None:
        return f"{when.year:04d}-{when.month:02d}"
    return contract.period_of(when)


def last_completed(contract: Contract | None, now: float) -> str:
    """The label of the most recent period that has ended by ``now``."""
    return shift(current_label(contract, now), -1)
