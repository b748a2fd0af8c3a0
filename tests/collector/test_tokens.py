"""Clients and tokens: hashing, authentication, revocation, disabled clients."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from collector import admin
from collector.errors import AlreadyExists, Forbidden, InvalidArgument, NotFound, Unauthenticated
from collector.schema import metadata


def _auth(store, token, need):
    with store.read() as conn:
        return admin.authenticate(conn, token, need=need)


def test_the_database_never_contains_the_token(store, db_url):
    admin.create_client(store, "acme")
    info, token = admin.create_token(store, client="acme", name="srv1")
    _, admin_token = admin.create_token(store, admin=True)
    assert token.startswith("upk_") and len(token) >= 40 and token != admin_token
    dump = []
    with store.read() as conn:
        for table in metadata.sorted_tables:
            dump += [repr(tuple(row)) for row in conn.execute(sa.select(table))]
    text = "\n".join(dump)
    for secret in (token, admin_token):
        assert secret not in text
        assert secret[len(info.prefix) :] not in text  # not even the part after the shown prefix
        assert admin.hash_token(secret) in text
    if db_url.startswith("sqlite"):  # the file itself, WAL included
        files = list(Path(store.engine.url.database).parent.glob("upkeep.db*"))
        raw = b"".join(f.read_bytes() for f in files)
        assert files and token.encode() not in raw and admin_token.encode() not in raw


def test_authenticate_kinds_revocation_and_disabled_clients(store):
    admin.create_client(store, "acme")
    agent_info, agent_token = admin.create_token(store, client="acme")
    admin_info, admin_token = admin.create_token(store, admin=True)
    p = _auth(store, agent_token, "agent")
    assert (p.kind, p.client_name, p.token_id) == ("agent", "acme", agent_info.id)
    assert _auth(store, admin_token, "admin").kind == "admin"
    with pytest.raises(Forbidden):
        _auth(store, admin_token, "agent")
    with pytest.raises(Forbidden):
        _auth(store, agent_token, "admin")
    with pytest.raises(Unauthenticated):
        _auth(store, agent_token + "x", "agent")

    admin.set_client_enabled(store, "acme", False)
    with pytest.raises(Forbidden, match="disabled"):
        _auth(store, agent_token, "agent")
    admin.set_client_enabled(store, "acme", True)
    _auth(store, agent_token, "agent")

    admin.revoke_token(store, agent_info.id)
    admin.revoke_token(store, agent_info.id)  # twice is fine
    with pytest.raises(Unauthenticated, match="revoked"):
        _auth(store, agent_token, "agent")
    listed = {t.id: t for t in admin.list_tokens(store)}
    assert listed[agent_info.id].revoked_at is not None and listed[admin_info.id].revoked_at is None
    assert [t.id for t in admin.list_tokens(store, "acme")] == [agent_info.id]


def test_client_and_token_errors(store):
    admin.create_client(store, "acme")
    with pytest.raises(AlreadyExists):
        admin.create_client(store, "acme")
    with pytest.raises(InvalidArgument):
        admin.create_client(store, "  ")
    with pytest.raises(NotFound):
        admin.create_token(store, client="nobody")
    with pytest.raises(InvalidArgument):
        admin.create_token(store, client="acme", admin=True)
    with pytest.raises(NotFound):
        admin.revoke_token(store, 424242)
    with pytest.raises(NotFound):
        admin.set_client_enabled(store, "nobody", False)
    assert [c.name for c in admin.list_clients(store)] == ["acme"]
