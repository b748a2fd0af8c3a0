"""Client notifications delivered to a real SMTP server (aiosmtpd): sent once, retried with
backoff while the server is down, failed visibly (permanent error, attempts exhausted,
missing attachment), and delivered by the running collector's workers."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from collector import notify
from collector.schema import notifications
from collector.settings import Settings
from tests.servers.collector import free_port
from tests.servers.smtp import SmtpServer


def notify_settings(tmp_path, db_url: str, port: int, **extra) -> Settings:
    return Settings.for_data_dir(
        tmp_path / "data",
        database_url=db_url,
        notify_retry_base=0.05,
        notify_retry_max=0.2,
        notify_max_age=0.3,
        **extra,
        notify_email={
            "host": "127.0.0.1",
            "port": port,
            "security": "none",
            "from_address": "Upkeep <desk@provider.example>",
        },
    )


def queue(store, **kw) -> int:
    args = {
        "kind": "low_balance",
        "recipients": ["jane@acme.example"],
        "subject": "Points low",
        "body_text": "4.50 points left",
        "now": time.time(),
    } | kw
    with store.write() as conn:
        return notify.queue(conn, **args)


def row(store, notification_id: int):
    with store.read() as conn:
        return conn.execute(
            sa.select(notifications).where(notifications.c.id == notification_id)
        ).one()


def test_delivered_once_with_html_and_attachment(store, db_url, tmp_path) -> None:
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.4 fake")
    with SmtpServer(tmp_path / "smtp") as smtp:
        workers = notify.NotifyWorkers(store, notify_settings(tmp_path, db_url, smtp.port))
        nid = queue(
            store,
            body_html="<p>4.50 points left</p>",
            dedupe_key="k1",
            attachments=[
                {"name": "October.pdf", "content_type": "application/pdf", "path": str(report)}
            ],
        )
        assert queue(store, dedupe_key="k1") is None  # queued once
        assert workers.run_once() is True
        assert workers.run_once() is False  # nothing else due
    [mail] = smtp.messages
    assert mail.rcpt_tos == ["jane@acme.example"] and mail.mail_from == "desk@provider.example"
    msg = mail.message
    assert msg["Subject"] == "Points low" and msg["Message-ID"].startswith(
        f"<upkeep-notification-{nid}@"
    )
    assert msg.get_body(("plain",)).get_content().strip() == "4.50 points left"
    assert "<p>4.50 points left</p>" in msg.get_body(("html",)).get_content()
    [attachment] = list(msg.iter_attachments())
    assert (
        attachment.get_filename() == "October.pdf" and attachment.get_content() == b"%PDF-1.4 fake"
    )
    sent = row(store, nid)
    assert (sent.state, sent.attempts, sent.last_error) == (
        "done",
        1,
        None,
    ) and sent.sent_at is not None


def test_retried_while_the_server_is_down_then_delivered(store, db_url, tmp_path) -> None:
    smtp = SmtpServer(tmp_path / "smtp")  # not started yet: connection refused
    workers = notify.NotifyWorkers(store, notify_settings(tmp_path, db_url, smtp.port))
    nid = queue(store)
    assert workers.run_once() is True
    waiting = row(store, nid)
    assert (
        waiting.state == "pending"
        and waiting.attempts == 1
        and "ConnectionRefused" in waiting.last_error
    )
    # Backoff: due only some time after the failure (not by the clock now: a loaded machine).
    assert waiting.next_attempt_at > waiting.first_failed_at
    with smtp:
        deadline = time.time() + 5
        while row(store, nid).state != "done" and time.time() < deadline:
            workers.run_once() or time.sleep(0.02)
    done = row(store, nid)
    assert done.state == "done" and done.attempts == 2 and len(smtp.messages) == 1


def test_failures_are_bounded_and_visible_and_retried(store, db_url, tmp_path) -> None:
    port = free_port()  # nothing listens: transient errors
    workers = notify.NotifyWorkers(store, notify_settings(tmp_path, db_url, port))
    nid = queue(store)
    deadline = time.time() + 5
    while row(store, nid).state == "pending" and time.time() < deadline:
        workers.run_once() or time.sleep(0.02)
    dead = row(store, nid)
    assert dead.state == "dead" and dead.attempts >= 2 and "failing for" in dead.last_error
    with SmtpServer(tmp_path / "smtp") as smtp:  # a permanent refusal fails at once
        smtp.reply_to_data = "554 5.7.1 rejected as spam"
        workers = notify.NotifyWorkers(store, notify_settings(tmp_path, db_url, smtp.port))
        refused = queue(store)
        missing = queue(store, attachments=[{"name": "r.pdf", "path": str(tmp_path / "gone.pdf")}])
        workers.run_once(), workers.run_once()
    assert (row(store, refused).state, row(store, refused).attempts) == ("dead", 1)
    assert "554" in row(store, refused).last_error
    assert row(store, missing).state == "dead" and "cannot read" in row(store, missing).last_error
    with store.read() as conn:
        assert notify.backlog(conn) == {"dead": 3}
        listed = notify.list_notifications(conn, state="dead")
    assert [n["id"] for n in listed] == [missing, refused, nid] and listed[0]["attempts"] == 1
    [family] = notify.NotificationBacklog(store, None).collect()
    assert {s.labels["state"]: s.value for s in family.samples} == {
        "pending": 0,
        "in_flight": 0,
        "dead": 3,
    }
    # A dead notice is never lost: once the mail server is back, a retry sends it.
    with SmtpServer(tmp_path / "smtp2") as smtp:
        workers = notify.NotifyWorkers(store, notify_settings(tmp_path, db_url, smtp.port))
        with store.write() as conn:
            assert notify.retry(conn, [nid], time.time()) == [nid]
        assert workers.run_once() and not workers.run_once()
    again = row(store, nid)
    assert (again.state, again.attempts, again.first_failed_at) == ("done", 1, None)
    assert len(smtp.messages) == 1


def test_a_claimed_row_is_finished_only_by_its_holder(store, db_url, tmp_path) -> None:
    nid = queue(store)
    first = notify.claim(store, time.time(), lease=0.01)
    time.sleep(0.05)  # the first holder's lease expires
    second = notify.claim(store, time.time(), lease=60)
    assert (first.id, second.id, second.attempts) == (nid, nid, 2)
    workers = notify.NotifyWorkers(
        store, notify_settings(tmp_path, db_url, free_port()), mailer=lambda m: None
    )
    assert workers._finish(first, notify.DONE, None) is False  # a stale holder changes nothing
    assert workers._finish(second, notify.DONE, None) is True


def test_without_smtp_settings_nothing_is_sent_and_rows_stay_pending(
    store, db_url, tmp_path
) -> None:
    workers = notify.NotifyWorkers(store, Settings.for_data_dir(tmp_path, database_url=db_url))
    nid = queue(store)
    workers.start()
    assert workers.run_once() is False and row(store, nid).state == "pending"
    workers.stop()


@pytest.mark.timeout(60)
def test_the_running_collector_mails_a_low_balance_notice(
    store, db_url, tmp_path, admin_token
) -> None:
    """End to end: an adjustment over the API crosses a threshold; the collector's workers mail it."""
    from fastapi.testclient import TestClient

    from collector import admin
    from collector.api import create_app
    from tests.collector.ledger.ledgerkit import give_contract

    admin.create_client(store, "acme")
    give_contract(store, "acme")
    with SmtpServer(tmp_path / "smtp") as smtp:
        app = create_app(
            notify_settings(tmp_path, db_url, smtp.port),
            store=store,
            migrate=False,
            run_retention=False,
        )
        with TestClient(app) as api:
            api.headers["Authorization"] = f"Bearer {admin_token}"
            got = api.post(
                "/api/v1/clients/acme/ledger/adjustments",
                json={"points": -16, "by": "a", "reason": "r"},
            )
            assert got.status_code == 201
            deadline = time.time() + 10
            while not smtp.messages and time.time() < deadline:
                time.sleep(0.05)
    [mail] = smtp.messages
    assert mail.rcpt_tos == ["jane@acme.example"] and "4.00 left" in mail.message["Subject"]


def test_notify_email_settings_are_checked(tmp_path, caplog) -> None:
    from agent.yamlsource import ConfigError
    from collector.settings import load_settings

    config = tmp_path / "upkeep.yaml"
    config.write_text("notify_email:\n  host: smtp.example.com\n  from_address: nobody\n")
    with pytest.raises(
        ConfigError, match=r"upkeep.yaml:\d+: notify_email: .*not an e-mail address"
    ):
        load_settings(config, environ={})
    config.write_text(
        "notify_email:\n  host: smtp.example.com\n  from_address: a@b.example\n  username: u\n"
    )
    with pytest.raises(ConfigError, match="username needs password_file"):
        load_settings(config, environ={})
    # A password file that cannot be read does not stop the collector: nothing is sent, it says why.
    settings = Settings.for_data_dir(
        tmp_path,
        notify_email={
            "host": "127.0.0.1",
            "from_address": "a@b.example",
            "username": "u",
            "password_file": str(tmp_path / "missing"),
        },
    )
    assert notify.smtp_mailer(settings) is None
    assert "notify_email unusable" in caplog.text and "cannot read" in caplog.text
