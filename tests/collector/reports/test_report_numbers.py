"""The report's numbers against the hand-computed month in scenario.py (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from collector import reports
from collector.errors import InvalidArgument, NotFound
from tests.collector.reports import scenario
from tests.collector.reports.scenario import H0, at


@pytest.fixture(scope="module")
def model(scenario_store):
    return reports.build(scenario_store, "acme", "2026-10", now=scenario.NOW)


def test_period_and_header(model):
    assert model["client"] == "acme"
    assert model["period"]["label"] == "2026-10"
    assert model["period"]["start"] == H0
    assert model["period"]["end"] == H0 + 744 * 3600
    assert model["plan"] == {"name": "Office Care", "monthly_fee": "1200.00", "currency": "EUR"}
    assert list(model["sections"]) == [
        "summary",
        "assets",
        "availability",
        "incidents",
        "preventive",
        "sla",
        "satisfaction",
        "points",
        "consumables",
        "updates",
        "risks",
        "trends",
        "recurring",
    ]


def test_assets(model):
    a = model["sections"]["assets"]
    assert a["total"] == 4  # other-srv belongs to another client
    assert a["by_kind"] == [
        {"kind": "host", "count": 2},
        {"kind": "printer", "count": 1},
        {"kind": "ups", "count": 1},
    ]
    assert a["by_site"] == [{"site": "office", "count": 4}]


def test_availability(model):
    av = model["sections"]["availability"]
    by = {r["asset"]: r for r in av["assets"]}
    assert by["srv1"]["availability"] == round(739 / 744 * 100, 3) == 99.328
    assert by["srv1"]["down_seconds"] == 5 * 3600
    assert by["srv1"]["windows"] == [
        {"start": H0 + 100 * 3600, "end": H0 + 105 * 3600, "down_seconds": 18000.0}
    ]
    assert by["srv2"]["hours"] == 344 and by["srv2"]["availability"] == 100.0
    assert by["printer1"]["availability"] == round(741.5 / 744 * 100, 3) == 99.664
    assert by["printer1"]["windows"] == [
        {"start": H0 + 200 * 3600, "end": H0 + 202 * 3600, "down_seconds": 7200.0},
        {"start": H0 + 300 * 3600, "end": H0 + 301 * 3600, "down_seconds": 1800.0},
    ]
    assert by["ups1"]["availability"] == 100.0
    assert av["overall"] == round(2568.5 / 2576 * 100, 3) == 99.709
    assert av["down_seconds"] == 5 * 3600 + 2.5 * 3600
    [web] = av["services"]
    assert (web["service"], web["target"], web["asset"]) == (
        "http_up",
        "https://shop.acme.example",
        "srv1",
    )
    assert web["availability"] == round(743 / 744 * 100, 3) == 99.866
    assert web["windows"] == [
        {"start": H0 + 10 * 3600, "end": H0 + 11 * 3600, "down_seconds": 3600.0}
    ]
    # Least available first.
    assert [r["asset"] for r in av["assets"]] == ["srv1", "printer1", "srv2", "ups1"]


def test_incidents(model):
    inc = model["sections"]["incidents"]
    assert (inc["total"], inc["proactive"], inc["user_reported"], inc["resolved"]) == (4, 3, 1, 3)
    assert [i["key"] for i in inc["items"]] == [
        "UPK-acme-1",
        "UPK-acme-3",
        "UPK-acme-2",
        "UPK-acme-4",
    ]
    first = inc["items"][0]
    assert first["time_to_resolve"] == 7200 and first["minutes_spent"] == 45
    assert first["resolution_note"] == "Rotated and compressed old logs."
    assert inc["items"][2]["origin"] == "user_reported" and inc["items"][2]["minutes_spent"] == 90
    assert (
        inc["items"][1]["origin"] == "proactive"
    )  # from Alertmanager ("external"): detected, not reported
    assert inc["mean_time_to_resolve"] == round((7200 + 7200 + 36000) / 3, 3)
    assert {p["priority"]: (p["proactive"], p["user_reported"]) for p in inc["by_priority"]} == {
        "critical": (1, 0),
        "major": (1, 0),
        "minor": (1, 1),
        "technical": (0, 0),
    }
    assert {c["cause"]: c["count"] for c in inc["by_cause"]} == {
        "wear": 1,
        "client_error": 1,
        "hardware": 1,
        None: 1,
    }
    # Weeks from Oct 1: #1 (3rd) week 1; #3 (9th), #2 (10th) week 2; #4 (20th) week 3.
    assert [(w["proactive"], w["user_reported"]) for w in inc["weekly"]] == [
        (1, 0),
        (1, 1),
        (1, 0),
        (0, 0),
        (0, 0),
    ]


def test_preventive(model):
    p = model["sections"]["preventive"]
    assert (p["count"], p["minutes"], p["hours"]) == (2, 75, 1.25)
    assert p["by_kind"] == [
        {"kind": "incident", "count": 1, "minutes": 45},
        {"kind": "task", "count": 1, "minutes": 30},
    ]
    assert p["items"][0]["incident"] == "UPK-acme-1"
    assert p["items"][0]["evidence"] == {"metric": "disk_used_percent", "before": 93, "after": 61}


def test_sla(model):
    sla = model["sections"]["sla"]
    assert (sla["targets_met"], sla["targets_measured"], sla["compliance"], sla["met"]) == (
        5,
        7,
        71.43,
        False,
    )
    per = {p["priority"]: p for p in sla["priorities"]}
    assert per["critical"]["compliance"] == 50.0 and per["critical"]["response_breached"] == 1
    assert per["major"]["compliance"] == 100.0
    assert per["minor"]["compliance"] == 66.67 and per["minor"]["running"] == 1
    assert per["technical"]["compliance"] is None
    first, second = sla["breaches"]
    assert (first["key"], first["target"], first["over_seconds"]) == ("UPK-acme-3", "response", 600)
    assert first["cause"] == "hardware" and first["resolution_note"] == "Replaced the network card."
    assert (second["key"], second["target"], second["over_seconds"], second["paused_seconds"]) == (
        "UPK-acme-2",
        "resolution",
        5400,
        1800,
    )


def test_points(model):
    pts = model["sections"]["points"]
    assert (pts["opening"], pts["closing"], pts["charged"]) == (1500, 6200, 2300)
    assert pts["allotment_policy"] == 2000
    assert pts["totals"] == {
        "allotment": 2000,
        "rollover": 0,
        "charge": -2300,
        "topup": 5000,
        "adjustment": 0,
        "expiry": 0,
    }
    assert [(c["incident"], c["request"], c["centipoints"]) for c in pts["charges"]] == [
        ("UPK-acme-2", None, -1500),
        (None, "REQ-acme-1", -800),
    ]
    assert [e["balance"] for e in pts["entries"]] == [3500, 2000, 1200, 6200]


def test_consumables(model):
    c = model["sections"]["consumables"]
    assert c["replaced_count"] == 2  # the September one is outside the period
    assert [(r["supply"], r["before_percent"], r["after_percent"]) for r in c["replaced"]] == [
        ("Black toner", 3.0, 100.0),
        ("Cyan ink", 5.0, 98.0),
    ]
    assert c["pages_total"] == 3720
    assert c["printers"] == [{"asset": "printer1", "pages": 3720, "replaced": 2}]


def test_updates_and_disks(model):
    u = model["sections"]["updates"]
    assert u["hosts"][0] == {
        "asset": "srv1",
        "site": "office",
        "pending": 6,
        "security": 1,
        "reboot_required": True,
        "applied": 6,
    }
    assert (u["pending_total"], u["security_total"], u["applied_total"]) == (6, 1, 6)
    [disk] = u["disks"]
    assert (disk["device"], disk["status"], disk["reallocated"], disk["reallocated_rise"]) == (
        "/dev/sda",
        "warning",
        8,
        8,
    )


def test_risks(model):
    items = [
        (r["kind"], r["asset"], r["subject"], r["value"], r["days"])
        for r in model["sections"]["risks"]["items"]
    ]
    assert items == [
        ("battery", "ups1", "low", None, 0.0),
        ("certificate", "srv1", "shop.acme.example:443", None, 10.0),
        ("disk_full", "srv1", "/", 81.0, 19.0),
        ("toner_out", "printer1", "Black toner", 38.0, 19.0),
    ]  # the tmpfs is left out


def test_trends(model):
    t = model["sections"]["trends"]
    assert t["periods"] == ["2026-07", "2026-08", "2026-09", "2026-10"]
    rows = {r["metric"]: r["values"] for r in t["rows"]}
    assert rows["incidents"] == [0, 0, 1, 4]
    assert rows["user_reported"] == [0, 0, 0, 1]
    assert rows["preventive_hours"] == [0.0, 0.0, 1.0, 1.25]
    assert rows["points_charged"] == [0, 0, 500, 2300]
    assert rows["sla_breaches"] == [0, 0, 0, 2]
    assert rows["availability"] == [None, None, None, 99.709]


def test_recurring(model):
    [item] = model["sections"]["recurring"]["items"]
    assert (item["asset"], item["incidents"], item["this_period"]) == ("printer1", 4, 3)
    # user error, unreachable (hardware), toner, paper jam: four different problems, none twice
    assert item["recommendation"] is None


def test_summary(model):
    assert model["sections"]["summary"] == {
        "assets": 4,
        "sites": 1,
        "kinds": ["host", "printer", "ups"],
        "availability": 99.709,
        "incidents": 4,
        "proactive": 3,
        "user_reported": 1,
        "preventive_count": 2,
        "preventive_hours": 1.25,
        "sla_met": False,
        "sla_compliance": 71.43,
        "sla_breaches": 2,
        "points_enabled": True,
        "points_left": 6200,
        "risks": 4,
    }


def test_running_period_counts_only_hours_that_ended(scenario_store):
    model = reports.build(
        scenario_store, "acme", "2026-10", now=at(5)
    )  # report of October on the 5th at 00:00
    by = {r["asset"]: r for r in model["sections"]["availability"]["assets"]}
    assert by["ups1"]["hours"] == 96


def test_client_without_contract_uses_calendar_months(scenario_store):
    model = reports.build(scenario_store, "other", "2026-10", now=scenario.NOW)
    assert model["period"]["start"] == H0 and model["period"]["timezone"] == "UTC"
    assert model["language"] == "en" and model["plan"] is None
    assert model["sections"]["incidents"]["total"] == 1
    assert model["sections"]["points"]["charged"] == 99900


def test_bad_input(scenario_store):
    store = scenario_store
    with pytest.raises(NotFound):
        reports.build(store, "nobody", "2026-10")
    with pytest.raises(InvalidArgument, match="YYYY-MM"):
        reports.build(store, "acme", "2026-13")
    with pytest.raises(InvalidArgument, match="language"):
        reports.build(store, "acme", "2026-10", language="de")
    with pytest.raises(InvalidArgument, match="format"):
        reports.generate(store, "acme", "2026-10", "docx")


def test_trend_availability_matches_the_report(scenario_store):
    from collector.contracts.store import get_contract
    from collector.reports.context import ReportContext
    from collector.reports.period import resolve
    from collector.reports.sections import availability

    with scenario_store.read() as conn:
        contract = get_contract(conn, 1)
        ctx = ReportContext(
            conn=conn,
            client_id=1,
            client="acme",
            contract=contract,
            period=resolve("2026-11", contract),
            now=scenario.NOW + 40 * 86400,
        )
        bounds = [resolve(label, contract).hours for label in ("2026-09", "2026-10")]
        assert availability.overall_by_period(ctx, bounds) == [None, 99.709]
        assert availability.overall_by_period(ctx, bounds[1:]) == [99.709]
        # Up to the 5th of October only: the hours that had ended by then.
        ctx.now = at(5)
        assert availability.overall_by_period(ctx, bounds[1:]) == [100.0]
