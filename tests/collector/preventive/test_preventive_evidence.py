"""Evidence texts as a client reads them (pure, table tests)."""

from __future__ import annotations

import pytest

from collector.preventive import evidence as ev


@pytest.mark.parametrize(
    ("metric", "labels", "asset", "before", "after", "text"),
    [
        (
            "disk_used_percent",
            {"mountpoint": "/", "device": "sda1", "fstype": "ext4"},
            "srv1",
            93.2,
            61.0,
            "disk / on srv1: 93 % → 61 %",
        ),
        ("memory_used_percent", {}, "srv2", 97.0, 40.4, "memory use on srv2: 97 % → 40 %"),
        (
            "printer_supply_level_percent",
            {"supply": "Black Toner"},
            "printer-2nd-floor",
            4.0,
            100.0,
            "Black Toner on printer-2nd-floor: 4 % → 100 %",
        ),
        (
            "file_age_seconds",
            {"path": "/srv/backup"},
            "nas",
            3 * 86400,
            3600,
            "age of /srv/backup on nas: 3 d → 1 h",
        ),
        ("os_updates_pending", {}, "srv1", 14, 0, "pending updates on srv1: 14 → 0"),
        (
            "disk_free_bytes",
            {"mountpoint": "/data"},
            "srv1",
            1.5 * 2**30,
            300 * 2**30,
            "free space on /data on srv1: 1.5 GiB → 300 GiB",
        ),
        (
            "ups_battery_voltage_volts",
            {},
            "ups1",
            24.5,
            27.25,
            "ups battery voltage on ups1: 24.5 V → 27.2 V",
        ),
        ("memory_used_percent", {}, "srv2", None, 40.0, "memory use on srv2: 40 %"),
        ("memory_used_percent", {}, "srv2", 97.0, None, "memory use on srv2: 97 % → no data"),
    ],
)
def test_metric_evidence(metric, labels, asset, before, after, text) -> None:
    out = ev.metric_evidence(metric, labels, asset, before, after)
    assert out["text"] == text
    assert (out["before"], out["after"]) == (before, after)
    assert out["unit"] == ev.unit_of(metric)


def test_supply_replaced() -> None:
    out = ev.supply_evidence(
        "printer-2nd-floor",
        {"supply": "black toner", "before_percent": 3.0, "after_percent": 100.0},
    )
    assert out == {
        "text": "black toner replaced on printer-2nd-floor: 3 % → 100 %",
        "before": 3.0,
        "after": 100.0,
        "unit": "%",
        "source": "event",
        "event": "supply_replaced",
        "supply": "black toner",
    }
    assert (
        ev.supply_evidence("printer-2nd-floor", {})["text"]
        == "supply replaced on printer-2nd-floor"
    )


def test_several_assets_in_one_text() -> None:
    parts = [(f"srv{i}", 10.0 + i, 0.0) for i in range(7)]
    assert ev.several("pending updates", parts, "") == (
        "pending updates: srv0 10 → 0, srv1 11 → 0, srv2 12 → 0, srv3 13 → 0, srv4 14 → 0 and 2 more"
    )
