"""The network checks against real sockets on loopback: ping (with and without the
right to send ICMP), TCP, HTTP(S) with a test CA, TLS expiry, DNS."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from recorded import assert_conforms

from agent.checks import registry
from agent.checks.base import CheckResult
from agent.config import check_configs
from agent.host import Host
from tests.servers.tls import IssuedCertificate, LoopbackHttpServer, make_certificate

ROOT = Path(__file__).resolve().parents[3]
PING_GROUP_RANGE = Path("/proc/sys/net/ipv4/ping_group_range")


def run_check(name: str, options: dict) -> CheckResult:
    config = check_configs({name: options}, None)[name]
    result = registry.check_class(name)(config, Host("test-host")).run()
    assert_conforms(registry.check_class(name), result.samples)
    return result


def values(result: CheckResult) -> dict[tuple, float]:
    return {
        (s.metric, *sorted(s.labels.items())): s.value
        for s in result.samples
        if not s.metric.startswith("upkeep_check_")
    }


@pytest.fixture
def listening_port() -> Iterator[int]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        yield server.getsockname()[1]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # nothing listens once it is closed


# -- ping --------------------------------------------------------------------------------


def test_ping_loopback_with_privilege() -> None:
    if sys.platform.startswith("linux") and os.geteuid() != 0 and not _group_may_ping(os.getgid()):
        pytest.skip("this user may not send ICMP here")
    result = run_check("ping", {"count": 3, "targets": [{"name": "lo", "address": "127.0.0.1"}]})
    got = values(result)
    assert result.ok and result.unsupported is None
    assert got[("ping_up", ("method", "icmp"), ("target", "lo"))] == 1
    assert got[("ping_loss_ratio", ("method", "icmp"), ("target", "lo"))] == 0
    rtt = {
        stat: got[("ping_rtt_seconds", ("method", "icmp"), ("stat", stat), ("target", "lo"))]
        for stat in ("min", "avg", "max")
    }
    assert 0 < rtt["min"] <= rtt["avg"] <= rtt["max"] < 0.5


def _group_may_ping(gid: int) -> bool:
    low, high = map(int, PING_GROUP_RANGE.read_text().split())
    return low <= gid <= high


@contextmanager
def ping_group_range(value: str) -> Iterator[None]:
    """Set net.ipv4.ping_group_range for the test; the previous value is put back."""
    before = PING_GROUP_RANGE.read_text().strip()
    PING_GROUP_RANGE.write_text(value)
    try:
        yield
    finally:
        PING_GROUP_RANGE.write_text(before)


UNPRIVILEGED = r"""
import json, sys
from agent.checks import registry
from agent.config import check_configs
from agent.host import Host
config = check_configs({"ping": json.loads(sys.argv[1])}, None)["ping"]
result = registry.check_class("ping")(config, Host("test-host")).run()
print(json.dumps({"unsupported": result.unsupported, "ok": result.ok,
                  "samples": [[s.metric, s.labels, s.value] for s in result.samples],
                  "events": [[e.type, e.message] for e in result.events]}))
