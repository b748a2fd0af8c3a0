"""The collector serves HTTPS itself (tls_certfile/tls_keyfile); an agent trusts it via ca_bundle."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
import time
import uuid
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.yamlsource import ConfigError
from collector import admin
from collector.server import build_server
from collector.settings import Settings, load_settings
from tests.servers.collector import free_port


def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A private CA and a server certificate for 127.0.0.1 signed by it: (ca, cert, key)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Upkeep test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


def test_https_collector_and_an_agent_shipper_trusting_a_private_ca(tmp_path):
    from agent.shipper import Outcome, Shipper
    from agent.spool import Spool

    ca, cert, key = _certificates(tmp_path)
    settings = Settings.for_data_dir(tmp_path / "data", tls_certfile=cert, tls_keyfile=key)
    settings.data_dir.mkdir()
    server = build_server(settings, port=free_port())
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline and thread.is_alive(), "collector did not start"
            time.sleep(0.05)
        from collector.store import Store

        store = Store.from_settings(settings)
        admin.create_client(store, "acme")
        token = admin.create_token(store, client="acme")[1]
        store.dispose()
        port = server.servers[0].sockets[0].getsockname()[1]
        spool = Spool(tmp_path / "spool.db", max_bytes=2**24, max_age=3600)
        from agent.checks.base import Sample

        spool.add([Sample("cpu_usage_percent", 5.0, asset="srv1", ts=time.time())], [])
        spool.set_assets([{"name": "srv1", "kind": "host"}])
        info = {"id": str(uuid.uuid4()), "version": "0.1.0", "hostname": "srv1", "site": "default"}
        trusting = Shipper(spool, f"https://127.0.0.1:{port}", token, info, ca_bundle=str(ca))
        untrusting = Shipper(spool, f"https://127.0.0.1:{port}", token, info)
        assert untrusting.ship_one() is Outcome.KEPT  # system CAs do not know the private CA
        assert trusting.ship_one() is Outcome.ACCEPTED
        spool.close()
        # HSTS on every answer, whatever the path or status (issue 12 item 14).
        trust = ssl.create_default_context(cafile=str(ca))
        with httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=trust) as client:
            for path, status in (("/healthz", 200), ("/api/v1/clients", 401), ("/nope", 404)):
                resp = client.get(path)
                assert resp.status_code == status
                assert resp.headers["strict-transport-security"] == "max-age=31536000"
    finally:
        server.should_exit = True
        thread.join(10)


def test_tls_files_go_together(tmp_path):
    with pytest.raises(ConfigError, match="tls_certfile and tls_keyfile go together"):
        load_settings(environ={"UPKEEP_DATA_DIR": str(tmp_path), "UPKEEP_TLS_CERTFILE": "/x.pem"})


def test_no_hsts_header_over_plain_http(tmp_path):
    """Over plain HTTP the header would be ignored by browsers and is left to the TLS proxy."""
    from fastapi.testclient import TestClient

    from collector.api import create_app

    settings = Settings.for_data_dir(tmp_path / "data")
    with TestClient(create_app(settings, run_retention=False)) as client:
        resp = client.get("/healthz")
    assert resp.status_code == 200 and "strict-transport-security" not in resp.headers
