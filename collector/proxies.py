"""The real client address behind a reverse proxy: ``trusted_proxies`` (docs/collector.md).

Only a connection from an address or network in ``trusted_proxies`` may say who the client
is; from anyone else the headers are ignored and the peer's address is the client's. The
work is done by uvicorn's own :class:`~uvicorn.middleware.proxy_headers.ProxyHeadersMiddleware`
(``X-Forwarded-For`` walked from the right, skipping trusted hops; ``X-Forwarded-Proto``),
installed in the app so it holds under any server and in tests. For a proxy that sends the
standard ``Forwarded`` header (RFC 7239; ``trusted_proxy_header: forwarded``), that header is
translated first into the ``X-Forwarded-*`` form uvicorn reads, replacing whatever
``X-Forwarded-For`` the client sent (such a proxy passes it through untouched, so it would be
the client's own claim).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

# One forwarded-pair: token=token or token="quoted string" (RFC 7239 section 4).
_PAIR = re.compile(r'\s*([A-Za-z0-9!#$%&\'*+.^_`|~-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;,\s]*)\s*')


def parse_forwarded(value: str) -> list[dict[str, str]]:
    """The elements of a ``Forwarded`` header value, nearest proxy last; parameter names
    lower-cased, quotes removed. A malformed part ends the parse (what came before is kept)."""
    elements: list[dict[str, str]] = []
    current: dict[str, str] = {}
    pos = 0
    while pos < len(value):
        match = _PAIR.match(value, pos)
        if match is None:
            break
        name, raw = match.group(1).lower(), match.group(2)
        if raw.startswith('"'):
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        current[name] = raw
        pos = match.end()
        if pos < len(value) and value[pos] == ";":
            pos += 1
        elif pos < len(value) and value[pos] == ",":
            elements.append(current)
            current = {}
            pos += 1
        elif pos < len(value):
            break
    if current:
        elements.append(current)
    return elements


class ForwardedHeaderMiddleware:
    """Rewrites ``Forwarded`` into ``X-Forwarded-For`` / ``X-Forwarded-Proto`` (see module doc).
    Trust is decided after it, by uvicorn's middleware."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            forwarded = [v for k, v in scope["headers"] if k == b"forwarded"]
            headers = [
                (k, v)
                for k, v in scope["headers"]
                if k not in (b"x-forwarded-for", b"x-forwarded-proto")
            ]
            if forwarded:
                elements = parse_forwarded(b", ".join(forwarded).decode("latin1"))
                hops = [e["for"] for e in elements if e.get("for")]
                if hops:
                    headers.append((b"x-forwarded-for", ", ".join(hops).encode("latin1")))
                if elements and elements[-1].get("proto"):
                    headers.append((b"x-forwarded-proto", elements[-1]["proto"].encode("latin1")))
            scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)


def check_networks(values: list[str]) -> list[str]:
    """``values`` if each is an IP address or network (CIDR); else ValueError naming it."""
    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ValueError(
                f"{value!r} is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/8, ::1)"
            ) from None
    return values


def install(app: Any, trusted: list[str], header: str) -> None:
    """Honour forwarded headers from ``trusted`` peers only (nothing when the list is empty)."""
    if not trusted:
        return
    # add_middleware wraps outermost last: the Forwarded translation runs before the trust check.
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(trusted))
    if header == "forwarded":
        app.add_middleware(ForwardedHeaderMiddleware)