"""


def run_without_cap_net_raw(options: dict) -> dict:
    """Run the ping check in a child that lost CAP_NET_RAW (root, but no raw sockets)."""
    argv = [
        "setpriv",
        "--bounding-set",
        "-net_raw",
        "--inh-caps",
        "-net_raw",
        sys.executable,
        "-c",
        UNPRIVILEGED,
        json.dumps(options),
    ]
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


needs_root_linux = pytest.mark.skipif(
    not sys.platform.startswith("linux")
    or os.geteuid() != 0
    or not shutil.which("setpriv")
    or not PING_GROUP_RANGE.exists(),
    reason="needs root, setpriv and ping_group_range (Linux)",
)


@needs_root_linux
def test_ping_without_permission_says_how_to_fix_it_once() -> None:
    with ping_group_range("1 0"):  # no group may open unprivileged ICMP sockets
        out = run_without_cap_net_raw({"targets": ["127.0.0.1"]})
    assert out["unsupported"] is not None
    assert "setcap cap_net_raw+ep $(readlink -f " in out["unsupported"]
    assert 'sysctl -w net.ipv4.ping_group_range="0 2147483647"' in out["unsupported"]
    assert "AmbientCapabilities=CAP_NET_RAW" in out["unsupported"]
    assert out["samples"] == [] and out["events"] == []


@needs_root_linux
def test_ping_without_permission_falls_back_to_tcp(listening_port: int) -> None:
    options = {
        "count": 2,
        "targets": [
            {"name": "lo", "address": "127.0.0.1", "fallback_tcp_port": listening_port},
            {"name": "closed", "address": "127.0.0.1", "fallback_tcp_port": closed_port()},
            {"name": "icmp-only", "address": "127.0.0.1"},
        ],
    }
    with ping_group_range("1 0"):
        out = run_without_cap_net_raw(options)
    assert out["unsupported"] is None and out["ok"]
    got = {(m, tuple(sorted(labels.items()))): v for m, labels, v in out["samples"]}
    assert got[("ping_up", (("method", "tcp"), ("target", "lo")))] == 1
    assert got[("ping_loss_ratio", (("method", "tcp"), ("target", "lo")))] == 0
    assert got[("ping_up", (("method", "tcp"), ("target", "closed")))] == 0
    assert not any(dict(labels).get("target") == "icmp-only" for _, labels in got)
    [(kind, message)] = out["events"]
    assert kind == "ping_not_permitted"
    assert "not probed: icmp-only" in message and "setcap cap_net_raw+ep" in message


@needs_root_linux
def test_ping_unprivileged_icmp_when_the_group_is_allowed() -> None:
    with ping_group_range(f"{os.getgid()} {os.getgid()}"):  # Debian's default allows every group
        out = run_without_cap_net_raw({"targets": ["127.0.0.1"]})
    got = {(m, tuple(sorted(labels.items()))): v for m, labels, v in out["samples"]}
    assert out["unsupported"] is None
    assert got[("ping_up", (("method", "icmp"), ("target", "127.0.0.1")))] == 1


def test_ping3_is_imported_only_when_a_ping_check_runs() -> None:
    code = (
        "import sys; from agent.config import check_configs; from agent.checks import registry; "
        "from agent.host import Host; "
        "[registry.check_class(n)(c, Host()) for n, c in check_configs({'tcp': {'targets': ['a:1']}, "
        "'http': {'targets': ['http://a/']}, 'dns': {'targets': ['a']}}, None).items()]; "
        "assert 'ping3' not in sys.modules and 'requests' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        check=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


# -- tcp ---------------------------------------------------------------------------------


def test_tcp_open_and_closed_ports(listening_port: int) -> None:
    result = run_check(
        "tcp",
        {
            "targets": [
                f"127.0.0.1:{listening_port}",
                {"name": "closed", "address": "127.0.0.1", "port": closed_port()},
            ]
        },
    )
    got = values(result)
    assert result.ok
    assert got[("tcp_up", ("target", f"127.0.0.1:{listening_port}"))] == 1
    assert 0 < got[("tcp_connect_seconds", ("target", f"127.0.0.1:{listening_port}"))] < 1
    assert got[("tcp_up", ("target", "closed"))] == 0
    assert ("tcp_connect_seconds", ("target", "closed")) not in got


# -- http, tls ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> dict[str, IssuedCertificate]:
    folder = tmp_path_factory.mktemp("certs")
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return {
        "valid": make_certificate(
            folder,
            "valid",
            not_before=now - dt.timedelta(days=1),
            not_after=now + dt.timedelta(days=30),
        ),
        "expired": make_certificate(
            folder,
            "expired",
            not_before=now - dt.timedelta(days=400),
            not_after=now - dt.timedelta(days=10),
        ),
    }


def test_http_status_latency_and_body_match() -> None:
    routes = {"/health": (200, b'{"status": "ok"}'), "/broken": (503, b"maintenance")}
    with LoopbackHttpServer(routes) as server:
        result = run_check(
            "http",
            {
                "targets": [
                    {
                        "name": "health",
                        "url": server.url("/health"),
                        "body_regex": r'"status":\s*"ok"',
                    },
                    {"name": "wrong-body", "url": server.url("/health"), "body_regex": "degraded"},
                    {"name": "broken", "url": server.url("/broken")},
                    {
                        "name": "expected-503",
                        "url": server.url("/broken"),
                        "expected_status": [503],
                    },
                    {"name": "refused", "url": f"http://127.0.0.1:{closed_port()}/", "timeout": 2},
                ]
            },
        )
    got = values(result)
    assert result.ok
    assert got[("http_up", ("target", "health"))] == 1
    assert got[("http_content_match", ("target", "health"))] == 1
    assert got[("http_status_code", ("target", "health"))] == 200
    assert 0 < got[("http_response_seconds", ("target", "health"))] < 2
    assert got[("http_up", ("target", "wrong-body"))] == 0
    assert got[("http_content_match", ("target", "wrong-body"))] == 0
    assert (
        got[("http_up", ("target", "broken"))],
        got[("http_status_code", ("target", "broken"))],
    ) == (0, 503)
    assert got[("http_up", ("target", "expected-503"))] == 1
    assert got[("http_up", ("target", "refused"))] == 0
    assert ("http_status_code", ("target", "refused")) not in got


def test_https_verification_with_a_custom_ca(certificates: dict[str, IssuedCertificate]) -> None:
    valid = certificates["valid"]
    with LoopbackHttpServer({"/": (200, b"hello")}, valid) as server:
        result = run_check(
            "http",
            {
                "targets": [
                    {"name": "system-cas", "url": server.url()},  # our test CA is not a system CA
                    {"name": "custom-ca", "url": server.url(), "ca_file": str(valid.ca_file)},
                    {"name": "no-verify", "url": server.url(), "verify_tls": False},
                ]
            },
        )
    got = values(result)
    assert got[("http_up", ("target", "system-cas"))] == 0
    assert got[("http_up", ("target", "custom-ca"))] == 1
    assert got[("http_up", ("target", "no-verify"))] == 1


def test_tls_expiry_of_a_valid_and_an_expired_certificate(
    certificates: dict[str, IssuedCertificate],
) -> None:
    with (
        LoopbackHttpServer({}, certificates["valid"]) as valid,
        LoopbackHttpServer({}, certificates["expired"]) as expired,
    ):
        result = run_check(
            "tls",
            {
                "targets": [
                    {
                        "name": "valid",
                        "address": "127.0.0.1",
                        "port": valid.port,
                        "server_name": "localhost",
                    },
                    f"127.0.0.1:{expired.port}",
                    {"name": "closed", "address": "127.0.0.1", "port": closed_port(), "timeout": 2},
                ]
            },
        )
    got = values(result)
    assert result.ok
    assert got[("tls_up", ("target", "valid"))] == 1
    assert got[("tls_cert_expiry_seconds", ("target", "valid"))] == pytest.approx(
        30 * 86400, abs=120
    )
    assert got[("tls_cert_expired", ("target", "valid"))] == 0
    not_after = next(
        s
        for s in result.samples
        if s.metric == "tls_cert_not_after_seconds" and s.labels["target"] == "valid"
    )
    assert not_after.value == certificates["valid"].not_after.timestamp()
    assert (
        not_after.labels["subject"] == "localhost"
        and not_after.labels["issuer"] == "Upkeep Test CA valid"
    )
    expired_target = f"127.0.0.1:{expired.port}"
    assert got[("tls_up", ("target", expired_target))] == 1
    assert got[("tls_cert_expiry_seconds", ("target", expired_target))] == 0
    assert got[("tls_cert_expired", ("target", expired_target))] == 1
    assert got[("tls_up", ("target", "closed"))] == 0


# -- dns ---------------------------------------------------------------------------------


def test_dns_localhost_and_a_name_that_cannot_resolve() -> None:
    result = run_check(
        "dns",
        {
            "targets": [
                "localhost",
                {"name": "v4", "query": "localhost", "family": "ipv4"},
                "nonexistent.invalid",
            ]
        },
    )
    got = values(result)
    assert result.ok
    assert got[("dns_up", ("target", "localhost"))] == 1
    assert got[("dns_addresses", ("target", "v4"))] == 1
    assert 0 <= got[("dns_resolve_seconds", ("target", "localhost"))] < 5
    assert got[("dns_up", ("target", "nonexistent.invalid"))] == 0
