"""What a resolved incident was and what was done about it, as the client is told it (the
incidents domain's read for closing communication, :mod:`collector.closing`).

:func:`visible_to_client` says whether the client can see an incident at all: it is in the
contract's scope, or the client reported it (a person is never out of sight, even on something
out of scope). :func:`resolution_of` reads the facts the closing message states.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector.incidents.titles import localized_title
from collector.notices.human import Human
from collector.schema import clients, incident_events, incidents, time_entries

#: Who writes automatic changes (collector.incidents.service.SYSTEM_ACTOR).
SYSTEM_ACTOR = "upkeep"
#: The scope label the contract stage puts on what is out of scope (collector.contracts.scope).
_SCOPE_LABEL, _OUT_OF_SCOPE = "scope", "out-of-scope"


def visible_to_client(origin: str, labels: Mapping[str, str]) -> bool:
    """In scope, or reported by the client."""
    return origin == "user_reported" or labels.get(_SCOPE_LABEL) != _OUT_OF_SCOPE


@dataclass(frozen=True, slots=True)
class Resolution:
    """One incident as its closing message states it (times are UTC epoch seconds)."""

    incident_id: int
    key: str
    client_id: int
    client: str
    state: str
    origin: str
    priority: str
    title: str
    asset: str | None
    site: str | None
    labels: dict[str, str]
    opened_at: float
    resolved_at: float | None
    closed_at: float | None
    note: str | None
    minutes: int  # time logged on it, all work types
    #: The note is Upkeep's own (the alert cleared), not a person's.
    automatic_note: bool = False
    #: What a rule's title was rendered from (collector.incidents.titles); None: as stored.
    title_source: Mapping[str, Any] | None = None

    def title_in(self, language: str, human: Human) -> str:
        """The title as a reader of ``language`` reads it (a shipped rule's, translated)."""
        return localized_title(self.title, self.title_source, language, human)

    @property
    def visible(self) -> bool:
        return visible_to_client(self.origin, self.labels)


def resolution_of(conn: Connection, incident_id: int) -> Resolution | None:
    row = conn.execute(
        sa.select(incidents, clients.c.name.label("client"))
        .join(clients, clients.c.id == incidents.c.client_id)
        .where(incidents.c.id == incident_id)
    ).first()
    if row is None:
        return None
    last = conn.execute(
        sa.select(incident_events.c.actor, incident_events.c.data)
        .where(
            incident_events.c.incident_id == incident_id,
            incident_events.c.type.in_(("resolved", "closed")),
        )
        .order_by(incident_events.c.id.desc())
        .limit(1)
    ).first()
    automatic = (
        last is not None
        and last.actor == SYSTEM_ACTOR
        and row.resolution_note is not None
        and (last.data or {}).get("note") == row.resolution_note
    )
    minutes = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(time_entries.c.minutes), 0)).where(
            time_entries.c.incident_id == incident_id
        )
    ).scalar_one()
    return Resolution(
        incident_id=row.id,
        key=row.key,
        client_id=row.client_id,
        client=row.client,
        state=row.state,
        origin=row.origin,
        priority=row.priority,
        title=row.title,
        asset=row.asset,
        site=row.site,
        labels=dict(row.labels or {}),
        opened_at=row.opened_at,
        resolved_at=row.resolved_at,
        closed_at=row.closed_at,
        note=row.resolution_note,
        minutes=int(minutes),
        automatic_note=automatic,
        title_source=row.title_source,
    )


def state_of(conn: Connection, incident_id: int) -> Any:
    """The incident's key, client and state (for answering a closing link)."""
    return conn.execute(
        sa.select(incidents.c.key, incidents.c.client_id, incidents.c.state).where(
            incidents.c.id == incident_id
        )
    ).first()
