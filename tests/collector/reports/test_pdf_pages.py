"""The PDF pages as a reader sees them: each scenario's report (a month with a preventive fix
whose evidence is a raw float, another with none, a client-caused incident costing points, SLA
breaches) printed to PDF, its text read back with poppler's pdftotext and page 1 drawn with
pdftoppm: no "None", no float with more than 3 decimals, and in Russian no English message of
ours (an msgid of the report catalog) on any page."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import sqlalchemy as sa
from babel.messages.pofile import read_po

from collector import reports
from collector.preventive.evidence import metric_evidence
from collector.reports import i18n, render
from collector.schema import clients, preventive_work
from collector.store import Store
from tests.collector.reports import scenario

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None or shutil.which("pdftoppm") is None,
    reason="poppler-utils not installed (scripts/test-system-deps)",
)
RAW_FLOAT = re.compile(r"(?<![\d.])\d+[.,]\d{4,}(?![\d.])")  # not a date like 05.11.2026


def _build(tmp_path, language):
    store = Store.from_url(f"sqlite:///{tmp_path / f'{language}.db'}")
    store.upgrade()
    scenario.build(store, language=language)
    with store.write() as conn:
        client_id = conn.execute(
            sa.select(clients.c.id).where(clients.c.name == "acme")
        ).scalar_one()
        for title, before, after in (
            ("Backup job restarted", 259289.27283787727, 2.4769256114959717),
            ("Backup checked", None, None),
        ):
            conn.execute(
                preventive_work.insert().values(
                    client_id=client_id,
                    kind="task",
                    task_id=None,
                    title=title,
                    asset="srv1",
                    done_at=scenario.at(20, 10),
                    actor="tech",
                    minutes=10,
                    note="",
                    evidence=metric_evidence(
                        "file_age_seconds", {"path": "/srv/backup"}, "srv1", before, after
                    ),
                    created_at=scenario.at(20, 10),
                )
            )
    model = reports.build(store, "acme", "2026-10", now=scenario.NOW)
    store.dispose()
    return model


def _pages(tmp_path, model) -> str:
    pdf = tmp_path / f"report-{model['language']}.pdf"
    pdf.write_bytes(render.pdf(model))
    text = subprocess.run(
        ["pdftotext", "-layout", "-enc", "UTF-8", str(pdf), "-"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    subprocess.run(
        ["pdftoppm", "-r", "40", "-f", "1", "-l", "1", "-png", str(pdf), str(tmp_path / "page")],
        check=True,
        timeout=60,
    )
    [png] = list(tmp_path.glob("page*.png"))
    assert png.stat().st_size > 2000  # a drawn page, not an empty one
    png.unlink()
    return text


@pytest.mark.parametrize("language", ["en", "ru"])
def test_pdf_pages_read_in_human_terms(tmp_path, language):
    model = _build(tmp_path, language)
    text = _pages(tmp_path, model)
    assert "None" not in text
    assert RAW_FLOAT.findall(text) == []
    flat = " ".join(text.split())
    if language == "en":
        assert "age of /srv/backup: 3 days → 2 seconds" in flat
        assert "age of /srv/backup: no data" in flat
    else:
        assert "возраст /srv/backup: 3 дня → 2 секунды" in flat
        assert "возраст /srv/backup: нет данных" in flat
        with i18n.po_path("ru").open("rb") as f:
            catalog = read_po(f, locale="ru", domain=i18n.DOMAIN)
        leaks = []
        for message in catalog:
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            for msgid in ids:
                if not msgid or "%" in msgid or "{" in msgid or msgid in strings or len(msgid) < 12:
                    continue
                if msgid in flat:
                    leaks.append(msgid)
        assert leaks == []
