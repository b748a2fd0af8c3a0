"""Sparklines as inline SVG, rendered on the server (no JavaScript, no image files).

:func:`sparkline` is pure: points in, SVG text out. The x axis is time (gaps stay gaps in
spacing, not in the line), the y axis spans the points' min..max (a flat series is drawn in
the middle). Numbers are rounded to 0.1 px so the markup stays small.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape


def _fmt(value: float) -> str:
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def sparkline_points(
    points: Sequence[tuple[float, float]], width: float, height: float, pad: float = 2.0
) -> list[tuple[float, float]]:
    """Scale ``(ts, value)`` points into the box; non-finite values are dropped."""
    clean = sorted((t, v) for t, v in points if math.isfinite(t) and math.isfinite(v))
    if not clean:
        return []
    t0, t1 = clean[0][0], clean[-1][0]
    lo = min(v for _, v in clean)
    hi = max(v for _, v in clean)
    inner_w, inner_h = width - 2 * pad, height - 2 * pad
    out = []
    for t, v in clean:
        x = pad + (inner_w * (t - t0) / (t1 - t0) if t1 > t0 else inner_w / 2)
        y = pad + (inner_h / 2 if hi == lo else inner_h * (hi - v) / (hi - lo))
        out.append((round(x, 1), round(y, 1)))
    return out


def sparkline(
    points: Sequence[tuple[float, float]], *, width: int = 160, height: int = 32, label: str = ""
) -> str:
    """An ``<svg>`` element drawing the points as a line (empty frame when there are none)."""
    scaled = sparkline_points(points, width, height)
    title = escape(label, quote=True)
    head = (
        f'<svg class="spark" role="img" aria-label="{title}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg"><title>{title}</title>'
    )
    if not scaled:
        return head + "</svg>"
    if len(scaled) == 1:
        x, y = scaled[0]
        return head + f'<circle cx="{_fmt(x)}" cy="{_fmt(y)}" r="2"/></svg>'
    coords = " ".join(f"{_fmt(x)},{_fmt(y)}" for x, y in scaled)
    last_x, last_y = scaled[-1]
    return (
        head + f'<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{coords}"/>'
        f'<circle cx="{_fmt(last_x)}" cy="{_fmt(last_y)}" r="2"/></svg>'
    )
