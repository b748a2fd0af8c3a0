"""E-mail over SMTP (STARTTLS, implicit TLS or plain; login optional).

One thread per incident: the first mail's ``Message-ID`` is ``<KEY@domain>``; every later mail
has ``Message-ID: <KEY.action.version@domain>`` and ``In-Reply-To``/``References`` pointing at
the first, so mail clients and help desks that read mail (Zammad, OTRS, Freshdesk, …) keep
them together. Each mail has a plain-text and an HTML part (Jinja2 templates in
``templates/``) and ``X-Upkeep-Key``. Recipients: the service desk (``to``, or
``to_by_client``) and, with ``send_to_contacts``, the client's contacts.

SMTP cannot be asked what it delivered: a retry after a lost answer sends the mail again
with the same ``Message-ID`` (receivers drop the duplicate). A resolve with no stored
reference sends nothing (no "resolved" mail for a thread that never started).
"""

from __future__ import annotations

import smtplib
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from functools import cached_property
from pathlib import Path
from typing import ClassVar, Literal

import jinja2
from pydantic import Field, SecretStr, model_validator

from collector.connectors import deadline
from collector.connectors.base import (
    Action,
    Connector,
    ConnectorConfig,
    ConnectorError,
    TicketRef,
    TicketSubject,
    description_text,
    resolution_text,
    routed,
    secret,
)

TEMPLATES = Path(__file__).with_name("templates")
HEADLINES = {
    Action.OPEN: "New incident",
    Action.UPDATE: "Updated",
    Action.ESCALATE: "Escalated",
    Action.COMMENT: "Comment",
    Action.TIME_ENTRY: "Time logged",
    Action.RESOLVE: "Resolved",
    Action.REOPEN: "Reopened",
}
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}


class EmailConfig(ConnectorConfig):
    """Options of an e-mail connector (see docs/connectors.md)."""

    SECRETS: ClassVar[tuple[str, ...]] = ("password",)

    type: Literal["email"] = "email"
    host: str
    #: Default: 587 (starttls), 465 (tls), 25 (none).
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: str | None = None
    password: SecretStr | None = None
    password_file: str | None = None
    password_env: str | None = None
    #: A CA bundle to verify the server's certificate with (default: the system's).
    ca_file: str | None = None
    from_address: str
    #: The service desk's addresses; ``to_by_client`` replaces them for a client.
    to: list[str] = Field(default_factory=list)
    to_by_client: dict[str, list[str]] = Field(default_factory=dict)
    #: Also write to the client's contacts (``TicketSubject.contacts``).
    send_to_contacts: bool = False
    actions: list[Action] = Field(
        default_factory=lambda: [
            Action.OPEN,
            Action.ESCALATE,
            Action.COMMENT,
            Action.RESOLVE,
            Action.REOPEN,
        ]
    )
    #: Right-hand side of Message-IDs; default: the domain of ``from_address``.
    message_id_domain: str | None = None
    #: A directory with ``email.txt.j2`` / ``email.html.j2`` replacing the packaged templates.
    template_dir: str | None = None

    @model_validator(mode="after")
    def _login_needs_password(self) -> EmailConfig:
        if self.username and self.password is None:
            raise ValueError("username needs password (or password_file / password_env)")
        if "@" not in parseaddr(self.from_address)[1]:
            raise ValueError("from_address: not an e-mail address")
        return self


