"""The report's arithmetic as pure functions (plain values in and out; no I/O): downtime
windows, linear forecasts, compliance ratios, recommendations. Tested with plain values."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

HOUR = 3600
DAY = 86400


@dataclass(frozen=True, slots=True)
class Window:
    """A stretch of consecutive hours with downtime: [start, end) and the seconds down in it."""

    start: int
    end: int
    down_seconds: float


def downtime_windows(hours: Iterable[tuple[int, float]]) -> list[Window]:
    """Merge hours ``(hour start, up fraction)`` with a fraction under 1 into windows of
    consecutive hours; each hour adds ``(1 - fraction) × 3600`` seconds down."""
    out: list[Window] = []
    for hour, fraction in sorted(hours):
        if fraction >= 1.0:
            continue
        down = (1.0 - max(0.0, fraction)) * HOUR
        if out and out[-1].end == hour:
            last = out[-1]
            out[-1] = Window(last.start, hour + HOUR, last.down_seconds + down)
        else:
            out.append(Window(hour, hour + HOUR, down))
    return out


def missing_hours(present: Iterable[int], h0: int, h1: int) -> list[tuple[int, float]]:
    """The hours of [h0, h1) not in ``present``, as ``(hour, 0.0)`` (nothing arrived: down)."""
    have = set(present)
    return [(h, 0.0) for h in range(h0, h1, HOUR) if h not in have]


def ratio(part: float, whole: float) -> float | None:
    """``part / whole``, or None when there is nothing to divide by."""
    return None if not whole else part / whole


def percent(part: float, whole: float, digits: int = 3) -> float | None:
    """``part / whole`` as a percentage rounded to ``digits`` (None without a whole)."""
    value = ratio(part, whole)
    return None if value is None else round(value * 100, digits)


def fit(n: int, sx: float, sy: float, sxy: float, sxx: float) -> tuple[float, float] | None:
    """Least squares ``y = a + b·x`` from the sums; ``(a, b)``, or None with too few points."""
    if n < 3:
        return None
    denominator = n * sxx - sx * sx
    if abs(denominator) < 1e-12:
        return None
    slope = (n * sxy - sx * sy) / denominator
    intercept = (sy - slope * sx) / n
    return intercept, slope


def days_until(intercept: float, slope: float, x_now: float, target: float) -> float | None:
    """Days from ``x_now`` until the line reaches ``target`` (0 if already there; None if never)."""
    current = intercept + slope * x_now
    if (slope > 0 and current >= target) or (slope < 0 and current <= target):
        return 0.0
    if slope == 0 or (target - current) / slope < 0:
        return None
    return (target - current) / slope


def week_of(ts: float, start: float) -> int:
    """0-based week of the period that ``ts`` falls in (weeks counted from the period start)."""
    return max(0, int((ts - start) // (7 * DAY)))


#: Recommendation codes for recurring problems; the texts are in collector.reports.texts.
def recommendation(
    rules: Sequence[str | None], causes: Sequence[str | None], kinds: Sequence[str | None]
) -> str:
    """What to suggest for an asset with repeated incidents, from their rules, causes, kinds."""
    joined = " ".join(r or "" for r in rules)
    if any(c in ("hardware", "wear") for c in causes):
        return "replace_hardware"
    if "disk" in joined or "capacity" in kinds:
        return "add_capacity"
    if "toner" in joined or "supply" in joined:
        return "stock_supplies"
    if (
        any(w in joined for w in ("silent", "unreachable", "link", "ping", "offline"))
        or "outage" in kinds
    ):
        return "check_power_network"
    if "client_error" in causes:
        return "train_users"
    if "third_party" in causes:
        return "escalate_vendor"
    return "root_cause_review"
