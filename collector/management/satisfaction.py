"""The satisfaction management view: the clients' closing ratings (1–5) per client, technician
and local month, with averages, and each rating linked to its incident. The figures come from
the closing domain's read model (:mod:`collector.closing.read`); staff only, like every
management view (client viewers get 403 on the pages, agent tokens on the API)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from collector import timeutil
from collector.closing.read import RatedClosing, rated_closings, summarise
from collector.management import models as m
from collector.management.periods import TimeRange

#: Where an incident's page is in the web UI (the rating rows link to it).
INCIDENT_URL = "/ui/incidents/{key}"


def _figures(
    rows: Iterable[RatedClosing], key: Callable[[RatedClosing], str], *, by_count: bool = True
) -> list[m.RatingFigures]:
    groups: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        groups[key(row)].append(row.rating)
    out = [_one(name, values) for name, values in groups.items()]
    if by_count:  # most rated first, then by name
        return sorted(out, key=lambda f: (-f.count, f.key))
    return sorted(out, key=lambda f: f.key)


def _one(key: str, values: Iterable[int]) -> m.RatingFigures:
    figures = summarise(values)
    average = figures["average"]
    return m.RatingFigures(
        key=key,
        count=figures["count"],
        average=None if average is None else round(average, 2),
        per_score=figures["per_score"],
    )


def satisfaction_view(
    conn: Connection,
    span: TimeRange,
    tz: ZoneInfo,
    *,
    client: str | None = None,
    technician: str | None = None,
) -> m.SatisfactionView:
    rows = rated_closings(conn, span.since, span.until, client=client, technician=technician)

    def month(row: RatedClosing) -> str:
        return datetime.fromtimestamp(row.answered_at, tz).strftime("%Y-%m")

    return m.SatisfactionView(
        since=timeutil.to_datetime(span.since),
        until=timeutil.to_datetime(span.until),
        timezone=str(tz),
        client=client,
        technician=technician,
        overall=_one("all", (r.rating for r in rows)),
        by_client=_figures(rows, lambda r: r.client),
        by_technician=_figures(rows, lambda r: r.technician),
        by_month=_figures(rows, month, by_count=False),
        ratings=[
            m.RatingRow(
                incident=r.incident,
                url=INCIDENT_URL.format(key=r.incident),
                title=r.title,
                client=r.client,
                technician=r.technician,
                rating=r.rating,
                comment=r.comment,
                answer="confirmed" if r.answer == "confirmed" else "reopened",
                answered_at=timeutil.to_datetime(r.answered_at),
                answered_via=r.answered_via,
            )
            for r in rows
        ],
    )