class EmailConnector(Connector):
    """Sends each action as a mail in the incident's thread; see the module docstring."""

    config_model: ClassVar[type[ConnectorConfig]] = EmailConfig
    config: EmailConfig

    @cached_property
    def _templates(self) -> jinja2.Environment:
        paths = (
            [self.config.template_dir, str(TEMPLATES)]
            if self.config.template_dir
            else [str(TEMPLATES)]
        )
        return jinja2.Environment(
            loader=jinja2.FileSystemLoader(paths),
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(["html.j2"]),
            keep_trailing_newline=True,
        )

    @property
    def domain(self) -> str:
        return (
            self.config.message_id_domain
            or parseaddr(self.config.from_address)[1].rpartition("@")[2]
        )

    def thread_id(self, subject: TicketSubject) -> str:
        return f"<{subject.key}@{self.domain}>"

    def recipients(self, subject: TicketSubject) -> list[str]:
        addresses = list(routed(subject.client, self.config.to_by_client, self.config.to))
        if self.config.send_to_contacts:
            addresses += subject.contacts
        return list(dict.fromkeys(addresses))

    def message(self, action: Action, subject: TicketSubject) -> EmailMessage:
        """The mail for ``action`` (pure: no I/O), for tests and previews."""
        headline = HEADLINES[action]
        if action is Action.ESCALATE:
            headline = f"Escalated to {subject.priority}"
        context = {
            "subject": subject,
            "action": str(action),
            "headline": f"{headline} · {subject.client}",
            "description": description_text(subject),
            "resolution": resolution_text(subject),
        }
        msg = EmailMessage()
        label = "" if action is Action.OPEN else f"{headline}: "
        msg["Subject"] = f"[{subject.key}] {label}{subject.title}"
        msg["From"] = self.config.from_address
        msg["To"] = ", ".join(self.recipients(subject))
        msg["Date"] = format_datetime(datetime.now(UTC))
        root = self.thread_id(subject)
        if action is Action.OPEN:
            msg["Message-ID"] = root
        else:
            msg["Message-ID"] = f"<{subject.key}.{action}.{subject.version}@{self.domain}>"
            msg["In-Reply-To"] = root
            msg["References"] = root
        msg["X-Upkeep-Key"] = subject.key
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(self._templates.get_template("email.txt.j2").render(context))
        msg.add_alternative(
            self._templates.get_template("email.html.j2").render(context), subtype="html"
        )
        return msg

    def deliver(
        self, action: Action, subject: TicketSubject, ref: TicketRef | None
    ) -> TicketRef | None:
        action = Action(action)
        if action is Action.RESOLVE and ref is None and Action.OPEN in self.config.actions:
            return None
        thread = ref or TicketRef(self.name, self.thread_id(subject))
        if action not in self.config.actions:
            return thread
        if not self.recipients(subject):
            raise ConnectorError(
                f"email {self.name}: no recipients for client {subject.client}", permanent=True
            )
        self.send(self.message(action, subject))
        return thread

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.config.ca_file)

    def send(self, msg: EmailMessage) -> None:
        """Send ``msg`` within the connector's ``deadline`` (or the caller's, if sooner)."""
        with deadline.deadline(self.config.deadline) as limit:
            try:
                self._send(msg)
            except ConnectorError as exc:
                if exc.permanent or not limit.expired:
                    raise
                raise ConnectorError(
                    f"{exc.message} (cut at the {limit.seconds:g} s deadline)", permanent=False
                ) from None

    def _send(self, msg: EmailMessage) -> None:
        config = self.config
        port = config.port or DEFAULT_PORTS[config.security]
        where = f"email {self.name}: {config.host}:{port}"
        try:
            # The connect gets at most the time left; after it, a watchdog cuts the socket
            # at the deadline (a server trickling its replies never trips a read timeout).
            # (the greeting is read by connect(), so the watchdog is armed before it).
            timeout = deadline.clamp(config.timeout)
            if config.security == "tls":
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(timeout=timeout, context=self._tls_context())
            else:
                smtp = smtplib.SMTP(timeout=timeout)
            # connect() does not record the host, which the TLS handshakes verify the
            # certificate against (the constructor would, but it also connects unguarded).
            smtp._host = config.host  # type: ignore[attr-defined]
            with smtp, deadline.socket_watchdog(lambda: smtp.sock):
                smtp.connect(config.host, port)
                if config.security == "starttls":
                    smtp.starttls(context=self._tls_context())
                if config.username:
                    smtp.login(config.username, secret(config.password))
                smtp.send_message(msg)
        except smtplib.SMTPAuthenticationError as exc:
            raise ConnectorError(
                f"{where}: login refused ({exc.smtp_code})", permanent=True
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise ConnectorError(f"{where}: {exc}", permanent=True) from None
        except smtplib.SMTPRecipientsRefused as exc:
            codes = sorted({code for code, _ in exc.recipients.values()})
            permanent = all(code >= 500 for code in codes)
            raise ConnectorError(
                f"{where}: recipients refused ({', '.join(map(str, codes))})", permanent=permanent
            ) from None
        except smtplib.SMTPResponseException as exc:
            text = (
                exc.smtp_error.decode(errors="replace")
                if isinstance(exc.smtp_error, bytes)
                else str(exc.smtp_error)
            )
            raise ConnectorError(
                f"{where}: {exc.smtp_code} {text}", permanent=exc.smtp_code >= 500
            ) from None
        except ssl.SSLCertVerificationError as exc:
            raise ConnectorError(
                f"{where}: certificate not trusted: {exc.verify_message}", permanent=True
            ) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise ConnectorError(f"{where}: {type(exc).__name__}: {exc}", permanent=False) from None
