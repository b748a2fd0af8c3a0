"""The incident lifecycle as pure decisions: plain values in, a :class:`Change` out. No I/O.

:func:`on_signal` decides what an alert signal does to the incident of its fingerprint;
:func:`on_action` what a technician's action does. :mod:`collector.incidents.service`
applies the change (incident row, append-only event, outbox rows) in one transaction.

- one incident per fingerprint is *active* (open or acknowledged) at a time; a repeat
  updates it (last value, count), a higher priority or severity (warning → critical)
  escalates it — sent to the ticket systems even when the priority stays the same;
- the alert resolving resolves it with an automatic note (what value, when);
- a re-fire within the reopen window after it resolved (or was closed) reopens it;
- flapping keeps the one incident, marked flapping.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from collector.connectors import Action
from collector.incidents.pipeline import AlertSignal

WAITING = ("waiting_for_client", "waiting_for_third_party")  # SLA clocks pause (collector.sla)
ACTIVE = ("open", "acknowledged", *WAITING)
STATES = (*ACTIVE, "resolved", "closed")
CAUSES = ("wear", "hardware", "software", "client_error", "third_party", "provider", "unknown")
PRIORITIES = ("technical", "minor", "major", "critical")  # lowest first
ORIGINS = ("proactive", "external", "user_reported")
TECHNICIAN_ACTIONS = (
    "acknowledge",
    "assign",
    "comment",
    "time_entry",
    "cause",
    "resolve",
    "close",
    "reopen",
    "wait",
    "resume",
    "priority",
    "charge",
)
#: A technician's charge override: free, charged (time × rate whatever the cause), or an amount.
CHARGE_MODES = ("free", "charged", "amount")


class InvalidTransition(ValueError):
    """The action does not apply to the incident in its current state."""


@dataclass(frozen=True, slots=True)
class IncidentFacts:
    """What the lifecycle needs to know about an existing incident."""

    key: str
    state: str
    priority: str
    severity: str | None = None
    count: int = 1
    flapping: bool = False
    resolved_at: float | None = None
    closed_at: float | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """What to do: set ``fields`` on the incident (or create one when ``new``), append an event
    of type ``event`` with ``data``, and mirror ``action`` to the client's connectors."""

    event: str
    fields: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    action: Action | None = None
    new: bool = False


def priority_rank(priority: str) -> int:
    return PRIORITIES.index(priority) if priority in PRIORITIES else 1


#: Alert severities, lowest first (None: an incident without one, e.g. user-reported).
SEVERITIES = ("warning", "critical")


def severity_rank(severity: str | None) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else -1


def escalation_note(data: dict[str, Any]) -> str:
    """The ticket comment for an ``escalated`` event: what rose, from what to what."""
    parts = []
    if data.get("severity") != data.get("previous_severity") and data.get("severity"):
        parts.append(f"severity {data.get('previous_severity') or 'none'} → {data['severity']}")
    if data.get("priority") != data.get("previous_priority"):
        parts.append(f"priority {data.get('previous_priority')} → {data.get('priority')}")
    value = data.get("value")
    suffix = f" (value {_value(value)})" if value is not None else ""
    return "Escalated: " + ", ".join(parts or ["severity raised"]) + suffix + "."


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _value(value: float | None) -> str:
    if value is None:
        return "no value"
    return f"{value:g}"


def resolved_note(signal: AlertSignal) -> str:
    """The automatic resolution note: what value, when."""
    return f"Alert {signal.name} resolved at {_when(signal.ts)} (value {_value(signal.value)})."


