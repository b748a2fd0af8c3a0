"""The report's sections, in the order they appear: one module each, imported when used.

A section is a class with a ``name``, the sections it ``needs`` (their data is passed to it),
and ``compute(ctx, done) -> dict``: plain, language-free data (numbers, codes, epoch times)
that the HTML/PDF template shows and the JSON/CSV exports carry as they are.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collector.reports.sections import Section

#: name → "module:Class", in report order. No discovery: a new section is added here.
SECTIONS: dict[str, str] = {
    "summary": "collector.reports.sections.summary:Summary",
    "assets": "collector.reports.sections.assets:AssetsMonitored",
    "availability": "collector.reports.sections.availability:Availability",
    "incidents": "collector.reports.sections.incidents:Incidents",
    "preventive": "collector.reports.sections.preventive:PreventiveWork",
    "sla": "collector.reports.sections.sla:SlaCompliance",
    "satisfaction": "collector.reports.sections.satisfaction:ClientSatisfaction",
    "points": "collector.reports.sections.points:PointsStatement",
    "consumables": "collector.reports.sections.consumables:Consumables",
    "updates": "collector.reports.sections.updates:UpdatesAndDisks",
    "risks": "collector.reports.sections.risks:RisksAhead",
    "trends": "collector.reports.sections.trends:Trends",
    "recurring": "collector.reports.sections.recurring:RecurringProblems",
}


def load(name: str) -> Section:
    """An instance of the section registered as ``name``."""
    module, _, cls = SECTIONS[name].partition(":")
    return getattr(importlib.import_module(module), cls)()


def compute_order(names: list[str]) -> list[str]:
    """``names`` ordered so each section comes after the sections it needs."""
    sections = {n: load(n) for n in names}
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered:
            return
        if name in visiting:
            raise ValueError(f"report sections need each other in a circle at {name!r}")
        visiting.add(name)
        for need in sections[name].needs:
            visit(need)
        visiting.discard(name)
        ordered.append(name)

    for name in names:
        visit(name)
    return ordered
