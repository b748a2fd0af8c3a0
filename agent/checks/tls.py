"""TLS certificates: when the certificate a server presents expires.

The certificate is read without verifying it (an expired or self-signed certificate
is what this check is for) and parsed with ``cryptography``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from agent.checks.base import Check, CheckConfig, MetricSpec, Sample
from agent.checks.targets import Target, probe_all, unique_names
from agent.checks.tcp import split_host_port
from agent.schema import Field, field_validator, model_validator


class TlsTarget(Target):
    """One TLS endpoint. Written as a mapping, or as ``"host:port"`` / ``"host"`` (port
    443), which is then also its name."""

    address: str = Field(min_length=1, max_length=253)
    port: int = Field(default=443, ge=1, le=65535)
    server_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=253,
        description="SNI name to ask for; default: address",
    )

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            address, port = split_host_port(value, default_port=443)
            return {"name": value, "address": address, "port": port}
        return value


class TlsConfig(CheckConfig):
    """Options of the ``tls`` check."""

    targets: list[TlsTarget] = Field(min_length=1)

    @field_validator("targets")
    @classmethod
    def _unique(cls, value: list[TlsTarget]) -> list[TlsTarget]:
        unique_names(value)
        return value


def common_name(name: Any) -> str:
    """The CN of an x509 Name, else its RFC 4514 text (cut to 200 characters)."""
    from cryptography.x509.oid import NameOID

    for attribute in name.get_attributes_for_oid(NameOID.COMMON_NAME):
        return str(attribute.value)[:200]
    return name.rfc4514_string()[:200]


class TlsCheck(Check):
    """Reads each target's certificate and reports its expiry. A server that cannot be
    reached gives ``tls_up 0``, not a failure of the check."""

    name: ClassVar[str] = "tls"
    Config: ClassVar[type[CheckConfig]] = TlsConfig
    default_interval: ClassVar[float | None] = 3600.0
    catalog: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec(
            "tls_up",
            "gauge",
            "",
            ("target",),
            "1 if the TLS handshake succeeded and a certificate was read",
        ),
        MetricSpec(
            "tls_cert_expiry_seconds",
            "gauge",
            "seconds",
            ("target",),
            "Time left until the certificate expires; 0 once it has expired",
        ),
        MetricSpec(
            "tls_cert_expired",
            "gauge",
            "",
            ("target",),
            "1 if the certificate's notAfter has passed",
        ),
        MetricSpec(
            "tls_cert_not_after_seconds",
            "gauge",
            "seconds",
            ("target", "subject", "issuer"),
            "The certificate's notAfter as Unix time; subject and issuer are common names",
        ),
    )

    config: TlsConfig

    def _probe(self, target: TlsTarget) -> bytes | None:
        try:
            return self.host.tls_certificate(
                target.address, target.port, target.server_name or target.address, target.timeout
            )
        except OSError:
            return None

    def collect(self) -> Iterator[Sample]:
        from cryptography import x509

        now = self.host.time()
        for target, der in zip(
            self.config.targets, probe_all(self._probe, self.config.targets), strict=True
        ):
            labels = {"target": target.name}
            if der is None:
                yield Sample("tls_up", 0.0, labels)
                continue
            cert = x509.load_der_x509_certificate(der)
            not_after = cert.not_valid_after_utc.timestamp()
            yield Sample("tls_up", 1.0, labels)
            yield Sample("tls_cert_expiry_seconds", max(0.0, not_after - now), dict(labels))
            yield Sample("tls_cert_expired", 1.0 if not_after <= now else 0.0, dict(labels))
            yield Sample(
                "tls_cert_not_after_seconds",
                not_after,
                {
                    **labels,
                    "subject": common_name(cert.subject),
                    "issuer": common_name(cert.issuer),
                },
            )