def on_signal(
    signal: AlertSignal,
    active: IncidentFacts | None,
    recent: IncidentFacts | None,
    now: float,
    reopen_window: float,
) -> Change | None:
    """What ``signal`` does. ``active``: the fingerprint's open/acknowledged incident; ``recent``:
    its newest resolved or closed one. None: nothing to do (e.g. a resolve with nothing open)."""
    if signal.status == "resolved":
        if active is None:
            return None
        note = resolved_note(signal)
        return Change(
            "resolved",
            {
                "state": "resolved",
                "resolved_at": now,
                "resolution_note": note,
                "last_value": signal.value,
            },
            {"value": signal.value, "at": signal.ts, "note": note},
            Action.RESOLVE,
        )

    if active is not None:
        fields: dict[str, Any] = {"count": active.count + 1, "last_value": signal.value}
        data: dict[str, Any] = {"value": signal.value, "count": active.count + 1}
        if signal.flapping and not active.flapping:
            fields["flapping"] = True
        if signal.severity is not None:
            fields["severity"] = signal.severity
        raised_priority = priority_rank(signal.priority) > priority_rank(active.priority)
        # warning → critical with one priority for both still tells the ticket system.
        raised_severity = active.severity is not None and severity_rank(
            signal.severity
        ) > severity_rank(active.severity)
        if raised_priority or raised_severity:
            data.update(
                priority=signal.priority if raised_priority else active.priority,
                previous_priority=active.priority,
                severity=signal.severity,
                previous_severity=active.severity,
            )
            if raised_priority:
                fields["priority"] = signal.priority
            return Change("escalated", fields, data, Action.ESCALATE)
        if fields.get("flapping"):
            return Change("flapping", fields, data, Action.UPDATE)
        return Change("repeated", fields, data)

    if recent is not None:
        ended = recent.closed_at if recent.resolved_at is None else recent.resolved_at
        if ended is not None and now - ended <= reopen_window:
            fields = {
                "state": "open",
                "resolved_at": None,
                "closed_at": None,
                "resolution_note": None,
                "count": recent.count + 1,
                "last_value": signal.value,
                "flapping": recent.flapping or signal.flapping,
            }
            if signal.severity is not None:
                fields["severity"] = signal.severity
            if priority_rank(signal.priority) > priority_rank(recent.priority):
                fields["priority"] = signal.priority
            return Change(
                "reopened",
                fields,
                {
                    "value": signal.value,
                    "after": now - ended,
                    "reason": "re-fired within the reopen window",
                },
                Action.REOPEN,
            )

    fields = {
        "state": "open",
        "priority": signal.priority,
        "severity": signal.severity,
        "kind": signal.kind,
        "title": signal.summary or signal.name,
        "title_source": dict(signal.title_source)
        if signal.summary and signal.title_source
        else None,
        "description": signal.description,
        "first_value": signal.value,
        "last_value": signal.value,
        "count": 1,
        "flapping": signal.flapping,
        "opened_at": now,
        "origin": signal.origin,
    }
    return Change(
        "opened",
        fields,
        {"value": signal.value, "at": signal.ts, "origin": signal.origin},
        Action.OPEN,
        new=True,
    )


