"""The report's formats, all from one model dict: HTML (one self-contained file), PDF (the
same HTML through WeasyPrint), JSON and CSV (the same numbers, for machines)."""

from __future__ import annotations

import csv
import functools
import io
import json
from typing import Any

import jinja2

from collector.reports import texts
from collector.reports.i18n import PACKAGE_DIR, Formatter, translations

FORMATS = ("html", "pdf", "json", "csv")
CONTENT_TYPES = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
}


@functools.cache
def _environment(language: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(PACKAGE_DIR / "templates")),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.install_gettext_translations(translations(language), newstyle=True)  # type: ignore[attr-defined]
    return env


def html(model: dict[str, Any]) -> str:
    """The report as one HTML page: inline CSS and SVG, no external reference."""
    from collector.reports import charts  # matplotlib: only when a report is drawn

    fmt = Formatter(model["language"], model["period"]["timezone"], model.get("locale"))
    env = _environment(model["language"])
    return env.get_template("report.html.j2").render(
        m=model, s=model["sections"], f=fmt, t=texts, charts=charts.all_charts(model, fmt)
    )


def pdf(model: dict[str, Any]) -> bytes:
    """The HTML report printed to PDF by WeasyPrint (A4, page numbers in the footer)."""
    import weasyprint  # heavy; only for PDF

    return weasyprint.HTML(string=html(model), base_url=None).write_pdf()


def as_json(model: dict[str, Any]) -> bytes:
    return json.dumps(model, ensure_ascii=False, indent=1, sort_keys=False).encode()


def _flatten(prefix: str, value: Any, out: list[tuple[str, str, Any]], table: str) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), item, out, table)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _flatten(f"{prefix}[{index}]", item, out, table)
    else:
        out.append((table, prefix, value))


def as_csv(model: dict[str, Any]) -> bytes:
    """Long format: ``section, field, value`` — one row per number or text of the model
    (``field`` is a path like ``assets[3].availability``), so every figure of the report is
    there and a spreadsheet pivots it as it likes."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["section", "field", "value"])
    head = {k: model[k] for k in ("client", "language", "period", "generated_at")}
    rows: list[tuple[str, str, Any]] = []
    _flatten("", head, rows, "report")
    for name, data in model["sections"].items():
        _flatten("", data, rows, name)
    for section, field, value in rows:
        writer.writerow([section, field, "" if value is None else value])
    return buffer.getvalue().encode()


def render(model: dict[str, Any], fmt: str) -> bytes:
    if fmt == "html":
        return html(model).encode()
    if fmt == "pdf":
        return pdf(model)
    if fmt == "json":
        return as_json(model)
    if fmt == "csv":
        return as_csv(model)
    raise ValueError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
