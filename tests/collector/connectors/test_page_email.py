"""E-mail pages against a real SMTP server (aiosmtpd; tests/servers/smtp.py)."""

from __future__ import annotations

import pytest

from collector.connectors.base import ConnectorError
from tests.collector.connectors.paging_kit import channel, make_page
from tests.servers.smtp import SmtpServer


def test_page_mail_carries_both_links_and_a_stable_message_id(tmp_path) -> None:
    with SmtpServer(tmp_path, security="starttls", users={"pager": "pw"}) as smtp:
        mail = channel(
            "mail",
            {
                "type": "email",
                "host": "127.0.0.1",
                "port": smtp.port,
                "security": "starttls",
                "ca_file": str(smtp.ca_file),
                "username": "pager",
                "password": "pw",
                "from_address": "Upkeep pager <pager@upkeep.example>",
                "timeout": 5,
            },
        )
        mail.page(make_page(to="anna@example.net"))
        mail.page(make_page(to="anna@example.net"))  # a retry of the same page
    first, again = smtp.messages
    assert first.rcpt_tos == ["anna@example.net"] and first.authenticated_as == "pager"
    msg = first.message
    assert msg["Subject"] == "[Critical] UPK-acme-12 Core switch down"
    assert msg["Message-ID"] == "<UPK-acme-12-p7@upkeep.example>" == again.message["Message-ID"]
    assert msg["X-Upkeep-Incident"] == "UPK-acme-12"
    body = msg.get_content()
    assert "Acknowledge: https://upkeep.example/oncall/page?token=ACK" in body
    assert "Resolve: https://upkeep.example/oncall/page?token=RES" in body


def test_a_refused_data_is_retried(tmp_path) -> None:
    with SmtpServer(tmp_path) as smtp:
        smtp.reply_to_data = "451 4.3.0 try later"
        mail = channel(
            "mail",
            {
                "type": "email",
                "host": "127.0.0.1",
                "port": smtp.port,
                "security": "none",
                "from_address": "p@upkeep.example",
            },
        )
        with pytest.raises(ConnectorError) as caught:
            mail.page(make_page(to="anna@example.net"))
    assert caught.value.permanent is False
