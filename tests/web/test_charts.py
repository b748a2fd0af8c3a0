"""Server-side sparklines: pure, table-tested."""

from __future__ import annotations

import math

import pytest

from collector.web.charts import sparkline, sparkline_points


@pytest.mark.parametrize(
    ("points", "expected"),
    [
        ([], []),
        ([(0, 5)], [(80.0, 16.0)]),  # one point: centred
        ([(0, 1), (10, 1)], [(2.0, 16.0), (158.0, 16.0)]),  # flat: the middle line
        ([(0, 0), (5, 10), (10, 5)], [(2.0, 30.0), (80.0, 2.0), (158.0, 16.0)]),
        ([(10, 5), (0, 0), (5, 10)], [(2.0, 30.0), (80.0, 2.0), (158.0, 16.0)]),  # sorted by time
        (
            [(0, 0), (1, math.nan), (2, math.inf), (10, 2)],
            [(2.0, 30.0), (158.0, 2.0)],
        ),  # non-finite dropped
        (
            [(0, 0), (9, 1), (10, 1)],
            [(2.0, 30.0), (142.4, 2.0), (158.0, 2.0)],
        ),  # x follows time, not index
    ],
)
def test_points_are_scaled_into_the_box(
    points: list[tuple[float, float]], expected: list[tuple[float, float]]
) -> None:
    assert sparkline_points(points, 160, 32) == expected


def test_svg_markup() -> None:
    svg = sparkline([(0, 0), (5, 10), (10, 5)], label='disk <"/">')
    assert svg.startswith('<svg class="spark" role="img" aria-label="disk &lt;&quot;/&quot;&gt;"')
    assert (
        '<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="2,30 80,2 158,16"/>'
        in svg
    )
    assert svg.endswith('<circle cx="158" cy="16" r="2"/></svg>')
    assert "<polyline" not in sparkline([(0, 1)]) and "<circle" in sparkline([(0, 1)])
    assert sparkline([]).endswith("<title></title></svg>")
