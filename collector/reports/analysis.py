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


def days_until(
    intercept: float, slope: float, x_now: float, target: float, *, rising: bool
) -> float | None:
    """Days from ``x_now`` until the line reaches ``target``, approached from below when
    ``rising`` (a disk filling up toward 100 %) or from above otherwise (a supply running out
    toward 0 %): 0 when already there, None when never — a line moving away from its target
    (a refilled toner, a disk being cleaned up) or a flat one never reaches it."""
    current = intercept + slope * x_now
    if (current >= target) if rising else (current <= target):
        return 0.0
    if (slope <= 0) if rising else (slope >= 0):
        return None
    return (target - current) / slope


def week_of(ts: float, start: float) -> int:
    """0-based week of the period that ``ts`` falls in (weeks counted from the period start)."""
    return max(0, int((ts - start) // (7 * DAY)))


#: The problem family of each shipped rule (rules/*.yaml): what "the same problem again" means.
#: A test ties this table to the shipped packs, so a new rule must be classified here.
#: ``None``: the rule says nothing a recommendation could act on (the agent's own health).
RULE_FAMILIES: dict[str, str | None] = {
    # servers
    "disk-space": "disk",
    "disk-full-soon": "disk",
    "memory-high": "memory",
    "swap-high": "memory",
    "cpu-saturated": "cpu",
    "load-high": "cpu",
    "rebooted": "restarts",
    "process-down": "service",
    "service-down": "service",
    "backup-too-old": "backup",
    "temperature-high": "temperature",
    # network
    "link-down": "network_link",
    "interface-in-errors": "network_link",
    "interface-out-errors": "network_link",
    "ping-loss": "reachability",
    "ping-latency": "latency",
    "tls-cert-expiring": "certificate",
    "snmp-unreachable": "reachability",
    "snmp-device-rebooted": "restarts",
    # printers
    "toner-low": "supplies",
    "toner-out-soon": "supplies",
    "toner-empty": "supplies",
    "waste-toner-full": "supplies",
    "drum-worn": "supplies",
    "supply-missing": "supplies",
    "paper-out": "paper",
    "paper-jam": "printer_handling",
    "cover-open": "printer_handling",
    "service-requested": "printer_service",
    "printer-offline": "reachability",
    # UPS
    "ups-on-battery": "mains_power",
    "ups-battery-low": "mains_power",
    "ups-charge-low": "ups_battery",
    "ups-replace-battery": "ups_battery",
    "ups-fault": "ups_battery",
    # agents
    "agent-silent": "reachability",
    "check-failing": None,
    # a script check can watch anything: what recurred is the plugin's, not a family of ours
    "plugin-problem": None,
    "plugin-unknown": None,
    "agent-clock-ahead": "clock",
    "agent-clock-behind": "clock",
    "agent-spool-corrupt": None,
}

#: What to recommend when a family recurred; the texts are in collector.reports.texts.
FAMILY_RECOMMENDATIONS: dict[str, str] = {
    "disk": "add_capacity",
    "memory": "add_memory",
    "cpu": "check_load",
    "restarts": "check_restarts",
    "service": "check_service",
    "backup": "check_backups",
    "temperature": "check_cooling",
    "network_link": "check_cabling",
    "reachability": "check_power_network",
    "latency": "check_bandwidth",
    "certificate": "automate_certificates",
    "supplies": "stock_supplies",
    "paper": "stock_paper",
    "printer_handling": "printer_handling",
    "printer_service": "replace_hardware",
    "mains_power": "check_mains",
    "ups_battery": "replace_ups_battery",
    "clock": "fix_time_sync",
}

#: Causes that, recurring, decide the recommendation whatever the rules were.
CAUSE_RECOMMENDATIONS = {
    "hardware": "replace_hardware",
    "wear": "replace_hardware",
    "client_error": "train_users",
    "third_party": "escalate_vendor",
}
RECURS = 2  # "keeps happening": at least this many incidents of the same family or cause


def recommendation(rules: Sequence[str | None], causes: Sequence[str | None]) -> str | None:
    """What to suggest for an asset from what actually recurred on it, or None.

    ``rules[i]`` and ``causes[i]`` describe incident ``i``. A cause classified on at least
    :data:`RECURS` incidents (hardware and wear count together) decides first; else the
    problem family (:data:`RULE_FAMILIES`) seen most often, at least :data:`RECURS` times.
    A reboot and a memory alert, or a process, a backup and a certificate alert, are not a
    recurring problem: None.
    """
    by_cause: dict[str, int] = {}
    for cause in causes:
        code = CAUSE_RECOMMENDATIONS.get(cause or "")
        if code is not None:
            by_cause[code] = by_cause.get(code, 0) + 1
    by_family: dict[str, int] = {}
    for rule in rules:
        family = RULE_FAMILIES.get(rule or "")
        if family is not None:
            by_family[family] = by_family.get(family, 0) + 1
    for counts, table in ((by_cause, None), (by_family, FAMILY_RECOMMENDATIONS)):
        best = max(counts.items(), key=lambda kv: kv[1], default=None)
        if best is not None and best[1] >= RECURS:
            return best[0] if table is None else table[best[0]]
    return None
