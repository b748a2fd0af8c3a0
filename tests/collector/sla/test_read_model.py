"""One SLA read model: the report, the management view and the API give the same figures
for the same scenario, and a running clock past its due time counts as breached in all of
them (table tests pin the judgement of one target)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from collector import reports
from collector.management.periods import TimeRange
from collector.management.views import sla_compliance
from collector.schema import incidents
from collector.sla.queries import compliance_for_period
from collector.sla.summary import outcome, target_outcomes
from tests.collector.reports import scenario

DUE = 1000.0


def row(state="running", breached=False, done=None, due=DUE, target=600.0):
    return SimpleNamespace(
        state=state,
        response_target=target,
        response_breached=breached,
        responded_at=done,
        response_due_at=due,
    )


@pytest.mark.parametrize(
    ("clock", "now", "expected"),
    [
        (row(target=None), 2000, None),  # no target: not counted
        (row(done=900.0), 2000, "met"),  # stopped in time
        (row(done=1100.0, breached=True), 2000, "breached"),  # stopped late (flagged)
        (row(), 900, "pending"),  # running, not yet due
        (row(), 1001, "breached"),  # running past due: breached before the sweep flags it
        (row(state="paused"), 5000, "pending"),  # paused: the due time moves with the pause
        (row(breached=True), 900, "breached"),  # the flag wins
        (row(due=None), 5000, "pending"),  # no due time (closed calendar): never breached
    ],
)
def test_outcome(clock, now, expected):
    assert outcome(clock, "response", now) == expected


@pytest.fixture
def built(store):
    ids = scenario.build(store)
    # One more: a major incident whose response clock runs past due, not yet flagged.
    with store.write() as conn:
        client_id = (
            conn.execute(incidents.select().where(incidents.c.key == "UPK-acme-1"))
            .first()
            .client_id
        )
        b = scenario.Builder.__new__(scenario.Builder)  # its __init__ adds the site again
        b.conn, b.client_id = conn, client_id
        late = b.incident(
            90,
            title="srv1 disk",
            asset="srv1",
            state="open",
            priority="major",
            opened_at=scenario.at(28, 9),
            resolved_at=None,
        )
        b.sla(
            late,
            "major",
            state="running",
            response_target=3600,
            response_due_at=scenario.at(28, 10),
            response_elapsed=1800,
            resolution_target=14400,
            resolution_due_at=scenario.at(28, 13),
            resolution_elapsed=1800,
        )
    return ids


def test_report_management_and_api_agree(store, built):
    now = scenario.NOW
    api = compliance_for_period(store, "acme", "2026-10", now)
    model = reports.build(store, "acme", "2026-10", now=now)
    section = model["sections"]["sla"]
    start, end = api["start"].timestamp(), api["end"].timestamp()
    with store.read() as conn:
        view = sla_compliance(conn, TimeRange(start, end), now)
        outcomes = target_outcomes(conn, start, end, now, None)
    acme = next(c for c in view.clients if c.client == "acme")
    total = api["total"]
    # the late clock is breached everywhere (response and resolution both past due at NOW)
    late = [o for o in outcomes if o.key == "UPK-acme-90"]
    assert [o.outcome for o in late] == ["breached", "breached"]
    for target in ("response", "resolution"):
        figures = getattr(acme, target)
        assert (figures.met, figures.breached, figures.pending) == (
            total[target]["met"],
            total[target]["breached"],
            total[target]["pending"],
        )
    met = total["response"]["met"] + total["resolution"]["met"]
    breached = total["response"]["breached"] + total["resolution"]["breached"]
    assert (section["targets_met"], section["targets_measured"]) == (met, met + breached)
    assert section["breach_count"] == breached
    assert "UPK-acme-90" in {b["key"] for b in section["breaches"]}
    assert sum(r["running"] for r in section["priorities"]) == (
        total["response"]["pending"] + total["resolution"]["pending"]
    )
    assert acme.incidents == total["incidents"] == section["clocks"]


def test_the_web_dashboard_calls_the_late_clock_overdue(store, built):
    # the dashboard's "SLA at risk" comes from the same read model: a running clock past due
    # is overdue there exactly when outcome() says breached
    from collector.sla.summary import at_risk
    from collector.web import queries
    from collector.web.access import Scope

    now = scenario.NOW
    with store.read() as conn:
        risky = at_risk(conn, now=now, window=3600)
        shown = queries.sla_at_risk(conn, Scope(None), now=now, window=3600)
        nobody = queries.sla_at_risk(conn, Scope(frozenset()), now=now, window=3600)
        outcomes = {(o.key, o.target): o.outcome for o in target_outcomes(conn, 0, now, now)}
    late = [r for r in risky if r.key == "UPK-acme-90"]
    assert [(r.clock, r.overdue) for r in late] == [("response", True), ("resolution", True)]
    assert all(outcomes[(r.key, r.clock)] == "breached" for r in risky if r.overdue)
    assert [s["key"] for s in shown] == [r.key for r in risky] and nobody == []
    assert late[0].seconds == now - scenario.at(28, 10)
