"""One read model per domain: a domain's tables are read only through its package.

An AST check over every collector module: which tables it imports from ``collector.schema``
(or reaches as ``schema.<table>``). A table of ``OWNERS`` may be named only inside its
domain's package (and the schema, the migrations, backup/retention which move whole tables).
``KNOWN_DEBT`` lists the readers not moved yet; the test fails on any new reader and on a
listed one that no longer reads the table (so the list only shrinks).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "collector"
OWNERS = {
    "incident_sla": "collector.sla",
    "sla_pauses": "collector.sla",
    "ledger_entries": "collector.ledger",
    "ledger_notices": "collector.ledger",
    "preventive_work": "collector.preventive",
    # Hours not built yet come from the raw samples: read rollups through collector.rollups.
    "rollups_hourly": "collector.rollups",
    # the incidents' period figures (collector.incidents.read); assets, latest and the rollups
    # are not listed: the asset registry is every domain's identity, and the fleet/asset
    # figures already have their read model (collector.health)
    "incidents": "collector.incidents",
    "incident_events": "collector.incidents",
    "time_entries": "collector.incidents",
}
#: Whole-table movers, not readers of figures.
EXEMPT = ("collector.schema", "collector.migrations", "collector.backup", "collector.retention")
#: Readers still to move onto their domain's read functions (module → tables).
KNOWN_DEBT = {
    # joins for an incident's key, title or client (identity, not figures)
    "collector.closing.read": {"incident_events", "incidents"},
    "collector.closing.service": {"incidents"},
    "collector.contracts.scope": {"incidents"},
    "collector.ledger.read": {"incidents"},
    "collector.preventive.read": {"incidents"},
    "collector.remediation.service": {"incidents"},
    "collector.sla.queries": {"incidents"},
    "collector.sla.summary": {"incidents"},
    # writers' reads of incident state and time (charges, clocks, preventive evidence)
    "collector.ledger.requests": {"time_entries"},
    "collector.ledger.service": {"incident_events", "incidents", "time_entries"},
    "collector.preventive.record": {"incidents", "time_entries"},
    "collector.sla.service": {"incident_events", "incidents"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def tables_named(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "collector.schema":
            found |= {a.name for a in node.names if a.name in OWNERS}
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "schema"
            and node.attr in OWNERS
        ):
            found.add(node.attr)
    return found


def readers() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for path in sorted(ROOT.rglob("*.py")):
        name = module_name(path)
        if name.startswith(EXEMPT):
            continue
        foreign = {
            t
            for t in tables_named(ast.parse(path.read_text(), str(path)))
            if not (name == OWNERS[t] or name.startswith(OWNERS[t] + "."))
        }
        if foreign:
            out[name] = foreign
    return out


def test_nobody_reads_another_domains_tables():
    assert readers() == KNOWN_DEBT


def test_the_check_sees_a_reader():
    tree = ast.parse("from collector.schema import incident_sla, incidents\nschema.ledger_entries")
    assert tables_named(tree) == {"incident_sla", "incidents", "ledger_entries"}


def test_the_sla_figures_have_one_reader():
    # the report's SLA section and the management view read the SLA read model, not the table
    found = readers()
    assert "collector.reports.sections.sla" not in found
    assert "incident_sla" not in found.get("collector.management.views", set())


def test_the_report_and_the_web_ui_read_incidents_through_their_read_model():
    found = readers()
    assert not [m for m in found if m.startswith(("collector.reports.", "collector.web."))]
    assert "collector.health.overview" not in found


def test_the_points_figures_have_one_reader():
    # the report's points section, the management views and the web UI read the ledger's
    # read model (collector.ledger.read), not ledger_entries
    assert not [m for m, tables in readers().items() if "ledger_entries" in tables]


def test_the_management_views_read_incidents_through_their_read_model():
    # created vs resolved, open by age, workload, top problems and time vs fee come from
    # collector.incidents.read
    assert "collector.management.views" not in readers()
