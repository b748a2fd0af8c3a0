"""Scheduled reports (archived and e-mailed once) and the report API, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from collector import admin, artefacts
from collector.reports import schedule
from collector.schema import notifications, reports
from collector.settings import Settings
from tests.collector.reports import scenario


@pytest.fixture
def built(store):
    scenario.build(store)
    return store


@pytest.fixture
def settings(tmp_path, db_url):
    return Settings.for_data_dir(
        tmp_path / "data", database_url=db_url, report_schedule_format="html"
    )


def _rows(store, table):
    with store.read() as conn:
        return conn.execute(sa.select(table).order_by(table.c.id)).all()


def test_due_waits_for_the_period_end_plus_the_delay(built, settings):
    just_after = datetime(2026, 11, 1, 0, 30, tzinfo=UTC).timestamp()
    later = datetime(2026, 11, 1, 1, 0, tzinfo=UTC).timestamp()
    # Only clients with a contract are scheduled; half an hour after the end, October is not due
    # yet, and September ended too long ago to be sent now (no back-fill).
    assert schedule.due(built, just_after, delay=3600, fmt="html") == []
    assert [
        (d.client, d.period)
        for d in schedule.due(built, just_after, delay=3600, fmt="html", catch_up=40 * 86400)
    ] == [("acme", "2026-09")]
    assert [(d.client, d.period) for d in schedule.due(built, later, delay=3600, fmt="html")] == [
        ("acme", "2026-10")
    ]
    eight_days_later = datetime(2026, 11, 8, 1, 0, tzinfo=UTC).timestamp()
    assert schedule.due(built, eight_days_later, delay=3600, fmt="html") == []


def test_scheduled_report_is_archived_and_emailed_once(built, settings):
    [made] = schedule.run_once(built, settings, now=scenario.NOW)
    assert (made.client, made.period, made.format, made.language, made.generated_by) == (
        "acme",
        "2026-10",
        "html",
        "en",
        "schedule",
    )
    # In the database, not in this replica's data_dir: any replica serves and mails it.
    assert not (settings.data_dir / "reports").exists()
    [row] = _rows(built, reports)
    with built.read() as conn:
        content = artefacts.get(conn, row.artefact_id).content
    assert made.sha256 == hashlib.sha256(content).hexdigest() and made.bytes == len(content)
    assert b"UPK-acme-2" in content
    assert (row.sha256, row.bytes, row.emailed_at) == (made.sha256, made.bytes, scenario.NOW)
    [mail] = _rows(built, notifications)
    assert (mail.kind, mail.recipients, mail.client_id) == (
        "report",
        ["ann@acme.example"],
        row.client_id,
    )
    assert mail.subject == "Monthly report for acme, October 2026"
    assert "Points left: 62.00" in mail.body_text and "Availability: 99.71%" in mail.body_text
    assert mail.attachments == [
        {"name": "acme-2026-10.html", "content_type": "text/html", "artefact_id": row.artefact_id}
    ]
    assert mail.dedupe_key == f"report:{row.client_id}:2026-10"

    # Idempotent: the next turns (and a second collector) find it done.
    assert schedule.run_once(built, settings, now=scenario.NOW + 3600) == []
    assert len(_rows(built, reports)) == 1 and len(_rows(built, notifications)) == 1


def test_a_failing_client_does_not_stop_the_others(built, settings, monkeypatch):
    from collector.reports import archive as archive_module

    calls = []

    def broken(*args, **kwargs):
        calls.append(args[2])
        raise RuntimeError("disk full")

    monkeypatch.setattr(schedule, "archive", broken)
    assert schedule.run_once(built, settings, now=scenario.NOW) == []
    assert calls == ["acme"]
    monkeypatch.setattr(schedule, "archive", archive_module.archive)
    assert (
        len(schedule.run_once(built, settings, now=scenario.NOW)) == 1
    )  # retried on the next turn


def test_russian_contract_gets_a_russian_email(store, settings):
    scenario.build(store, language="ru")
    [made] = schedule.run_once(store, settings, now=scenario.NOW)
    assert made.language == "ru"
    [mail] = _rows(store, notifications)
    assert mail.subject == "Ежемесячный отчёт для acme за октябрь 2026"
    assert "Остаток баллов: 62,00" in mail.body_text


@pytest.fixture
def api(built, settings):
    from fastapi.testclient import TestClient

    from collector.api import create_app

    token = admin.create_token(built, admin=True)[1]
    # The ledger's period task would close October (it ended weeks before "now": the unused
    # points expire, as the scenario's contract says); this test wants the scenario's October.
    settings = settings.model_copy(update={"ledger_period_interval": 0.0})
    app = create_app(settings, store=built, migrate=False, run_retention=False)
    with TestClient(app) as client:
        client.headers["Authorization"] = f"Bearer {token}"
        yield client


def test_api_generate_list_download(api, built):
    created = api.post(
        "/api/v1/reports", json={"client": "acme", "period": "2026-10", "format": "json"}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["client"], body["period"], body["format"], body["language"]) == (
        "acme",
        "2026-10",
        "json",
        "en",
    )
    listed = api.get("/api/v1/reports", params={"client": "acme"}).json()
    assert [r["id"] for r in listed] == [body["id"]]
    assert api.get("/api/v1/reports", params={"client": "other"}).json() == []
    download = api.get(f"/api/v1/reports/{body['id']}/download")
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("application/json")
    assert hashlib.sha256(download.content).hexdigest() == body["sha256"]
    assert json.loads(download.content)["sections"]["points"]["closing"] == 6200
    # Generating again archives a new version; nothing was e-mailed (email defaults to false).
    again = api.post(
        "/api/v1/reports",
        json={"client": "acme", "period": "2026-10", "format": "csv", "language": "ru"},
    ).json()
    assert again["id"] != body["id"] and again["language"] == "ru"
    assert len(api.get("/api/v1/reports").json()) == 2
    assert _rows(built, notifications) == []


def test_api_errors(api, built):
    assert (
        api.post("/api/v1/reports", json={"client": "nobody", "period": "2026-10"}).status_code
        == 404
    )
    assert (
        api.post("/api/v1/reports", json={"client": "acme", "period": "2026-13"}).status_code == 422
    )
    assert (
        api.post(
            "/api/v1/reports", json={"client": "acme", "period": "2026-10", "format": "doc"}
        ).status_code
        == 422
    )
    assert api.get("/api/v1/reports/999/download").status_code == 404
    assert api.get("/api/v1/reports", params={"client": "nobody"}).status_code == 404
    anonymous = api.get("/api/v1/reports", headers={"Authorization": ""})
    assert anonymous.status_code == 401
    _, agent_token = admin.create_token(built, client="acme")
    forbidden = api.get("/api/v1/reports", headers={"Authorization": f"Bearer {agent_token}"})
    assert forbidden.status_code == 403


def test_the_collector_runs_the_schedule(built, settings):
    """The app's lifespan starts the task; its first turn archives the last ended period."""
    import time

    from fastapi.testclient import TestClient

    from collector.api import create_app
    from collector.reports.period import last_completed

    label = last_completed(
        None, time.time() - settings.report_schedule_delay
    )  # acme's contract is UTC months
    settings = settings.model_copy(update={"report_schedule_catch_up": 3 * 366 * 86400.0})
    app = create_app(settings, store=built, migrate=False, run_retention=False, run_reports=True)
    with TestClient(app):
        deadline = time.monotonic() + 60
        while not _rows(built, reports) and time.monotonic() < deadline:
            time.sleep(0.2)
    [row] = _rows(built, reports)
    assert (row.period, row.format, row.generated_by) == (label, "html", "schedule")
    assert len(_rows(built, notifications)) == 1
