"""The closing domain's read model: the clients' satisfaction ratings (``incident_closings``).

The management view "Satisfaction" (``collector.management``), the report and the tests read
ratings through these functions only; nobody else names the table for figures.

- :func:`ratings`: count, average and per-score counts of the ratings answered in a range;
- :func:`rated_closings`: each rating answered in a range (newest first), with its incident,
  client and the technician who resolved it;
- :func:`summarise`: count / average / per score of a list of ratings (one formula);
- :func:`satisfaction`: a client's closing communication in a range, as the monthly report
  tells it (messages sent and answered, the ratings, the answers with the client's comments,
  the reopens and the automatic closes).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector.closing.model import ANSWERS, RATINGS
from collector.schema import clients, incident_closings, incident_events, incidents

#: The events whose actor resolved an incident (a close of an active incident resolves it too).
RESOLVING_EVENTS = ("resolved", "closed")


@dataclass(frozen=True, slots=True)
class RatedClosing:
    """One rating a client gave when answering a closing message."""

    closing_id: int
    incident: str
    title: str
    client: str
    #: Who resolved the incident (the actor of its resolution; ``upkeep`` when it cleared).
    technician: str
    rating: int
    comment: str | None
    answer: str  # confirmed | reopened
    answered_at: float
    answered_by: str | None
    answered_via: str | None


def summarise(values: Iterable[int]) -> dict[str, Any]:
    """``{"count", "average", "per_score"}`` of ratings ``values`` (average None when none)."""
    per = dict.fromkeys(RATINGS, 0)
    for value in values:
        per[int(value)] += 1
    total = sum(per.values())
    return {
        "count": total,
        "average": sum(r * n for r, n in per.items()) / total if total else None,
        "per_score": per,
    }


def ratings(conn: Connection, client_id: int | None, start: float, end: float) -> dict[str, Any]:
    """Satisfaction ratings answered in [start, end): how many, the average, per score."""
    query = sa.select(incident_closings.c.rating, sa.func.count()).where(
        incident_closings.c.rating.is_not(None),
        incident_closings.c.answered_at >= start,
        incident_closings.c.answered_at < end,
    )
    if client_id is not None:
        query = query.where(incident_closings.c.client_id == client_id)
    counted = conn.execute(query.group_by(incident_closings.c.rating)).all()
    return summarise(int(r) for r, n in counted for _ in range(int(n)))


def _technician() -> Any:
    """The actor of the incident's resolution the closing message was about (correlated)."""
    ev = incident_events.alias("resolution")
    return (
        sa.select(ev.c.actor)
        .where(
            ev.c.incident_id == incident_closings.c.incident_id,
            ev.c.type.in_(RESOLVING_EVENTS),
            ev.c.ts <= incident_closings.c.resolved_at,
        )
        .order_by(ev.c.ts.desc(), ev.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )


def rated_closings(
    conn: Connection,
    start: float,
    end: float,
    *,
    client: str | None = None,
    technician: str | None = None,
) -> list[RatedClosing]:
    """The ratings answered in [start, end), newest first; only ``client``'s (a client name)
    and only incidents ``technician`` resolved, when given."""
    who = _technician().label("technician")
    query = (
        sa.select(
            incident_closings.c.id,
            incidents.c.key,
            incidents.c.title,
            clients.c.name.label("client"),
            who,
            incident_closings.c.rating,
            incident_closings.c.comment,
            incident_closings.c.state,
            incident_closings.c.answered_at,
            incident_closings.c.answered_by,
            incident_closings.c.answered_via,
        )
        .join(incidents, incidents.c.id == incident_closings.c.incident_id)
        .join(clients, clients.c.id == incident_closings.c.client_id)
        .where(
            incident_closings.c.rating.is_not(None),
            incident_closings.c.answered_at >= start,
            incident_closings.c.answered_at < end,
        )
        .order_by(incident_closings.c.answered_at.desc(), incident_closings.c.id.desc())
    )
    if client is not None:
        query = query.where(clients.c.name == client)
    rows = conn.execute(query).all()
    out = [
        RatedClosing(
            closing_id=int(r.id),
            incident=r.key,
            title=r.title,
            client=r.client,
            technician=r.technician or "upkeep",
            rating=int(r.rating),
            comment=r.comment or None,
            answer=r.state,
            answered_at=float(r.answered_at),
            answered_by=r.answered_by,
            answered_via=r.answered_via,
        )
        for r in rows
    ]
    if technician is not None:
        out = [r for r in out if r.technician == technician]
    return out


@dataclass(frozen=True, slots=True)
class RatingSummary:
    """The ratings of a range: how many, their average (None when none), how many per score."""

    count: int
    average: float | None
    per_score: dict[int, int]


@dataclass(frozen=True, slots=True)
class ClosingAnswer:
    """How one closing message was answered: by the client (confirmed or reopened as "not
    solved", with their rating and comment), or closed automatically without an answer."""

    incident: str
    title: str
    answer: str  # confirmed | reopened | auto_closed
    answered_at: float
    rating: int | None
    comment: str | None


@dataclass(frozen=True, slots=True)
class Satisfaction:
    """A client's closing communication in a range [start, end).

    ``sent`` counts the closing messages (with confirm/reopen links) sent in the range and
    ``answered`` those of them the client has answered (at any time up to now), so the
    share answered is over the range's own messages. The ratings and ``answers`` are those
    given in the range (what :func:`ratings` and the management view count), whichever month
    their message was sent in; a proactive fix's announcement reopened by the client is
    among them too.
    """

    sent: int
    answered: int
    ratings: RatingSummary
    #: Every answer of the range, oldest first.
    answers: tuple[ClosingAnswer, ...]

    @property
    def comments(self) -> tuple[ClosingAnswer, ...]:
        """The answers that came with a comment of the client's."""
        return tuple(a for a in self.answers if a.comment)

    @property
    def reopened(self) -> tuple[ClosingAnswer, ...]:
        """The incidents the client reopened as "not solved"."""
        return tuple(a for a in self.answers if a.answer == "reopened")

    @property
    def auto_closed(self) -> tuple[ClosingAnswer, ...]:
        """The incidents closed automatically after no answer."""
        return tuple(a for a in self.answers if a.answer == "auto_closed")


def satisfaction(conn: Connection, client_id: int, start: float, end: float) -> Satisfaction:
    """Client ``client_id``'s closing messages sent in [start, end) and the answers given in it."""
    mine = incident_closings.c.client_id == client_id
    sent_in_range = sa.and_(
        mine,
        incident_closings.c.kind == "closing",
        incident_closings.c.sent_at >= start,
        incident_closings.c.sent_at < end,
    )
    answered_by_client = incident_closings.c.state.in_(("confirmed", "reopened"))
    sent, answered = conn.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(sa.case((answered_by_client, 1), else_=0)), 0),
        ).where(sent_in_range)
    ).one()
    rows = conn.execute(
        sa.select(
            incidents.c.key,
            incidents.c.title,
            incident_closings.c.state,
            incident_closings.c.answered_at,
            incident_closings.c.rating,
            incident_closings.c.comment,
        )
        .join(incidents, incidents.c.id == incident_closings.c.incident_id)
        .where(
            mine,
            incident_closings.c.state.in_(ANSWERS),
            incident_closings.c.answered_at >= start,
            incident_closings.c.answered_at < end,
        )
        .order_by(incident_closings.c.answered_at, incident_closings.c.id)
    ).all()
    figures = ratings(conn, client_id, start, end)
    return Satisfaction(
        sent=int(sent),
        answered=int(answered),
        ratings=RatingSummary(
            count=figures["count"], average=figures["average"], per_score=figures["per_score"]
        ),
        answers=tuple(
            ClosingAnswer(
                incident=r.key,
                title=r.title,
                answer=r.state,
                answered_at=float(r.answered_at),
                rating=None if r.rating is None else int(r.rating),
                comment=(r.comment or "").strip() or None,
            )
            for r in rows
        ),
    )
