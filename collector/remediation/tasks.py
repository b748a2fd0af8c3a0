"""The task domain: create, deliver, record results, expire — every step audited.

States: ``awaiting_approval`` (policy client, not yet approved) → ``queued`` → ``delivered``
(an agent picked it up; re-delivered until it reports, the agent's journal keeps it from
running twice) → ``succeeded`` | ``failed`` | ``refused`` | ``expired``; ``cancelled``.
A final state never changes again: a second result for the same task is a no-op.

Tenant isolation: every agent-side function takes the agent token's client id, and a task
of another client is "not found" — an agent can neither fetch nor answer for it.
The audit log (``remediation_audit``) is insert-only.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from collector.errors import InvalidArgument, NotFound
from collector.preventive.evidence import format_value
from collector.remediation.actions import ActionDef
from collector.remediation.keys import SigningKeyMissing, TaskSigner
from collector.schema import assets, remediation_audit, remediation_tasks

FINAL = ("succeeded", "failed", "refused", "expired", "cancelled")
STATES = ("awaiting_approval", "queued", "delivered", *FINAL)
OPEN = ("queued", "delivered")
RESULT_STATES = ("succeeded", "failed", "refused", "expired")
MAX_OUTPUT = 16384
#: asset ``attributes.os`` (platform.system().lower()) → the library's OS names.
_OS = {"linux": "linux", "windows": "windows", "darwin": "macos"}


def audit(
    conn: Connection,
    actor: str,
    event: str,
    task: Any,
    now: float,
    **detail: Any,
) -> None:
    """Append one line to the audit log (who, what, where, result)."""
    conn.execute(
        remediation_audit.insert().values(
            ts=now,
            actor=actor[:100],
            event=event,
            task_id=task.id if task is not None else None,
            client_id=task.client_id if task is not None else None,
            asset=task.asset if task is not None else None,
            action=task.action if task is not None else None,
            detail=detail,
        )
    )


def _row(conn: Connection, task_id: str, *, lock: bool = False) -> Any:
    query = sa.select(remediation_tasks).where(remediation_tasks.c.id == task_id)
    if lock:
        query = query.with_for_update()
    return conn.execute(query).first()


def create(
    conn: Connection,
    signer: TaskSigner | None,
    action: ActionDef,
    *,
    client_id: int,
    asset_id: int,
    params: dict[str, Any],
    policy: str,
    actor: str,
    now: float,
    deadline: float,
    incident_id: int | None = None,
    approved: bool = True,
    request_key: str | None = None,
) -> Any:
    """A new task for ``asset_id`` (of ``client_id``); InvalidArgument for bad parameters,
    an asset of another client, or an OS the action does not support."""
    asset = conn.execute(
        sa.select(assets.c.id, assets.c.name, assets.c.client_id, assets.c.attributes).where(
            assets.c.id == asset_id
        )
    ).first()
    if asset is None or asset.client_id != client_id:
        raise NotFound(f"no asset {asset_id} of this client")
    os_name = _OS.get(str((asset.attributes or {}).get("os", "")).lower())
    if os_name is not None and os_name not in action.os:
        raise InvalidArgument(
            f"action {action.name} supports {', '.join(action.os)}, not {os_name} ({asset.name})"
        )
    try:
        checked = action.check_params(params)
    except ValueError as exc:
        raise InvalidArgument(str(exc)) from None
    if signer is None:
        raise SigningKeyMissing("task_signing_key is not configured: no task can be signed")
    task_id = str(uuid.uuid4())
    values: dict[str, Any] = {
        "id": task_id,
        "client_id": client_id,
        "asset_id": asset.id,
        "asset": asset.name,
        "incident_id": incident_id,
        "action": action.name,
        "kind": action.kind,
        "params": checked,
        "policy": policy,
        "state": "queued" if approved else "awaiting_approval",
        "created_by": actor[:100],
        "created_at": now,
        "expires_at": now + deadline,
        "request_key": request_key,
    }
    if approved:
        values.update(_signed(signer, values, action.timeout))
    conn.execute(remediation_tasks.insert().values(**values))
    row = _row(conn, task_id)
    audit(conn, actor, "created", row, now, params=checked, policy=policy, state=row.state)
    return row


def _signed(signer: TaskSigner, values: dict[str, Any], timeout: float) -> dict[str, Any]:
    payload, signature = signer.sign(
        {
            "id": values["id"],
            "asset": values["asset"],
            "action": values["action"],
            "kind": values["kind"],
            "params": values["params"],
            "issued_at": values["created_at"],
            "expires_at": values["expires_at"],
            "timeout": timeout,
        }
    )
    return {"payload": payload, "signature": signature}


def approve(
    conn: Connection, signer: TaskSigner, task_id: str, timeout: float, actor: str, now: float
) -> Any:
    """The client approved: sign and queue it (its deadline starts now)."""
    row = _row(conn, task_id, lock=True)
    if row is None:
        raise NotFound(f"no task {task_id}")
    if row.state != "awaiting_approval":
        raise InvalidArgument(f"task {task_id} is {row.state}, not awaiting approval")
    deadline = row.expires_at - row.created_at
    values = {**row._mapping, "created_at": now, "expires_at": now + deadline}
    signed = _signed(signer, values, timeout)
    conn.execute(
        remediation_tasks.update()
        .where(remediation_tasks.c.id == task_id)
        .values(state="queued", expires_at=now + deadline, **signed)
    )
    row = _row(conn, task_id)
    audit(conn, actor, "approved", row, now)
    return row


def cancel(conn: Connection, task_id: str, actor: str, now: float, reason: str) -> Any:
    row = _row(conn, task_id, lock=True)
    if row is None:
        raise NotFound(f"no task {task_id}")
    if row.state not in ("awaiting_approval", "queued"):
        raise InvalidArgument(f"task {task_id} is {row.state}: it can no longer be cancelled")
    conn.execute(
        remediation_tasks.update()
        .where(remediation_tasks.c.id == task_id)
        .values(state="cancelled", finished_at=now, output=reason[:1000])
    )
    row = _row(conn, task_id)
    audit(conn, actor, "cancelled", row, now, reason=reason)
    return row


def poll(conn: Connection, client_id: int, asset: str, agent: str, now: float) -> list[dict]:
    """The signed tasks waiting for ``asset`` of ``client_id`` (delivered again until answered)."""
    rows = conn.execute(
        sa.select(remediation_tasks)
        .where(
            remediation_tasks.c.client_id == client_id,
            remediation_tasks.c.asset == asset,
            remediation_tasks.c.state.in_(OPEN),
            remediation_tasks.c.expires_at > now,
            remediation_tasks.c.payload.is_not(None),
        )
        .order_by(remediation_tasks.c.created_at)
        .limit(20)
    ).all()
    out = []
    for row in rows:
        if row.state == "queued":
            conn.execute(
                remediation_tasks.update()
                .where(remediation_tasks.c.id == row.id, remediation_tasks.c.state == "queued")
                .values(state="delivered", delivered_at=now)
            )
            audit(conn, agent, "delivered", row, now)
        out.append({"id": row.id, "payload": row.payload, "signature": row.signature})
    return out


def record_result(
    conn: Connection, client_id: int, task_id: str, result: dict[str, Any], agent: str, now: float
) -> tuple[Any, bool]:
    """Store an agent's result; (row, changed). A task of another client is not found; a
    second result for a finished task changes nothing."""
    row = _row(conn, task_id, lock=True)
    if row is None or row.client_id != client_id:
        raise NotFound(f"no task {task_id}")
    if row.state in FINAL:
        return row, False
    status = result.get("status")
    if status not in RESULT_STATES:
        raise InvalidArgument(f"status: one of {', '.join(RESULT_STATES)}")
    exit_code = result.get("exit_code")
    conn.execute(
        remediation_tasks.update()
        .where(remediation_tasks.c.id == task_id)
        .values(
            state=status,
            finished_at=now,
            exit_code=exit_code if isinstance(exit_code, int) else None,
            output=str(result.get("output") or "")[:MAX_OUTPUT],
            duration=float(result.get("duration") or 0.0),
            result={
                "measured": result.get("measured") or {},
                "facts": result.get("facts") or {},
                "started_at": result.get("started_at"),
            },
        )
    )
    row = _row(conn, task_id)
    audit(
        conn,
        agent,
        "result",
        row,
        now,
        status=status,
        exit_code=row.exit_code,
        duration=row.duration,
        facts=(row.result or {}).get("facts", {}),
    )
    return row, True


def expire(conn: Connection, now: float) -> list[Any]:
    """Tasks past their deadline that no agent finished: expired (audited)."""
    rows = conn.execute(
        sa.select(remediation_tasks).where(
            remediation_tasks.c.state.in_((*OPEN, "awaiting_approval")),
            remediation_tasks.c.expires_at <= now,
        )
    ).all()
    out = []
    for row in rows:
        changed = conn.execute(
            remediation_tasks.update()
            .where(remediation_tasks.c.id == row.id, remediation_tasks.c.state == row.state)
            .values(state="expired", finished_at=now, output="the deadline passed")
        ).rowcount
        if changed:
            audit(conn, "system", "expired", row, now, was=row.state)
            out.append(_row(conn, row.id))
    return out


def count_auto_today(conn: Connection, asset_id: int, action: str, now: float) -> int:
    """Automatic runs of ``action`` on the asset in the last 24 hours (the per-day cap)."""
    return int(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(remediation_tasks)
            .where(
                remediation_tasks.c.asset_id == asset_id,
                remediation_tasks.c.action == action,
                remediation_tasks.c.policy == "auto",
                remediation_tasks.c.created_at > now - 86400,
            )
        ).scalar_one()
    )


def open_for_incident(conn: Connection, incident_id: int) -> Any:
    return conn.execute(
        sa.select(remediation_tasks).where(
            remediation_tasks.c.incident_id == incident_id,
            remediation_tasks.c.state.in_((*OPEN, "awaiting_approval")),
        )
    ).first()


# ---------------------------------------------------------------------- read model


def summary(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "asset": row.asset,
        "action": row.action,
        "kind": row.kind,
        "params": row.params,
        "policy": row.policy,
        "state": row.state,
        "created_by": row.created_by,
        "created_at": row.created_at,
        "expires_at": row.expires_at,
        "delivered_at": row.delivered_at,
        "finished_at": row.finished_at,
        "exit_code": row.exit_code,
        "output": row.output,
        "duration": row.duration,
        "incident_id": row.incident_id,
        "request_key": row.request_key,
        "evidence": evidence_text(row),
    }


def get(conn: Connection, task_id: str) -> dict[str, Any]:
    row = _row(conn, task_id)
    if row is None:
        raise NotFound(f"no task {task_id}")
    return summary(row)


def list_tasks(
    conn: Connection, *, client_id: int | None = None, incident_id: int | None = None
) -> list[dict[str, Any]]:
    query = sa.select(remediation_tasks).order_by(remediation_tasks.c.created_at.desc())
    if client_id is not None:
        query = query.where(remediation_tasks.c.client_id == client_id)
    if incident_id is not None:
        query = query.where(remediation_tasks.c.incident_id == incident_id)
    return [summary(r) for r in conn.execute(query.limit(500)).all()]


def audit_log(conn: Connection, task_id: str | None = None) -> list[dict[str, Any]]:
    query = sa.select(remediation_audit).order_by(remediation_audit.c.id)
    if task_id is not None:
        query = query.where(remediation_audit.c.task_id == task_id)
    return [dict(r._mapping) for r in conn.execute(query.limit(2000)).all()]


def _count(n: int) -> str:
    return f"{n:,}"


def evidence_text(row: Any) -> str | None:
    """``free 2 GB → 14 GB, 12,411 files removed`` from a finished task's result."""
    result = row.result or {}
    parts = []
    for metric, change in (result.get("measured") or {}).items():
        before, after = change.get("before"), change.get("after")
        unit = "B" if metric.endswith("_bytes") else ""
        what = "free" if metric == "disk_free_bytes" else metric
        path = (change.get("labels") or {}).get("path")
        where = f"{path} " if path else ""
        parts.append(f"{where}{what} {format_value(before, unit)} → {format_value(after, unit)}")
    facts = result.get("facts") or {}
    if facts.get("files_removed") is not None:
        parts.append(f"{_count(int(facts['files_removed']))} files removed")
    if facts.get("files_compressed"):
        parts.append(f"{_count(int(facts['files_compressed']))} log files compressed")
    return ", ".join(parts) or None


def evidence_for_incident(conn: Connection, incident_id: int) -> dict[str, Any] | None:
    """The before/after evidence of the last successful fix of an incident (preventive work)."""
    row = conn.execute(
        sa.select(remediation_tasks)
        .where(
            remediation_tasks.c.incident_id == incident_id,
            remediation_tasks.c.state == "succeeded",
        )
        .order_by(remediation_tasks.c.finished_at.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    text = evidence_text(row) or f"{row.action} succeeded"
    measured = (row.result or {}).get("measured") or {}
    first = next(iter(measured.items()), None)
    return {
        "text": f"{row.action} on {row.asset}: {text}",
        "before": first[1].get("before") if first else None,
        "after": first[1].get("after") if first else None,
        "unit": "B" if first and first[0].endswith("_bytes") else "",
        "source": "remediation",
        "metric": first[0] if first else None,
        "labels": (first[1].get("labels") or {}) if first else {},
        "task_id": row.id,
        "action": row.action,
        "facts": (row.result or {}).get("facts") or {},
    }
