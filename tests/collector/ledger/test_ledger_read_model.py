"""The ledger's read model (collector.ledger.read): the statement's semantics pinned on a
hand-computed Berlin month, and every surface — API, CLI statement, report, management view,
web page — showing the same figures for it (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from collector import reports
from collector.ledger import read
from collector.management import views
from collector.management.periods import TimeRange
from collector.web import queries
from collector.web.access import Scope
from tests.collector.ledger.ledgerkit import give_contract, ts, work_incident

FIELDS = (
    "opening_balance",
    "allotment",
    "rollover_in",
    "rollover_out",
    "charged",
    "topped_up",
    "adjusted",
    "expired",
    "closing_balance",
)


def figures_of(f: read.Figures) -> tuple[int, ...]:
    return tuple(getattr(f, name) for name in FIELDS)


@pytest.fixture
def berlin(books):
    """acme in Europe/Berlin: 20 points a month, up to 5 roll over; a hand-computed October
    and the first minutes of November (Berlin time)."""
    give_contract(books.store, "acme", calendar={"timezone": "Europe/Berlin"})
    ledger, clock = books.ledger, books.clock
    clock.set("2026-09-30 22:30")  # 00:30 on 1 October in Berlin (CEST): October's first top-up
    ledger.topup("acme", 500, by="bob", reason="invoice 1")
    clock.set("2026-10-05 09:00")
    refunded = work_incident(books, "wrong config", "client_error", [(120, None)])  # -2.00
    books.incidents.act(refunded, "charge", "carol", mode="free", reason="goodwill")  # +2.00
    work_incident(books, "share deleted", "client_error", [(60, None)])  # -1.00
    clock.set("2026-10-20 12:00")
    ledger.adjust("acme", -50, by="alice", reason="correction")
    clock.set("2026-10-31 22:30")  # 23:30 on 31 October in Berlin (CET): still October
    ledger.topup("acme", 100, by="bob", reason="invoice 2")
    clock.set("2026-10-31 23:30")  # 00:30 on 1 November in Berlin: October closes
    ledger.topup("acme", 100, by="bob", reason="invoice 3")
    clock.set("2026-11-03 10:00")
    work_incident(books, "printer queue", "client_error", [(30, None)])  # -0.50
    return books


# opening, allotment, rollover in, rollover out, charged, topped up, adjusted, expired, closing
TABLE = [
    # October: 20.00 + 6.00 top-ups - 1.00 net charges (a 2.00 charge refunded) - 0.50
    # = 24.50 at its end; 5.00 carry over, 19.50 expire.
    ("2026-10", None, (0, 2000, 0, -500, -100, 600, -50, -1950, 0)),
    # cut at 20 October noon (as_of): before the late top-up and the closing entries
    ("2026-10", "2026-10-20 12:00", (0, 2000, 0, 0, -100, 500, -50, 0, 2350)),
    ("2026-11", None, (0, 2000, 500, 0, -50, 100, 0, 0, 2550)),
    ("2026-09", None, (0, 0, 0, 0, 0, 0, 0, 0, 0)),  # before the ledger began
]


@pytest.mark.parametrize(("period", "as_of", "expected"), TABLE)
def test_statement_figures(berlin, period, as_of, expected) -> None:
    with berlin.store.read() as conn:
        s = read.statement(
            conn, berlin.client_id, period, as_of=None if as_of is None else ts(as_of)
        )
    assert figures_of(s.figures) == expected
    assert s.entries == () or s.entries[-1].balance == s.closing_balance


def test_period_bounds_are_the_contract_zone(berlin) -> None:
    with berlin.store.read() as conn:
        october = read.statement(conn, berlin.client_id, "2026-10")
        november = read.statement(conn, berlin.client_id, "2026-11")
    assert (october.start, october.end) == (ts("2026-09-30 22:00"), ts("2026-10-31 23:00"))
    assert october.timezone == "Europe/Berlin" and november.start == october.end
    # the top-ups at 22:30 UTC on both month ends belong to the Berlin month they fall in
    assert [e.centipoints for e in october.of_kind("topup")] == [500, 100]
    assert [e.centipoints for e in november.of_kind("topup")] == [100]
    refund = [e for e in october.of_kind("charge") if e.centipoints > 0]
    assert [(e.centipoints, e.subject, e.cause) for e in refund] == [
        (200, "wrong config", "client_error")
    ]
    assert november.opening_balance == october.closing_balance


def test_grouped_figures_are_the_statements(berlin) -> None:
    with berlin.store.read() as conn:
        stated = {
            p: figures_of(read.statement(conn, berlin.client_id, p).figures)
            for p in ("2026-10", "2026-11")
        }
        grouped = dict(read.figures(conn, berlin.client_id, ["2026-10", "2026-11"]))
        span = read.period_figures(conn, ts("2026-09-30 22:00"), ts("2026-11-30 23:00"))
    assert {p: figures_of(f) for p, f in grouped.items()} == stated
    assert {p: figures_of(f) for p, f in span[berlin.client_id]} == stated


def test_every_surface_shows_the_same_figures(berlin, api, admin_token) -> None:
    """The API, the report, the management view and the web page of the same period."""
    api.headers["Authorization"] = f"Bearer {admin_token}"
    for period, span in [
        ("2026-10", (ts("2026-09-30 22:00"), ts("2026-10-31 23:00"))),
        ("2026-11", (ts("2026-10-31 23:00"), ts("2026-11-30 23:00"))),
    ]:
        stated = api.get("/api/v1/clients/acme/ledger", params={"period": period}).json()
        want = (
            stated["opening_balance"],
            stated["allotment"] + stated["rollover_in"] + stated["rollover_out"],
            -stated["charged"],
            stated["topped_up"],
            stated["closing_balance"],
        )
        report = reports.build(berlin.store, "acme", period, now=berlin.clock.now)
        pts = report["sections"]["points"]
        totals = pts["totals"]
        assert (
            pts["opening"],
            totals["allotment"] + totals["rollover"],
            pts["charged"],
            totals["topup"],
            pts["closing"],
        ) == want
        assert [e["balance"] for e in pts["entries"]] == [e["balance"] for e in stated["entries"]]
        with berlin.store.read() as conn:
            view = views.points_consumption(conn, TimeRange(*span))
        (acme,) = view.clients
        (row,) = acme.periods
        assert (row.period, row.allotment + row.rollover, row.charged, row.topups) == (
            period,
            *want[1:4],
        )
        assert acme.balance == want[4]
    # the web page shows the current period (November)
    with berlin.store.read() as conn:
        page = queries.client_page(conn, Scope(None), "acme")
    assert page["balance"] == "25.50" and page["statement"]["period"] == "2026-11"
    assert (page["statement"]["opening"], page["statement"]["charged"]) == ("0.00", "0.50")
    assert [e["balance"] for e in page["statement"]["entries"]][0] == "25.50"
