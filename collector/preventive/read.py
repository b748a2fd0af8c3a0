"""The preventive-work read model: every figure of preventive work anyone shows comes from here
(the monthly report, the API, the CLI). Nobody else reads ``preventive_work``.

- :func:`items` — the :class:`Item` s done in a time range, oldest first;
- :func:`summary` — their count and minutes, per kind (``incident``: caught before anyone
  reported it; ``task``: a contract maintenance task);
- :func:`minutes` — the minutes done in a range, summed in SQL (the report's trends).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector.schema import incidents, preventive_work

KINDS = ("incident", "task")


@dataclass(frozen=True, slots=True)
class Item:
    """One preventive item. ``evidence``: ``{text, before, after, unit, source, …}``
    (``before``/``after`` None when not one number)."""

    id: int
    kind: str  # incident | task
    task_id: str | None
    incident_id: int | None
    incident_key: str | None
    title: str
    asset: str | None
    done_at: float
    minutes: int
    actor: str
    note: str | None
    evidence: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "task_id": self.task_id,
            "incident_id": self.incident_id,
            "incident_key": self.incident_key,
            "title": self.title,
            "asset": self.asset,
            "done_at": self.done_at,
            "minutes": self.minutes,
            "actor": self.actor,
            "note": self.note,
            "evidence": dict(self.evidence),
        }


@dataclass(frozen=True, slots=True)
class KindSummary:
    kind: str
    count: int = 0
    minutes: int = 0


@dataclass(frozen=True, slots=True)
class Summary:
    """Preventive work of a range: every item, and the count and minutes per kind."""

    items: tuple[Item, ...]
    by_kind: tuple[KindSummary, ...]

    @property
    def count(self) -> int:
        return len(self.items)

    @property
    def minutes(self) -> int:
        return sum(i.minutes for i in self.items)


def _select() -> sa.Select:
    return sa.select(preventive_work, incidents.c.key.label("incident_key")).outerjoin(
        incidents, incidents.c.id == preventive_work.c.incident_id
    )


def _item(r: Any) -> Item:
    evidence = r.evidence if isinstance(r.evidence, dict) else json.loads(r.evidence or "{}")
    return Item(
        id=r.id,
        kind=r.kind,
        task_id=r.task_id,
        incident_id=r.incident_id,
        incident_key=r.incident_key,
        title=r.title,
        asset=r.asset,
        done_at=r.done_at,
        minutes=int(r.minutes),
        actor=r.actor,
        note=r.note,
        evidence=evidence or {},
    )


def _in_range(client_id: int, start: float, end: float) -> tuple[Any, ...]:
    return (
        preventive_work.c.client_id == client_id,
        preventive_work.c.done_at >= start,
        preventive_work.c.done_at < end,
    )


def item(conn: Connection, item_id: int) -> Item:
    return _item(conn.execute(_select().where(preventive_work.c.id == item_id)).one())


def items(conn: Connection, client_id: int, start: float, end: float) -> list[Item]:
    """The client's items done in ``[start, end)`` (UTC epoch seconds), oldest first."""
    rows = conn.execute(
        _select()
        .where(*_in_range(client_id, start, end))
        .order_by(preventive_work.c.done_at, preventive_work.c.id)
    ).all()
    return [_item(r) for r in rows]


def summarize(found: Sequence[Item]) -> Summary:
    """Count and minutes per kind (``incident`` and ``task`` always, others as they come)."""
    counts: dict[str, list[int]] = {k: [0, 0] for k in KINDS}
    for i in found:
        entry = counts.setdefault(i.kind, [0, 0])
        entry[0] += 1
        entry[1] += i.minutes
    return Summary(tuple(found), tuple(KindSummary(k, c, m) for k, (c, m) in counts.items()))


def summary(conn: Connection, client_id: int, start: float, end: float) -> Summary:
    """:func:`items` of ``[start, end)`` with their count and minutes per kind."""
    return summarize(items(conn, client_id, start, end))


def minutes(conn: Connection, client_id: int, start: float, end: float) -> int:
    """Minutes of preventive work done in ``[start, end)``."""
    return int(
        conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(preventive_work.c.minutes), 0)).where(
                *_in_range(client_id, start, end)
            )
        ).scalar()
        or 0
    )
