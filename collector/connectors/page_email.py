"""E-mail pages: the same SMTP options as the e-mail ticket connector (host, port, security,
login, ``from_address``), one mail to the person's address with the two signed links. The
Message-ID is the page's id, so a retry of one page is recognisable as the same mail."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate
from typing import ClassVar, Literal

from collector.connectors.base import ConnectorConfig, ConnectorError, TicketRef
from collector.connectors.email import EmailConfig, EmailConnector
from collector.connectors.paging import Page, PagingConnector


class PageEmailConfig(EmailConfig):
    type: Literal["email"] = "email"


class PageEmailConnector(PagingConnector):
    config_model: ClassVar[type[ConnectorConfig]] = PageEmailConfig
    config: PageEmailConfig

    def __init__(self, name: str, config: ConnectorConfig) -> None:
        super().__init__(name, config)
        # The SMTP conversation (deadline, TLS, error mapping) is the ticket connector's.
        self._smtp = EmailConnector(name, config)

    def message(self, page: Page) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.config.from_address
        msg["To"] = page.to
        msg["Subject"] = page.subject
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = f"<{page.id}@{self._smtp.domain}>"
        msg["X-Upkeep-Incident"] = page.incident
        msg["X-Priority"] = "1" if page.priority == "critical" else "3"
        msg.set_content(
            f"{page.text}\n\n{page.ack_label}: {page.ack_url}\n{page.resolve_label}: {page.resolve_url}\n"
        )
        return msg

    def send(self, page: Page) -> TicketRef | None:
        if not page.to:
            raise ConnectorError(f"email {self.name}: {page.person} has no address", permanent=True)
        self._smtp.send(self.message(page))
        return None
