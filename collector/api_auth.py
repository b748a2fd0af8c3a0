"""The API's token dependencies and documented error answers, apart from ``collector.api`` so
that a domain's module-level router (``collector.closing.api``, …) can require an admin token
without importing the whole app (and without an import cycle).

- :func:`require_admin` / :data:`Admin`: an admin token (agent tokens get 403).
- :func:`require_agent`: an agent token (the agents' task channel).
- :func:`responses`: the OpenAPI entries of the error answers a router documents.

The store is the request's :class:`~collector.runtime.Runtime`'s (``RuntimeDep``).
"""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from agent.wire import WireError
from collector import admin
from collector.admin import Principal
from collector.errors import StoreUnavailable, Unauthenticated
from collector.runtime import get_runtime
from collector.store import Store

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
    """The documented error answers ``codes`` (a router's or a route's ``responses=``)."""
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
    """Dependency of the read API: an admin token (agent tokens get 403)."""
    return authenticate(get_runtime(request).store, bearer_token(credentials), "admin")


Admin = Annotated[Principal, Depends(require_admin)]


def require_agent(request: Request, credentials: Credentials) -> Principal:
    """Dependency of the agents' task channel (collector.remediation): an agent token."""
    return authenticate(get_runtime(request).store, bearer_token(credentials), "agent")
