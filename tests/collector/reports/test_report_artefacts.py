"""Report files live in the database (collector.artefacts): a report made by one replica is
downloaded from and mailed by another (each with its own data_dir), older file-based archives
are still served, the size limit is enforced, and on PostgreSQL a generation takes its lock
before it renders (two replicas never render the same period at once)."""

from __future__ import annotations

import hashlib
import importlib
import threading
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from collector import admin, artefacts, notify
from collector.api import create_app
from collector.reports import schedule
from collector.schema import artefacts as artefacts_table
from collector.schema import notifications, reports
from collector.settings import Settings
from collector.store import Store
from tests.collector.reports import scenario
from tests.conftest import _postgres_schema_url, postgres_unavailable
from tests.servers.smtp import SmtpServer

# The submodule (the package's attribute of the same name is the function).
archive_module = importlib.import_module("collector.reports.archive")


def _replica(tmp_path: Path, db_url: str, name: str, **extra) -> Settings:
    return Settings.for_data_dir(
        tmp_path / name,
        database_url=db_url,
        report_schedule_format="html",
        ledger_period_interval=0.0,  # keep the scenario's October as it is
        background=False,
        **extra,
    )


def test_a_report_made_on_one_replica_is_downloaded_and_mailed_by_another(
    store, db_url, tmp_path
) -> None:
    scenario.build(store)
    one, two = _replica(tmp_path, db_url, "one"), _replica(tmp_path, db_url, "two")
    [made] = schedule.run_once(store, one, now=scenario.NOW)
    assert not (one.data_dir / "reports").exists()  # nothing in the maker's data_dir

    token = admin.create_token(store, admin=True)[1]
    with TestClient(create_app(two, store=store, migrate=False)) as other:
        got = other.get(
            f"/api/v1/reports/{made.id}/download", headers={"Authorization": f"Bearer {token}"}
        )
    assert got.status_code == 200, got.text
    assert hashlib.sha256(got.content).hexdigest() == made.sha256 and b"UPK-acme-2" in got.content
    assert 'filename="acme-2026-10.html"' in got.headers["content-disposition"]

    with SmtpServer(tmp_path / "smtp") as smtp:
        mailer_settings = _replica(
            tmp_path,
            db_url,
            "two",
            notify_email={
                "host": "127.0.0.1",
                "port": smtp.port,
                "security": "none",
                "from_address": "desk@provider.example",
            },
        )
        workers = notify.NotifyWorkers(store, mailer_settings)
        assert workers.run_once() is True
    [mail] = smtp.messages
    [attachment] = list(mail.message.iter_attachments())
    assert attachment.get_filename() == "acme-2026-10.html"
    # The bytes as sent (SMTP carries text with CRLF line ends).
    sent = attachment.get_payload(decode=True).replace(b"\r\n", b"\n")
    assert hashlib.sha256(sent).hexdigest() == made.sha256


def test_a_report_archived_as_a_file_before_0010_is_still_served(store, db_url, tmp_path) -> None:
    scenario.build(store)
    settings = _replica(tmp_path, db_url, "one")
    old = settings.data_dir / "reports" / "acme" / "acme-2026-09-en-20261001T010000Z.json"
    old.parent.mkdir(parents=True)
    old.write_bytes(b'{"old": true}')
    with store.write() as conn:
        client_id = admin.get_client(conn, "acme").id
        report_id = conn.execute(
            reports.insert().values(
                client_id=client_id,
                period="2026-09",
                format="json",
                language="en",
                path=str(old),
                sha256=hashlib.sha256(b'{"old": true}').hexdigest(),
                bytes=13,
                generated_by="schedule",
                generated_at=time.time(),
            )
        ).inserted_primary_key[0]
    token = admin.create_token(store, admin=True)[1]
    with TestClient(create_app(settings, store=store, migrate=False)) as api:
        got = api.get(
            f"/api/v1/reports/{report_id}/download", headers={"Authorization": f"Bearer {token}"}
        )
    assert got.status_code == 200 and got.content == b'{"old": true}'


def test_a_report_over_the_size_limit_is_refused_with_the_reason(store, db_url, tmp_path) -> None:
    scenario.build(store)
    settings = _replica(tmp_path, db_url, "one", artefact_max_bytes=100)
    token = admin.create_token(store, admin=True)[1]
    with TestClient(create_app(settings, store=store, migrate=False)) as api:
        answer = api.post(
            "/api/v1/reports",
            json={"client": "acme", "period": "2026-10", "format": "json"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert answer.status_code == 422
    assert answer.json()["error"] == "artefact_too_large"
    assert "over artefact_max_bytes (100)" in answer.json()["detail"]
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(reports)).scalar() == 0


def test_a_damaged_stored_file_is_an_error_not_a_wrong_download(store) -> None:
    with store.write() as conn:
        stored = artefacts.put(
            conn, kind="report", name="r.html", content_type="text/html", content=b"<p>", now=1.0
        )
        conn.execute(
            artefacts_table.update().where(artefacts_table.c.id == stored.id).values(content=b"<q>")
        )
    with store.read() as conn, pytest.raises(artefacts.ArtefactDamaged):
        artefacts.get(conn, stored.id)


@pytest.mark.postgres
def test_two_replicas_render_one_report_of_a_period_taking_the_lock_first(
    monkeypatch, tmp_path
) -> None:
    reason = postgres_unavailable()
    if reason:
        pytest.skip(reason)
    schema = _postgres_schema_url()
    url = next(schema)
    app_name = f"report-{uuid.uuid4().hex[:8]}"
    store = Store.from_url(url, connect_args={"application_name": app_name})
    try:
        store.upgrade()
        scenario.build(store)
        settings = _replica(tmp_path, url, "one")
        rendered: list[str] = []
        real_render = archive_module.render

        def render(model, fmt):
            rendered.append(fmt)
            return real_render(model, fmt)

        monkeypatch.setattr(archive_module, "render", render)
        with store.read() as conn:
            client_id = admin.get_client(conn, "acme").id
        holder = store.engine.connect()
        tx = holder.begin()
        holder.execute(  # a third replica is generating acme's October right now
            sa.text("SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':' || :n))"),
            {"n": f"report:{client_id}:2026-10"},
        )
        made = []
        threads = [
            threading.Thread(
                target=lambda: made.extend(schedule.run_once(store, settings, now=scenario.NOW))
            )
            for _ in range(2)
        ]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while True:
            with store.engine.connect() as conn:
                waiting = conn.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE application_name = :a AND wait_event_type = 'Lock'"
                    ),
                    {"a": app_name},
                ).scalar_one()
            if waiting == 2:
                break
            assert time.monotonic() < deadline, "the generations never waited for the lock"
            time.sleep(0.02)
        assert rendered == []  # both wait before rendering anything
        tx.rollback()
        holder.close()
        for t in threads:
            t.join(60)
        assert rendered == ["html"] and len(made) == 1
        with store.read() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(reports)).scalar() == 1
            assert conn.execute(sa.select(sa.func.count()).select_from(notifications)).scalar() == 1
    finally:
        store.dispose()
        schema.close()
