"""Charts rendered on the server as SVG (matplotlib, Agg-free SVG backend), inlined into the
HTML so the report needs no JavaScript and no external file.

Text in the SVG is drawn as paths (matplotlib's default ``svg.fonttype``), so the chart
looks the same in a mail client, a browser and WeasyPrint's PDF, with no font to fetch.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import Any

import matplotlib

matplotlib.use("svg")  # before pyplot is ever imported; we only use Figure (no global state)
from matplotlib import rcParams  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from collector.reports.i18n import Formatter  # noqa: E402

rcParams["svg.hashsalt"] = "upkeep"  # stable element ids: the same data gives the same SVG
# Text as <text> in a generic font family, not as glyph paths: 3x faster to write, smaller,
# and the labels stay searchable; every viewer (and WeasyPrint) has a sans-serif font.
rcParams["svg.fonttype"] = "none"
rcParams["font.family"] = ["DejaVu Sans", "sans-serif"]
rcParams["font.size"] = 8
rcParams["axes.spines.top"] = False
rcParams["axes.spines.right"] = False

PROACTIVE, REPORTED, LINE = "#2f7d4f", "#c0392b", "#2c5d9c"
WIDTH = 7.0
_HEADER = re.compile(r"^.*?(?=<svg)", re.S)


def _svg(fig: Figure, key: str) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    svg = _HEADER.sub("", buffer.getvalue(), count=1)
    # Each chart's ids get a prefix: several charts inline in one page must not share ids.
    svg = re.sub(r'id="([^"]+)"', rf'id="{key}-\1"', svg)
    svg = re.sub(r'(xlink:href|href)="#([^"]+)"', rf'\1="#{key}-\2"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", rf"url(#{key}-\1)", svg)
    return svg


def availability(rows: list[dict[str, Any]], fmt: Formatter, limit: int = 12) -> str | None:
    """Horizontal bars: the least available assets."""
    rows = [r for r in rows if r["availability"] is not None][:limit]
    if not rows:
        return None
    height = 0.3 * len(rows) + 0.8
    fig = Figure(figsize=(WIDTH, height))
    longest = max(len(r["asset"]) for r in rows)
    fig.subplots_adjust(
        left=min(0.45, 0.04 + 0.0085 * longest),
        right=0.97,
        top=1 - 0.1 / height,
        bottom=0.55 / height,
    )
    ax = fig.subplots()
    names = [r["asset"] for r in rows][::-1]
    values = [r["availability"] for r in rows][::-1]
    ax.barh(
        names,
        values,
        color=[LINE if v >= 99.9 else "#d68910" if v >= 99 else REPORTED for v in values],
    )
    low = min(values)
    ax.set_xlim(max(0.0, min(99.0, low) - 1), 100)
    ax.set_xlabel(fmt.gettext("Availability, %"))
    return _svg(fig, "avail")


def incidents_per_week(weekly: list[dict[str, Any]], fmt: Formatter) -> str | None:
    if not any(w["proactive"] or w["user_reported"] for w in weekly):
        return None
    fig = Figure(figsize=(WIDTH, 2.2))
    fig.subplots_adjust(left=0.09, right=0.98, top=0.95, bottom=0.25)
    ax = fig.subplots()
    labels = [fmt.date(w["start"]) for w in weekly]
    proactive = [w["proactive"] for w in weekly]
    reported = [w["user_reported"] for w in weekly]
    ax.bar(labels, proactive, color=PROACTIVE, label=fmt.gettext("detected by monitoring"))
    ax.bar(
        labels,
        reported,
        bottom=proactive,
        color=REPORTED,
        label=fmt.gettext("reported by your staff"),
    )
    locator = ax.yaxis.get_major_locator()
    assert isinstance(locator, MaxNLocator)  # matplotlib's default AutoLocator is one
    locator.set_params(integer=True)
    ax.set_ylabel(fmt.gettext("Incidents per week"))
    ax.legend(frameon=False)
    return _svg(fig, "weekly")


def points_balance(
    entries: list[dict[str, Any]], opening: int, start: float, end: float, fmt: Formatter
) -> str | None:
    if not entries:
        return None
    xs = [datetime.fromtimestamp(start, UTC)] + [
        datetime.fromtimestamp(e["ts"], UTC) for e in entries
    ]
    ys = [opening / 100] + [e["balance"] / 100 for e in entries]
    xs.append(datetime.fromtimestamp(max(end, max(e["ts"] for e in entries)), UTC))
    ys.append(ys[-1])
    fig = Figure(figsize=(WIDTH, 2.2))
    fig.subplots_adjust(left=0.09, right=0.98, top=0.95, bottom=0.25)
    ax = fig.subplots()
    ax.step(xs, ys, where="post", color=LINE)  # type: ignore[arg-type]  # matplotlib takes datetimes through its date converter; its stubs only list numbers
    ax.axhline(0, color="#888", linewidth=0.6)
    ax.set_ylabel(fmt.gettext("Points balance"))
    ax.set_xticks(xs[1:-1][:12] or xs)  # type: ignore[arg-type]  # matplotlib takes datetimes through its date converter; its stubs only list numbers
    ax.set_xticklabels(
        [fmt.date(x.timestamp()) for x in (xs[1:-1][:12] or xs)], rotation=30, ha="right"
    )
    return _svg(fig, "points")


def trend_lines(lines: list[dict[str, Any]], fmt: Formatter) -> str | None:
    """Daily averages of the disks and supplies closest to running out."""
    lines = [line for line in lines if line["points"]]
    if not lines:
        return None
    fig = Figure(figsize=(WIDTH, 2.6))
    fig.subplots_adjust(left=0.09, right=0.98, top=0.95, bottom=0.25)
    ax = fig.subplots()
    for line in lines:
        ax.plot(
            [datetime.fromtimestamp(p[0], UTC) for p in line["points"]],  # type: ignore[arg-type]  # matplotlib takes datetimes through its date converter; its stubs only list numbers
            [p[1] for p in line["points"]],
            label=line["label"],
            linewidth=1.2,
        )
    ax.set_ylim(0, 100)
    ax.set_ylabel(fmt.gettext("Used / level, %"))
    first = lines[0]["points"]
    ticks = [datetime.fromtimestamp(p[0], UTC) for p in first[:: max(1, len(first) // 6)]]
    ax.set_xticks(ticks)  # type: ignore[arg-type]  # matplotlib takes datetimes through its date converter; its stubs only list numbers
    ax.set_xticklabels([fmt.date(t.timestamp()) for t in ticks], rotation=30, ha="right")
    ax.legend(frameon=False, fontsize=7, ncols=2)
    return _svg(fig, "trends")


def all_charts(model: dict[str, Any], fmt: Formatter) -> dict[str, str | None]:
    """Every chart of the report, by name (None: nothing to draw)."""
    s = model["sections"]
    out: dict[str, str | None] = {}
    if "availability" in s:
        out["availability"] = availability(s["availability"]["assets"], fmt)
    if "incidents" in s:
        out["incidents"] = incidents_per_week(s["incidents"]["weekly"], fmt)
    if "points" in s:
        out["points"] = points_balance(
            s["points"]["entries"],
            s["points"]["opening"],
            model["period"]["start"],
            model["period"]["end"],
            fmt,
        )
    if "risks" in s:
        out["trends"] = trend_lines(s["risks"]["trend_lines"], fmt)
    return out
