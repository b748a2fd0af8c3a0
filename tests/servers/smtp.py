"""A real SMTP server (aiosmtpd) on a free loopback port that keeps what it received.

``SmtpServer(security="none" | "starttls" | "tls", users={"u": "pw"})``: STARTTLS and
implicit TLS use a self-signed certificate made for 127.0.0.1 (:func:`make_certificate`;
``server.ca_file`` is the PEM to trust). With ``users`` the server requires AUTH (PLAIN /
LOGIN). ``server.reply_to_data`` makes it answer DATA with a given SMTP reply instead of
accepting (e.g. ``"451 4.3.0 try later"``).

Usage::

    with SmtpServer(tmp_path, security="starttls") as smtp:
        ... connector with host=127.0.0.1, port=smtp.port, ca_file=smtp.ca_file ...
    envelope = smtp.messages[0]      # .mail_from, .rcpt_tos, .message (email.message.EmailMessage)
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ipaddress
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.servers.collector import free_port


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for ``127.0.0.1``/``localhost``: (cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@dataclass
class ReceivedMail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    authenticated_as: str | None


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
        if self.server.reply_to_data:
            return self.server.reply_to_data
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.server.messages.append(
            ReceivedMail(
                envelope.mail_from,
                list(envelope.rcpt_tos),
                message,
                session.auth_data if session.authenticated else None,
            )
        )
        return "250 OK"


class SmtpServer:
    """See the module docstring."""

    def __init__(
        self,
        workdir: str | Path,
        *,
        security: Literal["none", "starttls", "tls"] = "none",
        users: dict[str, str] | None = None,
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.security = security
        self.users = users or {}
        self.messages: list[ReceivedMail] = []
        self.reply_to_data: str | None = None
        self.port = free_port()
        self.ca_file: Path | None = None
        kwargs: dict[str, Any] = {}
        if security != "none":
            cert, key = make_certificate(self.workdir)
            self.ca_file = cert
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            if security == "starttls":
                kwargs.update(tls_context=context, require_starttls=True)
            else:
                kwargs.update(ssl_context=context)
        if self.users:
            kwargs.update(
                authenticator=self._authenticate,
                auth_required=True,
                auth_require_tls=security != "none",
            )
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port, **kwargs)

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            user, password = auth_data.login.decode(), auth_data.password.decode()
            if self.users.get(user) == password:
                return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)

    def __enter__(self) -> SmtpServer:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
