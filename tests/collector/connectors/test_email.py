"""The e-mail connector against a real SMTP server (aiosmtpd; tests/servers/smtp.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from collector.connectors import (
    Action,
    Comment,
    ConnectorError,
    ConnectorsConfig,
    TicketRef,
    TicketSubject,
)
from collector.connectors.email import EmailConnector
from tests.servers.collector import free_port
from tests.servers.smtp import SmtpServer

SubjectFactory = Callable[..., TicketSubject]


def connector(port: int, **overrides: object) -> EmailConnector:
    raw = {
        "type": "email",
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from_address": "Upkeep <upkeep@msp.example>",
        "to": ["desk@msp.example"],
        "to_by_client": {"globex": ["globex-desk@msp.example"]},
        "timeout": 5,
        **overrides,
    }
    return ConnectorsConfig.model_validate({"connectors": {"mail": raw}}).build()["mail"]


def parts(message: object) -> dict[str, str]:
    return {
        part.get_content_type(): part.get_content().replace("\r\n", "\n")
        for part in message.iter_parts()
    }


def test_thread_of_mails_with_both_parts(tmp_path: Path, make_subject: SubjectFactory) -> None:
    subject = make_subject(contacts=("it@acme.example",), url="https://upkeep.msp.example/i/1")
    with SmtpServer(tmp_path) as smtp:
        mail = connector(smtp.port, send_to_contacts=True)
        ref = mail.deliver(Action.OPEN, subject, None)
        assert ref == TicketRef("mail", f"<{subject.key}@msp.example>")
        commented = dataclasses.replace(
            subject, version=2, comment=Comment("ev-2", "Vendor <b>contacted</b>.", "bob")
        )
        assert mail.deliver(Action.COMMENT, commented, ref) == ref
        resolved = dataclasses.replace(
            commented,
            version=3,
            comment=None,
            state="resolved",
            resolved_at=datetime(2026, 3, 2, 12, 0, tzinfo=UTC),
            resolution_note="Old logs removed.",
        )
        assert mail.deliver(Action.RESOLVE, resolved, ref) == ref
        assert (
            mail.deliver(Action.UPDATE, resolved, ref) == ref
        )  # not in the default actions: no mail

    opened, comment, resolve = smtp.messages
    assert opened.mail_from == "upkeep@msp.example"
    assert opened.rcpt_tos == ["desk@msp.example", "it@acme.example"]
    msg = opened.message
    assert msg["Subject"] == f"[{subject.key}] Disk / on srv1 is 93% full"
    assert msg["Message-ID"] == f"<{subject.key}@msp.example>"
    assert msg["In-Reply-To"] is None and msg["X-Upkeep-Key"] == subject.key
    assert msg["Auto-Submitted"] == "auto-generated"
    body = parts(msg)
    assert set(body) == {"text/plain", "text/html"}
    assert (
        "Disk usage 93% (threshold 90%)." in body["text/plain"]
        and "Asset: srv1" in body["text/plain"]
    )
    assert "<h2" in body["text/html"] and "https://upkeep.msp.example/i/1" in body["text/html"]

    cmsg = comment.message
    assert cmsg["Subject"] == f"[{subject.key}] Comment: Disk / on srv1 is 93% full"
    assert cmsg["Message-ID"] == f"<{subject.key}.comment.2@msp.example>"
    assert cmsg["In-Reply-To"] == cmsg["References"] == f"<{subject.key}@msp.example>"
    assert "Vendor <b>contacted</b>." in parts(cmsg)["text/plain"]
    assert "Vendor &lt;b&gt;contacted&lt;/b&gt;." in parts(cmsg)["text/html"]  # escaped in HTML

    rmsg = resolve.message
    assert rmsg["Subject"] == f"[{subject.key}] Resolved: Disk / on srv1 is 93% full"
    assert rmsg["In-Reply-To"] == f"<{subject.key}@msp.example>"
    assert (
        "Resolved by Upkeep at 2026-03-02 12:00 UTC.\n\nOld logs removed."
        in parts(rmsg)["text/plain"]
    )


def test_recipients_per_client_and_resolve_without_thread(
    tmp_path: Path, make_subject: SubjectFactory
) -> None:
    with SmtpServer(tmp_path) as smtp:
        mail = connector(smtp.port)
        mail.deliver(Action.OPEN, make_subject(client="globex", key="UPK-globex-5"), None)
        resolved = make_subject(
            state="resolved", resolved_at=datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
        )
        assert mail.deliver(Action.RESOLVE, resolved, None) is None
    assert [m.rcpt_tos for m in smtp.messages] == [["globex-desk@msp.example"]]
    with pytest.raises(ConnectorError, match="no recipients") as excinfo:
        connector(smtp.port, to=[]).deliver(Action.OPEN, make_subject(), None)
    assert excinfo.value.permanent


def test_starttls_with_login(tmp_path: Path, make_subject: SubjectFactory) -> None:
    password_file = tmp_path / "smtp.pw"
    password_file.write_text("pa55word\n")
    with SmtpServer(tmp_path, security="starttls", users={"upkeep": "pa55word"}) as smtp:
        mail = connector(
            smtp.port,
            security="starttls",
            ca_file=str(smtp.ca_file),
            username="upkeep",
            password_file=str(password_file),
        )
        mail.deliver(Action.OPEN, make_subject(), None)
        wrong = connector(
            smtp.port,
            security="starttls",
            ca_file=str(smtp.ca_file),
            username="upkeep",
            password="nope",
        )
        with pytest.raises(ConnectorError) as refused:
            wrong.deliver(Action.OPEN, make_subject(), None)
        untrusted = connector(
            smtp.port, security="starttls"
        )  # the system CAs do not know the test cert
        with pytest.raises(ConnectorError) as untrusted_error:
            untrusted.deliver(Action.OPEN, make_subject(), None)
    assert [m.authenticated_as for m in smtp.messages] == ["upkeep"]
    assert refused.value.permanent and "login refused (535)" in refused.value.message
    assert "nope" not in str(refused.value) and "pa55word" not in str(refused.value)
    assert untrusted_error.value.permanent and "certificate" in untrusted_error.value.message


def test_implicit_tls(tmp_path: Path, make_subject: SubjectFactory) -> None:
    with SmtpServer(tmp_path, security="tls") as smtp:
        connector(smtp.port, security="tls", ca_file=str(smtp.ca_file)).deliver(
            Action.OPEN, make_subject(), None
        )
    assert len(smtp.messages) == 1


def test_smtp_errors_map_to_permanent_or_retryable(
    tmp_path: Path, make_subject: SubjectFactory
) -> None:
    with pytest.raises(ConnectorError) as refused:
        connector(free_port()).deliver(Action.OPEN, make_subject(), None)
    assert not refused.value.permanent
    with SmtpServer(tmp_path) as smtp:
        smtp.reply_to_data = "451 4.3.0 try again later"
        with pytest.raises(ConnectorError) as later:
            connector(smtp.port).deliver(Action.OPEN, make_subject(), None)
        smtp.reply_to_data = "554 5.7.1 rejected as spam"
        with pytest.raises(ConnectorError) as rejected:
            connector(smtp.port).deliver(Action.OPEN, make_subject(), None)
    assert not later.value.permanent and "451" in later.value.message
    assert rejected.value.permanent and "554" in rejected.value.message


def test_config_validation() -> None:
    with pytest.raises(ValueError, match="username needs password"):
        ConnectorsConfig.model_validate(
            {
                "connectors": {
                    "mail": {
                        "type": "email",
                        "host": "h",
                        "from_address": "a@b.example",
                        "username": "u",
                    }
                }
            }
        )
    with pytest.raises(ValueError, match="from_address: not an e-mail address"):
        ConnectorsConfig.model_validate(
            {"connectors": {"mail": {"type": "email", "host": "h", "from_address": "nobody"}}}
        )
