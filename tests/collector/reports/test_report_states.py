"""Report states that are true: "e-mailed" only once a real SMTP server (aiosmtpd) accepted the
mail, pending or failed (with the reason) otherwise; a report of a period not over yet is a
draft that client viewers do not see until staff publish it (API, UI, CLI) or the period ends."""

from __future__ import annotations

import importlib
import time

import pytest
from typer.testing import CliRunner

from collector import admin, notify
from collector.errors import InvalidArgument, NotFound
from collector.reports.period import current_label
from collector.reports.states import WAITING
from collector.settings import Settings
from collector.web import queries
from collector.web.access import Scope
from tests.collector.reports import scenario
from tests.servers.smtp import SmtpServer

archive_module = importlib.import_module("collector.reports.archive")
NOVEMBER_END = 1796083200.0  # 2026-12-01 00:00 UTC: the end of acme's period 2026-11


@pytest.fixture
def built(store):
    return scenario.build(store)


def _mailer(tmp_path, smtp: SmtpServer) -> Settings:
    return Settings.for_data_dir(
        tmp_path / "mailer",
        notify_email={
            "host": "127.0.0.1",
            "port": smtp.port,
            "security": "none",
            "from_address": "desk@provider.example",
        },
    )


def _report(store, report_id: int):
    with store.read() as conn:
        return archive_module.get_report(conn, report_id)


def test_emailed_only_after_the_mail_server_accepted_it(store, built, tmp_path) -> None:
    made = archive_module.archive(
        store, tmp_path, "acme", "2026-10", "html", email=True, now=scenario.NOW
    )
    assert (made.email_state, made.email_error, made.emailed_at) == ("pending", WAITING, None)
    # No mail server configured: nothing is sent, the report stays pending.
    assert notify.NotifyWorkers(store, Settings.for_data_dir(tmp_path / "x")).run_once() is False
    assert _report(store, made.id).email_state == "pending"
    with SmtpServer(tmp_path / "smtp") as smtp:
        assert notify.NotifyWorkers(store, _mailer(tmp_path, smtp)).run_once() is True
        (mail,) = smtp.messages
    assert mail.rcpt_tos == ["ann@acme.example"]
    now = _report(store, made.id)
    assert now.email_state == "emailed" and now.email_error is None
    assert now.emailed_at is not None and now.emailed_at >= made.generated_at


def test_failed_with_the_reason_when_the_server_refuses(store, built, tmp_path) -> None:
    made = archive_module.archive(
        store, tmp_path, "acme", "2026-10", "html", email=True, now=scenario.NOW
    )
    with SmtpServer(tmp_path / "smtp") as smtp:
        smtp.reply_to_data = "554 5.7.1 message refused by policy"
        assert notify.NotifyWorkers(store, _mailer(tmp_path, smtp)).run_once() is True
    failed = _report(store, made.id)
    assert failed.email_state == "failed" and failed.emailed_at is None
    assert "554" in failed.email_error and "refused by policy" in failed.email_error


def test_a_transient_refusal_is_pending_with_its_reason(store, built, tmp_path) -> None:
    made = archive_module.archive(
        store, tmp_path, "acme", "2026-10", "html", email=True, now=scenario.NOW
    )
    with SmtpServer(tmp_path / "smtp") as smtp:
        smtp.reply_to_data = "451 4.3.0 try again later"
        notify.NotifyWorkers(store, _mailer(tmp_path, smtp)).run_once()
    pending = _report(store, made.id)
    assert pending.email_state == "pending" and "451" in pending.email_error


def test_a_report_of_the_running_period_is_a_draft_until_published(
    store, built, tmp_path, api, admin_token, db_url
) -> None:
    with store.read() as conn:
        acme = Scope(frozenset({admin.get_client(conn, "acme").id}))
    draft = archive_module.archive(store, tmp_path, "acme", "2026-11", "html", now=scenario.NOW)
    final = archive_module.archive(store, tmp_path, "acme", "2026-10", "html", now=scenario.NOW)
    assert (draft.draft, final.draft) == (True, False)
    with pytest.raises(InvalidArgument, match="draft until the period ends"):
        archive_module.archive(
            store, tmp_path, "acme", "2026-11", "html", email=True, now=scenario.NOW
        )
    with store.read() as conn:
        staff = [r["id"] for r in queries.list_reports(conn, Scope(None), now=scenario.NOW)]
        viewer = [r["id"] for r in queries.list_reports(conn, acme, now=scenario.NOW)]
        assert sorted(staff) == sorted([draft.id, final.id])
        assert viewer == [final.id]
        with pytest.raises(NotFound):
            queries.report_row(conn, acme, draft.id, now=scenario.NOW)
        # Once the period has ended the report is the client's without publishing.
        later = [r["id"] for r in queries.list_reports(conn, acme, now=NOVEMBER_END)]
        assert sorted(later) == sorted([draft.id, final.id])

    # Through the API and the CLI (on the real clock: a report of the period running now).
    running = current_label(None, time.time())
    live = archive_module.archive(store, tmp_path, "acme", running, "html")
    headers = {"Authorization": f"Bearer {admin_token}"}
    listed = {r["id"]: r for r in api.get("/api/v1/reports", headers=headers).json()}
    assert (listed[live.id]["draft"], listed[final.id]["draft"]) == (True, False)
    assert listed[final.id]["email_state"] == "not_emailed"
    published = api.post(f"/api/v1/reports/{live.id}/publish", headers=headers)
    assert published.status_code == 200, published.text
    assert published.json()["draft"] is False and published.json()["published_at"] is not None
    with store.read() as conn:
        assert live.id in [r["id"] for r in queries.list_reports(conn, acme)]

    another = archive_module.archive(store, tmp_path, "acme", running, "json")
    assert another.draft is True
    from collector.cli import app

    result = CliRunner().invoke(
        app,
        ["report-publish", str(another.id), "--by", "ops"],
        env={"UPKEEP_DATABASE_URL": db_url, "UPKEEP_DATA_DIR": str(tmp_path / "cli")},
    )
    assert result.exit_code == 0, result.output
    assert f"report {another.id} (acme {running} json): published" in result.output
    assert _report(store, another.id).draft is False
