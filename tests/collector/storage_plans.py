"""The real queries that read ``samples`` and ``rollups_hourly``, captured as the code runs
them, and their PostgreSQL plans (shared by tests/collector/test_partitions.py and
benchmarks/partitions.py).

:func:`real_queries` calls the functions the rule engine, the web UI, the reports and ingest
use, records every statement they send that reads one of the two tables (with its
parameters), and :func:`plan` EXPLAINs each with those parameters. :func:`check_plan` then
asserts what must hold at any size: only the partitions of the queried time range (and the
default partition) are read, and no day/month partition that holds rows is read by a
sequential scan.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection

from collector import partitions

BIG = ("samples", "rollups_hourly")


@dataclass
class Query:
    name: str
    sql: str
    params: Any


class _Sink:
    """The engine side of ``RuleService._preload``: takes the rows, wants no rollups."""

    def preload(self, ref: object, rows: list, **hourly: object) -> None:
        pass

    def needs_rollups(self, ref: object) -> bool:
        return False


def _capture(conn: Connection, name: str, call: Callable[[], object]) -> list[Query]:
    seen: list[Query] = []

    def listener(_c, _cursor, statement, parameters, _context, _many):  # noqa: ANN001
        low = statement.lower()
        if any(f"from {t}" in low or f"join {t}" in low or f"{t}." in low for t in BIG):
            seen.append(Query(name, statement, parameters))

    event.listen(conn, "before_cursor_execute", listener)
    try:
        call()
    finally:
        event.remove(conn, "before_cursor_execute", listener)
    return seen


def real_queries(
    conn: Connection, *, client_id: int, asset_id: int, series_id: int, metric: str, now: float
) -> list[Query]:
    """Every statement over samples/rollups the rule engine, web UI, reports and ingest send."""
    from collector.health import timeseries
    from collector.ingest import Ingestor
    from collector.reports import queries as report_queries
    from collector.reports.context import ReportContext
    from collector.reports.sections import availability
    from collector.rules.service import RuleService

    @dataclass
    class Ref:
        id: int

    h1 = int(now // 3600) * 3600
    h0 = h1 - 30 * 86400
    ctx = ReportContext(conn, client_id, "bench", None, None, now)  # type: ignore[arg-type]
    out: list[Query] = []
    out += _capture(
        conn,
        "rule window (raw samples, last hour)",
        lambda: RuleService._preload(None, [(Ref(series_id), 3600.0)], conn, _Sink()),  # type: ignore[arg-type]
    )
    without_stored = getattr(Ingestor, "_without_stored", None)  # ingest's retry path
    if without_stored is not None:
        rows = [(series_id, now - 30, 1.0), (series_id, now, 1.0)]
        out += _capture(
            conn, "ingest retry: samples already stored", lambda: without_stored(conn, rows)
        )
    out += _capture(
        conn,
        "asset page chart (raw samples and rollups, 7 days)",
        lambda: timeseries.series_points(conn, series_id, since=now - 7 * 86400, until=now),
    )
    out += _capture(
        conn,
        "report hour stats (rollups, a month)",
        lambda: report_queries.hour_stats(ctx, [metric], h0, h1),
    )
    out += _capture(
        conn,
        "report availability hours (rollups, a month)",
        lambda: availability.agent_hour_list(ctx, [asset_id], h0, h1),
    )
    return out


def plan(conn: Connection, query: Query, *, analyze: bool = False) -> dict[str, Any]:
    """The JSON plan of ``query`` (with its captured parameters)."""
    opts = "ANALYZE, BUFFERS, FORMAT JSON" if analyze else "FORMAT JSON"
    raw = conn.exec_driver_sql(f"EXPLAIN ({opts}) {query.sql}", query.params).scalar()
    doc = raw if isinstance(raw, list) else json.loads(raw)
    return doc[0]


def nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", ()):
        yield from nodes(child)


def scanned(p: dict[str, Any]) -> list[tuple[str, str]]:
    """(relation, node type) of every scan of a samples/rollups relation in the plan."""
    return [
        (n["Relation Name"], n["Node Type"])
        for n in nodes(p["Plan"])
        if n.get("Relation Name", "").startswith(BIG)
    ]


def check_plan(conn: Connection, query: Query, lo: float, hi: float) -> list[tuple[str, str]]:
    """Assert partition pruning to [lo, hi] (plus the default) and no seq scan of a partition."""
    p = plan(conn, query)
    scans = scanned(p)
    assert scans, f"{query.name}: no scan of samples/rollups in {json.dumps(p)[:2000]}"
    for relation, node_type in scans:
        assert relation not in BIG, f"{query.name}: reads the parent {relation} unpartitioned"
        if relation.endswith("_default"):
            continue
        if node_type == "Seq Scan":
            # An empty partition (a day ahead) costs nothing to scan and the planner rightly
            # prefers that; any partition with pages must be read through an index.
            pages = conn.execute(
                sa.text("SELECT relpages FROM pg_class WHERE oid = to_regclass(:r)"),
                {"r": relation},
            ).scalar()
            assert not pages, f"{query.name}: sequential scan of {relation} ({pages} pages)"
        scheme = partitions.SAMPLES if relation.startswith("samples_") else partitions.ROLLUPS
        allowed = {scheme.name(a) for a, _ in scheme.periods(lo, hi)}
        assert relation in allowed, f"{query.name}: {relation} read, outside {sorted(allowed)}"
    return scans
