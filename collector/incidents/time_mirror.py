"""Time entries logged in a ticket system, mirrored into ``time_entries`` (source = the connector).

The outbox poll loop reads each recent ticket's time entries (connectors with
``supports_time_entries``) and hands them to :func:`mirror`, which stores the new ones once:
``(source, external_id)`` is unique, so a re-read adds nothing, and two collectors reading at
once cannot both add an entry (the loser's insert fails inside its own savepoint). Entries
Upkeep wrote itself carry its marker (``[upkeep:<id>]``) and are skipped: they are already
here, as the entries they were made from. Each incident that gained entries gets a
``time_mirrored`` event and its listeners hear it (the ledger and the preventive record count
the minutes); nothing is sent back to the ticket systems.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector.connectors.base import RemoteTimeEntry
from collector.schema import incident_events, incidents, time_entries
from collector.store import inserted_id

log = logging.getLogger(__name__)

EVENT = "time_mirrored"


def _spent_at(entry: RemoteTimeEntry, now: float) -> float:
    if entry.spent_on is None:
        return now
    return datetime.combine(
        entry.spent_on, time(12, 0), UTC
    ).timestamp()  # a day's work: midday UTC


def mirror(
    conn: Connection,
    incident_id: int,
    source: str,
    entries: Sequence[RemoteTimeEntry],
    now: float,
    listeners: Sequence[Any] = (),
) -> list[int]:
    """Store the entries not seen before; returns the new ``time_entries`` ids."""
    fresh = [e for e in entries if e.upkeep_id is None and e.minutes > 0]
    if not fresh:
        return []
    known = set(
        conn.execute(
            sa.select(time_entries.c.external_id).where(
                time_entries.c.source == source,
                time_entries.c.external_id.in_([e.external_id for e in fresh]),
            )
        ).scalars()
    )
    added: list[int] = []
    minutes = 0
    for e in fresh:
        if e.external_id in known:
            continue
        try:
            with conn.begin_nested():
                result = conn.execute(
                    time_entries.insert().values(
                        incident_id=incident_id,
                        actor=(e.author or source)[:100],
                        minutes=e.minutes,
                        work_type=(e.work_type or None) and e.work_type[:40],
                        note=e.note,
                        source=source,
                        external_id=e.external_id,
                        spent_at=_spent_at(e, now),
                        created_at=now,
                    )
                )
                added.append(inserted_id(result))
        except sa.exc.IntegrityError:  # another collector mirrored it a moment ago
            continue
        minutes += e.minutes
    if added:
        _record(conn, incident_id, source, added, minutes, now, listeners)
    return added


def _record(
    conn: Connection,
    incident_id: int,
    source: str,
    ids: list[int],
    minutes: int,
    now: float,
    listeners: Sequence[Any],
) -> None:
    from collector.incidents.changes import IncidentChanged

    row = conn.execute(
        sa.select(incidents.c.key, incidents.c.client_id).where(incidents.c.id == incident_id)
    ).one()
    data = {"source": source, "time_entry_ids": ids, "minutes": minutes}
    conn.execute(
        incident_events.insert().values(
            incident_id=incident_id, ts=now, actor=source, type=EVENT, data=data
        )
    )
    changed = IncidentChanged(incident_id, row.key, row.client_id, EVENT, data, source, now)
    for listener in listeners:
        try:
            with conn.begin_nested():
                listener(conn, changed)
        except Exception:
            log.exception("incident listener failed on %s %s", row.key, EVENT)