def on_action(incident: IncidentFacts, action: str, now: float, **args: Any) -> Change:
    """What a technician's ``action`` does (raises :class:`InvalidTransition`).

    ``args``: ``assignee`` (assign), ``body`` (comment), ``minutes``/``work_type``/``note``
    (time_entry), ``cause`` (cause), ``note`` (resolve, close, reopen, wait, resume),
    ``reason`` (wait: a waiting state), ``priority`` and ``note`` (priority).

    Waiting (``wait``) pauses the SLA clocks until ``resume``; waiting on an open incident is a
    technician's first response, so it acknowledges it too. ``priority`` changes the priority
    by hand (the rule engine's automatic raise is ``escalated``).
    ``mode``/``reason``/
    ``centipoints`` (charge: the technician's override of the points charge).
    """
    state = incident.state
    if action == "acknowledge":
        if state not in ("open",):
            raise InvalidTransition(
                f"{incident.key} is {state}; only an open incident can be acknowledged"
            )
        return Change(
            "acknowledged", {"state": "acknowledged", "acknowledged_at": now}, {}, Action.UPDATE
        )
    if action == "assign":
        if state == "closed":
            raise InvalidTransition(f"{incident.key} is closed")
        assignee = args.get("assignee") or None
        return Change("assigned", {"assignee": assignee}, {"assignee": assignee}, Action.UPDATE)
    if action == "comment":
        body = str(args.get("body") or "").strip()
        if not body:
            raise InvalidTransition("a comment needs a body")
        return Change("commented", {}, {"body": body}, Action.COMMENT)
    if action == "time_entry":
        minutes = args.get("minutes")
        if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes <= 0:
            raise InvalidTransition("a time entry needs a positive whole number of minutes")
        return Change(
            "time_logged",
            {},
            {
                "minutes": minutes,
                "work_type": args.get("work_type"),
                "note": args.get("note") or "",
            },
            Action.TIME_ENTRY,
        )
    if action == "cause":
        cause = args.get("cause")
        if cause not in CAUSES:
            raise InvalidTransition(f"cause must be one of {', '.join(CAUSES)}")
        return Change("cause_set", {"cause": cause}, {"cause": cause})
    if action == "resolve":
        if state not in ACTIVE:
            raise InvalidTransition(f"{incident.key} is {state} already")
        note = args.get("note") or None
        return Change(
            "resolved",
            {"state": "resolved", "resolved_at": now, "resolution_note": note},
            {"note": note},
            Action.RESOLVE,
        )
    if action == "close":
        if state == "closed":
            raise InvalidTransition(f"{incident.key} is closed already")
        fields: dict[str, Any] = {"state": "closed", "closed_at": now}
        if state in ACTIVE:  # closing an unresolved incident resolves it too
            fields.update(resolved_at=now, resolution_note=args.get("note") or None)
            return Change("closed", fields, {"note": args.get("note")}, Action.RESOLVE)
        return Change("closed", fields, {"note": args.get("note")})
    if action == "reopen":
        if state in ACTIVE:
            raise InvalidTransition(f"{incident.key} is {state}, not resolved")
        return Change(
            "reopened",
            {"state": "open", "resolved_at": None, "closed_at": None, "resolution_note": None},
            {"note": args.get("note")},
            Action.REOPEN,
        )
    if action == "wait":
        reason = args.get("reason")
        if reason not in WAITING:
            raise InvalidTransition(f"reason must be one of {', '.join(WAITING)}")
        if state not in ACTIVE:
            raise InvalidTransition(
                f"{incident.key} is {state}; only an unresolved incident can wait"
            )
        if state == reason:
            raise InvalidTransition(f"{incident.key} is {state} already")
        fields = {"state": reason}
        if state == "open":
            fields["acknowledged_at"] = now
        return Change(
            "waiting",
            fields,
            {"reason": reason, "previous_state": state, "note": args.get("note") or None},
            Action.UPDATE,
        )
    if action == "resume":
        if state not in WAITING:
            raise InvalidTransition(f"{incident.key} is {state}, not waiting")
        return Change(
            "resumed",
            {"state": "acknowledged"},
            {"previous_state": state, "note": args.get("note") or None},
            Action.UPDATE,
        )
    if action == "priority":
        priority = args.get("priority")
        if priority not in PRIORITIES:
            raise InvalidTransition(f"priority must be one of {', '.join(PRIORITIES)}")
        if state == "closed":
            raise InvalidTransition(f"{incident.key} is closed")
        if priority == incident.priority:
            raise InvalidTransition(f"{incident.key} is {priority} already")
        raised = priority_rank(priority) > priority_rank(incident.priority)
        return Change(
            "priority_changed",
            {"priority": priority},
            {
                "previous_priority": incident.priority,
                "priority": priority,
                "note": args.get("note") or None,
            },
            Action.ESCALATE if raised else Action.UPDATE,
        )
    if action == "charge":
        mode = args.get("mode")
        if mode not in CHARGE_MODES:
            raise InvalidTransition(f"charge mode must be one of {', '.join(CHARGE_MODES)}")
        reason = str(args.get("reason") or "").strip()
        if not reason:
            raise InvalidTransition("a charge override needs a reason")
        amount = args.get("centipoints")
        if mode == "amount":
            if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
                raise InvalidTransition("a charge of an amount needs points (0 or more)")
        else:
            amount = None
        # The ledger (an incident listener) applies it at once if the incident is resolved,
        # else when it is.
        return Change("charge_set", {}, {"mode": mode, "centipoints": amount, "reason": reason})
    raise InvalidTransition(f"unknown action {action!r}; one of {', '.join(TECHNICIAN_ACTIONS)}")
