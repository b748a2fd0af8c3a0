"""Bar chart geometry (pure): bars scale to a nice maximum and stay inside the drawing."""

from __future__ import annotations

import pytest

from collector.management.charts import columns, nice_ceiling, rows


@pytest.mark.parametrize(
    ("value", "ceiling"),
    [(0, 1), (1, 1), (3, 5), (7, 10), (11, 20), (24, 25), (130, 200), (0.3, 0.5), (1001, 2000)],
)
def test_nice_ceiling(value, ceiling):
    assert nice_ceiling(value) == pytest.approx(ceiling)


def test_columns_scale_and_place_two_series_side_by_side():
    chart = columns(
        "created vs resolved",
        ["d1", "d2", "d3"],
        [("created", [4, 0, 2]), ("resolved", [1, 3, 0])],
        width=340,
        height=138,
    )
    plot_h = 138 - 10 - 28
    assert chart.max_value == 5
    created = [b for b in chart.bars if b.series == 0]
    resolved = [b for b in chart.bars if b.series == 1]
    assert [b.height for b in created] == [plot_h * 4 / 5, 0, plot_h * 2 / 5]
    assert [b.value for b in resolved] == [1, 3, 0]
    for bar in chart.bars:  # every bar stands on the baseline, inside the drawing
        assert bar.y + bar.height == pytest.approx(10 + plot_h)
        assert bar.x >= 0 and bar.x + bar.width <= chart.width
    assert created[0].x < resolved[0].x < created[1].x  # grouped per category
    assert chart.legend == [("created", chart.bars[0].colour), ("resolved", resolved[0].colour)]
    assert not chart.empty


def test_columns_label_at_most_max_labels_categories():
    chart = columns("days", [f"d{i}" for i in range(90)], [("n", [1] * 90)], max_labels=10)
    category_labels = [label for label in chart.labels if label.text.startswith("d")]
    assert len(category_labels) == 10 and category_labels[0].text == "d0"


def test_rows_are_proportional_and_empty_data_draws_nothing():
    chart = rows(
        "minutes", [("alice", 300), ("bob", 120)], width=640, label_width=180, value_width=60
    )
    assert chart.max_value == 500
    assert [b.width for b in chart.bars] == [400 * 300 / 500, 400 * 120 / 500]
    assert [label.text for label in chart.labels] == ["alice", "300", "bob", "120"]
    assert rows("nothing", []).empty and columns("none", ["a"], [("n", [0])]).empty
