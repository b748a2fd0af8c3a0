"""Bearer-token authentication of the API, as FastAPI dependencies on the Runtime.

``Admin`` / :func:`require_admin` (an admin token) and ``Agent`` / :func:`require_agent` (an
agent token) read the store of the app's :class:`collector.runtime.Runtime`, so a module-level
router of any package can depend on them (this module imports no router: no import cycle).
:func:`responses` gives a route's documented error answers.
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

_bearer = HTTPBearer(
    auto_error=False, description="An agent token (ingest) or an admin token (reads)"
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The documented error answers ``codes`` of a route or router."""
    return {code: ERROR_RESPONSES[code] for code in codes}


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


def require_agent(request: Request, credentials: Credentials) -> Principal:
    """Dependency of the agents' task channel (collector.remediation): an agent token."""
    return authenticate(get_runtime(request).store, bearer_token(credentials), "agent")


Admin = Annotated[Principal, Depends(require_admin)]
Agent = Annotated[Principal, Depends(require_agent)]
