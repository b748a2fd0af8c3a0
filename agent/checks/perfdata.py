"""Plugin output in the monitoring-plugins convention: text, long text and performance data.

Output of a plugin (monitoring-plugins development guidelines)::

    TEXT OUTPUT | OPTIONAL PERFDATA
    LONG TEXT LINE 1
    LONG TEXT LINE 2 | PERFDATA LINE 2
    PERFDATA LINE 3

Performance data is a space-separated list of ``'label'=value[UOM];[warn];[crit];[min];[max]``.
A label with spaces or ``=`` is quoted with single quotes (a quote inside it doubled); the
trailing fields may be empty or left out. ``warn``/``crit`` are ranges (``10``, ``10:``,
``~:10``, ``10:20``, ``@10:20``). Values are converted to base units here (seconds, bytes,
percent); an unknown unit is kept as a plain number. Pure functions, no I/O.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

#: Unit of measurement → (kind, factor to the base unit). Binary multiples for KB/MB/GB/TB:
#: that is what the monitoring-plugins mean by them (check_disk's MB are 1024² bytes).
UNITS: dict[str, tuple[str, float]] = {
    "s": ("seconds", 1.0),
    "ms": ("seconds", 1e-3),
    "us": ("seconds", 1e-6),
    "ns": ("seconds", 1e-9),
    "%": ("percent", 1.0),
    "b": ("bytes", 1.0),
    "kb": ("bytes", 1024.0),
    "mb": ("bytes", 1024.0**2),
    "gb": ("bytes", 1024.0**3),
    "tb": ("bytes", 1024.0**4),
    "kib": ("bytes", 1024.0),
    "mib": ("bytes", 1024.0**2),
    "gib": ("bytes", 1024.0**3),
    "tib": ("bytes", 1024.0**4),
    "c": ("counter", 1.0),
}

#: A label (quoted, with '' for a quote, or bare) followed by ``=`` and the data up to a space.
_ITEM = re.compile(r"""\s*(?:'((?:[^']|'')*)'|([^\s=']+))=(\S*)""")
_NUMBER = re.compile(r"^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?")
#: Bounds kept per label so a plugin cannot create unbounded series.
MAX_LABEL_LENGTH = 100


@dataclass(slots=True)
class Threshold:
    """A warn/crit range: alert outside ``low..high`` (inside with ``@``)."""

    low: float | None
    high: float | None
    inside: bool = False


@dataclass(slots=True)
class PerfValue:
    """One parsed performance-data item, in base units."""

    label: str
    value: float
    kind: str  # seconds | bytes | percent | counter | "" (a plain number or an unknown unit)
    unit: str  # as the plugin wrote it
    warning: Threshold | None = None
    critical: Threshold | None = None
    min: float | None = None
    max: float | None = None


@dataclass(slots=True)
class PluginOutput:
    """What a plugin printed: the first line, the long text, the perfdata and what was unreadable."""

    text: str
    long_text: list[str] = field(default_factory=list)
    perfdata: list[PerfValue] = field(default_factory=list)
    invalid: list[str] = field(default_factory=list)


def split_output(output: str) -> tuple[str, list[str], str]:
    """(first line, long text lines, all perfdata text) of a plugin's output."""
    lines = output.replace("\r\n", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        return "", [], ""
    first, _, perf = lines[0].partition("|")
    long_text: list[str] = []
    perf_parts = [perf]
    rest = lines[1:]
    for i, line in enumerate(rest):
        if "|" in line:
            text, _, more = line.partition("|")
            long_text.append(text.rstrip())
            perf_parts.append(more)
            perf_parts.extend(rest[i + 1 :])
            break
        long_text.append(line.rstrip())
    return first.strip(), long_text, " ".join(p.strip() for p in perf_parts if p.strip())


def _number(text: str) -> float | None:
    text = text.strip()
    if not text:
        return None
    if not _NUMBER.fullmatch(text):
        raise ValueError(f"{text!r} is not a number")
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


def parse_range(text: str, factor: float = 1.0) -> Threshold | None:
    """``10`` (0..10), ``10:`` (10..∞), ``~:10`` (−∞..10), ``10:20``, ``@10:20`` (inside)."""
    text = text.strip()
    if not text:
        return None
    inside = text.startswith("@")
    if inside:
        text = text[1:]
    if ":" in text:
        low_text, _, high_text = text.partition(":")
        low = None if low_text.strip() == "~" else _number(low_text)
        if low_text.strip() == "":
            low = 0.0
        high = _number(high_text)
    else:
        low, high = 0.0, _number(text)
        if high is None:
            raise ValueError("empty range")
    if low is not None and high is not None and low > high:
        raise ValueError(f"range {text!r}: start above end")
    return Threshold(
        None if low is None else low * factor, None if high is None else high * factor, inside
    )


def parse_item(label: str, data: str) -> PerfValue:
    """One ``label=value[UOM];warn;crit;min;max``. Raises ValueError naming the problem."""
    fields = data.split(";")
    if len(fields) > 5:
        raise ValueError(f"{label}: more than 5 fields")
    match = _NUMBER.match(fields[0])
    if match is None:
        raise ValueError(f"{label}: {fields[0]!r} is not a number with a unit")
    value = float(match.group(0))
    if not math.isfinite(value):
        raise ValueError(f"{label}: {fields[0]!r} is not finite")
    unit = fields[0][match.end() :]
    kind, factor = UNITS.get(unit.lower(), ("", 1.0))
    if not kind and unit and not re.fullmatch(r"[A-Za-z/]{1,16}", unit):
        raise ValueError(f"{label}: unit {unit!r} is not a unit")
    padded = [*fields[1:], "", "", "", ""][:4]
    return PerfValue(
        label=label,
        value=value * factor,
        kind=kind,
        unit=unit,
        warning=parse_range(padded[0], factor),
        critical=parse_range(padded[1], factor),
        min=None if (m := _number(padded[2])) is None else m * factor,
        max=None if (m := _number(padded[3])) is None else m * factor,
    )


def parse_perfdata(text: str) -> tuple[list[PerfValue], list[str]]:
    """Every readable item, and the text of each unreadable one (garbage is skipped, not fatal)."""
    values: list[PerfValue] = []
    invalid: list[str] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _ITEM.match(text, pos)
        if match is None:
            # Skip one unreadable token (up to the next space) and go on.
            end = text.find(" ", pos)
            end = len(text) if end < 0 else end
            token = text[pos:end].strip()
            if token:
                invalid.append(token[:200])
            pos = end + 1
            continue
        pos = match.end()
        quoted, bare, data = match.groups()
        label = (quoted.replace("''", "'") if quoted is not None else bare).strip()
        label = "".join(c for c in label if c.isprintable())[:MAX_LABEL_LENGTH]
        if not label:
            invalid.append(match.group(0).strip()[:200])
            continue
        if data.split(";")[0] == "U":  # "undetermined": the plugin could not measure it
            continue
        try:
            values.append(parse_item(label, data))
        except ValueError as exc:
            invalid.append(str(exc)[:200])
    return values, invalid


def parse_output(output: str) -> PluginOutput:
    text, long_text, perf = split_output(output)
    values, invalid = parse_perfdata(perf)
    return PluginOutput(text, long_text, values, invalid)
