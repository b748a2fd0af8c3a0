"""Preventive evidence in the report reads in the reader's terms: "age of /srv/backup:
3 days → 2 minutes", never ``before 259289.27283787727`` or ``before None``."""

from __future__ import annotations

import pytest

from collector.preventive import evidence
from collector.reports.i18n import EVIDENCE_NAMES, Formatter


def test_every_evidence_name_is_translatable():
    assert set(EVIDENCE_NAMES) == set(evidence.NAMES) - {"printer_supply_level_percent"}


@pytest.mark.parametrize(
    ("language", "item", "text"),
    [
        (
            "en",
            evidence.metric_evidence(
                "file_age_seconds",
                {"path": "/srv/backup"},
                "srv1",
                259289.27283787727,
                2.4769256114959717,
            ),
            "age of /srv/backup: 3 days → 2 seconds",
        ),
        (
            "ru",
            evidence.metric_evidence(
                "file_age_seconds", {"path": "/srv/backup"}, "srv1", 259289.27283787727, 125.2
            ),
            "возраст /srv/backup: 3 дня → 2 минуты",
        ),
        (
            "en",
            evidence.metric_evidence("disk_used_percent", {"mountpoint": "/"}, "srv1", 93.4, 61.2),
            "disk /: 93% → 61%",
        ),
        (
            "en",
            evidence.metric_evidence("file_age_seconds", {"path": "/b"}, "srv1", None, None),
            "age of /b: no data",
        ),
        (
            "ru",
            evidence.metric_evidence("file_age_seconds", {"path": "/b"}, "srv1", None, None),
            "возраст /b: нет данных",
        ),
        (
            "en",
            evidence.supply_evidence("p1", {"supply": "Black Toner"}),
            "Black Toner was replaced",
        ),
        ("en", evidence.no_evidence("srv1: backup is late"), "srv1: backup is late"),
        ("en", {}, ""),
    ],
)
def test_evidence_text(language, item, text):
    shown = Formatter(language, "Europe/Berlin").evidence(item)
    assert shown == text
    assert "None" not in shown
