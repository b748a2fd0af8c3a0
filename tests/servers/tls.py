"""Certificates made by the tests, and small HTTP(S) servers on loopback that use them.

:func:`make_certificate` issues a server certificate for 127.0.0.1/localhost from a
throw-away CA, valid over the window the test asks for (e.g. 30 days from now, or
already expired). :class:`LoopbackHttpServer` serves fixed answers over HTTP, or over
HTTPS with such a certificate, on a free port of 127.0.0.1.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass
class IssuedCertificate:
    """PEM files of a server certificate, its key and the CA that signed it."""

    cert_file: Path
    key_file: Path
    ca_file: Path
    not_after: dt.datetime


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificate(
    folder: Path,
    stem: str,
    *,
    not_before: dt.datetime,
    not_after: dt.datetime,
    common_name: str = "localhost",
) -> IssuedCertificate:
    """A CA and a server certificate for localhost/127.0.0.1 signed by it, as PEM files."""
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"Upkeep Test CA {stem}")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before - dt.timedelta(days=1))
        .not_valid_after(not_after + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = IssuedCertificate(
        folder / f"{stem}.crt",
        folder / f"{stem}.key",
        folder / f"{stem}-ca.crt",
        cert.not_valid_after_utc,
    )
    paths.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    paths.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return paths


class _Handler(BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, bytes]] = {}

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        status, body = self.routes.get(self.path, (404, b"not found"))
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet in test output
        pass


class LoopbackHttpServer:
    """``routes``: path → (status, body). HTTPS when ``certificate`` is given."""

    def __init__(
        self, routes: dict[str, tuple[int, bytes]], certificate: IssuedCertificate | None = None
    ) -> None:
        handler = type("Handler", (_Handler,), {"routes": routes})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        if certificate is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certificate.cert_file, certificate.key_file)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.scheme = "https" if certificate is not None else "http"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "/") -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> LoopbackHttpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(5)
