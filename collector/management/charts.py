"""Small bar charts as geometry, drawn as inline SVG by the management templates (no JavaScript).

:func:`columns` lays out vertical bars per category (several series side by side: created vs
resolved per day); :func:`rows` lays out one horizontal bar per item (minutes per technician,
incidents per asset). Pure arithmetic: the template only copies the numbers into ``<rect>``
and ``<text>`` elements, so the layout is tested with plain values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

#: Series colours (colour-blind safe: Okabe–Ito); a template may override them with CSS.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9")


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    value: float
    label: str
    series: int
    colour: str


@dataclass(frozen=True, slots=True)
class Label:
    x: float
    y: float
    text: str
    anchor: str = "middle"  # SVG text-anchor


@dataclass(frozen=True, slots=True)
class Chart:
    """A chart ready to draw: ``width`` × ``height`` user units, bars and text labels."""

    title: str
    width: int
    height: int
    bars: list[Bar]
    labels: list[Label]
    max_value: float
    legend: list[tuple[str, str]] = field(default_factory=list)  # (series name, colour)
    #: The axis the bars stand on: (x1, y1, x2, y2).
    axis: tuple[float, float, float, float] | None = None

    @property
    def empty(self) -> bool:
        return not any(b.value for b in self.bars)


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10^k at or above ``value`` (axis maximum); 1 for 0."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power + 1e-9 * power:
            return step * power
    return 10 * power


def _fmt(value: float) -> str:
    return f"{value:g}" if value != int(value) else str(int(value))


def columns(
    title: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    width: int = 640,
    height: int = 220,
    max_labels: int = 12,
) -> Chart:
    """Vertical bars: per category, one bar per series side by side, scaled to a nice maximum.

    At most ``max_labels`` category labels are written (every n-th), so 90 days stay legible.
    """
    left, right, top, bottom = 36.0, 8.0, 10.0, 28.0
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(len(categories), 1)
    top_value = nice_ceiling(max((v for _, values in series for v in values), default=0.0))
    group = plot_w / n
    bar_w = group * 0.8 / max(len(series), 1)
    bars: list[Bar] = []
    for s, (name, values) in enumerate(series):
        colour = PALETTE[s % len(PALETTE)]
        for i, value in enumerate(values):
            h = plot_h * value / top_value
            x = left + i * group + group * 0.1 + s * bar_w
            bars.append(
                Bar(
                    round(x, 2),
                    round(top + plot_h - h, 2),
                    round(bar_w, 2),
                    round(h, 2),
                    value,
                    f"{categories[i]} {name}",
                    s,
                    colour,
                )
            )
    every = max(1, math.ceil(len(categories) / max_labels))
    labels = [
        Label(round(left + i * group + group / 2, 2), height - bottom + 16, text)
        for i, text in enumerate(categories)
        if i % every == 0
    ]
    labels += [
        Label(left - 4, top + 4, _fmt(top_value), "end"),
        Label(left - 4, top + plot_h, "0", "end"),
    ]
    return Chart(
        title,
        width,
        height,
        bars,
        labels,
        top_value,
        [(name, PALETTE[s % len(PALETTE)]) for s, (name, _) in enumerate(series)],
        (left, top + plot_h, left + plot_w, top + plot_h),
    )


def rows(
    title: str,
    items: Sequence[tuple[str, float]],
    *,
    width: int = 640,
    bar_height: int = 16,
    gap: int = 6,
    label_width: int = 180,
    value_width: int = 60,
) -> Chart:
    """Horizontal bars, one per ``(label, value)`` item, longest for the largest value."""
    top_value = nice_ceiling(max((v for _, v in items), default=0.0))
    plot_w = width - label_width - value_width
    height = max(1, len(items)) * (bar_height + gap) + gap
    bars, labels = [], []
    for i, (label, value) in enumerate(items):
        y = gap + i * (bar_height + gap)
        w = plot_w * value / top_value
        bars.append(Bar(label_width, y, round(w, 2), bar_height, value, label, 0, PALETTE[0]))
        labels.append(Label(label_width - 6, y + bar_height - 4, label, "end"))
        labels.append(
            Label(round(label_width + w + 4, 2), y + bar_height - 4, _fmt(value), "start")
        )
    return Chart(
        title, width, height, bars, labels, top_value, axis=(label_width, 0, label_width, height)
    )
