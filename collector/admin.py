"""Clients and tokens: what ``upkeep client …`` / ``upkeep token …`` and the demo call.

Tokens are ``upk_`` + 32 random bytes (url-safe base64). Only their SHA-256 is stored, with
a short prefix for listings; a request is authenticated by hashing the presented token and
looking the hash up, so the database never holds anything that can be replayed. The
plaintext is returned once, by :func:`create_token`, and never logged.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector import timeutil
from collector.errors import AlreadyExists, Forbidden, InvalidArgument, NotFound, Unauthenticated
from collector.schema import clients, tokens
from collector.store import Store, inserted_id

TOKEN_PREFIX = "upk_"
_DISPLAY_PREFIX_LEN = 10  # "upk_" + 6 characters: enough to tell tokens apart in a list

#: ``alertmanager``: may only post to the Alertmanager receiver.
TokenKind = Literal["agent", "admin", "alertmanager"]


def hash_token(token: str) -> str:
    """The stored form of a token. A fast hash is right here: tokens have 256 bits of entropy."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def generate_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class Client:
    """A customer of the service company: owns sites, assets, agents and agent tokens."""

    id: int
    name: str
    enabled: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as listed: never the token itself, only its display prefix."""

    id: int
    kind: TokenKind
    client: str | None
    name: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts as: the token's id and kind, and for agent tokens the client."""

    token_id: int
    kind: TokenKind
    client_id: int | None = None
    client_name: str | None = None
    last_used_at: float | None = None


def _client(row: sa.Row) -> Client:
    return Client(row.id, row.name, bool(row.enabled), timeutil.to_datetime(row.created_at))


def create_client(store: Store, name: str) -> Client:
    """Create client ``name``; AlreadyExists if taken."""
    name = name.strip()
    if not name or len(name) > 100:
        raise InvalidArgument("a client name must be 1 to 100 characters")
    with store.write() as conn:
        if conn.execute(sa.select(clients.c.id).where(clients.c.name == name)).first():
            raise AlreadyExists(f"client {name!r} already exists")
        now = timeutil.now()
        result = conn.execute(clients.insert().values(name=name, enabled=True, created_at=now))
        client_id = inserted_id(result)
    return Client(client_id, name, True, timeutil.to_datetime(now))


def get_client(conn: Connection, name: str) -> Client:
    row = conn.execute(sa.select(clients).where(clients.c.name == name)).first()
    if row is None:
        raise NotFound(f"no client named {name!r}")
    return _client(row)


def list_clients(store: Store) -> list[Client]:
    with store.read() as conn:
        return [_client(r) for r in conn.execute(sa.select(clients).order_by(clients.c.name))]


def set_client_enabled(store: Store, name: str, enabled: bool) -> Client:
    """Disable (or re-enable) a client: its agent tokens get 403 while it is disabled."""
    with store.write() as conn:
        client = get_client(conn, name)
        conn.execute(clients.update().where(clients.c.id == client.id).values(enabled=enabled))
    return Client(client.id, client.name, enabled, client.created_at)


def create_token(
    store: Store,
    *,
    client: str | None = None,
    admin: bool = False,
    alertmanager: bool = False,
    name: str = "",
) -> tuple[TokenInfo, str]:
    """Create an agent token for ``client``, an admin API token (``admin=True``) or an
    Alertmanager receiver token (``alertmanager=True``).

    Returns the listing entry and the plaintext token, which exists nowhere else.
    """
    if [client is not None, admin, alertmanager].count(True) != 1:
        raise InvalidArgument(
            "give exactly one of a client (agent token), admin=True or alertmanager=True"
        )
    token = generate_token()
    now = timeutil.now()
    kind: TokenKind = "admin" if admin else "alertmanager" if alertmanager else "agent"
    with store.write() as conn:
        client_id = get_client(conn, client).id if client is not None else None
        result = conn.execute(
            tokens.insert().values(
                kind=kind,
                client_id=client_id,
                name=name[:100],
                prefix=token[:_DISPLAY_PREFIX_LEN],
                token_hash=hash_token(token),
                created_at=now,
            )
        )
        token_id = inserted_id(result)
    info = TokenInfo(
        token_id,
        kind,
        client,
        name[:100],
        token[:_DISPLAY_PREFIX_LEN],
        timeutil.to_datetime(now),
        None,
        None,
    )
    return info, token


def list_tokens(store: Store, client: str | None = None) -> list[TokenInfo]:
    query = (
        sa.select(tokens, clients.c.name.label("client_name"))
        .select_from(tokens.outerjoin(clients, tokens.c.client_id == clients.c.id))
        .order_by(tokens.c.id)
    )
    with store.read() as conn:
        if client is not None:
            query = query.where(tokens.c.client_id == get_client(conn, client).id)
        rows = conn.execute(query).all()
    return [
        TokenInfo(
            r.id,
            r.kind,
            r.client_name,
            r.name,
            r.prefix,
            timeutil.to_datetime(r.created_at),
            timeutil.to_datetime(r.revoked_at),
            timeutil.to_datetime(r.last_used_at),
        )
        for r in rows
    ]


def revoke_token(store: Store, token_id: int) -> None:
    """Revoke a token at once (the next request with it gets 401). Revoking twice is fine."""
    with store.write() as conn:
        if conn.execute(sa.select(tokens.c.id).where(tokens.c.id == token_id)).first() is None:
            raise NotFound(f"no token with id {token_id}")
        conn.execute(
            tokens.update()
            .where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))
            .values(revoked_at=timeutil.now())
        )


_AUTH_QUERY = (
    sa.select(
        tokens.c.id,
        tokens.c.kind,
        tokens.c.revoked_at,
        tokens.c.last_used_at,
        tokens.c.client_id,
        clients.c.name,
        clients.c.enabled,
    )
    .select_from(tokens.outerjoin(clients, tokens.c.client_id == clients.c.id))
    .where(tokens.c.token_hash == sa.bindparam("token_hash"))
)


def authenticate(
    conn: Connection, token: str, *, need: TokenKind | tuple[TokenKind, ...]
) -> Principal:
    """The principal for ``token`` if it may act as ``need`` (or as one of several kinds).

    Unauthenticated (401): unknown or revoked. Forbidden (403): the wrong kind of token, or
    an agent token of a disabled client.
    """
    row = conn.execute(_AUTH_QUERY, {"token_hash": hash_token(token)}).first()
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("unknown or revoked token")
    needs = (need,) if isinstance(need, str) else need
    if row.kind not in needs:
        raise Forbidden(
            f"an {row.kind} token cannot do this; it needs an {' or '.join(needs)} token"
        )
    if row.kind == "agent" and not row.enabled:
        raise Forbidden(f"client {row.name!r} is disabled")
    return Principal(row.id, row.kind, row.client_id, row.name, row.last_used_at)
