"""The preventive-work record in the store (``preventive_work``): incidents caught before anyone
reported them, and maintenance tasks done — each with its evidence.

- :class:`PreventiveRecorder` is an incident listener. When a *proactive* incident is resolved
  and nobody reported the problem meanwhile (no ``user_reported`` incident of the same client
  and asset opened between its opening and its resolution; for an incident without an asset,
  no user report of the client at all), it records a ``kind=incident`` item. Its evidence is
  the metric before and after: *before* is the incident's first value (the rule's value at the
  opening), *after* the newest value of the series at resolution (found by the incident's
  asset, its labels and the rule's metric). For a printer, a ``supply_replaced`` event from the
  agent in that time makes the evidence "toner replaced on printer-2nd-floor". Time logged on
  the incident later updates the item's minutes.
- :func:`record_task` records a contract maintenance task done; the evidence is the task's
  ``evidence`` metric now, against its value at the previous record.
- :func:`items` lists what was done (the read model is :mod:`collector.preventive.read`);
  :func:`task_status` says what is due.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector.contracts.model import Contract, MaintenanceTask
from collector.errors import InvalidArgument, NotFound
from collector.preventive import evidence as ev
from collector.preventive import read
from collector.schema import (
    assets,
    events,
    incidents,
    latest,
    preventive_work,
    series,
    sites,
    time_entries,
)
from collector.store import inserted_id

log = logging.getLogger(__name__)

#: rule id → the metric it watches (None: unknown, or a per-asset rule).
MetricOf = Callable[[str], str | None]
#: How long after an incident's resolution a supply_replaced event still counts (same poll).
SUPPLY_SLACK = 600.0


# ---------------------------------------------------------------------- series values


def _labels(text: Any) -> dict[str, str]:
    return text if isinstance(text, dict) else json.loads(text or "{}")


def series_values(conn: Connection, asset_ids: list[int], metric: str) -> list[dict[str, Any]]:
    """Every series of ``metric`` on ``asset_ids`` with its newest value:
    ``[{asset_id, asset, labels, value, ts}]`` (value None when it has none)."""
    if not asset_ids:
        return []
    rows = conn.execute(
        sa.select(series.c.asset_id, assets.c.name, series.c.labels, latest.c.value, latest.c.ts)
        .join(assets, assets.c.id == series.c.asset_id)
        .outerjoin(latest, latest.c.series_id == series.c.id)
        .where(series.c.asset_id.in_(asset_ids), series.c.metric == metric)
        .order_by(assets.c.name, series.c.labels)
    ).all()
    return [
        {
            "asset_id": r.asset_id,
            "asset": r.name,
            "labels": _labels(r.labels),
            "value": r.value,
            "ts": r.ts,
        }
        for r in rows
    ]


def _incident_series(conn: Connection, row: Any, metric: str) -> dict[str, Any] | None:
    """The series an incident watched: its asset, the rule's metric, and labels that are all among
    the incident's (which add the rule's own labels); the most specific one wins."""
    if row.asset_id is None:
        return None
    incident_labels = dict(row.labels or {})
    candidates = [
        s
        for s in series_values(conn, [row.asset_id], metric)
        if all(incident_labels.get(k) == v for k, v in s["labels"].items())
    ]
    return max(candidates, key=lambda s: len(s["labels"])) if candidates else None


# ---------------------------------------------------------------------- incidents


class PreventiveRecorder:
    """Incident listener (see the module docstring). ``metric_of`` maps a rule id to its metric."""

    def __init__(self, metric_of: MetricOf | None = None) -> None:
        self.metric_of = metric_of or (lambda rule: None)

    def __call__(self, conn: Connection, changed: Any) -> None:
        if changed.event in ("time_logged", "time_mirrored"):
            self._update_minutes(conn, changed.incident_id)
        elif changed.event in ("resolved", "closed"):
            self.on_resolved(conn, changed.incident_id, changed.actor, changed.ts)

    def on_resolved(self, conn: Connection, incident_id: int, actor: str, now: float) -> bool:
        """Record the incident as prevented if it qualifies; True if a row was written."""
        row = conn.execute(sa.select(incidents).where(incidents.c.id == incident_id)).first()
        if row is None or row.origin != "proactive" or row.resolved_at is None:
            return False
        if (
            conn.execute(
                sa.select(preventive_work.c.id).where(preventive_work.c.incident_id == incident_id)
            ).first()
            is not None
        ):
            return False
        if reported_meanwhile(conn, row):
            log.info(
                "%s: a user reported the problem before it was resolved; not preventive", row.key
            )
            return False
        conn.execute(
            preventive_work.insert().values(
                client_id=row.client_id,
                kind="incident",
                incident_id=row.id,
                task_id=None,
                title=row.title,
                asset=row.asset,
                done_at=row.resolved_at,
                actor=actor,
                minutes=_minutes(conn, row.id),
                note=row.resolution_note or "",
                evidence=self.evidence(conn, row),
                created_at=now,
            )
        )
        return True

    def evidence(self, conn: Connection, row: Any) -> dict[str, Any]:
        from collector.remediation.tasks import evidence_for_incident

        fixed = evidence_for_incident(conn, row.id)
        if fixed is not None:  # a fix did it: its own before/after ("free 2 GiB → 14 GiB")
            return fixed
        supply = _supply_event(conn, row)
        if supply is not None:
            return ev.supply_evidence(row.asset, _labels(supply.data), supply.message)
        metric = self.metric_of(row.rule) if row.rule else None
        found = _incident_series(conn, row, metric) if metric else None
        if metric is None or (found is None and row.first_value is None):
            return ev.no_evidence(f"{row.title}: resolved before anyone reported it")
        after = found["value"] if found is not None else row.last_value
        labels = (
            found["labels"]
            if found is not None
            else {
                k: v
                for k, v in dict(row.labels or {}).items()
                if k not in ("scope", "scope_policy")
            }
        )
        return ev.metric_evidence(metric, labels, row.asset, row.first_value, after)

    def _update_minutes(self, conn: Connection, incident_id: int) -> None:
        conn.execute(
            preventive_work.update()
            .where(preventive_work.c.incident_id == incident_id)
            .values(minutes=_minutes(conn, incident_id))
        )


def reported_meanwhile(conn: Connection, row: Any) -> bool:
    """A user_reported incident of the same client (and asset) opened while ``row`` was open."""
    query = sa.select(incidents.c.id).where(
        incidents.c.client_id == row.client_id,
        incidents.c.origin == "user_reported",
        incidents.c.id != row.id,
        incidents.c.opened_at >= row.opened_at,
        incidents.c.opened_at <= row.resolved_at,
    )
    if row.asset is not None:
        query = query.where(incidents.c.asset == row.asset)
    return conn.execute(query.limit(1)).first() is not None


def _minutes(conn: Connection, incident_id: int) -> int:
    return int(
        conn.execute(
            sa.select(sa.func.coalesce(sa.func.sum(time_entries.c.minutes), 0)).where(
                time_entries.c.incident_id == incident_id
            )
        ).scalar()
        or 0
    )


def _supply_event(conn: Connection, row: Any) -> Any | None:
    if row.asset_id is None:
        return None
    found = conn.execute(
        sa.select(events.c.data, events.c.message, events.c.ts)
        .where(
            events.c.asset_id == row.asset_id,
            events.c.type == "supply_replaced",
            events.c.ts >= row.opened_at - SUPPLY_SLACK,
            events.c.ts <= row.resolved_at + SUPPLY_SLACK,
        )
        .order_by(events.c.ts)
    ).all()
    supply = dict(row.labels or {}).get("supply")
    for event in found:
        if supply is None or _labels(event.data).get("supply") == supply:
            return event
    return None


# ---------------------------------------------------------------------- maintenance tasks


def _task(contract: Contract, task_id: str) -> MaintenanceTask:
    for task in contract.maintenance_tasks:
        if task.id == task_id:
            return task
    known = ", ".join(t.id for t in contract.maintenance_tasks) or "none"
    raise NotFound(
        f"the contract of {contract.client!r} has no maintenance task {task_id!r} (tasks: {known})"
    )


def _task_assets(conn: Connection, client_id: int, task: MaintenanceTask) -> list[tuple[int, str]]:
    assert task.evidence is not None
    query = (
        sa.select(
            assets.c.id, assets.c.name, assets.c.kind, assets.c.tags, sites.c.name.label("site")
        )
        .outerjoin(sites, sites.c.id == assets.c.site_id)
        .where(assets.c.client_id == client_id)
        .order_by(assets.c.name)
    )
    if task.evidence.asset is not None:
        query = query.where(assets.c.name == task.evidence.asset)
    out = []
    for r in conn.execute(query):
        facts = {"kind": r.kind, "tags": tuple(r.tags or ()), "site": r.site, "name": r.name}
        if (
            task.evidence.asset is None
            and task.assets
            and not any(s.matches(**facts) for s in task.assets)
        ):
            continue
        out.append((r.id, r.name))
    return out


def _series_key(asset: str, labels: Mapping[str, str]) -> str:
    return asset + json.dumps(dict(labels), sort_keys=True)


def task_evidence(
    conn: Connection, client_id: int, task: MaintenanceTask, previous: Mapping[str, Any] | None
) -> tuple[dict[str, Any], str | None]:
    """The task's evidence metric now against the previous record's values; and the asset (one)."""
    if task.evidence is None:
        return ev.no_evidence(task.title), None
    metric, wanted = task.evidence.metric, task.evidence.labels
    ids = [i for i, _ in _task_assets(conn, client_id, task)]
    found = [
        s
        for s in series_values(conn, ids, metric)
        if s["value"] is not None and all(s["labels"].get(k) == v for k, v in wanted.items())
    ]
    before_by_key = {s.get("key"): s.get("value") for s in (previous or {}).get("series", [])}
    parts = [
        {
            "key": _series_key(s["asset"], s["labels"]),
            "asset": s["asset"],
            "labels": s["labels"],
            "value": s["value"],
            "before": before_by_key.get(_series_key(s["asset"], s["labels"])),
        }
        for s in found
    ]
    unit = ev.unit_of(metric)
    if not parts:
        out = ev.no_evidence(f"{task.title}: no {metric} data")
        out.update(metric=metric, series=[])
        return out, task.evidence.asset
    if len(parts) == 1:
        p = parts[0]
        out = ev.metric_evidence(metric, p["labels"], p["asset"], p["before"], p["value"])
        out["series"] = [
            {"key": p["key"], "asset": p["asset"], "labels": p["labels"], "value": p["value"]}
        ]
        return out, p["asset"]
    what = ev.describe(metric, wanted)
    text = ev.several(what, [(p["asset"], p["before"], p["value"]) for p in parts], unit)
    out = {
        "text": text,
        "before": None,
        "after": None,
        "unit": unit,
        "source": "metric",
        "metric": metric,
        "labels": dict(wanted),
        "series": [
            {"key": p["key"], "asset": p["asset"], "labels": p["labels"], "value": p["value"]}
            for p in parts
        ],
    }
    return out, None


def record_task(
    conn: Connection,
    client_id: int,
    contract: Contract,
    task_id: str,
    *,
    minutes: int,
    note: str,
    actor: str,
    now: float,
    done_at: float | None = None,
) -> dict[str, Any]:
    """Record maintenance task ``task_id`` done (NotFound: no such task). Returns the item."""
    if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes < 0:
        raise InvalidArgument("minutes must be a whole number ≥ 0")
    task = _task(contract, task_id)
    done_at = now if done_at is None else done_at
    previous = conn.execute(
        sa.select(preventive_work.c.evidence)
        .where(
            preventive_work.c.client_id == client_id,
            preventive_work.c.task_id == task.id,
            preventive_work.c.done_at <= done_at,
        )
        .order_by(preventive_work.c.done_at.desc(), preventive_work.c.id.desc())
        .limit(1)
    ).scalar()
    evidence, asset = task_evidence(conn, client_id, task, previous)
    result = conn.execute(
        preventive_work.insert().values(
            client_id=client_id,
            kind="task",
            incident_id=None,
            task_id=task.id,
            title=task.title,
            asset=asset,
            done_at=done_at,
            actor=actor,
            minutes=minutes,
            note=note,
            evidence=evidence,
            created_at=now,
        )
    )
    item_id = inserted_id(result)
    return read.item(conn, item_id).as_json()


def task_status(
    conn: Connection, client_id: int, contract: Contract, now: float
) -> list[dict[str, Any]]:
    """Per contract task: ``{task_id, title, every, last_done_at, next_due_at, overdue, done}``.
    A task never done is due now (``next_due_at`` None, ``overdue`` True)."""
    rows = conn.execute(
        sa.select(
            preventive_work.c.task_id, sa.func.max(preventive_work.c.done_at), sa.func.count()
        )
        .where(preventive_work.c.client_id == client_id, preventive_work.c.kind == "task")
        .group_by(preventive_work.c.task_id)
    ).all()
    done = {r[0]: (r[1], r[2]) for r in rows}
    out = []
    for task in contract.maintenance_tasks:
        last, count = done.get(task.id, (None, 0))
        due = last + task.interval.total_seconds() if last is not None else None
        out.append(
            {
                "task_id": task.id,
                "title": task.title,
                "every": task.every,
                "last_done_at": last,
                "next_due_at": due,
                "overdue": due is None or now > due,
                "done": count,
                "expected_minutes": task.expected_minutes,
            }
        )
    return out


def items(conn: Connection, client_id: int, start: float, end: float) -> list[dict[str, Any]]:
    """The client's preventive items done in ``[start, end)`` (UTC epoch seconds), oldest first,
    as JSON (:meth:`collector.preventive.read.Item.as_json`)."""
    return [i.as_json() for i in read.items(conn, client_id, start, end)]
