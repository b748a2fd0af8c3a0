"""The real client address behind a trusted reverse proxy, against a real ``upkeep serve``.

The test itself plays the proxy: its connections come from 127.0.0.1 (listed in
``trusted_proxies``) and carry ``X-Forwarded-For`` (or ``Forwarded``) naming the client.
Connections from 127.0.0.2 play a peer that is not trusted: its headers are ignored.
Login throttling is the observable: 25 failed logins (5 x the per-user budget, sprayed over
user names) lock the *address* they came from.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from collector.proxies import parse_forwarded
from tests.servers.collector import CollectorProcess

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ADDRESS_BUDGET = 25  # web_login_max_failures (5) x ADDRESS_FACTOR (5)


def login(
    collector: CollectorProcess,
    user: str,
    password: str,
    *,
    source: str = "127.0.0.1",
    **headers: str,
) -> int:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(
        base_url=collector.url, transport=transport, headers=headers, timeout=10
    ) as http:
        page = http.get("/ui/login")
        token = _CSRF.search(page.text).group(1)
        answer = http.post(
            "/ui/login", data={"username": user, "password": password, "csrf_token": token}
        )
        return answer.status_code


def spray(collector: CollectorProcess, **kw: str) -> None:
    for n in range(ADDRESS_BUDGET):
        assert login(collector, f"guess{n}", "wrong password!", **kw) == 401


def start(tmp_path: Path, header: str) -> CollectorProcess:
    collector = CollectorProcess(
        tmp_path / header,
        env={
            "UPKEEP_TRUSTED_PROXIES": "127.0.0.1,10.0.0.0/8",
            "UPKEEP_TRUSTED_PROXY_HEADER": header,
        },
    ).start()
    collector.cli(
        "user", "add", "tech", "--role", "technician", "--password-file", str(write(tmp_path))
    )
    return collector


def write(tmp_path: Path) -> Path:
    path = tmp_path / "password"
    path.write_text(PASSWORD)
    return path


@pytest.fixture
def xff_collector(tmp_path: Path) -> Iterator[CollectorProcess]:
    collector = start(tmp_path, "x-forwarded-for")
    try:
        yield collector
    finally:
        collector.stop()


def test_throttling_counts_the_real_client_behind_a_trusted_proxy(xff_collector) -> None:
    spray(xff_collector, **{"X-Forwarded-For": "203.0.113.1"})
    # Client 1 is locked out, even with the right password ...
    assert login(xff_collector, "tech", PASSWORD, **{"X-Forwarded-For": "203.0.113.1"}) == 429
    # ... client 2, through the same proxy, is not (before: everyone shared the proxy's address).
    assert login(xff_collector, "tech", PASSWORD, **{"X-Forwarded-For": "203.0.113.2"}) == 303
    # A hop the client added itself in front of the proxy's entry changes nothing: the address
    # is the nearest one the trusted proxy saw.
    assert (
        login(xff_collector, "tech", PASSWORD, **{"X-Forwarded-For": "198.51.100.7, 203.0.113.1"})
        == 429
    )


def test_an_untrusted_peer_cannot_choose_its_address(xff_collector) -> None:
    # 127.0.0.2 is not a trusted proxy: its X-Forwarded-For is ignored, its failures count
    # against 127.0.0.2 itself, whatever it claims.
    spray(xff_collector, source="127.0.0.2", **{"X-Forwarded-For": "192.0.2.50"})
    assert (
        login(
            xff_collector, "tech", PASSWORD, source="127.0.0.2", **{"X-Forwarded-For": "192.0.2.99"}
        )
        == 429
    )
    # The address it claimed is not locked (the claim was never believed) ...
    assert login(xff_collector, "tech", PASSWORD, **{"X-Forwarded-For": "192.0.2.50"}) == 303


def test_a_proxy_sending_the_standard_forwarded_header(tmp_path: Path) -> None:
    collector = start(tmp_path, "forwarded")
    try:
        spray(collector, Forwarded="for=203.0.113.7;proto=http;by=10.1.2.3")
        assert login(collector, "tech", PASSWORD, Forwarded="for=203.0.113.7") == 429
        assert login(collector, "tech", PASSWORD, Forwarded='for="[2001:db8:cafe::17]:4711"') == 303
        # With this proxy an X-Forwarded-For is the client's own claim: ignored.
        assert (
            login(
                collector,
                "tech",
                PASSWORD,
                Forwarded="for=203.0.113.7",
                **{"X-Forwarded-For": "203.0.113.99"},
            )
            == 429
        )
    finally:
        collector.stop()


def test_forwarded_header_parsing() -> None:
    assert parse_forwarded(
        'for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711"'
    ) == [
        {"for": "192.0.2.60", "proto": "http", "by": "203.0.113.43"},
        {"for": "[2001:db8:cafe::17]:4711"},
    ]
    assert parse_forwarded('For="_hidden" , for=unknown') == [
        {"for": "_hidden"},
        {"for": "unknown"},
    ]
    assert parse_forwarded("for=1.2.3.4, garbage here") == [{"for": "1.2.3.4"}]
    assert parse_forwarded("") == []


def test_trusted_proxies_must_be_addresses_or_networks(tmp_path: Path) -> None:
    from collector.settings import Settings

    assert Settings.for_data_dir(tmp_path, trusted_proxies="10.0.0.0/8, ::1").trusted_proxies == [
        "10.0.0.0/8",
        "::1",
    ]
    with pytest.raises(ValueError, match="'proxy.local' is not an IP address or network"):
        Settings.for_data_dir(tmp_path, trusted_proxies=["proxy.local"])
