"""What every API router of the collector shares: the bearer-token dependencies, the
documented error answers and the bounded body reader.

The routers are defined at module level in their domain packages (``collector.rules.api``,
``collector.incidents.api``, …) and reach the collector through the app's
:class:`collector.runtime.Runtime` (``RuntimeDep``); their token checks are the dependencies
here (:data:`Admin`: an admin token, agent tokens get 403). ``collector.api`` mounts them all
and re-exports these names. This module imports no router, so any router may import it
without an import cycle.
"""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import ClientDisconnect

from agent.wire import WireError
from collector import admin
from collector.admin import Principal
from collector.errors import BodyTooLarge, ClientDisconnected, StoreUnavailable, Unauthenticated
from collector.runtime import get_runtime
from collector.store import Store

#: The documented error answers (every 4xx body is an agent.wire.WireError).
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": WireError, "description": text}
    for code, text in {
        400: "Malformed JSON or gzip",
        401: "Missing, unknown or revoked token",
        403: "Token may not do this",
        413: "Body too large (as sent or decompressed)",
        415: "Unsupported Content-Encoding",
        422: "Body breaks the wire contract",
    }.items()
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The documented answers ``codes`` of a router (its OpenAPI ``responses``)."""
    return {code: ERROR_RESPONSES[code] for code in codes}


_bearer = HTTPBearer(
    auto_error=False, description="An agent token (ingest) or an admin token (reads)"
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def bearer_token(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthenticated("missing or malformed Authorization header; use 'Bearer <token>'")
    return credentials.credentials


def authenticate(
    store: Store, token: str, need: admin.TokenKind | tuple[admin.TokenKind, ...]
) -> Principal:
    try:
        with store.read() as conn:
            return admin.authenticate(conn, token, need=need)
    except sa.exc.OperationalError:
        raise StoreUnavailable("database not reachable") from None


def require_admin(request: Request, credentials: Credentials) -> Principal:
    """Dependency of the admin API: an admin token (agent tokens get 403)."""
    return authenticate(get_runtime(request).store, bearer_token(credentials), "admin")


#: A handler's admin principal (the token it acts as).
Admin = Annotated[Principal, Depends(require_admin)]


def require_agent(request: Request, credentials: Credentials) -> Principal:
    """Dependency of the agents' task channel (collector.remediation): an agent token."""
    return authenticate(get_runtime(request).store, bearer_token(credentials), "agent")


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refusing (413) as soon as it passes ``limit`` bytes."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise BodyTooLarge(f"request body is {length} bytes, over the limit of {limit} bytes")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(f"request body is over the limit of {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise ClientDisconnected(
            f"client disconnected after {size} of {length or 'unknown'} body bytes"
        ) from None
    return b"".join(chunks)
