"""The formats: one self-contained HTML file, a PDF with extractable text, JSON and CSV with
the same numbers (rendering does not depend on the database: SQLite only)."""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser

import pypdf
import pytest

from collector import reports
from collector.reports import render
from collector.store import Store
from tests.collector.reports import scenario


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store.from_url(f"sqlite:///{tmp_path_factory.mktemp('formats') / 'upkeep.db'}")
    store.upgrade()
    scenario.build(store)
    yield store
    store.dispose()


@pytest.fixture(scope="module")
def model(store):
    return reports.build(store, "acme", "2026-10", now=scenario.NOW)


class References(HTMLParser):
    """Every URL-ish attribute and tag the page has."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for name, value in attrs:
            if (
                name in ("src", "href", "xlink:href", "action", "srcset", "poster", "data")
                and value is not None
            ):
                self.urls.append(value)


def test_html_is_one_self_contained_file(model):
    page = render.html(model)
    refs = References()
    refs.feed(page)
    assert refs.urls, "the charts reference their own definitions (#…): the parser must see them"
    assert all(u.startswith("#") for u in refs.urls), [
        u for u in refs.urls if not u.startswith("#")
    ]
    assert not {"script", "link", "img", "iframe", "object"} & refs.tags
    assert "@import" not in page
    assert all(u.startswith("#") for u in re.findall(r"url\(\s*['\"]?([^'\")]+)", page))
    assert page.count("<svg") == 4  # availability, incidents per week, points, disk/toner trends
    # Chart element ids are unique in the page (several inline SVGs).
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))


def test_html_shows_the_numbers(model):
    page = render.html(model)
    for text in (
        "Monthly report",
        "acme",
        "99.71%",
        "99.328%",
        "UPK-acme-2",
        "Wrong paper weight loaded",
        "REQ-acme-1",
        "62.00",
        "€1,200.00",
        "3,720",
        "in 19 days",
        "shop.acme.example:443",
        "71.43%",
    ):
        assert text in page, text


def test_pdf_renders_with_extractable_text(model):
    data = render.pdf(model)
    assert data.startswith(b"%PDF-")
    pdf = pypdf.PdfReader(io.BytesIO(data))
    assert len(pdf.pages) > 0
    text = "\n".join(page.extract_text() for page in pdf.pages)
    for needle in (
        "Monthly report",
        "UPK-acme-3",
        "Replaced the network card.",
        "62.00",
        "printer1",
    ):
        assert needle in text, needle


def test_json_carries_the_model(model):
    assert json.loads(render.as_json(model)) == json.loads(json.dumps(model))


def test_csv_has_every_number(model):
    rows = list(csv.reader(io.StringIO(render.as_csv(model).decode())))
    assert rows[0] == ["section", "field", "value"]
    values = {(r[0], r[1]): r[2] for r in rows[1:]}
    assert values[("points", "closing")] == "6200"
    assert values[("availability", "overall")] == "99.709"
    assert values[("availability", "assets[0].asset")] == "srv1"
    assert values[("availability", "assets[0].availability")] == "99.328"
    assert values[("incidents", "items[2].key")] == "UPK-acme-2"
    assert values[("sla", "compliance")] == "71.43"
    assert values[("report", "period.label")] == "2026-10"
    # Every leaf of the model is a row.
    leaves = []
    render._flatten("", model["sections"], leaves, "")
    assert len(rows) - 1 == len(leaves) + sum(1 for r in rows[1:] if r[0] == "report")


def test_generate_each_format(store):
    for fmt in ("html", "json", "csv"):
        data = reports.generate(store, "acme", "2026-10", fmt, now=scenario.NOW)
        assert data and isinstance(data, bytes)
    assert (
        json.loads(reports.generate(store, "acme", "2026-10", "json", now=scenario.NOW))["client"]
        == "acme"
    )
