"""Files the collector makes and serves (report archive, e-mail attachments), kept in the
database (``artefacts``: content, SHA-256, size) so that every replica of a cluster can serve
and mail them, not only the one that made them.

A file is written once and never changed; its SHA-256 is checked when it is read back, so a
damaged row is an error, never a silently wrong download. ``artefact_max_bytes`` bounds what
one row may hold.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector.errors import ArtefactTooLarge, NotFound
from collector.schema import artefacts

#: The default of ``artefact_max_bytes``: a monthly PDF report is well under 10 MiB.
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Artefact:
    """A stored file (``content`` only when read with it)."""

    id: int
    kind: str
    name: str
    content_type: str
    sha256: str
    size: int
    created_at: float
    content: bytes | None = None


class ArtefactDamaged(RuntimeError):
    """A stored file whose content no longer matches its SHA-256."""


def put(
    conn: Connection,
    *,
    kind: str,
    name: str,
    content_type: str,
    content: bytes,
    now: float,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Artefact:
    """Store ``content`` (inside ``conn``'s transaction); raises ArtefactTooLarge over the limit."""
    if len(content) > max_bytes:
        raise ArtefactTooLarge(
            f"{kind} {name!r} is {len(content)} bytes, over artefact_max_bytes ({max_bytes})"
        )
    digest = hashlib.sha256(content).hexdigest()
    values: dict[str, Any] = {
        "kind": kind,
        "name": name[:255],
        "content_type": content_type[:100],
        "sha256": digest,
        "size": len(content),
        "content": content,
        "created_at": now,
    }
    artefact_id: int = conn.execute(
        artefacts.insert().values(**values).returning(artefacts.c.id)
    ).scalar_one()
    return Artefact(
        artefact_id, kind, values["name"], values["content_type"], digest, len(content), now
    )


def get(conn: Connection, artefact_id: int) -> Artefact:
    """The stored file with its content, checked against its SHA-256."""
    row = conn.execute(sa.select(artefacts).where(artefacts.c.id == artefact_id)).first()
    if row is None:
        raise NotFound(f"no stored file with id {artefact_id}")
    content = bytes(row.content)
    if len(content) != row.size or hashlib.sha256(content).hexdigest() != row.sha256:
        raise ArtefactDamaged(f"stored file {artefact_id} ({row.name}) does not match its SHA-256")
    return Artefact(
        row.id, row.kind, row.name, row.content_type, row.sha256, row.size, row.created_at, content
    )


def read(store: Any, artefact_id: int) -> bytes:
    """The content of a stored file (its own read transaction)."""
    with store.read() as conn:
        content = get(conn, artefact_id).content
    assert content is not None
    return content
